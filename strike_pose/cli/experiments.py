"""`experiment`: the studies of an experiment file, locally or on Ray."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from strike_pose.cli.common import _print_json


def cmd_experiment(args: argparse.Namespace) -> int:
    import shlex

    from strike_pose.experiments import run_experiment
    from strike_pose.experiments.store import MANIFEST

    try:
        summary = run_experiment(args.config, args.out, backend=args.backend, address=args.address,
                                 workers=args.workers, resume=args.resume, progress=not args.json)
    except KeyboardInterrupt:
        if not (Path(args.out) / MANIFEST).is_file():  # interrupted before the results folder was started
            raise
        again = ["strike-pose", "experiment", args.config, "--out", args.out, "--resume"]
        again += [f"--{k}={v}" for k, v in (("backend", args.backend), ("address", args.address),
                                           ("workers", args.workers)) if v is not None and v != "local"]
        print(f"error: interrupted; the finished items are kept in {args.out}: to finish the experiment, run "
              f"{shlex.join(again)}", file=sys.stderr)
        return 130
    if args.json:
        _print_json(summary)
        return 0
    from strike_pose.experiments.summary import summary_lines

    for line in summary_lines(summary):
        print(line)
    print(f"wrote {summary['files']['report']} and {summary['files']['summary']}")
    return 0


def add_parsers(sub) -> None:
    """`experiment`."""
    p = sub.add_parser("experiment", help="run an experiment file: landscapes, sensitivity, attacks, transfer",
                       description="Run the studies of an experiment file (see experiments/quick.toml) and write "
                       "their rows (Parquet), summary.json, plots and report.html into --out.")
    p.add_argument("config", help="an experiment .toml file, or the name of one in experiments/")
    p.add_argument("--out", required=True, metavar="DIR", help="the results folder")
    p.add_argument("--backend", default="local", choices=("local", "ray"),
                   help="local (this process, default) or ray (Ray actors; a local Ray unless --address)")
    p.add_argument("--address", help="join the Ray cluster at this address (e.g. 10.0.0.5:6379)")
    p.add_argument("--workers", type=int, help="Ray actors to start (default: one per CPU)")
    p.add_argument("--resume", action="store_true", help="finish an interrupted run in --out (done items are kept)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.set_defaults(func=cmd_experiment)
