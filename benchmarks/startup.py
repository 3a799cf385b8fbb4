"""How fast and how light each command starts: wall time and peak memory of a fresh process.

The commands that only list or explain (scenes, classes, models, --help, --version) must answer in
well under a second, since they import nothing heavy; the ones that render or classify pay for
OpenGL and torch once. Medians of --repeat runs, in one run of this script.

    python -m benchmarks.startup [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

LIGHT = (["--help"], ["--version"], ["scenes"], ["classes", "bus"], ["models"])
HEAVY = (["render", "--out", "{tmp}/bus.png"], ["classify"])
TARGET_SECONDS = 1.0  # the light commands


def measure(args: list[str], repeat: int) -> tuple[float, float]:
    """(median seconds, largest peak RSS in MB) of `strike-pose ARGS` in fresh processes."""
    times, peaks = [], []
    for i in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            argv = [a.replace("{tmp}", tmp) for a in args]
            started = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "strike_pose", *argv], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
            _, status, usage = os.wait4(proc.pid, 0)  # this process's own peak memory
            times.append(time.perf_counter() - started)
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                raise SystemExit(f"strike-pose {' '.join(argv)} failed: {proc.stderr.read().decode().strip()}")
            proc.stderr.close()
            peaks.append(usage.ru_maxrss / 1024)
    return statistics.median(times), max(peaks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"median of {args.repeat} fresh processes each\n")
    print("| command | seconds | peak memory (MB) |")
    print("|---|---:|---:|")
    failed = []
    for command in (*LIGHT, *HEAVY):
        seconds, peak = measure(list(command), args.repeat)
        print(f"| `strike-pose {' '.join(command).replace('{tmp}/', '')}` | {seconds:.2f} | {peak:.0f} |", flush=True)
        if command in LIGHT and seconds >= TARGET_SECONDS:
            failed.append(" ".join(command))
    print(f"\nlisting and help commands under {TARGET_SECONDS:g} s: "
          + ("yes" if not failed else f"no ({', '.join(failed)})"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
