"""What every strategy minimises.

Two losses, lower is better, both computed from the classifier's logits z:
- margin (default): untargeted z[true] - max of the other z; targeted max of the other z - z[target].
  It is negative exactly when the search has succeeded, and keeps its slope where the softmax is
  saturated (as in C&W and FMN).
- logp: untargeted log p(true class); targeted -log p(target).
Success: untargeted, the top-1 is not the true class; targeted, the top-1 is the target; and in both
cases the probability margin (context.margin_of) is at least `min_margin`, for clear fools only.

Every strategy sees an objective only through one interface, which this classifier's Objective and the
detector's (search/detection.py, DetectorObjective) both implement:
- evaluate(images uint8 (N, H, W, 3), params (N, 6+)) -> (losses (N,), verdicts (N, K)): the OpenGL
  check; the verdicts are what flows as `probs` into Found, Step and SearchResult (the classifier's
  1000 ImageNet probabilities; the detector's 80 COCO scores on the object);
- image_loss_for(params, loss=None) -> image_loss(float images (N, H, W, 3)) -> (losses, verdicts):
  the differentiable loss of the twin's pictures of those poses, for twin_gradients;
- success(v), margin(v), misses(v) (the true class is not seen), margins(verdicts) (the margin loss
  from verdicts, for boundary steps) and loss_level() (the margin loss that meets min_margin);
- input_size, device, labels, top(v, k), describe(v, ...), seen_label(v), name, model_name, goal,
  true_class, target.
`make_objective(scene, model, ...)` builds the right one for a classifier or a detector.
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

    kind = "classifier"
    name = "classifier"

    @property
    def model_name(self) -> str:
        return self.classifier.name

    @property
    def labels(self):
        return self.classifier.labels

    @property
    def input_size(self) -> int:
        return self.classifier.input_size

    @property
    def device(self):
        return getattr(self.classifier, "device", None)

    def top(self, probs: np.ndarray, k: int = 5) -> list[dict]:
        return self.classifier.top(probs, k)

    def describe(self, probs: np.ndarray, true_class: int | None = None, k: int = 5, target: int | None = None) -> dict:
        return self.classifier.describe(probs, self.true_class if true_class is None else true_class, k=k,
                                        target=self.target if target is None else target)

    def seen_label(self, probs: np.ndarray) -> str:
        return self.classifier.labels[int(np.argmax(probs))]

    def misses(self, probs: np.ndarray) -> bool:
        """The top-1 is not the true class."""
        return int(np.argmax(probs)) != self.true_class

    def margins(self, probs: np.ndarray) -> np.ndarray:
        """The margin loss in logits from probabilities (N, 1000): log p(goal) - log of the best other, the
        sign turned for a target (what the boundary steps move to the boundary, whatever the search's loss)."""
        logp = np.log(np.clip(np.atleast_2d(np.asarray(probs, np.float64)), 1e-30, None))
        others = np.delete(logp, self.goal, axis=1).max(axis=1)
        return logp[:, self.goal] - others if self.target is None else others - logp[:, self.goal]

    def loss_level(self) -> float:
        """The margin in logits at which two classes' probabilities differ by min_margin (sharing nearly all
        the rest): -log((1 + m) / (1 - m))."""
        m = self.min_margin
        return -float(np.log((1 + m) / (1 - m))) if m > 0 else 0.0

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
    def evaluate(self, images: np.ndarray, params: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(losses (N,), probabilities (N, 1000)) for uint8 images (N, H, W, 3) (their poses are not needed)."""
        logits = self.classifier.logits(self.classifier.to_tensor(images))
        return self.loss_from_logits(logits).cpu().numpy(), torch.softmax(logits.float(), 1).cpu().numpy()

    def image_losses(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Differentiable losses (N,) of float images (N, H, W, 3) in [0, 1] (the twin's pictures),
        and their probabilities (N, 1000), detached."""
        logits = self.classifier.image_logits(images)
        return self.loss_from_logits(logits), torch.softmax(logits.detach().float(), 1)

    def verdicts(self, images: np.ndarray, params: np.ndarray | None = None) -> np.ndarray:
        """Probabilities (N, 1000) of uint8 images (the OpenGL re-check of a result)."""
        return self.classifier.probabilities(images)

    def shot_stem(self, scene_name: str, probs: np.ndarray) -> str:
        from strike_pose.export import shot_stem

        return shot_stem(scene_name, probs)

    def image_loss_for(self, params: np.ndarray | None = None, loss: str | None = None):
        """The differentiable loss of the twin's pictures (their poses are not needed); `loss` overrides the
        objective's own (the boundary steps take the margin)."""
        if loss is None or loss == self.loss:
            return self.image_losses
        from dataclasses import replace

        return replace(self, loss=loss).image_losses


def make_objective(scene, model, target: int | str | None = None, loss: str = "margin", min_margin: float = 0.0):
    """The objective of a search of `scene` against `model`: a classifier (target an ImageNet index) or
    a detector (strike_pose.models.detector.Detector; target a COCO index or label: detector-class,
    None: detector-miss). An objective given as `model` is returned as it is."""
    if hasattr(model, "image_loss_for") and hasattr(model, "evaluate"):
        return model
    if hasattr(model, "detect") and hasattr(model, "scores"):
        from strike_pose.models.coco import require_coco_class
        from strike_pose.search.detection import DetectorObjective, coco_target

        own = require_coco_class(scene)
        return DetectorObjective(model, scene, own, None if target is None else coco_target(target, own), loss,
                                 min_margin)
    if scene.true_class is None:
        from strike_pose.errors import StrikePoseError

        raise StrikePoseError("the scene has no true class to search against; give one (--true-class LABEL)")
    return Objective(model, scene.true_class, target, loss, min_margin)
