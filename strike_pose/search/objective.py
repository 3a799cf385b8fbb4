"""What every strategy minimises, as one written interface (SearchObjective) with two implementations:
the classifier's Objective below and the detector's DetectorObjective (search/detection.py).

The classifier's two losses, lower is better, both computed from its logits z:
- margin (default): untargeted z[true] - max of the other z; targeted max of the other z - z[target].
  It is negative exactly when the search has succeeded, and keeps its slope where the softmax is
  saturated (as in C&W and FMN).
- logp: untargeted log p(true class); targeted -log p(target).
Success: untargeted, the top-1 is not the true class; targeted, the top-1 is the target; and in both
cases the probability margin (margin_of) is at least `min_margin`, for clear fools only.

`make_objective(scene, model, options)` is the one place that decides what a model is (its `kind`,
"classifier" or "detector") and builds the objective for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from strike_pose.errors import StrikePoseError
from strike_pose.search.options import LOSSES, SearchOptions


@runtime_checkable
class SearchObjective(Protocol):
    """What a strategy, the search's record and SearchResult see of the model searched against.

    The verdicts (N, K) flow as `probs` into Found, Step and SearchResult: a classifier's 1000 ImageNet
    probabilities, or a detector's 80 COCO scores on the object (the best box of each class there).
    """

    kind: str  # "classifier" or "detector"
    name: str  # the objective's name: "classifier", "detector-miss" or "detector-class"
    true_class: int  # the object's class among the verdicts
    target: int | None  # the class a targeted search wants among the verdicts; None: untargeted
    min_margin: float  # the least margin that counts as a fooling pose

    @property
    def model_name(self) -> str: ...
    @property
    def labels(self) -> tuple[str, ...]: ...
    @property
    def input_size(self) -> int: ...
    @property
    def device(self): ...

    def evaluate(self, images: np.ndarray, params: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The OpenGL check: uint8 images (N, H, W, 3) of the poses `params` (N, 6+) -> (losses (N,), verdicts)."""
    def verdicts(self, images: np.ndarray, params: np.ndarray | None = None) -> np.ndarray:
        """Verdicts (N, K) of uint8 images (the re-check of a result)."""
    def image_loss_for(self, params: np.ndarray | None = None, loss: str | None = None):
        """A function of the twin's float images (N, H, W, 3) in [0, 1] -> (losses (N,), verdicts), differentiable."""
    def success(self, verdict: np.ndarray) -> bool:
        """The verdict fools the model: its margin is positive and at least min_margin."""
    def margin(self, verdict: np.ndarray) -> float:
        """How clearly the verdict fools the model (positive exactly on success with min_margin 0)."""
    def misses(self, verdict: np.ndarray) -> bool:
        """The model does not see the object as its own class."""
    def margins(self, verdicts: np.ndarray) -> np.ndarray:
        """The margin loss of verdicts (N, K), in logits, for the boundary steps."""
    def loss_level(self) -> float:
        """The margin loss at which a verdict just meets min_margin (0 when it is 0)."""
    def top(self, verdict: np.ndarray, k: int = 5) -> list[dict]: ...
    def describe(self, verdict: np.ndarray, true_class: int | None = None, k: int = 5,
                 target: int | None = None) -> dict: ...
    def seen_label(self, verdict: np.ndarray) -> str: ...
    def shot_stem(self, scene_name: str, verdict: np.ndarray) -> str: ...


def margin_of(probs: np.ndarray, true_class: int, target: int | None = None) -> float:
    """How clearly a classifier's verdict fools it, in probability: untargeted, the best wrong class's
    p minus p(true class); targeted, p(target) minus the best other class's p. Positive exactly when
    the search has succeeded."""
    probs = np.asarray(probs, np.float64)
    goal = true_class if target is None else target
    other = float(np.max(np.delete(probs, goal)))
    return other - float(probs[goal]) if target is None else float(probs[goal]) - other


def margin_loss(logits: torch.Tensor, goal: int, targeted: bool) -> torch.Tensor:
    """(N,) margin losses of (N, K) logits (or log-probabilities): z[goal] minus the best other z, the sign
    turned when `goal` is a target; negative exactly when the search has succeeded. Differentiable."""
    others = logits.scatter(1, torch.full_like(logits[:, :1], goal, dtype=torch.long), float("-inf"))
    best_other = others.max(dim=1).values
    return best_other - logits[:, goal] if targeted else logits[:, goal] - best_other


def fools(probs: np.ndarray, true_class: int, target: int | None = None, min_margin: float = 0.0) -> bool:
    """Whether a verdict counts as a fooling pose: its margin (margin_of) is positive and at least min_margin."""
    m = margin_of(probs, true_class, target)
    return m > 0 and m >= min_margin


