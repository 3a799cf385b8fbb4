"""[[sensitivity]]: one parameter at a time from correctly classified poses: the share of resamples that
flip the label and the smallest change that does (sampled, and bisected to 0.5 degrees), per parameter.

    [[sensitivity]]
    name = "nudges"
    scenes = ["school_bus"]
    starts = 10
    trials = 20                         # resamples per parameter and start
    protocol = "whole"                  # the starts show the whole object; "centre": any start (the paper's)

The resamples move one parameter over its whole range, as the paper's do, whatever the protocol.
"""

from __future__ import annotations

import collections
import math
import statistics
from dataclasses import dataclass

import numpy as np

from strike_pose.experiments.config import Experiment, Study
from strike_pose.fields import integer
from strike_pose.experiments.registry import StudyKind, register
from strike_pose.experiments.plan import model_key, scene_key
from strike_pose.experiments.protocol import DEFAULT, describe, outline_of, parse_protocol, shows_whole
from strike_pose.experiments.report import figure, table
from strike_pose.experiments.summary import over_scenes
from strike_pose.experiments.work import Item, seed_for
from strike_pose.rotations import POSE_AXES, wrap_degrees

PAPER = {"yaw": (69, 10.3), "pitch": (83, 8.0), "roll": (81, 9.2), "x": (42, 0.09), "y": (49, 0.10), "z": (81, 0.77)}
ANGLE_STEP = 0.5  # degrees: the resolution of the bisected flip for yaw, pitch, roll
SPAN_STEPS = 720  # x, y, z: their bisected flip is found to 1/720 of the parameter's range (as 0.5 of 360)
NO_FLIP = "no start's resamples of it flipped the label"


@dataclass(frozen=True)
class Settings:
    starts: int = 10
    trials: int = 20
    protocol: str = DEFAULT


def parse(table: dict, where: str) -> Settings:
    return Settings(starts=integer(table.get("starts", 10), f"{where}.starts", 1),
                    trials=integer(table.get("trials", 20), f"{where}.trials", 1),
                    protocol=parse_protocol(table, where))


def plan(experiment: Experiment, study: Study, rows_of) -> list[Item]:
    from strike_pose.scenes import load_scene

    items = []
    for scene_name in study.scenes:
        z = load_scene(scene_name).pose.z
        for model in study.models:
            for start in range(study.starts):
                key = f"{scene_key(scene_name)}-{model_key(model)}-{start:04d}"
                items.append(Item(study.name, "sensitivity", key, {
                    "scene": scene_name, "model": model, "start": start, "trials": study.trials,
                    "z": [z - 4.0, min(z + 3.0, -1.0)], "protocol": study.protocol,
                    "seed": seed_for(experiment.seed, study.name, scene_name, start)}))
    return items


def work(worker, item: Item) -> list[dict]:
    """From a correctly classified random pose (with protocol "whole", one that shows the whole object),
    resample one parameter at a time over its range; then, per parameter, bisect towards the start from
    the nearest flipped resample on each side.

    Every row is one resample. `change` is its |change| from the start, so the smallest flipped
    `change` is the sampled smallest flip: an upper bound about range / trials coarse. The row of
    the flipped resample whose side gave the smaller bisected flip also carries `bisected_flip`, the
    |change| of the flip boundary found between it and the start, and `bisection_step`, the
    resolution it was found to (the pose one step nearer the start was classified correctly); the
    other rows carry None in both (and a parameter that never flipped has no such row). The label
    may flip back and forth along the way: bisection finds a boundary inside the bracket (start
    correct, resample flipped), not necessarily the nearest one, so `bisected_flip` is an upper bound
    on the nearest flip in that direction; it is never above the sampled smallest flip.
    """
    from strike_pose.render.transforms import frustum_half_extent

    p = item.payload
    scene = worker.scene(p["scene"])
    rng = np.random.default_rng(p["seed"])
    outline = outline_of(scene) if p.get("protocol") == "whole" else None
    start = None
    for _ in range(200):  # a correctly classified natural pose at the scene's distance
        candidate = np.array([rng.uniform(-180, 180), rng.uniform(-30, 30), rng.uniform(-30, 30),
                              rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3), scene.pose.z + rng.uniform(-1, 1)])
        if outline is not None and not shows_whole(scene, candidate, outline):
            continue  # protocol "whole": a start shows the whole object
        probs = worker.classify(scene, p["model"], [candidate])[0]
        if int(np.argmax(probs)) == scene.true_class:
            start = candidate
            break
    if start is None:
        return []
    tx, ty = frustum_half_extent(scene.camera.fov_y)
    ranges = {"yaw": (-180, 180), "pitch": (-180, 180), "roll": (-180, 180),
              "x": (start[5] * tx * 0.8, -start[5] * tx * 0.8), "y": (start[5] * ty * 0.8, -start[5] * ty * 0.8),
              "z": tuple(p["z"])}
    poses, meta = [], []
    for axis, (lo, hi) in ranges.items():
        k = POSE_AXES.index(axis)
        for value in rng.uniform(lo, hi, p["trials"]):
            pose = start.copy()
            pose[k] = value
            delta = value - start[k]
            if k < 3:
                delta = wrap_degrees(delta)
            poses.append(pose)
            meta.append((axis, float(start[k]), float(value), float(delta)))
    probs = worker.classify(scene, p["model"], poses)
    flipped = [int(np.argmax(prob)) != scene.true_class for prob in probs]
    bisected = _bisect_flips(worker, scene, p["model"], start, ranges, meta, flipped)
    rows = []
    for i, ((axis, start_value, value, delta), prob) in enumerate(zip(meta, probs)):
        top1 = int(np.argmax(prob))
        flip, step = bisected.get(i, (None, None))
        rows.append({"study": item.study, "item": item.key, "scene": p["scene"], "model": p["model"],
                     "start": p["start"], "parameter": axis, "start_value": start_value, "value": value,
                     "change": abs(delta), "true_prob": float(prob[scene.true_class]), "top1": top1,
                     "flipped": flipped[i], "bisected_flip": flip, "bisection_step": step})
    return rows


