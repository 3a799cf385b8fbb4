"""Pose search: one objective, one region, several strategies, each yielding its steps.

    for step in search(scene, classifier, start=pose, method="grad", radius=30, cancel=event):
        show(step.pose, step.probs, step.loss)      # the CLI, the GUI and experiments alike
    # step.first and step.closest: the first fooling pose found and the one closest to the start

The model may be a classifier (the objective: its top-1 is not the true class, or is the target) or an
object detector (strike_pose.models.detector.Detector; the objective "detector-miss": no box of the
object's COCO class on the object, or with a COCO target "detector-class": the object seen as that
class; the rule is in strike_pose/search/detection.py). `objective=` names which, and is checked
against the model.

By default (mode "nearest") a search keeps looking for fooling poses closer to the start until its
budget (steps, seconds) ends; mode "first" stops at the first one. Every search stops when the cancel
token (a threading.Event) is set.
"""

from __future__ import annotations

import numpy as np

from strike_pose.errors import StrikePoseError
from strike_pose.scene import Pose
from strike_pose.search.context import MODES, Found, SearchContext, Step

METHODS = ("boundary", "grad", "random", "fd", "cmaes")  # the first is the default
LOSSES = ("margin", "logp")  # the objective's losses (strike_pose.search.objective)
OBJECTIVES = ("classifier", "detector-miss", "detector-class")  # what a search is against
DEFAULT_STEPS = 100


def settings_for(method: str, **values):
    """The method's own settings (a frozen dataclass) with `values` changed; strings are converted to the
    field's type, so "chains=4" from a command line works. Methods without settings take none."""
    from dataclasses import fields, replace

    if method == "grad":
        from strike_pose.search.gradient import GradSettings as kind
    elif method == "boundary":
        from strike_pose.search.boundary import BoundarySettings as kind
    else:
        if values:
            raise StrikePoseError(f"the {method} search has no settings to change")
        return None
    base = kind()
    known = {f.name: type(getattr(base, f.name)) for f in fields(kind)}
    changed = {}
    for name, value in values.items():
        if name not in known:
            raise StrikePoseError(f"the {method} search has no setting {name!r}; it has {', '.join(known)}")
        try:
            changed[name] = known[name](value) if known[name] is not bool or not isinstance(value, str) \
                else value.lower() in ("1", "true", "yes", "on")
        except ValueError:
            kind_name = {int: "a whole number", float: "a number"}.get(known[name], known[name].__name__)
            raise StrikePoseError(f"the {method} search's {name} must be {kind_name}, got {value!r}") from None
    return replace(base, **changed)


def _strategies() -> dict:
    from strike_pose.search.boundary import boundary_search
    from strike_pose.search.gradient import grad_search
    from strike_pose.search.strategies import cmaes_search, fd_search, random_search

    return {"boundary": boundary_search, "grad": grad_search, "random": random_search, "fd": fd_search,
            "cmaes": cmaes_search}


def objective_for(scene, model, objective: str | None = None, target=None, loss: str = "margin",
                  min_margin: float = 0.0):
    """The objective a search of `scene` against `model` minimises (search/objective.py, detection.py).

    objective: None (what the model is: a classifier's, or for a detector detector-miss, or
    detector-class when a target is given), "classifier", "detector-miss" or "detector-class"."""
    from strike_pose.search.objective import make_objective

    is_detector = (getattr(model, "kind", None) == "detector" if hasattr(model, "image_loss_for")
                   else hasattr(model, "detect") and hasattr(model, "scores"))
    if objective is not None:
        if objective not in OBJECTIVES:
            raise StrikePoseError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
        if objective.startswith("detector") != is_detector:
            raise StrikePoseError(f"the objective {objective} needs "
                                  f"{'a detector' if objective.startswith('detector') else 'a classifier'} as the model")
        if objective == "detector-miss" and target is not None:
            raise StrikePoseError("detector-miss takes no target; detector-class does (a COCO label)")
        if objective == "detector-class" and target is None:
            raise StrikePoseError("detector-class needs a target: the COCO class the object should be seen as "
                                  "(--detector-target LABEL)")
    return make_objective(scene, model, target, loss, min_margin)


