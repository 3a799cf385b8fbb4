"""How long fetching the catalogue takes: every object into an empty cache (downloads, extraction,
hash checks, conversion), then the same command again (everything already there). The target: the
first within 10 minutes on this machine, the second in seconds.

    python -m benchmarks.objects_fetch [--cache DIR] [--keep]

Objects whose registry's client is missing here (apt-get off Debian) are left out and named.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

TARGET_FIRST_S = 600.0
TARGET_SECOND_S = 5.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", help="the cache to fetch into (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary cache")
    args = parser.parse_args(argv)
    root = Path(args.cache) if args.cache else Path(tempfile.mkdtemp(prefix="strike-pose-fetch-bench-"))
    os.environ["STRIKE_POSE_CACHE"] = str(root)

    from strike_pose.assets import objects
    from strike_pose.scenes.catalogue import fetch_objects
    from strike_pose.cache.registry import client_missing

    chosen = [o for o in objects.catalogue().values() if not client_missing(o.registry)]
    left_out = [o.name for o in objects.catalogue().values() if client_missing(o.registry)]
    try:
        started = time.perf_counter()
        rows = fetch_objects(chosen, say=lambda line: print(f"  {line}", flush=True))
        first = time.perf_counter() - started
        started = time.perf_counter()
        fetch_objects(chosen, say=lambda line: None)
        second = time.perf_counter() - started
    finally:
        if not args.cache and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    fetched = [r for r in rows if r["fetched"] == "now"]
    print("\n| what | seconds | target |\n|---|---:|---|")
    print(f"| fetch of {len(fetched)} objects into an empty cache | {first:.0f} | < {TARGET_FIRST_S:.0f} |")
    print(f"| the same again (all fetched) | {second:.2f} | < {TARGET_SECOND_S:.0f} |")
    if left_out:
        print(f"\nleft out (their registry's client is missing here): {', '.join(left_out)}")
    ok = first < TARGET_FIRST_S and second < TARGET_SECOND_S
    print(f"\n{'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
