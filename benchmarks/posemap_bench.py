"""The pose map's time to each level on this machine: the coarse map (30-degree cells over yaw x pitch),
the whole 10-degree map (36 x 18) and the finished refinement (5 degrees where the label changes), for
a scene at its start pose. The model's loading and first pass are timed apart and left out.

Targets: the coarse map within 3 s, the 10-degree map within 30 s (from the start of the map).

    python -m benchmarks.posemap_bench [--scene school_bus] [--resolution 5] [--axes yaw,pitch] [--batch 64]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from strike_pose.render.gl import load_llvm_users_first

TARGETS = {0: 3.0, 1: 30.0}  # level -> seconds from the start of the map


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", default="school_bus")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--resolution", type=float, default=5.0)
    parser.add_argument("--axes", default="yaw,pitch")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()

    load_llvm_users_first()
    from strike_pose import create_classifier, load_scene
    from strike_pose.analysis.mapbuild import compute_map
    from strike_pose.analysis.posemap import MapSpec
    from strike_pose.render import default_renderer

    t0 = time.perf_counter()
    scene = load_scene(args.scene)
    renderer = default_renderer()
    clf = create_classifier(args.model)
    loaded = time.perf_counter() - t0
    t0 = time.perf_counter()
    clf.probabilities(renderer.render_batch(scene, [scene.pose] * 16, size=clf.input_size))  # the first pass
    warm = time.perf_counter() - t0

    spec = MapSpec(axes=args.axes, pose=scene.pose.as_tuple(), resolution=args.resolution)
    from strike_pose.analysis.posemap import PoseMap

    empty = PoseMap(spec, scene.true_class, scene.camera.fov_y)
    marks: dict[int, tuple[float, int]] = {}  # level -> (seconds, poses) when it was finished
    last = [int(np.prod(empty.level_shape(0)))]
    start = time.perf_counter()

    def progress(computed: int, planned: int) -> None:
        if planned > last[0]:  # the batch finished a level and the next one was planned
            marks[len(marks)] = (time.perf_counter() - start, computed)
            last[0] = planned

    result = compute_map(scene, clf, spec, renderer=renderer, batch=args.batch, progress=progress)
    total = time.perf_counter() - start
    marks[len(marks)] = (total, len(result.records))  # the last level with cells to compute

    print(f"pose map of {args.scene} at {','.join(f'{v:g}' for v in spec.pose)}, {args.axes}, levels "
          f"{', '.join(f'{spec.level_degrees(k):g}' for k in range(len(spec.levels)))} deg "
          f"({spec.full_levels} over the whole map), batch {args.batch}, {clf.name}")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; model load {loaded:.1f} s and "
          f"first pass {warm:.1f} s not counted\n")
    print("| stage | cells | poses so far | seconds | poses/s | target | met |")
    print("|---|---|---|---|---|---|---|")
    for level in sorted(marks):
        seconds, poses = marks[level]
        shape = "x".join(map(str, empty.level_shape(level)))
        kind = "whole map" if level < spec.full_levels else "where the label changes"
        cells = int((result.records["level"] == level).sum())
        target = TARGETS.get(level) if level < spec.full_levels else None
        met = "-" if target is None else ("met" if seconds <= target else "missed")
        print(f"| {spec.level_degrees(level):g} deg, {kind} ({shape}) | {cells} | {poses} | {seconds:.1f} | "
              f"{poses / seconds:.0f} | {'-' if target is None else f'<= {target:g} s'} | {met} |")
    print(f"\nmisclassified {result.misclassified_share():.1%} of the map")


if __name__ == "__main__":
    main()
