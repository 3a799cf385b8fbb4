"""Running the command line in tests: in this process (the usual way), or as a real process where the
process itself is what is tried (no traceback reaches the terminal, warnings come as one line)."""

from __future__ import annotations

import subprocess
import sys

from strike_pose.cli import main


def run_main(capsys, *args) -> tuple[int, str, str]:
    """`strike-pose ARGS` in this process: (exit code, stdout, stderr); argparse's exit after --help counts."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # --help and --version end in argparse's exit
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_cli(*args) -> subprocess.CompletedProcess:
    """`python -m strike_pose ARGS` in a fresh process, its output captured as text."""
    return subprocess.run([sys.executable, "-m", "strike_pose", *map(str, args)], capture_output=True, text=True,
                          timeout=300)