def _bisect_flips(worker, scene, model: str, start, ranges: dict, meta: list, flipped: list) -> dict:
    """Per parameter, the flip boundary nearest the start that bisection finds from the nearest flipped
    resample on either side: {row index of that resample: (|change| of the boundary, step)}.

    A bracket runs from the start (correct) to the resample (flipped) along the signed change
    (angles wrapped), over points one step apart counted back from the resample (the first step,
    next to the start, may be shorter). Each round classifies the midpoints of all the brackets
    still open in one batch, keeping "start side correct, far side flipped", until each is one step
    wide: log2(|change| / step) rounds, at most 9 for angles and 10 for x, y, z; one classification
    per bracket and round, at most 12 brackets (6 parameters x 2 sides).
    """
    brackets = []
    for axis, (lo, hi) in ranges.items():
        k = POSE_AXES.index(axis)
        step = ANGLE_STEP if k < 3 else (hi - lo) / SPAN_STEPS
        for sign in (-1.0, 1.0):
            side = [i for i, (a, _, _, delta) in enumerate(meta) if a == axis and flipped[i] and delta * sign > 0]
            if side:
                row = min(side, key=lambda i: abs(meta[i][3]))
                brackets.append(_Bracket(row, k, sign, abs(meta[row][3]), step))
    while open_ := [b for b in brackets if b.hi - b.lo > 1]:
        poses = []
        for b in open_:
            pose = start.copy()
            pose[b.axis] = start[b.axis] + b.sign * b.distance_at(b.mid)
            if b.axis < 3:
                pose[b.axis] = wrap_degrees(pose[b.axis])
            poses.append(pose)
        for b, prob in zip(open_, worker.classify(scene, model, poses)):
            if int(np.argmax(prob)) != scene.true_class:
                b.hi = b.mid
            else:
                b.lo = b.mid
    best: dict[int, _Bracket] = {}  # per parameter, the side with the nearer boundary
    for b in brackets:
        if b.axis not in best or b.distance_at(b.hi) < best[b.axis].distance_at(best[b.axis].hi):
            best[b.axis] = b
    return {b.row: (float(b.distance_at(b.hi)), float(b.step)) for b in best.values()}


