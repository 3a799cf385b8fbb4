"""The methods' own settings (frozen dataclasses), apart from the methods, so that SearchOptions can check
them without importing a strategy: boundary.py and gradient.py read them, options.py validates them."""

from __future__ import annotations

from dataclasses import dataclass

from strike_pose.errors import StrikePoseError

LEARNING_RATE = 2.0  # fd's and grad's default: degrees per step (and as many region units for x, y, z)
DIRECTIONS = ("gradient", "random", "none")


@dataclass(frozen=True)
class BoundarySettings:
    direction: str = "gradient"  # "gradient"; the ablations "random" (same lengths) and "none" (no steps)
    near: float = 0.5  # logits: a non-fooling candidate within this of the level a step aims at is a near miss
    candidates: int = 0  # near misses stepped per generation, the nearest the boundary first (0: none)
    rounds: int = 2  # boundary steps in a row, while the margin falls
    cap: float = 0.5  # the most a step moves the pose: degrees (and as many region units for x, y, z)
    light_cap: float = 10.0  # the most a step moves the light, in region units (0.1 of ambient or diffuse)
    overshoot: float = 0.1  # logits past the boundary a step aims at (DeepFool's kappa)
    slide_step: float = 0.5  # degrees towards the start per slide step
    slides: int = 4  # slide steps after each new closest fooling pose
    glide: float = 2.0  # degrees (and region units) the shown pose moves a step at most

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise StrikePoseError(f"unknown boundary direction {self.direction!r}; "
                                  f"choose one of {', '.join(DIRECTIONS)}")


@dataclass(frozen=True)
class GradSettings:
    chains: int = 2  # descents side by side (chain 0 from the start itself)
    samples: int = 1  # poses per chain whose gradients are averaged: the chain's own and jittered ones
    jitter: float = 2.0  # degrees (and region units) of Gaussian jitter, when samples > 1
    learning_rate: float = LEARNING_RATE  # Adam's, in degrees a step; also the most the shown pose moves
    patience: int = 24  # steps without a lower smoothed loss before a chain restarts
    screen: int = 8  # a restarting chain starts from the best of this many poses of the region


__all__ = ["BoundarySettings", "DIRECTIONS", "GradSettings", "LEARNING_RATE"]
