"""From studies to work items, drawn from the experiment's seed (so every run plans the same items).

Studies run in three phases: landscapes and sensitivity first, then attacks (whose targets may be the
most frequent wrong classes of a landscape), then transfer (which re-classifies the fooling poses of a
landscape or an attack).
"""

from __future__ import annotations

import collections
import hashlib
import re

import numpy as np

from strike_pose.experiments.config import Experiment, Study
from strike_pose.experiments.work import CHUNK, Item, seed_for
from strike_pose.rotations import POSE_AXES

PHASES = (("landscape", "sensitivity"), ("attack",), ("transfer",))


def plan(experiment: Experiment, study: Study, rows_of) -> list[Item]:
    """The items of a study; `rows_of(name)` gives the rows of an earlier study (attack, transfer)."""
    return {"landscape": _landscape, "sensitivity": _sensitivity, "attack": _attack,
            "transfer": _transfer}[study.kind](experiment, study, rows_of)


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


def _light_dict(setting) -> dict | None:
    out = {k: getattr(setting, k) for k in ("ambient", "diffuse", "direction") if getattr(setting, k) is not None}
    if "direction" in out:
        out["direction"] = list(out["direction"])
    return out or None


def landscape_poses(experiment: Experiment, study: Study, scene_name: str) -> np.ndarray:
    """The study's poses of one scene (the same for every light and model): random, or the grid."""
    from strike_pose.scenes import load_scene
    from strike_pose.search.region import Region

    scene = load_scene(scene_name)
    if study.grid_axes is not None:  # the pose map's grid: the centres of steps x steps equal cells
        from strike_pose.analysis.posemap import grid_poses

        return grid_poses((0, 0, 0, 0, 0, scene.pose.z), study.grid_axes, (study.grid_steps, study.grid_steps))
    region = Region(start=np.array(scene.pose.as_tuple()), fov_y=scene.camera.fov_y, z_near=study.z[1],
                    z_far=study.z[0], margin=1.0)
    return region.sample(np.random.default_rng(seed_for(experiment.seed, study.name, scene_name)), study.poses)


def _landscape(experiment: Experiment, study: Study, rows_of) -> list[Item]:
    items = []
    for scene_name in study.scenes:
        poses = landscape_poses(experiment, study, scene_name)
        for li, light in enumerate(study.lights):
            for model in study.models:
                for first in range(0, len(poses), CHUNK):
                    chunk = poses[first:first + CHUNK]
                    key = f"{scene_key(scene_name)}-light{li}-{model_key(model)}-{first // CHUNK:05d}"
                    items.append(Item(study.name, "landscape", key, {
                        "scene": scene_name, "light": _light_dict(light), "light_label": light.label, "model": model,
                        "first": first, "poses": chunk.tolist()}))
    return items


def _sensitivity(experiment: Experiment, study: Study, rows_of) -> list[Item]:
    from strike_pose.scenes import load_scene

    items = []
    for scene_name in study.scenes:
        z = load_scene(scene_name).pose.z
        for model in study.models:
            for start in range(study.starts):
                key = f"{scene_key(scene_name)}-{model_key(model)}-{start:04d}"
                items.append(Item(study.name, "sensitivity", key, {
                    "scene": scene_name, "model": model, "start": start, "trials": study.trials,
                    "z": [z - 4.0, min(z + 3.0, -1.0)], "seed": seed_for(experiment.seed, study.name, scene_name, start)}))
    return items


def frequent_wrong_classes(rows: list[dict], scene: str, model: str, count: int) -> list[int]:
    counts = collections.Counter(r["top1"] for r in rows if r["scene"] == scene and r["model"] == model
                                 and not r["correct"])
    return [label for label, _ in counts.most_common(count)]


def _attack(experiment: Experiment, study: Study, rows_of) -> list[Item]:
    from strike_pose.scenes import load_scene
    from strike_pose.search.region import region_for

    items = []
    for scene_name in study.scenes:
        scene = load_scene(scene_name)
        region = region_for(scene, scene.pose, None, in_view=True)  # a search counts only whole-object views
        starts = region.sample(np.random.default_rng(seed_for(experiment.seed, study.name, scene_name)), study.starts)
        for model in study.models:
            if study.targets == "untargeted":
                targets = [None]
            elif study.targets[0] == "frequent":
                targets = frequent_wrong_classes(rows_of(study.source), scene_name, model, study.targets[1])
            else:
                targets = [t for t in study.targets if t != scene.true_class]
            for si, start in enumerate(starts):
                for method in study.methods:
                    for target in targets:
                        key = (f"{scene_key(scene_name)}-{model_key(model)}-s{si:03d}-{method}-"
                               f"{'untargeted' if target is None else f't{target:03d}'}")
                        items.append(Item(study.name, "attack", key, {
                            "scene": scene_name, "model": model, "start": start.tolist(), "start_index": si,
                            "method": method, "target": target, "radius": study.radius, "steps": study.steps,
                            "budget_seconds": study.budget_seconds, "mode": study.mode,
                            "seed": seed_for(experiment.seed, study.name, key) % (2**31)}))
    return items


def transfer_sources(experiment: Experiment, study: Study, rows_of) -> list[dict]:
    """The fooling poses of the source study that its model was at least `min_prob` sure of; with the
    study's `baseline` (a landscape source), also every pose it classified correctly, marked
    "correct": True (the rate at which the other model errs anyway, beside the transfer rate)."""
    source = experiment.study(study.source)
    rows = rows_of(study.source)
    lights = {light.label: _light_dict(light) for light in source.lights} if source.kind == "landscape" else {}
    baseline = study.baseline and source.kind == "landscape"
    out = []
    for i, r in enumerate(rows):
        fooled = (not r["correct"]) if source.kind == "landscape" else (
            r["success"] and r["top1"] != r["true_class"])
        if (fooled and r["top1_prob"] >= study.min_prob) or (baseline and r["correct"]):
            label = r.get("light", "scene")
            out.append({"row": f"{r['item']}/{r.get('index', i)}", "scene": r["scene"], "light": lights.get(label),
                        "light_label": label, "model": r["model"], "top1": r["top1"], "top1_prob": r["top1_prob"],
                        **({"correct": True} if not fooled else {}), **{a: r[a] for a in POSE_AXES}})
    return out


def _transfer(experiment: Experiment, study: Study, rows_of) -> list[Item]:
    sources = transfer_sources(experiment, study, rows_of)
    models = sorted(set(study.models) | {s["model"] for s in sources})
    items = []
    for model in models:
        todo = [s for s in sources if s["model"] != model]
        for first in range(0, len(todo), CHUNK):
            key = f"{model_key(model)}-{first // CHUNK:05d}"
            items.append(Item(study.name, "transfer", key, {"model": model, "sources": todo[first:first + CHUNK]}))
    return items
