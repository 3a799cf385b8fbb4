"""Pose search: one objective, one region, several strategies, each yielding its steps.

    for step in search(scene, model, start=pose, radius=30, cancel=event):
        show(step.pose, step.probs, step.loss)      # the CLI, the GUI and experiments alike
    # step.first and step.closest: the first fooling pose found and the one closest to the start

    result = run_search(scene, model, start=pose, options=SearchOptions(radius=30), out_dir="shots")

How a search runs is one frozen value, SearchOptions (search/options.py); `search()` and `run_search()`
take it, or its fields as keywords. What it runs against is one interface, SearchObjective
(search/objective.py): a classifier (its top-1 is not the true class, or is the target) or an object
detector (strike_pose.models.detector.Detector: "detector-miss", no box of the object's COCO class on
the object; "detector-class", the object seen as a COCO target; the rule is in search/detection.py).

By default (mode "nearest") a search keeps looking for fooling poses closer to the start until its
budget (steps, seconds) ends; mode "first" stops at the first. A pose counts only when it fools the model
by at least the minimum margin (0.1 by default: clear fools, not ties). Every search stops when the cancel
token (a threading.Event) is set.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Iterator

import numpy as np

from strike_pose.errors import StrikePoseError
from strike_pose.scene import Pose
from strike_pose.search.context import Found, SearchContext, Step
from strike_pose.search.options import (DEFAULT_MIN_MARGIN, DEFAULT_STEPS, LOSSES, METHODS, MODES, OBJECTIVES,
                                        SearchOptions, settings_for)

if TYPE_CHECKING:  # the result needs the renderer and export: imported when first used
    from strike_pose.search.result import SearchResult


class Search:
    """One search of `scene` against `model` from `start`: iterate it for its Steps, then `result()`.

    model: a classifier, a detector, or an objective (SearchObjective). options: a SearchOptions, its
    fields given as keywords changing it (`Search(scene, clf, radius=30)`). The objective is built once,
    here, and every part of the search and its result uses it.
    """

    def __init__(self, scene, model, start: Pose | None = None, options: SearchOptions | None = None, *,
                 cancel: threading.Event | None = None, renderer=None, **changes) -> None:
        from strike_pose.render import default_renderer, view_problem
        from strike_pose.search.objective import make_objective
        from strike_pose.search.region import region_for

        self.options = (options or SearchOptions()).replace(**changes)
        self.scene = scene
        self.objective = make_objective(scene, model, self.options)
        if self.objective.target is not None and self.objective.target == self.objective.true_class:
            raise StrikePoseError("the target is the scene's true class; choose another class or search untargeted")
        self.start = scene.pose if start is None else Pose.of(start)
        self.renderer = renderer or default_renderer()
        self.cancel = cancel or threading.Event()
        problem = view_problem(scene, self.start, size=self.objective.input_size, renderer=self.renderer)
        if problem is not None:  # a search from there would only change the background's verdict
            raise StrikePoseError(f"cannot search from this start: {problem}")
        o = self.options
        region = region_for(scene, self.start, o.radius, o.search_light, in_view=o.in_view)
        if not region.in_view(region.initial()):
            raise StrikePoseError("cannot search from this start: part of the object is outside the picture, and only "
                                  "poses that show all of it count; move it into view (farther away, or nearer the "
                                  "centre) or allow partial views (--allow-partial; in the visualizer untick 'whole "
                                  "object in view')")
        self.context = SearchContext(
            scene=scene, objective=self.objective, region=region, renderer=self.renderer,
            size=self.objective.input_size, steps=o.steps, budget_seconds=o.budget_seconds,
            rng=np.random.default_rng(o.seed), cancel=self.cancel, mode=o.mode, learning_rate=o.learning_rate)
        self.last: Step | None = None  # the newest Step taken
        self.interrupted = False
        self._steps: Iterator[Step] | None = None

    def __iter__(self) -> Iterator[Step]:
        return self

    def __next__(self) -> Step:
        """The next Step (the search is its own iterator, as a generator is: `next(search(...))` works)."""
        if self._steps is None:
            strategy = _strategies()[self.options.method]
            settings = self.options.settings
            self._steps = strategy(self.context, settings) if settings is not None else strategy(self.context)
        self.last = next(self._steps)
        return self.last

    def close(self) -> None:
        if self._steps is not None:
            self._steps.close()

    def run(self, progress: bool = False) -> "SearchResult":
        """Take every step (with a progress bar on the terminal when `progress`), then the result. Ctrl+C
        stops it early and reports the best so far (`interrupted`)."""
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=self.options.steps, desc=f"{self.options.method} search", unit="step", leave=False,
                       dynamic_ncols=True)
        try:
            for step in self:
                if bar is not None:
                    bar.set_postfix_str(progress_text(step, self.objective))
                    bar.update(1)
        except KeyboardInterrupt:  # Ctrl+C: stop, and report (and export) the best so far
            self.interrupted = True
            self.close()
        finally:
            if bar is not None:
                bar.close()
        return self.result()

    def result(self, last: Step | None = None) -> "SearchResult":
        """The search reduced to its answer (SearchResult), from `last` (default: the newest Step taken)."""
        from strike_pose.search.result import SearchResult

        return SearchResult.of(self.last if last is None else last, self.scene, self.objective, self.start,
                               self.options, renderer=self.renderer, interrupted=self.interrupted)


def search(scene, model, start: Pose | None = None, options: SearchOptions | None = None, *, cancel=None,
           renderer=None, **changes) -> Search:
    """A search from `start` (default: the scene's), to iterate for its Steps (see Search)."""
    return Search(scene, model, start, options, cancel=cancel, renderer=renderer, **changes)


def run_search(scene, model, start: Pose | None = None, options: SearchOptions | None = None, *, out_dir=None,
               progress: bool = False, cancel=None, renderer=None, **changes) -> "SearchResult":
    """Run a search to its end; on success export the shot it reports (PNG + JSON sidecar) into `out_dir`.

    Returns its SearchResult: `result.summary()` is what `strike-pose search --json` prints, `result.files`
    the files written; an export that failed leaves the pose in the result and says why in `export_error`.
    """
    from dataclasses import replace

    from strike_pose.export import check_writable

    if out_dir is not None:
        check_writable(out_dir)  # before the search: what it finds must have somewhere to go
    result = search(scene, model, start, options, cancel=cancel, renderer=renderer, **changes).run(progress)
    if result.success and out_dir is not None:
        try:
            result = replace(result, files=result.export(out_dir))
        except StrikePoseError as exc:  # never lose a found pose: the caller prints it
            result = replace(result, export_error=str(exc))
    return result


def progress_text(step: Step, objective) -> str:
    """A step in a few words, for progress bars: what the search ranks (the closest fooling pose's
    distance), else the loss and the top-1."""
    if step.closest is not None:
        c = step.closest
        return f"fooled: {objective.seen_label(c.probs)[:18]} at distance {c.distance:.1f} (margin {c.margin:.2f})"
    return f"loss {step.loss:+.3f} top-1 {objective.seen_label(step.probs)[:20]}"


def _strategies() -> dict:
    from strike_pose.search.boundary import boundary_search
    from strike_pose.search.gradient import grad_search
    from strike_pose.search.strategies import cmaes_search, fd_search, random_search

    return {"boundary": boundary_search, "grad": grad_search, "random": random_search, "fd": fd_search,
            "cmaes": cmaes_search}


__all__ = ["METHODS", "MODES", "LOSSES", "OBJECTIVES", "DEFAULT_STEPS", "DEFAULT_MIN_MARGIN", "SearchOptions",
           "settings_for", "Found", "Step", "Search", "SearchResult", "search", "run_search", "progress_text"]


def __getattr__(name: str):
    if name == "SearchResult":  # imported when first used: it needs the renderer and export
        from strike_pose.search.result import SearchResult

        return SearchResult
    raise AttributeError(f"module 'strike_pose.search' has no attribute {name!r}")
