"""Pose search: one objective, several strategies, each yielding its steps.

    for step in search(scene, classifier, start=pose, method="grad", cancel=event):
        show(step.pose, step.probs, step.loss)      # the CLI, the GUI and experiments alike
    # the last step says whether the search succeeded (step.success)

Every strategy stops when it succeeds, when its steps or time budget run out, or when the cancel
token (a threading.Event) is set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from strike_pose.scene import Pose

METHODS = ("grad", "hybrid", "random", "fd", "cmaes")


@dataclass(frozen=True)
class Step:
    index: int  # 1-based count of steps taken
    pose: Pose  # the pose this step reached (for population methods: the best so far)
    probs: np.ndarray  # (1000,) classifier probabilities at `pose` (a success is confirmed on OpenGL)
    loss: float  # the objective at `pose` (lower is better)
    success: bool  # untargeted: top-1 is not the true class; targeted: top-1 is the target
    seconds: float  # since the search started
    evaluations: int  # classifier forward passes so far


def search(scene, classifier, start: Pose | None = None, method: str = "grad", target: int | None = None,
           radius: float | None = None, steps: int = 200, budget_seconds: float | None = None,
           seed: int = 0, learning_rate: float | None = None, cancel=None, renderer=None):
    """Search for a fooling pose from `start` (default: the scene's); yields a Step per step.

    target: an ImageNet index for a targeted search (top-1 must become it), None for untargeted.
    radius: keep the orientation within this many degrees of the start's (None: whole pose space).
    cancel: a threading.Event; when set, the search stops after the step under way.
    """
    import threading

    from strike_pose.errors import StrikePoseError
    from strike_pose.render import default_renderer
    from strike_pose.search.objective import Objective, region_for
    from strike_pose.search.strategies import STRATEGIES, SearchContext

    if method not in STRATEGIES:
        raise StrikePoseError(f"unknown search method {method!r}; choose one of {', '.join(METHODS)}")
    if steps < 1:
        raise StrikePoseError(f"steps must be at least 1, got {steps}")
    if radius is not None and not 0 < radius <= 180:
        raise StrikePoseError(f"radius must be between 0 and 180 degrees, got {radius:g}")
    if target is not None and target == scene.true_class:
        raise StrikePoseError("the target is the scene's true class; choose another class or search untargeted")
    start = scene.pose if start is None else Pose.of(start)
    ctx = SearchContext(
        scene=scene, objective=Objective(classifier, scene.true_class, target),
        region=region_for(scene, start, radius), renderer=renderer or default_renderer(),
        size=classifier.input_size, steps=steps, budget_seconds=budget_seconds,
        rng=np.random.default_rng(seed), cancel=cancel or threading.Event(), learning_rate=learning_rate,
    )
    return STRATEGIES[method](ctx)


def run_search(scene, classifier, start: Pose | None = None, method: str = "grad", target: int | None = None,
               radius: float | None = None, steps: int = 200, budget_seconds: float | None = None,
               seed: int = 0, learning_rate: float | None = None, out_dir=None, progress: bool = False,
               cancel=None) -> dict:
    """Run a search to its end; on success export the shot (PNG + JSON sidecar) into `out_dir`.

    Returns the summary `strike-pose search --json` prints: success, steps, seconds,
    seconds_per_step, start_pose, final_pose, top, true_prob, target_prob, files.
    """
    from strike_pose.export import export_shot, shot_record
    from strike_pose.render import default_renderer

    start = scene.pose if start is None else Pose.of(start)
    steps_iter = search(scene, classifier, start, method=method, target=target, radius=radius, steps=steps,
                        budget_seconds=budget_seconds, seed=seed, learning_rate=learning_rate, cancel=cancel)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, desc=f"{method} search", unit="step", leave=False, dynamic_ncols=True)
    last = None
    try:
        for last in steps_iter:
            if bar is not None:
                top1 = int(np.argmax(last.probs))
                bar.set_postfix_str(f"loss {last.loss:+.3f} top-1 {classifier.labels[top1][:20]}")
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    final = last.pose if last is not None else start
    # The verdict comes from the OpenGL picture at the final pose, as a user will reproduce it.
    image = default_renderer().render(scene, final, size=classifier.input_size)
    probs = classifier.probabilities(image)
    success = bool(last is not None and last.success and
                   (int(np.argmax(probs)) != scene.true_class if target is None else int(np.argmax(probs)) == target))
    taken = last.index if last is not None else 0
    seconds = last.seconds if last is not None else 0.0
    files = {}
    if success and out_dir is not None:
        record = shot_record(scene, final, classifier, probs, target=target, method=method, steps=taken,
                             seconds=round(seconds, 3), seed=seed, radius=radius, start_pose=start.as_dict())
        files = export_shot(out_dir, f"{scene.name}-{method}-fooled", image, record)
    return {
        "success": success,
        "method": method,
        "steps": taken,
        "seconds": seconds,
        "seconds_per_step": seconds / taken if taken else 0.0,
        "evaluations": last.evaluations if last is not None else 0,
        "start_pose": start.as_dict(),
        "final_pose": final.as_dict(),
        "top": classifier.top(probs, 5),
        "true_prob": float(probs[scene.true_class]),
        "target_prob": float(probs[target]) if target is not None else None,
        "files": files,
    }
