"""The analytic-gradient search: Adam descents on a smoothed loss, several side by side, their
gradients from the differentiable twin.

The classifier's loss is rough at the scale of a degree (its input gradient is high-frequency and
edges jump between pixels), so the gradient at one pose describes a ripple, not the slope. This
search follows the gradient of the loss averaged over `samples` poses jittered around each chain's
pose (Gaussian, `jitter` degrees, and the same in the region's units for the rest): the gradient of a
smoothed loss. `chains` descents run side by side (chain 0 from the start, the others from the best
of `screen` poses drawn from the region), and all their jittered poses go through the differentiable
twin and the classifier in one batched pass. Each chain then takes an Adam step (strategies.Adam) of
`learning_rate` degrees, and as many region units for x, y, z, and is projected onto the region. A
chain whose smoothed loss has not improved for `patience` steps, or whose gradient is not finite,
restarts from the best of `screen` fresh poses of the region.

The twin only proposes: a jittered pose that fools the model on the twin and could be closer to the
start than the closest fooling pose so far is rendered and classified on OpenGL (at most `chains` a
step, the closest to the start first), and only OpenGL's verdict is recorded. The record, and in the
nearest mode the region's shrinking and the search back from each new closest find towards the
start, belong to the SearchContext (strike_pose/search/context.py) and are shared by every strategy,
so the chains restart and move only where a closer fooling pose could be.

The pose the search shows (Step.pose) is a walker that starts at the start and moves by at most
`learning_rate` degrees a step towards chain 0, or towards the closest fooling pose once there is
one: the object glides, it never jumps. Its picture is classified on OpenGL each step.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from strike_pose.render.diff import twin_gradients
from strike_pose.search.context import SearchContext
from strike_pose.search.settings import LEARNING_RATE, GradSettings
from strike_pose.search.strategies import Adam


def grad_search(ctx: SearchContext, settings: GradSettings | None = None) -> Iterator:
    s = settings or GradSettings(learning_rate=ctx.learning_rate or LEARNING_RATE)
    region = ctx.region
    n_chains, size = s.chains, region.size
    start = region.project(region.initial())
    chains = np.repeat(start[None], n_chains, axis=0)
    adams = [Adam(size) for _ in range(n_chains)]
    best_loss, stalled = np.full(n_chains, np.inf), np.zeros(n_chains, int)
    stalled[1:] = s.patience  # the other chains begin from screened poses
    walker = start.copy()
    device = ctx.objective.device

    while not ctx.should_stop():
        for b in np.flatnonzero(stalled >= s.patience):  # restart from the best of a screened batch
            if ctx.should_stop():
                return
            pool = ctx.region.sample(ctx.rng, s.screen)
            losses, _ = ctx.evaluate(pool)
            chains[b] = pool[int(np.argmin(losses))]
            adams[b].reset()
            best_loss[b], stalled[b] = np.inf, 0
        scale = ctx.region.scale
        noise = ctx.rng.normal(size=(n_chains, s.samples, size)) * s.jitter * scale
        noise[:, 0] = 0.0
        samples = np.stack([ctx.limits.project(p) for p in (chains[:, None, :] + noise).reshape(-1, size)])
        twin = twin_gradients(ctx.scene, samples[:, :6], ctx.objective.image_loss_for(samples),
                              lights=samples[:, 6:] if size > 6 else None, size=ctx.size,
                              renderer=ctx.renderer, device=device)
        ctx.gradients += len(samples)
        probs = twin.aux.cpu().numpy()
        grads = twin.pose_grads if twin.light_grads is None else np.hstack([twin.pose_grads, twin.light_grads])
        gradient = grads.reshape(n_chains, s.samples, size).mean(axis=1) * scale  # per scaled unit
        smooth = twin.losses.reshape(n_chains, s.samples).mean(axis=1)
        _confirm_twin_finds(ctx, samples, probs, limit=n_chains)
        if ctx.cancel.is_set():
            return

        shown_loss, shown_probs = ctx.evaluate(walker[None])
        yield ctx.step(walker, shown_probs[0], shown_loss[0])
        if ctx.should_stop():
            return

        for b in range(n_chains):  # an Adam step on the smoothed gradient
            if not (np.all(np.isfinite(gradient[b])) and np.isfinite(smooth[b])):
                ctx.rejected += 1  # a broken gradient moves nothing: the chain restarts
                stalled[b] = s.patience
                continue
            if smooth[b] < best_loss[b] - 1e-3:
                best_loss[b], stalled[b] = smooth[b], 0
            else:
                stalled[b] += 1
            chains[b] = ctx.region.project(chains[b] - adams[b].step(gradient[b], s.learning_rate * scale))
        walker = ctx.walk(walker, chains[0], s.learning_rate)  # towards the closest fooling pose, else chain 0


def _confirm_twin_finds(ctx: SearchContext, samples: np.ndarray, probs: np.ndarray, limit: int) -> None:
    """Confirm on OpenGL the jittered poses that fool the model on the twin and could improve the
    record: at most `limit` of them, the closest to the start first."""
    seeming = [i for i in range(len(samples)) if ctx.objective.success(probs[i]) and ctx.worth_confirming(samples[i])]
    if seeming:
        seeming.sort(key=lambda i: ctx.region.distance(samples[i]))
        ctx.evaluate(samples[seeming[:limit]])