@dataclass(frozen=True)
class Objective:
    """The classifier's objective (SearchObjective): verdicts are its 1000 ImageNet probabilities."""

    model: object  # the classifier
    true_class: int
    target: int | None = None
    loss: str = "margin"
    min_margin: float = 0.0  # the least probability margin that counts as a fooling pose

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise StrikePoseError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")

    kind = "classifier"
    name = "classifier"

    @property
    def model_name(self) -> str:
        return self.model.name

    @property
    def labels(self):
        return self.model.labels

    @property
    def input_size(self) -> int:
        return self.model.input_size

    @property
    def device(self):
        return getattr(self.model, "device", None)

    def top(self, probs: np.ndarray, k: int = 5) -> list[dict]:
        return self.model.top(probs, k)

    def describe(self, probs: np.ndarray, true_class: int | None = None, k: int = 5, target: int | None = None) -> dict:
        return self.model.describe(probs, self.true_class if true_class is None else true_class, k=k,
                                        target=self.target if target is None else target)

    def seen_label(self, probs: np.ndarray) -> str:
        return self.model.labels[int(np.argmax(probs))]

    def misses(self, probs: np.ndarray) -> bool:
        """The top-1 is not the true class."""
        return int(np.argmax(probs)) != self.true_class

    def margins(self, probs: np.ndarray) -> np.ndarray:
        """The margin loss from probabilities (N, 1000) (what the boundary steps move to the boundary,
        whatever the search's loss): log-probabilities differ from logits by one constant a row, so the
        margin of their logs is the margin of the logits (margin_loss)."""
        logp = torch.log(torch.as_tensor(np.atleast_2d(np.asarray(probs, np.float64))).clamp_min(1e-30))
        return margin_loss(logp, self.goal, self.target is not None).numpy()

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
        return margin_loss(logits, self.goal, self.target is not None)

    def success(self, probs: np.ndarray) -> bool:
        return fools(probs, self.true_class, self.target, self.min_margin)

    def margin(self, probs: np.ndarray) -> float:
        return margin_of(probs, self.true_class, self.target)

    @torch.no_grad()
    def evaluate(self, images: np.ndarray, params: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(losses (N,), probabilities (N, 1000)) for uint8 images (N, H, W, 3) (their poses are not needed)."""
        logits = self.model.logits(self.model.to_tensor(images))
        return self.loss_from_logits(logits).cpu().numpy(), torch.softmax(logits.float(), 1).cpu().numpy()

    def image_losses(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Differentiable losses (N,) of float images (N, H, W, 3) in [0, 1] (the twin's pictures),
        and their probabilities (N, 1000), detached."""
        logits = self.model.image_logits(images)
        return self.loss_from_logits(logits), torch.softmax(logits.detach().float(), 1)

    def verdicts(self, images: np.ndarray, params: np.ndarray | None = None) -> np.ndarray:
        """Probabilities (N, 1000) of uint8 images (the OpenGL re-check of a result)."""
        return self.model.probabilities(images)

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


def make_objective(scene, model, options: SearchOptions | None = None) -> SearchObjective:
    """The objective of a search of `scene` against `model` with `options` (its objective, target, loss
    and min_margin): a classifier's (target an ImageNet index) or a detector's (target a COCO index or
    label: detector-class; None: detector-miss). An objective given as `model` is returned as it is.
    The one place that tells a detector from a classifier: the model's `kind`."""
    options = options or SearchOptions()
    if isinstance(model, SearchObjective):
        return model
    kind = getattr(model, "kind", None)
    if kind not in ("classifier", "detector"):
        raise StrikePoseError(f"a search needs a classifier or a detector as its model, got {type(model).__name__}")
    wanted = options.objective
    if wanted is not None and wanted.startswith("detector") != (kind == "detector"):
        raise StrikePoseError(f"the objective {wanted} needs "
                              f"{'a detector' if kind == 'classifier' else 'a classifier'} "
                              f"as the model, not {model.name}")
    if kind == "detector":
        from strike_pose.models.coco import require_coco_class
        from strike_pose.search.detection import DetectorObjective, coco_target

        own = require_coco_class(scene)
        target = None if options.target is None else coco_target(options.target, own)
        return DetectorObjective(model, scene, own, target, options.loss, options.min_margin)
    if scene.true_class is None:
        raise StrikePoseError("the scene has no true class to search against; give one (--true-class LABEL)")
    if isinstance(options.target, str):
        from strike_pose.models.labels import resolve_class

        options = options.replace(target=resolve_class(options.target))
    return Objective(model, scene.true_class, options.target, options.loss, options.min_margin)
