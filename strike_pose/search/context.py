"""What every strategy shares: the budget, the OpenGL evaluation of candidates, and the record of the
fooling poses found, which is where the nearest-fooling-pose mode lives.

In the "nearest" mode a search does not stop at its first fooling pose: every fooling pose confirmed on
OpenGL that is closer to the start than the best so far becomes the best, and the region's radius
shrinks to just inside it, so every strategy (they all draw from and project onto `ctx.region`) goes
on looking only where a closer one could be, until its budget ends. This is how minimum-norm attacks
such as DDN and FMN work in pixel space, here in pose space and shared by every method. In the
"first" mode the search stops at its first fooling pose.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from strike_pose.scene import Light, Pose, Scene
from strike_pose.search.region import Region, rotation_angle, translation_distance

if TYPE_CHECKING:  # the objective brings torch, which the search's names and results do not need
    from strike_pose.search.objective import Objective

SHRINK = 0.05  # after a fooling pose at distance d, the nearest mode looks within d * (1 - SHRINK)
SEARCH_BACK = 8  # poses a round when a new closest fooling pose is searched back towards the start


def light_summary(light: Light) -> dict:
    """A light as the summaries and sidecars write it."""
    return {"ambient": light.ambient, "diffuse": light.diffuse, "direction": list(light.direction)}


@dataclass(frozen=True)
class Found:
    """A fooling pose, confirmed on the OpenGL picture."""

    pose: Pose
    light: Light | None  # the light it was found with, when the light is searched
    probs: np.ndarray  # (1000,) on the OpenGL picture (the objective's verdict: (80,) COCO scores for the detector's)
    loss: float
    rotation_from_start: float  # geodesic degrees
    translation_from_start: float  # scene units
    distance: float  # max(rotation, shift in the region's units): what the nearest mode ranks and shrinks
    step: int  # the step during which it was found
    seconds: float
    evaluations: int
    margin: float = 0.0  # how clearly it fools the model (margin_of), on the OpenGL picture

    def summary(self) -> dict:
        out = {"pose": self.pose.as_dict(), "rotation_from_start": round(self.rotation_from_start, 3),
               "translation_from_start": round(self.translation_from_start, 4),
               "distance": round(self.distance, 3), "margin": round(self.margin, 4), "step": self.step,
               "seconds": round(self.seconds, 3)}
        if self.light is not None:
            out["light"] = light_summary(self.light)
        return out


@dataclass(frozen=True)
class Step:
    index: int  # 1-based count of steps taken
    pose: Pose  # the pose the search shows now (a path that moves by at most its learning rate)
    # the objective's verdict at `pose`: a classifier's (1000,) probabilities, a detector's (80,) COCO scores
    # on the object
    probs: np.ndarray
    loss: float  # the objective at `pose` (lower is better)
    success: bool  # a fooling pose has been found (see `first` and `closest`)
    seconds: float  # since the search started
    evaluations: int  # model forward passes on OpenGL pictures so far
    light: Light | None = None  # the light at `pose`, when the light is searched
    first: Found | None = None  # the first fooling pose found
    closest: Found | None = None  # the fooling pose closest to the start found so far
    radius: float | None = None  # the region's radius now (the nearest mode shrinks it)
    lowest: Found | None = None  # the pose with the lowest loss so far, fooling or not (its distances too)
    rejected: int = 0  # evaluations whose loss was not a finite number (skipped)
    gradients: int = 0  # forward and backward passes through the differentiable twin so far


@dataclass
class SearchContext:
    scene: Scene
    objective: Objective  # or any objective of the same interface (search/objective.py), e.g. the detector's
    region: Region  # where the search looks now (the nearest mode shrinks it)
    renderer: object
    size: int
    steps: int
    budget_seconds: float | None
    rng: np.random.Generator
    cancel: threading.Event
    mode: str = "nearest"
    learning_rate: float | None = None
    started: float = field(default_factory=time.perf_counter)
    evaluations: int = 0
    gradients: int = 0
    taken: int = 0
    first: Found | None = None
    closest: Found | None = None
    lowest: tuple | None = None  # (params, loss, probs) with the lowest loss seen
    limits: Region | None = None  # the region as asked for; nothing outside it counts
    rejected: int = 0
    _searched_back: Found | None = None

    def __post_init__(self) -> None:
        if self.limits is None:
            self.limits = self.region

    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def should_stop(self) -> bool:
        return (self.cancel.is_set() or self.taken >= self.steps
                or (self.budget_seconds is not None and self.seconds() >= self.budget_seconds)
                or (self.mode == "first" and self.first is not None))

    def progress(self) -> float:
        """How much of the budget is spent, 0 to 1 (steps or seconds, whichever is further)."""
        done = self.taken / self.steps
        if self.budget_seconds:
            done = max(done, self.seconds() / self.budget_seconds)
        return min(1.0, done)

    # ------------------------------------------------------------------------------- evaluating

    def render(self, params: np.ndarray) -> np.ndarray:
        """OpenGL pictures (N, H, W, 3) of a batch of parameter vectors, in one tiled pass."""
        params = np.atleast_2d(params)
        lights = None
        if self.region.light is not None:
            lights = [self.region.pose_and_light(p, self.scene)[1] for p in params]
        return self.renderer.render_batch(self.scene, params[:, :6], size=self.size, lights=lights)

    def evaluate(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Render and classify a batch with OpenGL: (losses, probabilities); every fooling pose among
        them is recorded."""
        params = np.atleast_2d(params)
        losses, probs = self.objective.evaluate(self.render(params), params)
        self.evaluations += len(params)
        self.record(params, losses, probs)
        return losses, probs

    def record(self, params: np.ndarray, losses: np.ndarray, probs: np.ndarray) -> None:
        """Note OpenGL-confirmed results: the lowest loss, the first fooling pose, the closest one
        (and in the nearest mode shrink the region to just inside it)."""
        for p, loss, prob in zip(params, losses, probs):
            if not (np.isfinite(loss) and np.all(np.isfinite(prob))):
                self.rejected += 1  # a broken evaluation never counts as a find
                continue
            self.note(p, float(loss), prob)
            if not self.objective.success(prob) or not self.region.in_view(p):
                continue  # only a pose that shows the whole object counts, when the region says so
            distance = self.region.distance(p)
            if self.closest is not None and distance >= self.closest.distance:
                continue
            if self.limits.radius is not None and distance > self.limits.radius + 1e-6:
                continue
            found = self._found(p, prob, loss)
            self.closest = found
            if self.first is None:
                self.first = found
            if self.mode == "nearest":
                self.region = self.region.shrunk(distance * (1 - SHRINK))

    def note(self, params: np.ndarray, loss: float, probs: np.ndarray) -> None:
        """Keep the lowest loss seen (what a search that fools nothing reports)."""
        if not np.isfinite(loss):
            self.rejected += 1
        elif self.lowest is None or loss < self.lowest[1]:
            self.lowest = (np.array(params, np.float64), loss, probs)

    def _found(self, params: np.ndarray, probs: np.ndarray, loss: float) -> Found:
        pose, light = self.region.pose_and_light(params, self.scene)
        start = self.region.start
        return Found(pose, light if self.region.light is not None else None, probs, float(loss),
                     rotation_angle(start, params), translation_distance(start, params), self.region.distance(params),
                     self.taken + 1, self.seconds(), self.evaluations, self.objective.margin(probs))

    def walk(self, shown: np.ndarray, otherwise: np.ndarray, length: float) -> np.ndarray:
        """The shown pose's next position, at most `length` (degrees, region units) from `shown`: towards the
        closest fooling pose so far, else towards `otherwise` (the strategy's own best guess). The one rule
        for where every strategy's shown path goes, so the window shows each method moving the same way."""
        goal = otherwise if self.closest is None else self.region.params_of(self.closest.pose, self.closest.light)
        return self.region.step_towards(shown, goal, length)

    def worth_confirming(self, params: np.ndarray) -> bool:
        """Whether a pose that seems to fool the model could improve on the closest fooling pose."""
        return self.closest is None or self.region.distance(params) < self.closest.distance

    def search_back(self) -> None:
        """When the closest fooling pose is new: look on the way from it back to the start for one
        nearer the start (a fooling region seldom ends exactly where a search first met it). Two
        rounds of SEARCH_BACK poses on the segment, the second between the last miss and the first hit."""
        end = self.closest
        if end is None or end is self._searched_back or self.cancel.is_set():
            return
        origin, target = self.region.initial(), self.region.params_of(end.pose, end.light)
        lo, hi = 0.0, 1.0
        for _ in range(2):
            if self.cancel.is_set():
                break
            fractions = np.linspace(lo, hi, SEARCH_BACK + 2)[1:-1]
            _, probs = self.evaluate(np.stack([self.region.between(origin, target, f) for f in fractions]))
            hits = [f for f, p in zip(fractions, probs) if self.objective.success(p)]
            if not hits:
                break
            hi = min(hits)
            lo = max([f for f in fractions if f < hi], default=lo)
        self._searched_back = self.closest

    def step(self, params: np.ndarray, probs: np.ndarray, loss: float) -> Step:
        """The Step that shows `params` (the search's current pose) with the record so far."""
        if self.mode == "nearest":
            self.search_back()
        self.taken += 1
        pose, light = self.region.pose_and_light(params, self.scene)
        return Step(index=self.taken, pose=pose, probs=probs, loss=float(loss), success=self.first is not None,
                    seconds=self.seconds(), evaluations=self.evaluations,
                    light=light if self.region.light is not None else None, first=self.first,
                    closest=self.closest, radius=self.region.radius,
                    lowest=(self._found(self.lowest[0], self.lowest[2], self.lowest[1])
                            if self.lowest is not None else None),
                    rejected=self.rejected, gradients=self.gradients)
