"""From studies to work items, drawn from the experiment's seed (so every run plans the same items).

Each kind plans its own studies (strike_pose/experiments/kinds/); studies run phase by phase (the
kind's `phase`): landscapes and sensitivity first, then attacks (whose targets may be the most frequent
wrong classes of a landscape), then transfer (which re-classifies the fooling poses of a landscape or
an attack). Here: what every kind's keys and payloads share.
"""

from __future__ import annotations

import hashlib
import re

from strike_pose.experiments.config import Experiment, Study


def plan(experiment: Experiment, study: Study, rows_of) -> list:
    """The items of a study; `rows_of(name)` gives the rows of an earlier study (attack, transfer)."""
    from strike_pose.experiments.registry import KINDS

    return KINDS[study.kind].plan(experiment, study, rows_of)


def scene_key(scene: str) -> str:
    """The scene's part of item keys and file names: a bundled name as it is; a path (absolute or relative)
    as its file's stem and a short hash of the path, so its files stay in their study's folder and two
    files of the same name do not share them."""
    if re.fullmatch(r"[A-Za-z0-9_]+", scene):
        return scene
    stem = re.sub(r"[^A-Za-z0-9_]+", "_", scene.rsplit("/", 1)[-1].removesuffix(".toml")).strip("_") or "scene"
    return f"{stem}_{hashlib.sha256(scene.encode()).hexdigest()[:8]}"


def model_key(model: str) -> str:
    """The model's part of item keys and file names ("timm:resnet50" -> "timm_resnet50")."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", model)


def light_dict(setting) -> dict | None:
    """A study's LightSetting as an item's light: only the fields it sets (None: the scene's own light)."""
    out = {k: getattr(setting, k) for k in ("ambient", "diffuse", "direction") if getattr(setting, k) is not None}
    if "direction" in out:
        out["direction"] = list(out["direction"])
    return out or None
