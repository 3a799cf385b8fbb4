"""The command line: `strike-pose COMMAND ...` (also `python -m strike_pose`).

Every mistake a user can make ends as one line `error: ...` on stderr and exit code 2. Each command group
is a module of this package that adds its commands to the parser (`add_parsers`); the modules import
nothing heavy until a command runs, so that the listing commands answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys

from strike_pose.cli import catalogue, experiments, maps, models, pictures, search, window
from strike_pose.errors import StrikePoseError

EXIT_USAGE = 2
GROUPS = (pictures, search, maps, experiments, catalogue, models, window)  # in the order `--help` lists them


def _version() -> str:
    from strike_pose import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strike-pose",
        description="Find the poses of familiar 3D objects that fool image classifiers.",
    )
    parser.add_argument("--version", action="version", version=f"strike-pose {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.add_parsers(sub)
    return parser


NUMBER_OPTIONS = ("--pose", "--seed", "--lr", "--radius", "--steps", "--budget-seconds", "--top", "--size", "--msaa")


def join_negative_values(argv: list[str]) -> list[str]:
    """`--pose -75,25,0,0,0,-8` or `--lr -1e-3` as users write them: argparse would take such a value for
    an option (and say only "expected one argument"), so the value is joined to its option."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in NUMBER_OPTIONS and i + 1 < len(argv) and argv[i + 1].startswith("-") and (
                argv[i + 1][1:2] in "0123456789." or "," in argv[i + 1]  # also -nan,... and -inf,...
                or argv[i + 1][1:].lower() in ("inf", "nan", "infinity")):
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def reject_empty_values(argv: list[str]) -> None:
    """`--pose ""` or `--model=` would silently mean the default: say that the value is empty instead."""
    for i, arg in enumerate(argv):
        name, equals, value = arg.partition("=")
        if arg.startswith("--") and equals and not value.strip():
            raise StrikePoseError(f"{name} is empty; give a value or leave {name} out")
        if not arg.strip():
            before = argv[i - 1] if i > 0 else ""
            what = before if before.startswith("--") and "=" not in before else "an argument"
            raise StrikePoseError(f"{what} is empty; give a value or leave it out")


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        argv = join_negative_values(sys.argv[1:] if argv is None else list(argv))
        reject_empty_values(argv)
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except StrikePoseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `strike-pose classes | head`: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
