"""Optimize: the visualizer's pose search, from the pose on screen, shown as it moves.

The Optimizer owns the search's settings, its thread (a SearchRunner) and its lifecycle: start, the
steps that move the object, stop (by the user, by a change of the scene or pose, or at the end of the
budget) and the result. It is given what it needs as OptimizerPorts, a few callbacks (the status line,
where the object is, showing a step and the result, the capture, the detector): it keeps no reference to
the session that wires them, nor a copy of its state, and tests drive it with stand-ins.

Every end goes through one reducer, `strike_pose.search.result.SearchResult`, the same that the
command line and experiments use: the closest fooling pose, else the pose with the lowest loss,
re-checked on the window's OpenGL renderer; a capture of that pose records how it was found.

The objective: the classifier fooled (its top-1 not the true class, or the target), or "the detector
misses it" (strike_pose.search's detector-miss: no box of the object's COCO class on it above the
detector mode's threshold); against the detector the search is untargeted and the detector mode turns
on, so its boxes show where the search ended.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from strike_pose.errors import StrikePoseError
from strike_pose.gui.workers import SearchEnded, SearchJob, SearchRunner
from strike_pose.models.labels import label_of
from strike_pose.scene import Pose
from strike_pose.search import DEFAULT_MIN_MARGIN, DEFAULT_STEPS, METHODS, SearchOptions

# what Optimize searches against: strike_pose.search's objective -> what the panel calls it
OBJECTIVE_CHOICES = {"classifier": "the classifier is fooled", "detector-miss": "the detector misses it"}


@dataclass
class SearchSettings:
    method: str = METHODS[0]
    target: int | None = None  # None: untargeted (any class but the true one)
    steps: int = DEFAULT_STEPS
    learning_rate: float = 0.0  # degrees per step; 0: the method's default
    radius: float = 30.0  # degrees around the pose where Optimize starts
    whole_space: bool = False  # search the whole pose space instead of the radius
    search_light: bool = False  # search the light too
    in_view: bool = True  # only poses that show the whole object count
    seed: int = 0
    min_margin: float = DEFAULT_MIN_MARGIN  # the least p(top-1) - p(true class) that counts: clear fools only
    auto_capture: bool = True  # capture the closest fooling pose when a search ends
    objective: str = "classifier"  # or "detector-miss" (OBJECTIVE_CHOICES)

    @property
    def against_detector(self) -> bool:
        return self.objective != "classifier"

    def options(self) -> SearchOptions:
        """The SearchOptions these settings stand for (Optimize always runs in the nearest mode)."""
        return SearchOptions(method=self.method, target=None if self.against_detector else self.target,
                             objective=self.objective if self.against_detector else None, steps=int(self.steps),
                             learning_rate=self.learning_rate if self.learning_rate > 0 else None,
                             radius=None if self.whole_space else float(self.radius), mode="nearest",
                             search_light=self.search_light, in_view=self.in_view, seed=int(self.seed),
                             min_margin=float(self.min_margin))


@dataclass(frozen=True)
class OptimizerPorts:
    """What the Optimizer needs from the visualizer, as callbacks (the session wires them)."""

    say: Callable[..., None]  # say(message, error=False): the status line
    current: Callable[[], tuple]  # (the scene as shown, the pose, the classifier): where Optimize starts
    renderer: Any  # the OpenGL renderer that re-checks a search's result
    show_step: Callable[[Any], None]  # a running search's step: the object moves with it
    show_result: Callable[[Any], None]  # a SearchResult: the object goes there, with its verdict
    capture: Callable[[], Any]  # capture the shot; returns it (with its .name), or None
    release_keys: Callable[[], None]  # held keys stop repeating: the search moves the object now
    detector: Callable[[], Any]  # turn the detector mode on; returns its LiveDetection (gui/detection.py)


class Optimizer:
    def __init__(self, ports: OptimizerPorts, search_function: Callable | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        self.ports = ports
        self.settings = SearchSettings()
        self.runner = SearchRunner(search_function, clock=clock)
        self.searching = False
        self.step: Any = None  # the newest Step of the running search
        self.loss_history: list[float] = []
        # the scene it searches (the view toggles applied), where the last Optimize started, and what it
        # ran against (its objective, once one ran)
        self.scene, self.start, self.model = ports.current()
        self.result = None  # the SearchResult of the last search, while the object stays at its pose
        self.options = self.settings.options()  # how the last search ran

    def toggle(self) -> None:
        if self.searching:
            self.stop()
        else:
            self.begin()

    def begin(self) -> bool:
        say = self.ports.say
        if self.runner.busy:
            say("the last search is still stopping; try again in a moment", error=True)
            return False
        try:
            options = self.settings.options()
        except StrikePoseError as exc:
            say(f"cannot optimize: {exc}", error=True)
            return False
        scene, pose, model = self.ports.current()
        if self.settings.against_detector:
            detection = self.ports.detector()  # created the first time; its boxes show where the search ends
            if not detection.ready:
                why = detection.error or f"{detection.name} is loading; press O again in a moment"
                say(f"cannot optimize against the detector yet: {why}", error=True)
                return False
            model = detection.search_model()
        try:  # the objective is made once, here: the search and its result both use it
            from strike_pose.search.objective import make_objective

            model = make_objective(scene, model, options)
        except StrikePoseError as exc:
            say(f"cannot optimize: {exc}", error=True)
            return False
        self.runner.start(SearchJob(scene, model, pose, options))
        self.start, self.scene, self.model, self.options = pose, scene, model, options
        self.searching, self.step, self.loss_history, self.result = True, None, [], None
        self.ports.release_keys()
        goal = f"towards {label_of(options.target)!r}" if options.target is not None else "untargeted"
        if self.settings.against_detector:
            goal = f"until {detection.name} misses the object"
        where = "the whole pose space" if options.radius is None else f"within {options.radius:g} deg"
        say(f"optimizing ({options.method}, {goal}, {where})... O or Stop ends it at the closest "
              "fooling pose found")
        return True

    def stop(self, reason: str = "stopped", keep_result: bool = True) -> None:
        """Stop the search; by default the object goes to its result (the closest fooling pose, else the
        pose with the lowest loss)."""
        if not self.searching:
            return
        self.runner.cancel()
        self.searching = False
        steps = self.step.index if self.step is not None else 0
        if keep_result and self.step is not None:
            self._finish(self.step, "stopped", f"{reason} after {steps} steps, not fooled yet")
        else:
            self.ports.say(f"{reason} after {steps} steps; the pose is where the search was")

    def stop_for_user_change(self) -> None:
        self.stop("search stopped by your change", keep_result=False)

    def update(self) -> None:
        """Once a frame: show the steps the search posted, and its end."""
        for message in self.runner.drain():
            if isinstance(message, SearchEnded):
                self._ended(message)
            elif self.searching:
                self._show_step(message)

    def _show_step(self, step) -> None:
        self.step = step
        self.loss_history.append(float(step.loss))
        self.ports.show_step(step)
        if step.closest is not None:
            c = step.closest
            seen = label_of(int(np.argmax(c.probs))) if not self.settings.against_detector else "a miss"
            self.ports.say(f"optimizing: fooled, as {seen!r}, "
                             f"{c.rotation_from_start:.1f} deg from the start; looking for a closer one... O or Stop "
                             "ends it there")

    def _ended(self, ended: SearchEnded) -> None:
        was_searching, self.searching = self.searching, False
        step = ended.last_step
        if ended.status == "cancelled":
            took = f" (stopped {ended.cancel_latency * 1000:.0f} ms after the request)" if ended.cancel_latency else ""
            if was_searching:  # cancelled by a user change: that already said so
                self.ports.say(f"stopped after {step.index if step else 0} steps{took}")
            return
        if not was_searching:
            return
        if ended.status == "error":
            self.ports.say(f"the search failed: {ended.message}", error=True)
        elif step is None:
            self.ports.say("no fooling pose found", error=True)
        else:
            self._finish(step, "done", f"no fooling pose found in {step.index} steps")

    def _finish(self, step, how: str, why_not: str) -> None:
        """Reduce the search to its result, put the object there and say what it is (and capture it)."""
        from strike_pose.search.result import SearchResult

        say = self.ports.say
        try:
            result = SearchResult.of(step, self.scene, self.model, self.start, self.options,
                                     renderer=self.ports.renderer)
        except Exception as exc:  # the re-check renders and classifies: say so rather than lose the pose
            say(f"could not check the search's result: {type(exc).__name__}: {exc}", error=True)
            return
        self.result = result
        self.ports.show_result(result)
        distance = result.distances()["rotation_from_start"]
        top = result.top1
        objective = getattr(result, "objective", None)
        seen = objective.seen_label(result.probs) if objective is not None else label_of(top)
        if result.found is None and self.settings.against_detector:
            own = objective.true_class  # against the detector: the object's COCO class
            say(f"{why_not}; showing the best pose so far ({objective.labels[own]} "
                  f"{float(result.probs[own]):.2f}, {distance:.1f} deg from the start)", error=True)
            return
        if result.found is None:
            goal = result.target
            p_goal = (f"target {label_of(goal)!r} p={float(result.probs[goal]):.3f}" if goal is not None
                      else f"true class p={float(result.probs[result.scene.true_class]):.3f}")
            say(f"{why_not}; showing the best pose so far ({p_goal}, {distance:.1f} deg from the start)", error=True)
            return
        message = (f"{how} after {step.index} steps ({result.seconds:.1f} s): the closest fooling pose is "
                   f"{distance:.1f} deg from the start; the model sees {seen!r} ({float(result.probs[top]):.2f})")
        if self.settings.against_detector:
            own = objective.true_class
            message = (f"{how} after {step.index} steps ({result.seconds:.1f} s): the closest pose the detector "
                       f"misses is {distance:.1f} deg from the start; its best {objective.labels[own]} box there "
                       f"scores {float(result.probs[own]):.3f} (threshold {objective.threshold:.3f})")
        if not result.success:
            message += " on a single OpenGL picture, which does not fool it"
        say(message, error=not result.success)
        if self.settings.auto_capture:
            shot = self.ports.capture()
            if shot is not None:
                say(f"{message}; captured {shot.name}", error=not result.success)

    def record_for(self, pose: Pose) -> dict | None:
        """How `pose` was found, for a capture's sidecar: the last result's, while the object is still there."""
        if self.result is None or self.result.pose != pose:
            return None
        return self.result.record()["search"]

    def close(self, timeout: float) -> bool:
        return self.runner.close(timeout)
