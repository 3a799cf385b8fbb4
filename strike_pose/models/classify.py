"""A scene at a pose, classified: rendered at the classifier's input size, with the warning when the
picture shows no object. The record is what `strike-pose classify --json` prints."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Classified(NamedTuple):
    record: dict  # model, true_class (None for a scene without one), top (index, label, prob), pose
    image: np.ndarray  # the picture the classifier saw, (H, W, 3) uint8
    probs: np.ndarray  # (1000,)


def classify_scene(scene, pose, classifier, top: int = 5, renderer=None) -> Classified:
    """Render `scene` at `pose` at the classifier's input size (warning when no object is in the picture)
    and classify it; `top` classes in the record. A scene without a true class gets true_class None."""
    from strike_pose.render import default_renderer, warn_if_out_of_view

    renderer = renderer or default_renderer()
    warn_if_out_of_view(scene, pose, size=classifier.input_size, renderer=renderer)
    image = renderer.render(scene, pose, size=classifier.input_size)
    probs = classifier.probabilities(image)
    record = classifier.describe(probs, scene.true_class, k=top)
    return Classified({**record, "pose": pose.as_dict()}, image, probs)
