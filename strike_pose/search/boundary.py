"""The default search: CMA-ES explores the region, the analytic gradient works only where it is exact.

The classifier's loss has a consistent slope at the scale of a degree, but its analytic gradient (the
differentiable twin's) is the slope of a ripple below half a degree (BENCHMARKS.md, "The twin's
gradient"). So exploration is left to a global sampler, CMA-ES (strategies.Explorer), and the
gradient is used for short moves that its linearisation describes:

- a boundary slide: after each new closest fooling pose, steps of `slide_step` degrees towards the
  start with the component along the margin's gradient removed, plus a Newton correction back to
  just inside the fooling side (the geometry of FMN, DDN and ALMA, in pose space); a step that no
  longer fools on OpenGL halves the next, one that does lengthens it (up to twice `slide_step`);
- boundary steps, when `candidates` > 0: the candidates of a generation that are near misses on
  OpenGL (not fooling, their margin in logits within `near` of the boundary) take DeepFool's
  linearised step onto the decision boundary, delta = -(margin + overshoot) g / |g|^2, capped at
  `cap` degrees (and as many region units for x, y, z) and projected into the region, then one
  OpenGL check; again, `rounds` times, while the margin falls. Off by default: on 30 paired starts
  per scene the search without them came closer (BENCHMARKS.md), as they rarely flip a verdict and
  their twin passes cost the exploration three to four forward passes each;
- the light, when it is searched: shading moves no edge, so its gradient holds at large scales and
  its part of a step may reach `light_cap` region units (CMA-ES pays for every extra dimension, the
  gradient does not).

All the steps of a round (the slide and any near misses) go through the twin in one batched pass and
through OpenGL in one batch; only OpenGL's verdict is recorded (SearchContext.record). `direction`
switches the gradient off for the ablation the benchmark runs: "random" takes steps of the same
lengths in random directions (the gradient still sets the length), "none" takes no steps.

The pose the search shows glides by at most `glide` degrees a step towards the closest fooling pose,
or towards the lowest-loss pose before there is one; its picture is classified on OpenGL each step.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from strike_pose.search.context import SearchContext
from strike_pose.search.settings import BoundarySettings
from strike_pose.search.strategies import Explorer

def boundary_search(ctx: SearchContext, settings: BoundarySettings | None = None) -> Iterator:
    s = settings or BoundarySettings()
    explorer = Explorer(ctx)
    stepper = BoundarySteps(ctx, s) if s.direction != "none" else None
    walker = ctx.region.project(ctx.region.initial())
    while not ctx.should_stop():
        candidates = explorer.ask()
        losses, probs = ctx.evaluate(candidates)
        explorer.tell(candidates, losses)
        if stepper is not None and not ctx.should_stop():
            stepper.run(candidates, probs)
        if ctx.cancel.is_set():
            return
        walker = ctx.walk(walker, ctx.lowest[0], s.glide)  # towards the closest fooling pose, else the lowest loss
        shown_loss, shown_probs = ctx.evaluate(walker[None])
        yield ctx.step(walker, shown_probs[0], shown_loss[0])


class BoundarySteps:
    """The gradient's part: near-miss steps onto the boundary and the slide along it towards the start."""

    def __init__(self, ctx: SearchContext, s: BoundarySettings) -> None:
        self.ctx, self.s = ctx, s
        self.level = -s.overshoot + ctx.objective.loss_level()  # the margin a step aims at
        self.slid = None  # the closest fooling pose last slid from
        self.device = ctx.objective.device

    def run(self, candidates: np.ndarray, probs: np.ndarray) -> None:
        """One generation's boundary steps: up to `rounds` for the near misses among `candidates`, up to
        `slides` for the slide from a new closest fooling pose, each round one batch."""
        ctx, s = self.ctx, self.s
        margins = self.ctx.objective.margins(probs)
        order = [i for i in np.argsort(margins)
                 if margins[i] - self.level < s.near and not ctx.objective.success(probs[i])]
        near = [(candidates[i], margins[i]) for i in order[:s.candidates]]
        slide = self._slide_start()
        slide_step, done = s.slide_step, 0
        while not ctx.should_stop():
            near = near if done < s.rounds else []
            slide = slide if done < s.slides else None
            if not near and slide is None:
                return
            points = [p for p, _ in near] + ([slide[0]] if slide is not None else [])
            grads = self.gradients(np.stack(points))
            moved = [self.onto_boundary(p, m, g) for (p, m), g in zip(near, grads)]
            if slide is not None:
                moved.append(self.along_boundary(slide[0], slide[1], grads[-1], slide_step))
            _, new_probs = ctx.evaluate(np.stack(moved))
            new_margins = self.ctx.objective.margins(new_probs)
            fooled = [ctx.objective.success(pr) for pr in new_probs]
            # a near miss goes on while its margin falls and it does not fool yet
            near = [(q, m) for q, m, (_, old), f in zip(moved, new_margins, near, fooled) if m < old and not f]
            if slide is not None:
                if fooled[-1] and ctx.region.in_view(moved[-1]):  # on the fooling side: a longer step next
                    slide = (moved[-1], float(new_margins[-1]))
                    slide_step = min(2 * s.slide_step, 1.5 * slide_step)
                else:  # off the fooling side: a shorter step from the same pose
                    slide_step /= 2
                    slide = slide if slide_step >= s.slide_step / 4 else None
            done += 1

    def _slide_start(self):
        """(params, margin) of the closest fooling pose when it is new since the last slide, else None."""
        c = self.ctx.closest
        if c is None or c is self.slid or self.s.slides == 0:
            return None
        self.slid = c  # a slide that finds a closer one slides again from there next generation
        return self.ctx.region.params_of(c.pose, c.light), float(self.ctx.objective.margins(c.probs[None])[0])

    # ------------------------------------------------------------------------------------- steps

    def gradients(self, points: np.ndarray) -> np.ndarray:
        """The margin's gradients per scaled unit (N, size) at `points`, from one pass through the twin."""
        from strike_pose.render.diff import twin_gradients

        ctx = self.ctx
        size = ctx.region.size
        twin = twin_gradients(ctx.scene, points[:, :6], ctx.objective.image_loss_for(points, loss="margin"),
                              lights=points[:, 6:] if size > 6 else None, size=ctx.size,
                              renderer=ctx.renderer, device=self.device)
        ctx.gradients += len(points)
        grads = twin.pose_grads if twin.light_grads is None else np.hstack([twin.pose_grads, twin.light_grads])
        return grads * ctx.region.scale

    def _limit(self, step: np.ndarray, cap: float) -> np.ndarray:
        """A step in scaled units within the caps: the pose part at most `cap`, the light part `light_cap`."""
        pose = np.linalg.norm(step[:6])
        factor = 1.0 if pose <= cap else cap / pose
        if len(step) > 6:
            light = np.linalg.norm(step[6:])
            factor = min(factor, 1.0 if light <= self.s.light_cap else self.s.light_cap / light)
        return step * factor

    def _direction(self, step: np.ndarray) -> np.ndarray:
        """The step itself, or for the ablation one of the same lengths (pose and light) in a random direction."""
        if self.s.direction == "gradient":
            return step
        out = np.empty_like(step)
        for part in (slice(0, 6), slice(6, None)):
            if step[part].size:
                r = self.ctx.rng.normal(size=step[part].size)
                out[part] = r / np.linalg.norm(r) * np.linalg.norm(step[part])
        return out

    def _move(self, params: np.ndarray, step: np.ndarray, cap: float | None = None) -> np.ndarray:
        region = self.ctx.region
        return region.project(params + self._direction(self._limit(step, cap or self.s.cap)) * region.scale)

    def onto_boundary(self, params: np.ndarray, margin: float, g: np.ndarray) -> np.ndarray:
        """DeepFool's step from a near miss onto the boundary (a little past it), capped and projected."""
        norm2 = float(g @ g)
        if not (np.isfinite(norm2) and norm2 > 1e-12):
            return params
        return self._move(params, -(margin - self.level) * g / norm2)

    def along_boundary(self, params: np.ndarray, margin: float, g: np.ndarray, length: float) -> np.ndarray:
        """A slide step from a fooling pose: `length` degrees towards the start with the part along the
        margin's gradient removed, plus the Newton correction back to the level just past the boundary."""
        region = self.ctx.region
        distance = region.distance(params)
        if distance < 1e-6:
            return params
        towards = (region.between(params, region.initial(), min(1.0, length / distance)) - params) / region.scale
        towards[6:] = 0.0  # the light is no part of the distance
        norm2 = float(g @ g)
        cap = max(self.s.cap, length)
        if not (np.isfinite(norm2) and norm2 > 1e-12):
            return self._move(params, towards, cap)
        along = towards - (towards @ g) / norm2 * g
        correction = -(margin - self.level) * g / norm2
        return self._move(params, along + correction, cap)

