"""Capture: the view (the model-size render) as PNG, optionally the window too, plus the JSON sidecar
that `strike-pose search` writes, into the export folder, never overwriting."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from strike_pose.export import export_shot, shot_record, shot_stem, slug, write_json
from strike_pose.models.labels import label_of


@dataclass(frozen=True)
class Shot:
    """One capture, as the captures panel lists it."""

    image_path: str
    json_path: str
    window_path: str | None
    pose: Any  # Pose
    base_scene: Any  # the Scene as loaded (before the view toggles), to return to
    view: dict  # the view toggles at capture time
    top1_index: int
    top1_prob: float
    true_class: int
    target: int | None = None  # the search's target when the shot was taken (None: untargeted)

    @property
    def top1_label(self) -> str:
        return label_of(self.top1_index)

    @property
    def fooled(self) -> bool:
        """The model is fooled: top-1 is the target, or (untargeted) anything but the true class."""
        return self.top1_index == self.target if self.target is not None else self.top1_index != self.true_class

    @property
    def name(self) -> str:
        return Path(self.image_path).name


def take_shot(folder: str | Path, scene, base_scene, pose, classifier, image: np.ndarray, probs: np.ndarray,
              *, target: int | None = None, view: dict | None = None, search: dict | None = None,
              window_image: np.ndarray | None = None, extra: dict | None = None) -> Shot:
    """Write STEM.png (+ STEM-window.png) and STEM.json into `folder`; never overwrites. `extra`: more
    of the sidecar (the detector mode's detections)."""
    view = dict(view or {})
    record = shot_record(scene, pose, classifier, probs, target=target, **(search or {"method": "manual"}))
    record["view"] = view
    record.update(extra or {})
    files = export_shot(Path(folder), shot_stem(scene.name, probs), image, record, window_image=window_image)
    top1 = int(np.argmax(probs))
    return Shot(files["image"], files["json"], files.get("window"), pose, base_scene,
                view, top1, float(probs[top1]), int(scene.true_class), target)


__all__ = ["Shot", "take_shot", "shot_stem", "slug", "write_json"]
