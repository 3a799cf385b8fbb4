"""The search's objective against an object detector (YOLOv3-tiny), and the one rule of when the
detector is fooled, which the searches and the transfer study share.

The object's region is exact and geometric: the object's outline points (its convex hull's vertices,
render.transforms.outline_points) are projected with the scene's camera and the pose, as both
renderers project them; their bounding box, clipped to the picture, is the object's box (for a convex
hull under a perspective projection this is exactly the box of the rendered silhouette).

A candidate box of the detector is **on the object** when its IoU with the object's box is at least
`iou` (0.5 by default: the criterion by which COCO and PASCAL VOC count a detection as a true
positive). The rule is applied to every candidate box before non-maximum suppression, so a box that NMS
would drop still counts (NMS never drops the best box of a class, so this is what `detect` shows but
for rare ties of geometry; for a miss it is the stricter reading).

The verdict of a picture is a vector of the 80 COCO classes: for each class, the best score
(objectness x class probability) among the candidate boxes on the object, 0 when no candidate box is.
It is what flows through a search as `probs` (Found, Step, SearchResult) when the objective is the
detector's, labelled with COCO's names. With t the detector's confidence threshold and s the verdict:

- detector-miss (untargeted): fooled when s[own] < t, no box of the object's own COCO class above the
  threshold on the object; margin t - s[own];
- detector-class T (targeted): fooled when s[T] > t and s[own] < t, the detector sees the object as T
  and not as itself; margin min(s[T] - t, t - s[own]).

A verdict counts when its margin is positive and at least `min_margin`, as for the classifier. The loss
the searches minimise is in logits of the scores, L(s) = log(s / (1 - s)):
miss L(s[own]) - L(t), targeted max(L(s[own]) - L(t), L(t) - L(s[T])). It is negative exactly when the
margin is positive (a score exactly at the threshold is neither detected by `detect` nor counted as a
fool), keeps its slope where the scores saturate, and is differentiable through the detector: twin
picture -> detector.scores -> the best score on the object -> loss (the box geometry picks which boxes
count; the gradient flows through their scores).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from strike_pose.errors import StrikePoseError

IOU = 0.5  # a candidate box is on the object when its IoU with the object's box is at least this
EPS = 1e-6  # scores are clipped to [EPS, 1 - EPS] before their logit


# ------------------------------------------------------------------------------- the geometry

def object_boxes(outline: np.ndarray, poses: np.ndarray, fov_y: float, aspect: float = 1.0) -> np.ndarray:
    """The object's boxes (N, 4) as x0, y0, x1, y1 in [0, 1] of the picture (y down), from its outline
    points projected at each pose (N, 6); a pose with a point behind the camera takes the box of the
    points in front, and a box wholly outside the picture is empty (x0 = x1)."""
    from strike_pose.render.transforms import frustum_half_extent, pose_rotation_translation

    poses = np.atleast_2d(np.asarray(poses, np.float64))[:, :6]
    r, t = pose_rotation_translation(poses)  # (N, 3, 3), (N, 3)
    v = np.einsum("nij,pj->npi", r, np.asarray(outline, np.float64)) + t[:, None, :]  # (N, P, 3)
    tx, ty = frustum_half_extent(fov_y, aspect)
    depth = -v[..., 2]
    front = depth > 1e-6
    safe = np.where(front, depth, 1.0)
    u = (v[..., 0] / (safe * tx) + 1) / 2
    w = (1 - v[..., 1] / (safe * ty)) / 2
    big = np.inf
    x0 = np.where(front, u, big).min(1)
    x1 = np.where(front, u, -big).max(1)
    y0 = np.where(front, w, big).min(1)
    y1 = np.where(front, w, -big).max(1)
    boxes = np.stack([x0, y0, x1, y1], 1)
    boxes = np.clip(np.nan_to_num(boxes, posinf=0.0, neginf=0.0), 0.0, 1.0)
    boxes[:, 2] = np.maximum(boxes[:, 2], boxes[:, 0])
    boxes[:, 3] = np.maximum(boxes[:, 3], boxes[:, 1])
    return boxes


def box_iou(boxes: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU (N, B) of candidate boxes (N, B, 4) with one box per image (N, 4), corners x0, y0, x1, y1."""
    t = target[:, None, :]
    iw = (torch.minimum(boxes[..., 2], t[..., 2]) - torch.maximum(boxes[..., 0], t[..., 0])).clamp_min(0)
    ih = (torch.minimum(boxes[..., 3], t[..., 3]) - torch.maximum(boxes[..., 1], t[..., 1])).clamp_min(0)
    inter = iw * ih
    area = (boxes[..., 2] - boxes[..., 0]).clamp_min(0) * (boxes[..., 3] - boxes[..., 1]).clamp_min(0)
    area_t = (t[..., 2] - t[..., 0]).clamp_min(0) * (t[..., 3] - t[..., 1]).clamp_min(0)
    return inter / (area + area_t - inter).clamp_min(1e-12)


