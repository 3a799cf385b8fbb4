"""The black-box strategies, the baselines the searches with a gradient are measured against. Each is a
generator of Steps over one SearchContext and honours its region, budget, mode and cancel token.

- random: poses drawn uniformly from the region, rendered and classified in batches (the paper's RS;
          with a z range, its ZRS).
- fd:     Adam on central finite differences (the paper's FD-G): 13 forward passes a step, the pose
          itself and a pair of offsets for each of its 6 parameters (23 when the light's 5 are
          searched too).
- cmaes:  CMA-ES through the `cma` package (population 12), restarted inside the region when the
          nearest mode shrinks it (Explorer, which the default search shares).
The default search, CMA-ES with boundary steps on the analytic gradient, is in boundary.py; plain
descent on the analytic gradient is in gradient.py.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from strike_pose.search.context import SearchContext
from strike_pose.search.settings import LEARNING_RATE

BATCH = 12  # poses per step for random search and per generation for CMA-ES
FD_OFFSET = 1.0  # finite-difference offset, in the region's units (a degree)


def _best_of(ctx: SearchContext, params: np.ndarray, losses: np.ndarray, probs: np.ndarray):
    i = int(np.argmin(losses))
    return params[i], probs[i], losses[i]


class Adam:
    """Adam's moment estimates for one parameter vector (beta1 0.9, beta2 0.999, epsilon 1e-8), shared
    by fd here and by the gradient search (strike_pose/search/gradient.py)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.reset()

    def reset(self) -> None:
        self.m, self.v, self.t = np.zeros(self.size), np.zeros(self.size), 0

    def step(self, g: np.ndarray, rate) -> np.ndarray:
        """The change to subtract for gradient g: at most about `rate` (a number, or one a parameter)."""
        self.t += 1
        self.m = 0.9 * self.m + 0.1 * g
        self.v = 0.999 * self.v + 0.001 * g * g
        m_hat, v_hat = self.m / (1 - 0.9 ** self.t), self.v / (1 - 0.999 ** self.t)
        return rate * m_hat / (np.sqrt(v_hat) + 1e-8)


def _descend(ctx: SearchContext, gradient, learning_rate: float, patience: int = 8) -> Iterator:
    """Adam in the region's scaled units from the start, projected onto the region. The learning
    rate halves after every `patience` steps without a new best loss; after 3 * patience such steps
    the search restarts from a random pose in the region. `gradient(params)` -> (loss, grad, probs)."""
    region = ctx.region
    params = region.project(region.initial())
    adam = Adam(region.size)
    best_loss, since_best = np.inf, 0
    while not ctx.should_stop():
        loss, grad, probs = gradient(params)
        yield ctx.step(params, probs, loss)
        if ctx.should_stop():
            return
        if not (np.isfinite(loss) and np.all(np.isfinite(grad))):
            ctx.rejected += 1  # a broken gradient moves nothing: restart in the region
            since_best = 3 * patience
        if loss < best_loss - 1e-3:
            best_loss, since_best = loss, 0
        else:
            since_best += 1
        if since_best >= 3 * patience:
            params = ctx.region.sample(ctx.rng, 1)[0]
            adam.reset()
            best_loss, since_best = np.inf, 0
            continue
        scale = ctx.region.scale
        rate = learning_rate * 0.5 ** (since_best // patience)
        g = grad * scale  # the gradient with respect to the scaled parameters
        params = ctx.region.project(params - adam.step(g, rate * scale))


def fd_search(ctx: SearchContext) -> Iterator:
    """Adam on central finite differences of the OpenGL loss: one batch of the pose itself and 2 offsets a
    parameter (1 + 2 x 6 = 13 forward passes, 1 + 2 x 11 = 23 with the light)."""

    def gradient(params: np.ndarray):
        step = FD_OFFSET * ctx.region.scale
        offsets = np.concatenate([np.diag(step), -np.diag(step)])
        n = len(step)
        losses, probs = ctx.evaluate(np.concatenate([params[None], params + offsets]))
        grad = (losses[1:n + 1] - losses[n + 1:]) / (2 * step)
        return float(losses[0]), grad, probs[0]

    yield from _descend(ctx, gradient, ctx.learning_rate or LEARNING_RATE)


def random_search(ctx: SearchContext) -> Iterator:
    """Uniform samples from the region (which the nearest mode shrinks as closer fooling poses appear)."""
    shown = None
    while not ctx.should_stop():
        params = ctx.region.sample(ctx.rng, BATCH)
        losses, probs = ctx.evaluate(params)
        best = _best_of(ctx, params, losses, probs)
        if shown is None or best[2] < shown[2]:
            shown = best
        yield ctx.step(*shown)


class Explorer:
    """CMA-ES over the region's scaled parameters from the start (population BATCH), its candidates
    projected onto the region. When the nearest mode shrinks the region by a third or more, or CMA-ES
    converges, it starts afresh from the start with a step size to fit the region."""

    def __init__(self, ctx: SearchContext) -> None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # cma warns that matplotlib (for its plots) is missing
            import cma
        self._cma, self.ctx = cma, ctx
        self.restarted = False
        self._fresh()

    def _fresh(self) -> None:
        region = self.ctx.region
        sigma = (region.radius or 90.0) / 3.0
        options = {"popsize": BATCH, "seed": int(self.ctx.rng.integers(1, 2**31 - 1)), "verbose": -9}
        self.es = self._cma.CMAEvolutionStrategy(region.initial() / region.scale, sigma, options)
        self.radius = region.radius

    def ask(self) -> np.ndarray:
        scale = self.ctx.region.scale
        return np.stack([self.ctx.region.project(np.asarray(x) * scale) for x in self.es.ask()])

    def tell(self, candidates: np.ndarray, losses: np.ndarray) -> None:
        """Tell CMA-ES the losses of the candidates it asked for; then restart it if it is due."""
        scale = self.ctx.region.scale
        self.es.tell([c / scale for c in candidates], np.asarray(losses, np.float64).tolist())
        now = self.ctx.region.radius
        shrunk = now is not None and (self.radius is None or now < 2 / 3 * self.radius)
        self.restarted = shrunk or self.es.stop()
        if self.restarted:
            self._fresh()


def cmaes_search(ctx: SearchContext) -> Iterator:
    """CMA-ES (Explorer) from the start; each step shows the best candidate since the last restart."""
    explorer = Explorer(ctx)
    shown = None
    while not ctx.should_stop():
        candidates = explorer.ask()
        losses, probs = ctx.evaluate(candidates)
        explorer.tell(candidates, losses)
        best = _best_of(ctx, candidates, losses, probs)
        if shown is None or best[2] < shown[2]:
            shown = best
        yield ctx.step(*shown)
        if explorer.restarted:
            shown = None
