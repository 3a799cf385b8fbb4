"""Experiment throughput: classified random poses per second, end to end, against the model alone.

1. The model alone: batches of 32 pictures already in memory, probabilities out.
2. The local backend: landscape items (64 poses: one tiled render, one readback, batched classification).
3. The Ray backend with --workers actors on this machine (a local Ray), the same items.
Timings leave out start-up (loading the model, starting Ray and its actors): each backend's rate is
taken from its first finished item to its last.

    python -m benchmarks.experiment_throughput [--poses 2048] [--workers 2]
"""

from __future__ import annotations

import argparse
import time


from strike_pose.render.gl import load_llvm_users_first


def rate(results) -> float:
    """Poses a second from the first finished item to the last."""
    times, counts = [], []
    for _, rows in results:
        times.append(time.perf_counter())
        counts.append(len(rows))
    return sum(counts[1:]) / (times[-1] - times[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scene", default="school_bus")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--poses", type=int, default=2048)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    load_llvm_users_first()

    import torch

    from strike_pose.experiments.backends import run_local, run_ray
    from strike_pose.experiments.config import parse_experiment
    from strike_pose.experiments.plan import plan
    from strike_pose.experiments.work import Worker

    experiment = parse_experiment({"name": "throughput", "model": args.model, "landscape": [
        {"name": "poses", "scenes": [args.scene], "poses": args.poses}]})
    items = plan(experiment, experiment.studies[0], lambda name: [])

    worker = Worker()
    clf = worker.classifier(args.model)
    scene = worker.scene(args.scene)
    images = worker.renderer.render_batch(scene, items[0].payload["poses"][:32], size=clf.input_size)
    clf.probabilities(images)
    t0 = time.perf_counter()
    rounds = max(4, args.poses // 128)
    for _ in range(rounds):
        clf.probabilities(images)
    model_rate = rounds * len(images) / (time.perf_counter() - t0)

    local_rate = rate(run_local(items))
    ray_rate = rate(run_ray(items, workers=args.workers))
    print(f"{args.scene}, {args.model}, {args.poses} poses in items of {len(items[0].payload['poses'])}, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads)\n")
    print("| what | poses/s | ratio |\n|---|---:|---|")
    print(f"| the model alone (batches of 32 in memory) | {model_rate:.1f} | |")
    print(f"| local backend, end to end (render, read back, classify) | {local_rate:.1f} | "
          f"{local_rate / model_rate:.2f} x the model alone (goal >= 0.8) |")
    print(f"| Ray backend, {args.workers} actors of 1 thread on this machine | {ray_rate:.1f} | "
          f"{ray_rate / local_rate:.2f} x the local backend (goal >= 0.9) |")


if __name__ == "__main__":
    main()