def summarise(rows, label_of) -> dict:
    """Per scene, model and parameter: the share of resamples that flip the label, and two medians over
    the starts that flipped: the smallest flipped resample's change (sampled, an upper bound about range /
    trials coarse) and the flip boundary bisected between the start and the nearest flipped resample on
    either side (to 0.5 degrees, or 1/720 of the range: the one to set beside the paper's)."""
    groups = collections.defaultdict(list)
    for r in rows:
        groups[(r["scene"], r["model"], r["parameter"])].append(r)
    table = []
    for (scene, model, parameter), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                                     POSE_AXES.index(kv[0][2]))):
        by_start = collections.defaultdict(list)
        for r in group:
            by_start[r["start"]].append(r)
        smallest = [min(r["change"] for r in rs if r["flipped"]) for rs in by_start.values()
                    if any(r["flipped"] for r in rs)]
        # one row per start and parameter carries the bisected flip; rows written before it have none
        bisected = [r["bisected_flip"] for r in group if r.get("bisected_flip") is not None]
        table.append({"scene": scene, "model": model, "parameter": parameter, "starts": len(by_start),
                      "flipped_starts": len(smallest), "failure_rate": sum(r["flipped"] for r in group) / len(group),
                      "median_smallest_flip": statistics.median(smallest) if smallest else None,
                      "median_bisected_flip": statistics.median(bisected) if bisected else None})
    return {"table": table, "over_scenes": over_scenes(table, ("model", "parameter"),
                                                        ("failure_rate", "median_bisected_flip"))}


def report(root, study, rows, entry) -> str:
    paper = entry["paper"]
    table_rows = [{**r, "paper": f"{paper[r['parameter']][0]}% / {paper[r['parameter']][1]}"} for r in entry["table"]]
    html = table(table_rows, [("scene", "scene"), ("model", "model"), ("parameter", "parameter"),
                              ("starts", "starts"), ("starts that flipped", "flipped_starts"),
                              ("failure rate", "failure_rate"),
                              ("median smallest flip, sampled", "median_smallest_flip"),
                              ("median smallest flip, bisected", "median_bisected_flip"),
                              ("protocol", "protocol"), ("paper (fails / flip)", "paper")])
    note = ("<p><small>Smallest flip, per start, the median over the starts that flipped: sampled is the smallest "
            "change among the resamples that flipped the label (an upper bound, as coarse as range / trials); "
            "bisected is the boundary found between the start and the nearest flipped resample on either side, "
            "to 0.5 degrees (x, y, z: 1/720 of their range), the one to compare with the paper's. Degrees for "
            "yaw, pitch, roll; scene units for x, y, z.</small></p>")

    def draw(plt):
        fig, ax = plt.subplots(figsize=(7, 3.2))
        scenes = sorted({r["scene"] for r in entry["table"]})
        width = 0.8 / (len(scenes) + 1)
        for i, scene in enumerate(scenes):
            rates = [next((r["failure_rate"] for r in entry["table"] if r["scene"] == scene and r["parameter"] == a), 0)
                     for a in POSE_AXES]
            ax.bar(np.arange(6) + i * width, rates, width, label=scene)
        ax.bar(np.arange(6) + len(scenes) * width, [paper[a][0] / 100 for a in POSE_AXES], width, label="paper",
               color="grey")
        ax.set_xticks(np.arange(6) + 0.4 - width / 2, POSE_AXES)
        ax.set_ylabel("share of resamples that flip the label")
        ax.set_title(f"starts: {describe(study.protocol)}", fontsize=9)
        ax.legend(fontsize=8)
        return fig

    if entry.get("over_scenes"):
        html += "<h3>Over the scenes (medians; the paper's are over its 30 objects)</h3>" + table(
            [{**r, "paper": f"{paper[r['parameter']][0]}% / {paper[r['parameter']][1]}"} for r in entry["over_scenes"]],
            [("model", "model"), ("parameter", "parameter"), ("scenes", "scenes"),
             ("median failure rate", "median_failure_rate"), ("median bisected flip", "median_bisected_flip"),
             ("paper (fails / flip)", "paper")])
    return html + note + figure(root, f"{study.name}-failure", draw)


@dataclass
class _Bracket:
    """From the start (point 0, correct) to a flipped resample (point n, |change| `distance`) along one
    parameter in direction `sign`: points one `step` apart counted back from the resample, the first
    (next to the start) at most a step. Points lo (correct) and hi (flipped) bracket a flip boundary."""

    row: int
    axis: int
    sign: float
    distance: float
    step: float
    lo: int = 0
    hi: int = 0

    def __post_init__(self):
        self.n = max(1, math.ceil(self.distance / self.step))
        self.hi = self.n

    @property
    def mid(self) -> int:
        return (self.lo + self.hi) // 2

    def distance_at(self, j: int) -> float:
        return 0.0 if j == 0 else self.distance - (self.n - j) * self.step


KIND = register(StudyKind(
    "sensitivity", phase=0, fields=frozenset({"starts", "trials", "protocol"}), parse=parse, plan=plan, work=work,
    summarise=summarise, report=report, paper=PAPER,
    none_means={"median_smallest_flip": NO_FLIP, "median_bisected_flip": NO_FLIP}))
