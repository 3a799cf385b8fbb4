"""Pose search: one objective, one region, several strategies, each yielding its steps.

    for step in search(scene, classifier, start=pose, method="grad", radius=30, cancel=event):
        show(step.pose, step.probs, step.loss)      # the CLI, the GUI and experiments alike
    # step.first and step.closest: the first fooling pose found and the one closest to the start

By default (mode "nearest") a search keeps looking for fooling poses closer to the start until its
budget (steps, seconds) ends; mode "first" stops at the first one. Every search stops when the cancel
token (a threading.Event) is set.
"""

from __future__ import annotations

import numpy as np

from strike_pose.errors import StrikePoseError
from strike_pose.scene import Pose
from strike_pose.search.context import MODES, Found, SearchContext, Step
from strike_pose.search.objective import LOSSES

METHODS = ("grad", "random", "fd", "cmaes")
DEFAULT_STEPS = 100


def _strategies() -> dict:
    from strike_pose.search.gradient import grad_search
    from strike_pose.search.strategies import cmaes_search, fd_search, random_search

    return {"grad": grad_search, "random": random_search, "fd": fd_search, "cmaes": cmaes_search}


def search(scene, classifier, start: Pose | None = None, method: str = "grad", target: int | None = None,
           radius: float | None = None, steps: int = DEFAULT_STEPS, budget_seconds: float | None = None,
           seed: int = 0, learning_rate: float | None = None, mode: str = "nearest", loss: str = "margin",
           search_light: bool = False, cancel=None, renderer=None, settings=None):
    """Search for a fooling pose from `start` (default: the scene's); yields a Step per step.

    target: an ImageNet index for a targeted search (top-1 must become it), None for untargeted.
    radius: keep the orientation within this many degrees of the start's (None: whole pose space).
    mode: "nearest" (after the first fooling pose, look for closer ones until the budget ends) or
    "first" (stop at the first). loss: "margin" or "logp". search_light: search the light too.
    settings: the method's own settings (grad: strike_pose.search.gradient.GradSettings).
    """
    import threading

    from strike_pose.errors import StrikePoseError
    from strike_pose.render import default_renderer
    from strike_pose.search.objective import Objective
    from strike_pose.search.region import region_for

    if method not in METHODS:
        raise StrikePoseError(f"unknown search method {method!r}; choose one of {', '.join(METHODS)}")
    if mode not in MODES:
        raise StrikePoseError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
    if steps < 1:
        raise StrikePoseError(f"steps must be at least 1, got {steps}")
    if budget_seconds is not None and not budget_seconds > 0:
        raise StrikePoseError(f"the time budget must be positive, got {budget_seconds:g} s")
    if radius is not None and not 0 < radius <= 180:
        raise StrikePoseError(f"radius must be between 0 and 180 degrees, got {radius:g}")
    if target is not None and target == scene.true_class:
        raise StrikePoseError("the target is the scene's true class; choose another class or search untargeted")
    start = scene.pose if start is None else Pose.of(start)
    ctx = SearchContext(
        scene=scene, objective=Objective(classifier, scene.true_class, target, loss),
        region=region_for(scene, start, radius, search_light), renderer=renderer or default_renderer(),
        size=classifier.input_size, steps=steps, budget_seconds=budget_seconds,
        rng=np.random.default_rng(seed), cancel=cancel or threading.Event(), mode=mode,
        learning_rate=learning_rate,
    )
    strategy = _strategies()[method]
    return strategy(ctx, settings) if settings is not None else strategy(ctx)


