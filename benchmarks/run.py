"""`make bench`: the cost of each stage of the flow, measured in one process (medians).

Targets (ratios, since these machines are shared and noisy):
- one end-to-end frame (render + readback + preprocessing + forward) <= 1.10 x the bare model forward;
- one pass of the smoothed multi-start descent with 16 poses <= 2 x the model's forward + backward
  at batch 16; the twin over 16 poses in one pass <= 16 x one pose;
- one batched boundary pass over 16 candidates (their margin gradients through the twin, the steps,
  the OpenGL check) <= 2 x the model's forward + backward at batch 16.

    python -m benchmarks.run [--scene NAME] [--repeat N]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch

from strike_pose.render.gl import load_llvm_users_first


def median_ms(fn, repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def streamed_frame_ms(scene, clf, pose, frames: int) -> float:
    """Per-frame cost of a live loop: one thread renders frame n + 1 (its own GL context) while
    another classifies frame n, as the GUI does. Returns wall time / frames."""
    import queue
    import threading

    from strike_pose.render import default_renderer

    ready: queue.Queue = queue.Queue(maxsize=1)

    def produce() -> None:
        renderer = default_renderer()  # this thread's own offscreen context
        for _ in range(frames + 3):
            ready.put(renderer.render(scene, pose, size=clf.input_size))

    producer = threading.Thread(target=produce)
    producer.start()
    for _ in range(3):
        clf.probabilities(ready.get())
    t0 = time.perf_counter()
    for _ in range(frames):
        clf.probabilities(ready.get())
    elapsed = time.perf_counter() - t0
    producer.join()
    return elapsed / frames * 1000


def cancel_latency_ms(scene, clf, runs: int = 5) -> float:
    """Time from setting the cancel token of a grad search running in a worker to its end."""
    import threading

    from strike_pose.search import search

    latencies = []
    for run in range(runs):
        cancel, started, ended = threading.Event(), threading.Event(), []

        def work() -> None:
            for _ in search(scene, clf, method="grad", steps=10**6, cancel=cancel, seed=run):
                started.set()
            ended.append(time.perf_counter())

        worker = threading.Thread(target=work)
        worker.start()
        started.wait()
        time.sleep(0.1 + 0.037 * run)  # land at different moments within a step
        t0 = time.perf_counter()
        cancel.set()
        worker.join()
        latencies.append((ended[0] - t0) * 1000)
    return statistics.median(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scene", default="school_bus")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    load_llvm_users_first()

    import strike_pose
    from strike_pose.render import default_renderer
    from strike_pose.render.diff import render_differentiable
    from strike_pose.search import search

    scene = strike_pose.load_scene(args.scene)
    clf = strike_pose.create_classifier(args.model)
    renderer = default_renderer()
    size, pose = clf.input_size, scene.pose
    image = renderer.render(scene, pose, size=size)
    x = clf.to_tensor(image)
    rows = []

    def row(name, ms, note=""):
        rows.append((name, ms, note))
        print(f"  {name:<48} {ms:8.2f} ms {note}", flush=True)

    print(f"{args.scene}, {clf.name} at {size}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"{platform.processor() or platform.machine()}", flush=True)
    render_ms = median_ms(lambda: renderer.render(scene, pose, size=size), args.repeat)
    row("render + readback (OpenGL, no MSAA)", render_ms)
    row("render + readback, 4x MSAA", median_ms(lambda: renderer.render(scene, pose, size=size, msaa=4), args.repeat))
    row("visibility buffer + readback",
        median_ms(lambda: renderer.render_visibility(scene, pose, size=size), args.repeat))
    prep_ms = median_ms(lambda: clf.normalise(clf.to_tensor(image)), args.repeat)
    row("preprocessing (to tensor, normalise)", prep_ms)
    with torch.inference_mode():
        forward_ms = median_ms(lambda: clf.model(clf.normalise(x)), args.repeat)
    row("model forward", forward_ms)
    frame_ms = median_ms(lambda: clf.probabilities(renderer.render(scene, pose, size=size)), args.repeat)
    row("end-to-end frame (render, read back, classify)", frame_ms,
        f"= {frame_ms / forward_ms:.2f} x forward (goal <= 1.10)")

    def model_fb():
        xi = x.clone().requires_grad_(True)
        clf.logits(xi)[0, scene.true_class].backward()

    stream_ms = streamed_frame_ms(scene, clf, pose, frames=max(30, 3 * args.repeat))
    row("streamed frame (render next while classifying this)", stream_ms,
        f"= {stream_ms / forward_ms:.2f} x forward (goal <= 1.10)")

    fb_ms = median_ms(model_fb, args.repeat)
    row("model forward + backward to the input", fb_ms)
    vis = renderer.render_visibility(scene, pose, size=size)

    def twin_fb():
        p = torch.tensor(pose.as_tuple(), dtype=torch.float32, requires_grad=True)
        render_differentiable(scene, p, size=size, visibility=vis).sum().backward()

    twin_ms = median_ms(twin_fb, args.repeat)
    row("twin forward + backward (with antialiasing)", twin_ms, f"= {twin_ms / fb_ms:.2f} x model f+b")

    # The batched pass: 16 poses (4 chains x 4 jittered samples) through visibility, twin and model.
    from strike_pose.render.diff import twin_gradients
    from strike_pose.search.objective import Objective
    from strike_pose.search.region import POSE_SCALE

    objective = Objective(clf, scene.true_class)
    poses16 = np.array(pose.as_tuple()) + np.random.default_rng(0).normal(size=(16, 6)) * 3 * POSE_SCALE
    x16 = x.repeat(16, 1, 1, 1)

    def model_fb16():
        xi = x16.clone().requires_grad_(True)
        clf.logits(xi)[:, scene.true_class].sum().backward()

    fb16_ms = median_ms(model_fb16, max(5, args.repeat // 4))
    row("model forward + backward, batch 16", fb16_ms)
    twin16_ms = median_ms(lambda: renderer.render_visibility_batch(scene, poses16, size), args.repeat)
    row("visibility of 16 poses (one tiled pass, one readback)", twin16_ms)
    vis16 = renderer.render_visibility_batch(scene, poses16, size)

    def twin16():
        p = torch.tensor(poses16, dtype=torch.float32, requires_grad=True)
        render_differentiable(scene, p, size=size, visibility=vis16).sum().backward()

    t16_ms = median_ms(twin16, max(5, args.repeat // 2))
    row("twin forward + backward, 16 poses in one pass", t16_ms,
        f"= {t16_ms / twin_ms:.1f} x one pose (goal <= 16)")
    pass16_ms = median_ms(lambda: twin_gradients(scene, poses16, objective.image_losses, size=size,
                                                 renderer=renderer), max(5, args.repeat // 4))
    row("smoothed descent pass, 16 poses (GL, twin, model f+b)", pass16_ms,
        f"= {pass16_ms / fb16_ms:.2f} x model f+b at batch 16 (goal <= 2)")

    import threading

    from strike_pose.search.boundary import BoundarySettings, BoundarySteps
    from strike_pose.search.context import SearchContext
    from strike_pose.search.region import region_for

    ctx = SearchContext(scene=scene, objective=objective, region=region_for(scene, pose, 30, in_view=True),
                        renderer=renderer, size=size, steps=10**6, budget_seconds=None,
                        rng=np.random.default_rng(0), cancel=threading.Event())
    boundary = BoundarySteps(ctx, BoundarySettings())
    candidates = np.stack([ctx.region.project(p) for p in poses16])

    margins = np.full(16, 0.3)  # near misses: their OpenGL verdict comes with the generation that drew them

    def boundary_pass():
        grads = boundary.gradients(candidates)
        ctx.evaluate(np.stack([boundary.onto_boundary(c, m, g) for c, m, g in zip(candidates, margins, grads)]))

    boundary16_ms = median_ms(boundary_pass, max(5, args.repeat // 4))
    row("boundary pass, 16 candidates (twin, steps, GL check)", boundary16_ms,
        f"= {boundary16_ms / fb16_ms:.2f} x model f+b at batch 16 (goal <= 2)")

    def steps_ms(method: str, **kwargs) -> float:
        per = []
        for seed in range(3):
            last = None
            for last in search(scene, clf, method=method, radius=30, steps=6, seed=seed, **kwargs):
                pass
            per.append(last.seconds / last.index * 1000)
        return statistics.median(per)

    from strike_pose.search.gradient import GradSettings

    grad_ms = steps_ms("grad")
    row("one grad step (defaults: 2 chains)", grad_ms, f"= {grad_ms / fb_ms:.2f} x model f+b")
    grad16_ms = steps_ms("grad", settings=GradSettings(chains=4, samples=4))
    row("one grad step, 4 chains x 4 samples", grad16_ms, f"= {grad16_ms / fb16_ms:.2f} x model f+b at batch 16")
    fd_ms = steps_ms("fd")
    row("one fd step (13 renders, batched forward)", fd_ms, f"= {fd_ms / fb_ms:.2f} x model f+b")

    row("cancel latency of a running grad search (median of 5)", cancel_latency_ms(scene, clf),
        "(goal <= 200 ms)")

    print("\n| stage | ms | ratio |\n|---|---:|---|")
    for name, ms, note in rows:
        print(f"| {name} | {ms:.2f} | {note.lstrip('= ')} |")


if __name__ == "__main__":
    main()