def search(scene, classifier, start: Pose | None = None, method: str = "grad", target: int | None = None,
           radius: float | None = None, steps: int = DEFAULT_STEPS, budget_seconds: float | None = None,
           seed: int = 0, learning_rate: float | None = None, mode: str = "nearest", loss: str = "margin",
           search_light: bool = False, in_view: bool = True, min_margin: float = 0.0, cancel=None,
           renderer=None, settings=None, objective: str | None = None):
    """Search for a fooling pose from `start` (default: the scene's); yields a Step per step.

    classifier: the model, a classifier or a detector (see objective_for), or an objective itself.
    target: an ImageNet index for a targeted search (top-1 must become it), None for untargeted; against
    a detector a COCO index or label (the object seen as that class).
    objective: "classifier", "detector-miss" or "detector-class" (None: what the model implies).
    radius: keep the orientation within this many degrees of the start's (None: whole pose space).
    mode: "nearest" (after the first fooling pose, look for closer ones until the budget ends) or
    "first" (stop at the first). loss: "margin" or "logp". search_light: search the light too.
    in_view: a pose counts, and the search goes, only where the whole object is in the picture (a
    "fooling" pose that pushes the object half out of the frame says little about the model).
    min_margin: a pose counts only when its probability margin (the best wrong class's p minus the
    true class's; targeted, p(target) minus the best other's) is at least this: clear fools, not ties.
    settings: the method's own settings (settings_for(method, ...): GradSettings, BoundarySettings).
    """
    import threading

    from strike_pose.render import default_renderer, view_problem
    from strike_pose.search.region import region_for

    if method not in METHODS:
        raise StrikePoseError(f"unknown search method {method!r}; choose one of {', '.join(METHODS)}")
    if mode not in MODES:
        raise StrikePoseError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
    if steps < 1:
        raise StrikePoseError(f"steps must be at least 1, got {steps}")
    if not (isinstance(seed, (int, np.integer)) and seed >= 0):
        raise StrikePoseError(f"the seed must be a whole number of at least 0, got {seed!r}")
    if learning_rate is not None and not (np.isfinite(learning_rate) and learning_rate > 0):
        raise StrikePoseError(f"the learning rate must be a positive number of degrees per step, got {learning_rate:g}; "
                              "leave it out for the method's default")
    if budget_seconds is not None and not budget_seconds > 0:
        raise StrikePoseError(f"the time budget must be positive, got {budget_seconds:g} s")
    if radius is not None and not 0 < radius <= 180:
        raise StrikePoseError(f"radius must be between 0 and 180 degrees, got {radius:g}")
    if not (np.isfinite(min_margin) and 0 <= min_margin < 1):
        raise StrikePoseError(f"the minimum margin is a difference of probabilities, from 0 to below 1; got {min_margin:g}")
    goal = objective_for(scene, classifier, objective, target, loss, min_margin)
    if goal.target is not None and goal.target == goal.true_class:
        raise StrikePoseError("the target is the scene's true class; choose another class or search untargeted")
    start = scene.pose if start is None else Pose.of(start)
    renderer = renderer or default_renderer()
    problem = view_problem(scene, start, size=goal.input_size, renderer=renderer)
    if problem is not None:  # a search from there would only change the background's verdict
        raise StrikePoseError(f"cannot search from this start: {problem}")
    region = region_for(scene, start, radius, search_light, in_view=in_view)
    if not region.in_view(region.initial()):
        raise StrikePoseError("cannot search from this start: part of the object is outside the picture, and only "
                              "poses that show all of it count; move it into view (farther away, or nearer the "
                              "centre) or allow partial views (--allow-partial; in the visualizer untick 'whole object in view')")
    ctx = SearchContext(
        scene=scene, objective=goal, region=region, renderer=renderer, size=goal.input_size, steps=steps, budget_seconds=budget_seconds,
        rng=np.random.default_rng(seed), cancel=cancel or threading.Event(), mode=mode,
        learning_rate=learning_rate,
    )
    strategy = _strategies()[method]
    return strategy(ctx, settings) if settings is not None else strategy(ctx)