def object_scores(boxes: torch.Tensor, scores: torch.Tensor, object_box: torch.Tensor,
                  iou: float = IOU) -> torch.Tensor:
    """The verdict (N, C): per class, the best score among the candidate boxes whose IoU with the object's
    box is at least `iou` (0 where none is); differentiable through the scores."""
    on = box_iou(boxes.detach().to(object_box.dtype), object_box) >= iou  # (N, B)
    masked = torch.where(on[..., None], scores, torch.zeros((), dtype=scores.dtype, device=scores.device))
    return masked.max(dim=1).values


# ---------------------------------------------------------------------------------- the rule

def _logit(s, eps: float = EPS):
    if isinstance(s, torch.Tensor):
        s = s.clamp(eps, 1 - eps)
        return torch.log(s) - torch.log1p(-s)
    s = np.clip(np.asarray(s, np.float64), eps, 1 - eps)
    return np.log(s) - np.log1p(-s)


def detector_margin(verdict: np.ndarray, own: int, threshold: float, target: int | None = None) -> float:
    """How clearly a verdict fools the detector, in score: t - s[own] (miss), min(s[T] - t, t - s[own])
    (class T). Positive exactly when it is fooled."""
    v = np.asarray(verdict, np.float64)
    miss = threshold - float(v[own])
    return miss if target is None else min(float(v[target]) - threshold, miss)


def detector_fooled(verdict: np.ndarray, own: int, threshold: float, target: int | None = None,
                    min_margin: float = 0.0) -> bool:
    """The one rule: the detector is fooled when the margin (detector_margin) is positive and at least min_margin."""
    m = detector_margin(verdict, own, threshold, target)
    return m > 0 and m >= min_margin


def coco_target(label_or_index, own: int | None = None) -> int:
    """A COCO class index from a label ("truck") or an index ("7"), or one clear error."""
    from strike_pose.models.coco import COCO_LABELS, coco_class_index

    if isinstance(label_or_index, (int, np.integer)) or str(label_or_index).strip().isdigit():
        index = int(label_or_index)
        if not 0 <= index < len(COCO_LABELS):
            raise StrikePoseError(f"COCO class index {index} is outside 0..{len(COCO_LABELS) - 1}")
    else:
        index = coco_class_index(str(label_or_index).strip(), where="the detector's target")
    if own is not None and index == own:
        raise StrikePoseError(f"the detector's target {COCO_LABELS[index]!r} is the object's own COCO class; choose "
                              "another class, or search for a miss (--objective detector-miss)")
    return index


# ------------------------------------------------------------------------------ the objective

