"""What every strategy minimises.

Two losses, lower is better, both computed from the classifier's logits z:
- margin (default): untargeted z[true] - max of the other z; targeted max of the other z - z[target].
  It is negative exactly when the search has succeeded, and keeps its slope where the softmax is
  saturated (as in C&W and FMN).
- logp: untargeted log p(true class); targeted -log p(target).
Success: untargeted, the top-1 is not the true class; targeted, the top-1 is the target; and in both
cases the probability margin (context.margin_of) is at least `min_margin`, for clear fools only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from strike_pose.search import LOSSES
from strike_pose.search.context import fools, margin_of


@dataclass(frozen=True)
class Objective:
    classifier: object
    true_class: int
    target: int | None = None
    loss: str = "margin"
    min_margin: float = 0.0  # the least probability margin that counts as a fooling pose

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            from strike_pose.errors import StrikePoseError

            raise StrikePoseError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")

    @property
    def goal(self) -> int:
        """The class the loss is about: the target, or the true class when untargeted."""
        return self.true_class if self.target is None else self.target

    def loss_from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """(N,) losses from (N, 1000) logits, differentiable."""
        logits = logits.float()
        if self.loss == "logp":
            log_probs = torch.log_softmax(logits, dim=1)
            return log_probs[:, self.true_class] if self.target is None else -log_probs[:, self.target]
        goal = logits[:, self.goal]
        others = logits.scatter(1, torch.full_like(logits[:, :1], self.goal, dtype=torch.long), float("-inf"))
        best_other = others.max(dim=1).values
        return goal - best_other if self.target is None else best_other - goal

    def success(self, probs: np.ndarray) -> bool:
        return fools(probs, self.true_class, self.target, self.min_margin)

    def margin(self, probs: np.ndarray) -> float:
        return margin_of(probs, self.true_class, self.target)

    @torch.no_grad()
    def evaluate(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(losses (N,), probabilities (N, 1000)) for uint8 images (N, H, W, 3)."""
        logits = self.classifier.logits(self.classifier.to_tensor(images))
        return self.loss_from_logits(logits).cpu().numpy(), torch.softmax(logits.float(), 1).cpu().numpy()

    def image_losses(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Differentiable losses (N,) of float images (N, H, W, 3) in [0, 1] (the twin's pictures),
        and their probabilities (N, 1000), detached."""
        logits = self.classifier.image_logits(images)
        return self.loss_from_logits(logits), torch.softmax(logits.detach().float(), 1)
