"""Which search finds fooling poses, and how close to the start, at equal wall-clock time.

Nearest fooling pose (`make bench-search`): untargeted, within --radius degrees of the start, every
method in the nearest mode (after its first fooling pose it keeps looking for closer ones until the
budget ends), --budget seconds per start, from --starts natural poses the model gets right with a
margin (yaw away from the straight side and end views, pitch -5..25, roll within 10 degrees).

Targeted, the paper's protocol scaled to this machine: the --targets most frequent wrong classes of a
sample of random poses, --trials trials per target from random starts in the whole pose space, each
method stopping at its first hit, with the same wall-clock budget per trial: the time 100 steps of
the gradient search take on this machine (measured first).

Prints markdown tables (kept in BENCHMARKS.md) on stdout and one line per run on stderr.

    python -m benchmarks.search_effectiveness [--scenes school_bus,traffic_light] [--budget 30]
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time

import numpy as np

from strike_pose.render.gl import load_llvm_users_first
from strike_pose.rotations import wrap_degrees

VIEWS_TO_AVOID = (0.0, 90.0, 180.0, 270.0)  # straight side and end views are few pixels or trivially right


def natural_starts(scene, clf, renderer, n: int, seed: int) -> list[np.ndarray]:
    """n natural poses the model classifies correctly, with a margin of 0.1 over the runner-up."""
    rng = np.random.default_rng(seed)
    starts = []
    while len(starts) < n:
        yaw = rng.uniform(0, 360)
        if min(abs(wrap_degrees(yaw - view)) for view in VIEWS_TO_AVOID) < 20:
            continue
        pose = np.array([yaw, rng.uniform(-5, 25), rng.uniform(-10, 10), 0, 0, scene.pose.z])
        probs = clf.probabilities(renderer.render(scene, pose, size=clf.input_size))
        runner_up = np.sort(probs)[-2]
        if probs.argmax() == scene.true_class and probs[scene.true_class] - runner_up >= 0.1:
            starts.append(pose)
    return starts


GRAD_SETTINGS = None  # set from --grad


def run(scene, clf, start, method, steps=10**6, **kwargs):
    from strike_pose.search import search

    if method == "grad" and GRAD_SETTINGS is not None:
        kwargs["settings"] = GRAD_SETTINGS
    last = None
    for last in search(scene, clf, start=start, method=method, steps=steps, **kwargs):
        pass
    return last


def median(values, fmt="{:.1f}"):
    return fmt.format(statistics.median(values)) if values else "-"


def nearest_table(args, clf, renderer) -> list[str]:
    import strike_pose

    methods = args.methods.split(",")
    lines = [f"Nearest fooling pose: untargeted, within {args.radius:g} degrees of the start, {args.budget:g} s "
             f"per start and method, {args.starts} natural starts per scene, every method in the nearest mode.", "",
             "| scene | method | fooled | median rotation of the first (deg) | median rotation of the closest (deg) "
             "| median translation of the closest | median seconds to the first | median steps |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name in args.scenes.split(","):
        scene = strike_pose.load_scene(name)
        starts = natural_starts(scene, clf, renderer, args.starts, seed=1)
        for method in methods:
            firsts, closests, shifts, seconds, steps = [], [], [], [], []
            for i, start in enumerate(starts):
                last = run(scene, clf, start, method, radius=args.radius, budget_seconds=args.budget, seed=i)
                if last.first is not None:
                    firsts.append(last.first.rotation_from_start)
                    closests.append(last.closest.rotation_from_start)
                    shifts.append(last.closest.translation_from_start)
                    seconds.append(last.first.seconds)
                steps.append(last.index)
                print(f"{name} {method} start {i}: steps {last.index}, first "
                      f"{'-' if last.first is None else f'{last.first.rotation_from_start:.1f} deg at {last.first.seconds:.1f} s'}"
                      f", closest {'-' if last.closest is None else f'{last.closest.rotation_from_start:.1f} deg'}",
                      file=sys.stderr, flush=True)
            lines.append(f"| {name} | {method} | {len(firsts)}/{len(starts)} | {median(firsts)} | {median(closests)} | "
                         f"{median(shifts, '{:.2f}')} | {median(seconds)} | {median(steps, '{:.0f}')} |")
            print(lines[-1], file=sys.stderr, flush=True)
    return lines


def frequent_wrong_classes(scene, clf, renderer, count: int, samples: int, seed: int) -> list[tuple[int, float]]:
    """The `count` most frequent wrong top-1 classes over random poses of the whole pose space."""
    from strike_pose.search.region import region_for

    poses = region_for(scene, scene.pose, None).sample(np.random.default_rng(seed), samples)
    top = []
    for i in range(0, samples, 32):
        top += list(clf.probabilities(renderer.render_batch(scene, poses[i:i + 32], clf.input_size)).argmax(1))
    counts = collections.Counter(int(t) for t in top if t != scene.true_class)
    return [(label, n / samples) for label, n in counts.most_common(count)]


def targeted_table(args, clf, renderer) -> list[str]:
    import strike_pose
    from strike_pose.search.region import region_for

    scene = strike_pose.load_scene(args.target_scene)
    methods = args.methods.split(",")
    targets = frequent_wrong_classes(scene, clf, renderer, args.targets, args.sample, seed=0)
    t0 = time.perf_counter()
    probe = run(scene, clf, scene.pose, "grad", target=targets[-1][0], seed=0, steps=20)
    budget = (time.perf_counter() - t0) / probe.index * 100
    rng = np.random.default_rng(7)
    region = region_for(scene, scene.pose, None)
    trials = [(label, region.sample(rng, 1)[0]) for label, _ in targets for _ in range(args.trials)]
    lines = ["", f"Targeted ({args.target_scene}): the {args.targets} most frequent wrong classes of {args.sample} "
             f"random poses, {args.trials} trials each from random starts in the whole pose space, "
             f"{budget:.1f} s per trial for every method (100 steps of the gradient search).", "",
             "| target (share of random poses) | " + " | ".join(methods) + " |",
             "|---|" + "---:|" * len(methods)]
    hits = {m: 0 for m in methods}
    for label, share in targets:
        cells = []
        for method in methods:
            won, seconds = 0, []
            for k, (trial_label, start) in enumerate(trials):
                if trial_label != label:
                    continue
                last = run(scene, clf, start, method, target=label, budget_seconds=budget, seed=k, mode="first")
                if last.first is not None:
                    won += 1
                    seconds.append(last.first.seconds)
            hits[method] += won
            cells.append(f"{won}/{args.trials} ({median(seconds)} s)")
            print(f"target {clf.labels[label]} {method}: {cells[-1]}", file=sys.stderr, flush=True)
        lines.append(f"| {clf.labels[label]} ({share:.0%}) | " + " | ".join(cells) + " |")
    total = len(trials)
    lines.append("| hit rate | " + " | ".join(f"{hits[m] / total:.0%}" for m in methods) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", default="school_bus,traffic_light")
    parser.add_argument("--methods", default="grad,random,fd,cmaes")
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--radius", type=float, default=30.0)
    parser.add_argument("--budget", type=float, default=30.0)
    parser.add_argument("--target-scene", default="school_bus")
    parser.add_argument("--targets", type=int, default=5, help="how many target classes (0 skips the table)")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--sample", type=int, default=320, help="random poses that pick the targets")
    parser.add_argument("--skip-nearest", action="store_true")
    parser.add_argument("--grad", default="", metavar="K=V,...",
                        help="settings of the gradient search, e.g. chains=4,samples=4 (see GradSettings)")
    args = parser.parse_args()
    load_llvm_users_first()
    if args.grad:
        from dataclasses import fields

        from strike_pose.search.gradient import GradSettings

        kinds = {f.name: f.type for f in fields(GradSettings)}
        values = dict(pair.split("=", 1) for pair in args.grad.split(","))
        global GRAD_SETTINGS
        GRAD_SETTINGS = GradSettings(**{k: (float(v) if kinds[k] in ("float", float) else int(v))
                                        for k, v in values.items()})

    import strike_pose
    from strike_pose.render import default_renderer

    clf = strike_pose.create_classifier()
    renderer = default_renderer()
    lines = [] if args.skip_nearest else nearest_table(args, clf, renderer)
    if args.targets:
        lines += targeted_table(args, clf, renderer)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
