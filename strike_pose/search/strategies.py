"""The search strategies. Each is a generator of Steps over one shared SearchContext.

- grad:   Adam on the analytic gradient through the differentiable twin, with restarts and a decaying
          step size (the search the paper described but never released).
- random: uniform random poses in the region, rendered and classified in batches (RS).
- fd:     Adam on central finite differences, 12 forward passes a step (FD-G).
- cmaes:  CMA-ES through the `cma` package (population 12).
- hybrid: random candidates in the region refined by the analytic gradient from the best of them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch

from strike_pose.render.diff import render_differentiable
from strike_pose.scene import Pose, Scene
from strike_pose.search.objective import Objective, Region

# One unit of each pose parameter in the optimisers' space: degrees for angles, 1/100 of a scene
# unit for positions (a degree of rotation and 0.01 units move an object 8 units away by about as
# many pixels).
PARAM_SCALE = np.array([1.0, 1.0, 1.0, 0.01, 0.01, 0.01])


@dataclass
class SearchContext:
    scene: Scene
    objective: Objective
    region: Region
    renderer: object
    size: int
    steps: int
    budget_seconds: float | None
    rng: np.random.Generator
    cancel: threading.Event
    learning_rate: float | None = None
    started: float = field(default_factory=time.perf_counter)
    evaluations: int = 0
    taken: int = 0

    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def should_stop(self) -> bool:
        return (self.cancel.is_set() or self.taken >= self.steps
                or (self.budget_seconds is not None and self.seconds() >= self.budget_seconds))

    def render(self, pose: np.ndarray) -> np.ndarray:
        return self.renderer.render(self.scene, Pose.of(pose), size=self.size)

    def evaluate(self, poses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Render and classify a batch of poses with OpenGL: (losses, probabilities)."""
        images = np.stack([self.render(p) for p in poses])
        self.evaluations += len(poses)
        return self.objective.evaluate(images)

    def step(self, pose: np.ndarray, probs: np.ndarray, loss: float):
        from strike_pose.search import Step

        self.taken += 1
        return Step(index=self.taken, pose=Pose.of(pose), probs=probs, loss=float(loss),
                    success=self.objective.success(probs), seconds=self.seconds(),
                    evaluations=self.evaluations)