def run_search(scene, classifier, start: Pose | None = None, method: str = "grad", target: int | None = None,
               radius: float | None = None, steps: int = DEFAULT_STEPS, budget_seconds: float | None = None,
               seed: int = 0, learning_rate: float | None = None, mode: str = "nearest", loss: str = "margin",
               search_light: bool = False, in_view: bool = True, min_margin: float = 0.0, out_dir=None,
               progress: bool = False, cancel=None, settings=None, objective: str | None = None) -> dict:
    """Run a search to its end; on success export the fooling shot it reports (PNG + JSON sidecar)
    into `out_dir`.

    Returns the summary `strike-pose search --json` prints (SearchResult.summary): success, steps,
    seconds, start_pose and the start's verdict, final_pose (the closest fooling pose, the first in
    the "first" mode, else the pose with the lowest loss), rotation_from_start, translation_from_start,
    distance (what the nearest mode ranks by), margin, first, top, true_prob, target_prob, light, files;
    against a detector (see search()) the verdicts are its COCO scores on the object, labelled so, and
    the summary also holds the detections on the reported picture.
    """
    from strike_pose.export import check_writable
    from strike_pose.search.result import SearchResult

    if out_dir is not None:
        check_writable(out_dir)  # before the search: what it finds must have somewhere to go
    start = scene.pose if start is None else Pose.of(start)
    goal = objective_for(scene, classifier, objective, target, loss, min_margin)
    if goal.kind == "detector":
        target = goal.target  # a COCO index from here on
    options = dict(method=method, target=target, radius=radius, steps=steps, budget_seconds=budget_seconds,
                   seed=seed, learning_rate=learning_rate, mode=mode, loss=loss, search_light=search_light,
                   in_view=in_view, min_margin=min_margin)
    steps_iter = search(scene, goal, start, **options, cancel=cancel, settings=settings)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, desc=f"{method} search", unit="step", leave=False, dynamic_ncols=True)
    last = None
    interrupted = False
    try:
        for last in steps_iter:
            if bar is not None:
                bar.set_postfix_str(_progress_text(last, goal))
                bar.update(1)
    except KeyboardInterrupt:  # Ctrl+C: stop, and report (and export) the best so far
        interrupted = True
        steps_iter.close()
    finally:
        if bar is not None:
            bar.close()
    result = SearchResult.of(last, scene, goal, start, interrupted=interrupted, **options)
    summary = result.summary(goal)
    if result.success and out_dir is not None:
        try:
            summary["files"] = result.export(out_dir, goal)
        except StrikePoseError as exc:  # never lose a found pose: the caller prints it
            summary["export_error"] = str(exc)
    return summary


def _progress_text(step: Step, objective) -> str:
    if step.closest is not None:
        c = step.closest
        return f"fooled: {objective.seen_label(c.probs)[:18]} at {c.rotation_from_start:.1f} deg"
    return f"loss {step.loss:+.3f} top-1 {objective.seen_label(step.probs)[:20]}"


__all__ = ["METHODS", "MODES", "LOSSES", "OBJECTIVES", "objective_for", "DEFAULT_STEPS", "Found", "Step", "SearchResult", "search", "run_search"]


def __getattr__(name: str):
    if name == "SearchResult":  # imported when first used: it needs the renderer and export
        from strike_pose.search.result import SearchResult

        return SearchResult
    raise AttributeError(f"module 'strike_pose.search' has no attribute {name!r}")
