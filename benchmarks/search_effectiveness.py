"""How often each search method finds a fooling pose under the same time budget and region.

Nearest fooling pose: untargeted, orientation within --radius degrees of the start, --budget seconds
per start, from --starts natural poses the model classifies correctly. Targeted: whole pose space,
--target-budget seconds per target. Prints markdown tables (kept in BENCHMARKS.md).

    python -m benchmarks.search_effectiveness [--scenes school_bus,soccer_ball] [--budget 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np

from strike_pose.render.gl import load_llvm_users_first

TARGETS = ["snowplow", "punching bag", "fire engine", "garbage truck", "minivan"]


def natural_starts(scene, clf, renderer, n: int, seed: int) -> list[np.ndarray]:
    """n poses (yaw any, pitch 0..30, roll within 10, the scene's distance) whose top-1 is right."""
    rng = np.random.default_rng(seed)
    starts = []
    while len(starts) < n:
        pose = np.array([rng.uniform(0, 360), rng.uniform(0, 30), rng.uniform(-10, 10), 0, 0, scene.pose.z])
        if clf.probabilities(renderer.render(scene, pose, size=clf.input_size)).argmax() == scene.true_class:
            starts.append(pose)
    return starts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", default="school_bus,soccer_ball")
    parser.add_argument("--methods", default="grad,hybrid,random,fd,cmaes")
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--radius", type=float, default=30.0)
    parser.add_argument("--budget", type=float, default=30.0)
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated labels ('' to skip)")
    parser.add_argument("--target-scene", default="school_bus")
    parser.add_argument("--target-budget", type=float, default=60.0)
    args = parser.parse_args()
    load_llvm_users_first()

    import strike_pose
    from strike_pose.models.labels import resolve_class
    from strike_pose.render import default_renderer
    from strike_pose.scene import Pose
    from strike_pose.search import run_search
    from strike_pose.search.objective import rotation_angle

    clf = strike_pose.create_classifier()
    renderer = default_renderer()
    methods = args.methods.split(",")
    lines = [f"Nearest fooling pose: untargeted, within {args.radius:g} degrees of the start, "
             f"{args.budget:g} s per start, {args.starts} natural starts classified correctly.", "",
             "| scene | method | fooled | median rotation to the fooling pose (deg) | median seconds to success | median steps |",
             "|---|---|---:|---:|---:|---:|"]
    for name in args.scenes.split(","):
        scene = strike_pose.load_scene(name)
        starts = natural_starts(scene, clf, renderer, args.starts, seed=1)
        for method in methods:
            rotations, seconds, steps, wins = [], [], [], 0
            for i, start in enumerate(starts):
                r = run_search(scene, clf, Pose.of(start), method=method, radius=args.radius,
                               steps=10**6, budget_seconds=args.budget, seed=i)
                final = np.array([r["final_pose"][k] for k in ("yaw", "pitch", "roll", "x", "y", "z")])
                print(f"{name} {method} start {i}: success={r['success']} steps={r['steps']} "
                      f"{r['seconds']:.1f}s top-1={r['top'][0]['label']!r}", file=sys.stderr, flush=True)
                if r["success"]:
                    wins += 1
                    rotations.append(rotation_angle(start, final))
                    seconds.append(r["seconds"])
                    steps.append(r["steps"])
            med = (lambda xs, f="{:.1f}": f.format(statistics.median(xs)) if xs else "-")
            lines.append(f"| {name} | {method} | {wins}/{len(starts)} | {med(rotations)} | {med(seconds)} | "
                         f"{med(steps, '{:.0f}')} |")
            print(lines[-1], file=sys.stderr, flush=True)

    targets = [t for t in args.targets.split(",") if t]
    if targets:
        scene = strike_pose.load_scene(args.target_scene)
        lines += ["", f"Targeted ({args.target_scene}, whole pose space, {args.target_budget:g} s per target): "
                  "fooled into the target, seconds to success.", "",
                  "| target | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        for label in targets:
            cells = []
            for method in methods:
                r = run_search(scene, clf, scene.pose, method=method, target=resolve_class(label),
                               steps=10**6, budget_seconds=args.target_budget, seed=0)
                cells.append(f"yes, {r['seconds']:.0f} s" if r["success"] else f"no (p={r['target_prob']:.2f})")
                print(f"target {label} {method}: {cells[-1]}", file=sys.stderr, flush=True)
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