def run_search(scene, classifier, start: Pose | None = None, method: str = "grad", target: int | None = None,
               radius: float | None = None, steps: int = DEFAULT_STEPS, budget_seconds: float | None = None,
               seed: int = 0, learning_rate: float | None = None, mode: str = "nearest", loss: str = "margin",
               search_light: bool = False, out_dir=None, progress: bool = False, cancel=None,
               settings=None) -> dict:
    """Run a search to its end; on success export the closest fooling shot (PNG + JSON sidecar)
    into `out_dir`.

    Returns the summary `strike-pose search --json` prints: success, steps, seconds, start_pose,
    final_pose (the closest fooling pose, else the pose with the lowest loss), rotation_from_start,
    translation_from_start, first (the first fooling pose), top, true_prob, target_prob, files.
    """
    from dataclasses import replace

    from strike_pose.export import check_writable, export_shot, shot_record, shot_stem
    from strike_pose.render import default_renderer
    from strike_pose.search.region import rotation_angle, translation_distance

    if out_dir is not None:
        check_writable(out_dir)  # before the search: what it finds must have somewhere to go
    start = scene.pose if start is None else Pose.of(start)
    steps_iter = search(scene, classifier, start, method=method, target=target, radius=radius, steps=steps,
                        budget_seconds=budget_seconds, seed=seed, learning_rate=learning_rate, mode=mode,
                        loss=loss, search_light=search_light, cancel=cancel, settings=settings)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, desc=f"{method} search", unit="step", leave=False, dynamic_ncols=True)
    last = None
    interrupted = False
    try:
        for last in steps_iter:
            if bar is not None:
                bar.set_postfix_str(_progress_text(last, classifier))
                bar.update(1)
    except KeyboardInterrupt:  # Ctrl+C: stop, and report (and export) the best so far
        interrupted = True
        steps_iter.close()
    finally:
        if bar is not None:
            bar.close()
    closest = last.closest if last is not None else None
    best = closest or (last.lowest if last is not None else None)
    final, light = (best.pose, best.light) if best is not None else (start, None)
    found_scene = replace(scene, light=light) if light is not None else scene
    # The verdict comes from the OpenGL picture at the final pose, as a user will reproduce it.
    image = default_renderer().render(found_scene, final, size=classifier.input_size)
    probs = classifier.probabilities(image)
    top1 = int(np.argmax(probs))
    success = closest is not None and (top1 != scene.true_class if target is None else top1 == target)
    taken = last.index if last is not None else 0
    seconds = last.seconds if last is not None else 0.0
    start_array, final_array = np.array(start.as_tuple()), np.array(final.as_tuple())
    result = {
        "success": success,
        "method": method,
        "mode": mode,
        "steps": taken,
        "seconds": seconds,
        "seconds_per_step": seconds / taken if taken else 0.0,
        "evaluations": last.evaluations if last is not None else 0,
        "start_pose": start.as_dict(),
        "final_pose": final.as_dict(),
        "rotation_from_start": rotation_angle(start_array, final_array),
        "translation_from_start": translation_distance(start_array, final_array),
        "first": last.first.summary() if last is not None and last.first is not None else None,
        "top": classifier.top(probs, 5),
        "true_prob": float(probs[scene.true_class]),
        "target_prob": float(probs[target]) if target is not None else None,
        "files": {},
        "interrupted": interrupted,
        "rejected": last.rejected if last is not None else 0,
        "check": {"renderer": "opengl", "top1": top1, "fooled": success,
                  "note": "the final pose re-rendered with OpenGL and re-classified before anything is exported"},
    }
    if light is not None:
        result["light"] = closest.summary()["light"] if closest is not None else None
    if success and out_dir is not None:
        record = shot_record(found_scene, final, classifier, probs, target=target, method=method, mode=mode,
                             steps=taken, seconds=round(seconds, 3), seed=seed, radius=radius,
                             start_pose=start.as_dict(), rotation_from_start=round(result["rotation_from_start"], 3),
                             translation_from_start=round(result["translation_from_start"], 4))
        record["check"] = result["check"]
        try:
            result["files"] = export_shot(out_dir, shot_stem(scene.name, probs), image, record)
        except StrikePoseError as exc:  # never lose a found pose: the caller prints it
            result["export_error"] = str(exc)
    return result


def _progress_text(step: Step, classifier) -> str:
    if step.closest is not None:
        c = step.closest
        return f"fooled: {classifier.labels[int(np.argmax(c.probs))][:18]} at {c.rotation_from_start:.1f} deg"
    return f"loss {step.loss:+.3f} top-1 {classifier.labels[int(np.argmax(step.probs))][:20]}"


__all__ = ["METHODS", "MODES", "LOSSES", "Found", "Step", "search", "run_search"]