def _adam(ctx: SearchContext, start: np.ndarray, gradient, lr: float, restart=None) -> Iterator:
    """Adam in the scaled parameter space, projected onto the region. The step size halves after
    every PATIENCE steps without a new best loss; after 3 * PATIENCE such steps the search restarts
    from `restart()` (default: a random pose in the region). `gradient(pose)` -> (loss, grad, probs)."""
    patience = 8
    restart = restart or (lambda: ctx.region.sample(ctx.rng, 1)[0])
    pose = ctx.region.project(start)
    m, v = np.zeros(6), np.zeros(6)
    best_loss, since_best, t = np.inf, 0, 0
    while not ctx.should_stop():
        loss, grad, probs = gradient(pose)
        step = ctx.step(pose, probs, loss)
        yield step
        if step.success or ctx.should_stop():
            return
        if loss < best_loss - 1e-3:
            best_loss, since_best = loss, 0
        else:
            since_best += 1
        if since_best >= 3 * patience:
            pose = restart()
            m[:], v[:], t, best_loss, since_best = 0, 0, 0, np.inf, 0
            continue
        t += 1
        g = grad * PARAM_SCALE  # the gradient with respect to the scaled parameters
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        m_hat, v_hat = m / (1 - 0.9 ** t), v / (1 - 0.999 ** t)
        rate = lr * 0.5 ** (since_best // patience)
        pose = ctx.region.project(pose - rate * PARAM_SCALE * m_hat / (np.sqrt(v_hat) + 1e-8))


def pose_gradient(scene: Scene, objective: Objective, pose: np.ndarray, size: int, renderer=None):
    """(loss, d loss / d pose (6,), probabilities) through the differentiable twin; the gradient is
    per degree for the angles and per scene unit for x, y, z."""
    clf = objective.classifier
    p = torch.tensor(np.asarray(pose, np.float64), dtype=torch.float32, requires_grad=True)
    image = render_differentiable(scene, p, size=size, renderer=renderer)
    logits = clf.logits(image.permute(2, 0, 1)[None].to(clf.device))
    loss = objective.loss_from_logits(logits)[0]
    loss.backward()
    probs = torch.softmax(logits.detach().float(), 1)[0].cpu().numpy()
    return float(loss.detach()), p.grad.numpy().astype(np.float64), probs


def _twin_gradient(ctx: SearchContext):
    def gradient(pose: np.ndarray):
        loss, grad, probs = pose_gradient(ctx.scene, ctx.objective, pose, ctx.size, ctx.renderer)
        ctx.evaluations += 1
        if ctx.objective.success(probs):
            # The twin agrees with OpenGL to a fraction of a grey level; confirm on the real render.
            losses, gl_probs = ctx.evaluate(pose[None])
            return float(losses[0]), grad, gl_probs[0]
        return loss, grad, probs

    return gradient


def grad_search(ctx: SearchContext) -> Iterator:
    """Descend from the start pose itself: the nearest fooling pose from where the user is."""
    yield from _adam(ctx, np.array(ctx.region.start.as_tuple()), _twin_gradient(ctx), ctx.learning_rate or 2.0)


def hybrid_search(ctx: SearchContext, batch: int = 12) -> Iterator:
    """Random candidates in the region (one batched OpenGL pass), refined by the analytic gradient
    from the best of them; every restart draws a new batch."""

    def best_of_batch() -> np.ndarray:
        poses = ctx.region.sample(ctx.rng, batch)
        losses, probs = ctx.evaluate(poses)
        hits = [i for i in range(batch) if ctx.objective.success(probs[i])]
        return poses[hits[int(np.argmin(losses[hits]))] if hits else int(np.argmin(losses))]

    yield from _adam(ctx, best_of_batch(), _twin_gradient(ctx), ctx.learning_rate or 2.0, restart=best_of_batch)


FD_STEP = np.array([1.0, 1.0, 1.0, 0.02, 0.02, 0.02])


def fd_search(ctx: SearchContext) -> Iterator:
    def gradient(pose: np.ndarray):
        offsets = np.concatenate([np.diag(FD_STEP), -np.diag(FD_STEP)])
        poses = np.concatenate([pose[None], pose + offsets])
        losses, probs = ctx.evaluate(poses)
        grad = (losses[1:7] - losses[7:13]) / (2 * FD_STEP)
        return float(losses[0]), grad, probs[0]

    yield from _adam(ctx, np.array(ctx.region.start.as_tuple()), gradient, ctx.learning_rate or 2.0)


def random_search(ctx: SearchContext, batch: int = 12) -> Iterator:
    best = None
    while not ctx.should_stop():
        poses = ctx.region.sample(ctx.rng, batch)
        losses, probs = ctx.evaluate(poses)
        hits = [i for i in range(batch) if ctx.objective.success(probs[i])]
        i = hits[int(np.argmin(losses[hits]))] if hits else int(np.argmin(losses))
        if best is None or hits or losses[i] < best[1]:
            best = (poses[i], float(losses[i]), probs[i])
        step = ctx.step(best[0], best[2], best[1])
        yield step
        if step.success:
            return


def cmaes_search(ctx: SearchContext, population: int = 12) -> Iterator:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cma warns that matplotlib (for its plots) is missing
        import cma

    start = np.array(ctx.region.start.as_tuple())
    sigma = (ctx.region.radius or 90.0) / 3.0
    options = {"popsize": population, "seed": int(ctx.rng.integers(1, 2**31 - 1)), "verbose": -9}
    es = cma.CMAEvolutionStrategy(start / PARAM_SCALE, sigma, options)
    best = (start, np.inf, None)
    while not ctx.should_stop():
        candidates = [ctx.region.project(np.asarray(x) * PARAM_SCALE) for x in es.ask()]
        losses, probs = ctx.evaluate(np.stack(candidates))
        es.tell([c / PARAM_SCALE for c in candidates], losses.tolist())
        hits = [i for i in range(len(candidates)) if ctx.objective.success(probs[i])]
        i = hits[int(np.argmin(losses[hits]))] if hits else int(np.argmin(losses))
        if hits or losses[i] < best[1]:
            best = (candidates[i], float(losses[i]), probs[i])
        step = ctx.step(best[0], best[2], best[1])
        yield step
        if step.success:
            return


STRATEGIES = {"grad": grad_search, "hybrid": hybrid_search, "random": random_search, "fd": fd_search,
              "cmaes": cmaes_search}