@dataclass(frozen=True)
class DetectorObjective:
    """What a search minimises against a detector (see the module docstring): the same interface as the
    classifier's Objective (search/objective.py), with COCO verdicts (N, 80) in place of probabilities."""

    detector: object
    scene: object
    true_class: int  # the object's COCO class
    target: int | None = None  # a COCO class: detector-class T; None: detector-miss
    loss: str = "margin"
    min_margin: float = 0.0  # the least score margin that counts
    iou: float = IOU
    outline: np.ndarray = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        from strike_pose.render.transforms import outline_points

        if self.loss != "margin":
            raise StrikePoseError(f"the detector's objective has one loss, margin (in logits of its scores); "
                                  f"got {self.loss!r}")
        if not 0 < self.iou <= 1:
            raise StrikePoseError("the overlap (IoU) that puts a box on the object must be in (0, 1], "
                                  f"got {self.iou:g}")
        if self.target is not None and self.target == self.true_class:
            coco_target(self.target, self.true_class)  # the same error as from a label
        if self.outline is None:
            object.__setattr__(self, "outline", outline_points(self.scene.mesh.positions))

    # ------------------------------------------------------------------------------ describing

    kind = "detector"

    @property
    def name(self) -> str:
        return "detector-miss" if self.target is None else "detector-class"

    @property
    def model_name(self) -> str:
        return f"detector:{self.detector.name}"

    @property
    def threshold(self) -> float:
        return self.detector.conf_threshold

    @property
    def labels(self) -> tuple[str, ...]:
        return self.detector.labels

    @property
    def input_size(self) -> int:
        return self.detector.input_size

    @property
    def device(self):
        return self.detector.device

    @property
    def goal(self) -> int:
        return self.true_class if self.target is None else self.target

    def top(self, verdict: np.ndarray, k: int = 5) -> list[dict]:
        order = np.argsort(np.asarray(verdict))[::-1][:k]
        return [{"index": int(i), "label": self.labels[int(i)], "prob": float(verdict[i])} for i in order]

    def seen_label(self, verdict: np.ndarray) -> str:
        """What the detector sees on the object: the best class above the threshold, else 'nothing'."""
        i = int(np.argmax(verdict))
        return self.labels[i] if float(verdict[i]) > self.threshold else "nothing"

    def describe(self, verdict: np.ndarray, true_class=None, k: int = 5, target: int | None = None) -> dict:
        """As the classifier's describe (sidecars, summaries): the detector's verdict on the object, in COCO labels."""
        target = self.target if target is None else target
        out = {"model": self.model_name, "objective": self.name, "labels": "coco",
               "conf_threshold": self.threshold, "iou": self.iou,
               "true_class": {"index": self.true_class, "label": self.labels[self.true_class],
                              "prob": float(verdict[self.true_class])},
               "top": self.top(verdict, k), "seen": self.seen_label(verdict)}
        if target is not None:
            out["target"] = {"index": target, "label": self.labels[target], "prob": float(verdict[target])}
        return out

    # ------------------------------------------------------------------------------ the rule

    def success(self, verdict: np.ndarray) -> bool:
        return detector_fooled(verdict, self.true_class, self.threshold, self.target, self.min_margin)

    def misses(self, verdict: np.ndarray) -> bool:
        """The detector does not see the object as its own class (what 'misclassified' is for a start)."""
        return float(verdict[self.true_class]) < self.threshold

    def margin(self, verdict: np.ndarray) -> float:
        return detector_margin(verdict, self.true_class, self.threshold, self.target)

    def loss_from_verdicts(self, verdicts):
        """(N,) losses of verdicts (N, 80), numpy or torch (differentiable)."""
        t = _logit(torch.tensor(self.threshold, dtype=torch.float64) if isinstance(verdicts, torch.Tensor)
                   else self.threshold)
        if isinstance(verdicts, torch.Tensor):
            t = t.to(verdicts.dtype)
        own = _logit(verdicts[:, self.true_class]) - t
        if self.target is None:
            return own
        other = t - _logit(verdicts[:, self.target])
        return torch.maximum(own, other) if isinstance(verdicts, torch.Tensor) else np.maximum(own, other)

    def margins(self, verdicts: np.ndarray) -> np.ndarray:
        """The margin loss of verdicts (N, 80): the same numbers as image_losses gives (boundary steps)."""
        return np.asarray(self.loss_from_verdicts(np.atleast_2d(np.asarray(verdicts, np.float64))))

    def loss_level(self) -> float:
        """The margin loss at which a verdict just meets min_margin (0 when it is 0)."""
        if self.min_margin <= 0:
            return 0.0
        t = self.threshold
        return float(min(_logit(t - self.min_margin) - _logit(t), 0.0))

    # ------------------------------------------------------------------------------ evaluating

    def boxes_of(self, params: np.ndarray) -> np.ndarray:
        """The object's boxes (N, 4) in [0, 1] at these poses (or parameter vectors)."""
        return object_boxes(self.outline, np.atleast_2d(params)[:, :6], self.scene.camera.fov_y)

    def verdicts_of(self, x: torch.Tensor, params: np.ndarray) -> torch.Tensor:
        """Verdicts (N, 80) of float images (N, 3, H, W) in [0, 1] at poses `params`, differentiable."""
        boxes, scores = self.detector.scores(x)
        target = torch.as_tensor(self.boxes_of(params), dtype=boxes.dtype, device=boxes.device)
        return object_scores(boxes, scores, target, self.iou)

    @torch.no_grad()
    def evaluate(self, images: np.ndarray, params: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(losses (N,), verdicts (N, 80)) for uint8 images (N, H, W, 3) of the poses `params` (N, 6+)."""
        if params is None:
            raise StrikePoseError("the detector's objective needs the poses of its pictures (the object's box)")
        images = np.asarray(images)
        out = []
        for i in range(0, len(images), 16):
            out.append(self.verdicts_of(self.detector.to_tensor(images[i:i + 16]), np.atleast_2d(params)[i:i + 16]))
        verdicts = torch.cat(out).double()
        return self.loss_from_verdicts(verdicts).cpu().numpy(), verdicts.cpu().numpy()

    def verdicts(self, images: np.ndarray, params: np.ndarray) -> np.ndarray:
        """The verdicts (N, 80) of uint8 images at poses `params` (the OpenGL re-check of a result)."""
        return self.evaluate(images, params)[1]

    def detections(self, image: np.ndarray, params: np.ndarray) -> list[dict]:
        """What `detect` gives on one picture (after NMS), each box marked whether it is on the object."""
        found = self.detector.detect(np.asarray(image))
        h, w = np.asarray(image).shape[:2]
        box = torch.as_tensor(self.boxes_of(params), dtype=torch.float64)
        out = []
        for d in found:
            corners = torch.tensor([[[d.box[0] / w, d.box[1] / h, d.box[2] / w, d.box[3] / h]]], dtype=torch.float64)
            iou = float(box_iou(corners, box)[0, 0])
            out.append({**d.as_dict(), "iou": round(iou, 4), "on_object": iou >= self.iou})
        return out

    def shot_stem(self, scene_name: str, verdict: np.ndarray) -> str:
        """'school_bus-as-nothing-yolov3_tiny': the scene, what the detector sees on the object, the detector."""
        from strike_pose.export import slug

        return f"{slug(scene_name)}-as-{slug(self.seen_label(verdict))}-{slug(self.detector.name)}"

    def image_loss_for(self, params: np.ndarray, loss: str | None = None):
        """image_loss(images (N, H, W, 3) float in [0, 1], the twin's) -> (losses (N,), verdicts (N, 80)
        detached), for the pictures of the poses `params`: what twin_gradients takes."""
        params = np.atleast_2d(np.asarray(params, np.float64))

        def image_loss(images: torch.Tensor):
            verdicts = self.verdicts_of(images.permute(0, 3, 1, 2), params)
            return self.loss_from_verdicts(verdicts), verdicts.detach().double()

        return image_loss


def detector_verdicts(detector, scene, images: np.ndarray, poses: np.ndarray, iou: float = IOU) -> np.ndarray:
    """The verdicts (N, 80) of OpenGL pictures of `scene` at `poses`: the transfer study's reading of the
    detector, by the same rule as the search's objective."""
    from strike_pose.models.coco import require_coco_class

    objective = DetectorObjective(detector, scene, require_coco_class(scene), iou=iou)
    return objective.evaluate(images, np.atleast_2d(np.asarray(poses, np.float64)))[1]
