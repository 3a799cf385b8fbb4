"""[[landscape]]: random poses (or a grid over two angles) per scene, light and model; the share the model
misclassifies, with its interval, the most frequent wrong classes and maps of p(true class).

    [[landscape]]
    name = "poses"
    scenes = ["school_bus"]
    poses = 512                         # per scene, light and model
    z = [-20.0, -5.0]                   # the z range (the camera looks down -z)
    lights = ["scene"]                  # "scene" or tables {ambient, diffuse, direction}
    grid = {axes = ["yaw", "pitch"], steps = 24}   # instead of random poses (the other angles 0)
    protocol = "whole"                  # or "centre": the paper's bounds (strike_pose/experiments/protocol.py)
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np

from strike_pose.errors import StrikePoseError
from strike_pose.experiments.config import Experiment, LightSetting, Study
from strike_pose.fields import integer, number, strings
from strike_pose.experiments.registry import StudyKind, register
from strike_pose.experiments.plan import light_dict, model_key, scene_key
from strike_pose.experiments.protocol import DEFAULT, describe, draw_poses, outline_of, parse_protocol, shows_whole
from strike_pose.experiments.report import THUMBNAILS, escape, figure, table, thumbnails
from strike_pose.experiments.summary import over_scenes, wilson
from strike_pose.experiments.work import CHUNK, Item, seed_for
from strike_pose.rotations import POSE_AXES

PAPER = "97% of random poses misclassified (median 3.09% correct over 30 objects, Inception-v3)"


@dataclass(frozen=True)
class Settings:
    poses: int = 256
    z: tuple[float, float] = (-20.0, -5.0)
    lights: tuple[LightSetting, ...] = (LightSetting("scene"),)
    grid_axes: tuple[str, str] | None = None
    grid_steps: int = 0
    protocol: str = DEFAULT


def parse(table: dict, where: str) -> Settings:
    z = table.get("z", [-20.0, -5.0])
    if not isinstance(z, list) or len(z) != 2:
        raise StrikePoseError(f"{where}.z must be two numbers [farthest, nearest], got {z!r}")
    lo, hi = sorted(number(f"{where}.z", v) for v in z)
    if hi >= -0.5:
        raise StrikePoseError(f"{where}.z must stay in front of the camera (below -0.5), got {z!r}")
    grid_axes, grid_steps = None, 0
    if "grid" in table:
        grid = table["grid"]
        if not isinstance(grid, dict) or set(grid) - {"axes", "steps"}:
            raise StrikePoseError(f"{where}.grid must be {{axes = [\"yaw\", \"pitch\"], steps = N}}, got {grid!r}")
        grid_axes = tuple(strings(grid.get("axes", ["yaw", "pitch"]), f"{where}.grid.axes"))
        if len(grid_axes) != 2 or not set(grid_axes) <= {"yaw", "pitch", "roll"} or grid_axes[0] == grid_axes[1]:
            raise StrikePoseError(f"{where}.grid.axes must be two of yaw, pitch, roll, got {list(grid_axes)}")
        grid_steps = integer(grid.get("steps", 24), f"{where}.grid.steps", 2, 720)
    return Settings(poses=integer(table.get("poses", 256), f"{where}.poses", 1), z=(lo, hi),
                    lights=tuple(_light(v, f"{where}.lights[{i}]")
                                 for i, v in enumerate(table.get("lights", ["scene"]))),
                    grid_axes=grid_axes, grid_steps=grid_steps, protocol=parse_protocol(table, where))


def _light(value, where: str) -> LightSetting:
    from strike_pose.scenes import parse_light

    if value == "scene":
        return LightSetting("scene")
    if not isinstance(value, dict):
        raise StrikePoseError(f"{where} must be \"scene\" or a table {{ambient, diffuse, direction}}, got {value!r}")
    light = parse_light(value, where)
    label = ", ".join(f"{k} {v}" for k, v in value.items())
    return LightSetting(label, light.ambient if "ambient" in value else None,
                        light.diffuse if "diffuse" in value else None,
                        tuple(light.direction) if "direction" in value else None)


def landscape_poses(experiment: Experiment, study: Study, scene_name: str) -> np.ndarray:
    """The study's poses of one scene (the same for every light and model): random within the z range
    and the frame (with protocol "whole", only those that show the whole object), or the grid."""
    from strike_pose.scenes import load_scene
    from strike_pose.search.region import Region

    scene = load_scene(scene_name)
    where = f"landscape {study.name!r}, scene {scene_name!r}"
    if study.grid_axes is not None:  # the pose map's grid: the centres of steps x steps equal cells
        from strike_pose.analysis.posemap import grid_poses

        poses = grid_poses((0, 0, 0, 0, 0, scene.pose.z), study.grid_axes, (study.grid_steps, study.grid_steps))
        if study.protocol == "whole":
            outline = outline_of(scene)
            cut = sum(not shows_whole(scene, pose, outline) for pose in poses)
            if cut:
                raise StrikePoseError(f"{where}: {cut} of the grid's {len(poses)} poses at the scene's distance cut "
                                      "the object off; set the scene's [pose] z farther, or protocol = \"centre\"")
        return poses
    region = Region(start=np.array(scene.pose.as_tuple()), fov_y=scene.camera.fov_y, z_near=study.z[1],
                    z_far=study.z[0], margin=1.0)
    rng = np.random.default_rng(seed_for(experiment.seed, study.name, scene_name))
    return draw_poses(region, scene, rng, study.poses, study.protocol, where,
                      f"give a z range farther from the camera (z = {list(study.z)} now)")


def plan(experiment: Experiment, study: Study, rows_of) -> list[Item]:
    items = []
    for scene_name in study.scenes:
        poses = landscape_poses(experiment, study, scene_name)
        for li, light in enumerate(study.lights):
            for model in study.models:
                for first in range(0, len(poses), CHUNK):
                    chunk = poses[first:first + CHUNK]
                    key = f"{scene_key(scene_name)}-light{li}-{model_key(model)}-{first // CHUNK:05d}"
                    items.append(Item(study.name, "landscape", key, {
                        "scene": scene_name, "light": light_dict(light), "light_label": light.label, "model": model,
                        "first": first, "poses": chunk.tolist()}))
    return items


def work(worker, item: Item) -> list[dict]:
    p = item.payload
    scene = worker.scene(p["scene"], p["light"])
    probs = worker.classify(scene, p["model"], p["poses"])
    true = scene.true_class
    rows = []
    for i, (pose, prob) in enumerate(zip(p["poses"], probs)):
        top1 = int(np.argmax(prob))
        rows.append({"study": item.study, "item": item.key, "index": p["first"] + i, "scene": p["scene"],
                     "light": p["light_label"], "model": p["model"], **dict(zip(POSE_AXES, map(float, pose))),
                     "true_class": true, "true_prob": float(prob[true]), "top1": top1,
                     "top1_prob": float(prob[top1]), "correct": top1 == true})
    return rows


def summarise(rows, label_of) -> dict:
    groups = collections.defaultdict(list)
    for r in rows:
        groups[(r["scene"], r["light"], r["model"])].append(r)
    out = []
    for (scene, light, model), group in sorted(groups.items()):
        wrong = sum(not r["correct"] for r in group)
        low, high = wilson(wrong, len(group))
        counts = collections.Counter(r["top1"] for r in group if not r["correct"])
        out.append({"scene": scene, "light": light, "model": model, "poses": len(group),
                    "misclassified": wrong / len(group), "ci95": [low, high],
                    "frequent_wrong": [{"index": k, "label": label_of(k), "share": n / len(group)}
                                       for k, n in counts.most_common(5)]})
    return {"table": out, "over_scenes": over_scenes(out, ("light", "model"), ("misclassified",))}


def report(root, study, rows, entry) -> str:
    html = table(entry["table"], [("scene", "scene"), ("light", "light"), ("model", "model"),
                                  ("poses", "poses"), ("misclassified", "misclassified"), ("95% CI", "ci95"),
                                  ("most frequent wrong classes", "frequent_wrong"), ("protocol", "protocol")])
    if entry.get("over_scenes"):
        html += "<h3>Over the scenes (the paper: a median over its 30 objects)</h3>" + table(
            [{**r, "paper": "97%"} for r in entry["over_scenes"]],
            [("light", "light"), ("model", "model"), ("scenes", "scenes"),
             ("median misclassified", "median_misclassified"), ("range", "range_misclassified"),
             ("protocol", "protocol"), ("paper (centre in view)", "paper")])
    figures = []
    groups = collections.defaultdict(list)
    for r in rows:
        groups[(r["scene"], r["model"])].append(r)
    protocol = f" ({study.protocol})"
    for (scene, model), group in sorted(groups.items()):
        figures.append(figure(root, f"{study.name}-{scene_key(scene)}-{model_key(model)}-maps",
                              lambda plt: _maps(plt, group, f"{scene}, {model}{protocol}", study.grid_axes)))
    light_of = {s.label: light_dict(s) for s in study.lights}
    picks = []
    for scene in sorted({r["scene"] for r in rows}):
        wrong = sorted((r for r in rows if r["scene"] == scene and not r["correct"]), key=lambda r: -r["top1_prob"])
        picks += wrong[:THUMBNAILS]
    return html + "".join(figures) + (f"<h3>Fooling poses the model is surest of <small>"
                                      f"({escape(describe(study.protocol))})</small></h3>") + thumbnails(
        root, study, picks, lambda r: light_of.get(r["light"]))


def _maps(plt, group: list[dict], title: str, grid_axes: tuple[str, str] | None = None):
    """Mean probability of the true class: over the grid's two angles, one cell per grid point; for
    random poses over yaw x pitch and pitch x roll, in bins wide enough to hold a few poses each."""
    p = np.array([r["true_prob"] for r in group])
    panels = [grid_axes] if grid_axes else [("yaw", "pitch"), ("pitch", "roll")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels) + 1.2, 3.8), layout="constrained",
                             squeeze=False)
    for ax, (a, b) in zip(axes[0], panels):
        x = np.array([r[a] for r in group])
        y = np.array([r[b] for r in group])
        if grid_axes:
            xe, ye = _cell_edges(np.unique(x)), _cell_edges(np.unique(y))
        else:
            xe, ye = _bin_edges(a, b, len(group))
        total, _, _ = np.histogram2d(x, y, bins=(xe, ye), weights=p)
        count, _, _ = np.histogram2d(x, y, bins=(xe, ye))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        image = ax.pcolormesh(xe, ye, mean.T, vmin=0, vmax=1, cmap="viridis")
        ax.set_xlim(xe[0], xe[-1])
        ax.set_ylim(ye[0], ye[-1])
        ax.set_xlabel(f"{a} (deg)")
        ax.set_ylabel(f"{b} (deg)")
    fig.colorbar(image, ax=axes[0].tolist(), label="mean p(true class)")
    fig.suptitle(title)
    return fig


def _cell_edges(values: np.ndarray) -> np.ndarray:
    """Edges of cells centred on sorted grid values (half a step beyond the first and the last)."""
    if len(values) == 1:
        return np.array([values[0] - 0.5, values[0] + 0.5])
    middle = (values[1:] + values[:-1]) / 2
    return np.concatenate([[values[0] - (middle[0] - values[0])], middle, [values[-1] + (values[-1] - middle[-1])]])


def _bin_edges(a: str, b: str, poses: int, per_cell: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Square bins (in degrees) over the two angles' ranges, about `per_cell` poses each, 4 to 24 across."""
    ranges = [(-90.0, 90.0) if axis == "pitch" else (-180.0, 180.0) for axis in (a, b)]
    spans = [hi - lo for lo, hi in ranges]
    side = np.sqrt(spans[0] * spans[1] * per_cell / max(poses, 1))  # the degrees of a square cell
    counts = [int(np.clip(round(span / side), 2, 24)) for span in spans]
    return tuple(np.linspace(lo, hi, n + 1) for (lo, hi), n in zip(ranges, counts))


KIND = register(StudyKind(
    "landscape", phase=0, fields=frozenset({"poses", "z", "lights", "grid", "protocol"}), parse=parse, plan=plan,
    work=work, summarise=summarise, report=report, paper=PAPER))
