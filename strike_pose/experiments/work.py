"""Work items and the worker that runs them: the same code in-process (local backend) and in each Ray
actor (each with its own EGL context and model).

An Item is small, JSON-able and fully determined by the experiment (its poses are drawn by the
driver from the experiment's seed), so running it again anywhere gives the same rows.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

from strike_pose.rotations import POSE_AXES, wrap_degrees

CHUNK = 64  # poses per landscape or transfer item: one tiled render, one batched classification
DETECTOR_PREFIX = "detector:"  # a transfer study's model "detector:yolov3_tiny" is the object detector
ANGLE_STEP = 0.5  # degrees: the resolution of a sensitivity study's bisected flip for yaw, pitch, roll
SPAN_STEPS = 720  # x, y, z: their bisected flip is found to 1/720 of the parameter's range (as 0.5 of 360)


@dataclass(frozen=True)
class Item:
    study: str
    kind: str
    key: str  # unique within the study, stable across runs: the file its rows are stored in
    payload: dict = field(default_factory=dict)


def seed_for(*parts) -> int:
    """A stable 63-bit seed from any description (the same in every process and on every machine)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class Worker:
    """Runs items; keeps one renderer and one classifier per model for its whole life."""

    def __init__(self, torch_threads: int | None = None):
        self.torch_threads = torch_threads
        self._renderer = None
        self._classifiers: dict[str, object] = {}
        self._detectors: dict[str, object] = {}
        self._scenes: dict[str, object] = {}

    # -------------------------------------------------------------------------------- resources

    @property
    def renderer(self):
        if self._renderer is None:
            from strike_pose.render.gl import GLRenderer, load_llvm_users_first

            load_llvm_users_first()
            if self.torch_threads:
                import torch

                torch.set_num_threads(self.torch_threads)
            self._renderer = GLRenderer()
        return self._renderer

    def classifier(self, name: str):
        if name not in self._classifiers:
            from strike_pose.models import create_classifier

            self._classifiers[name] = create_classifier(name)
        return self._classifiers[name]

    def detector(self, name: str):
        if name not in self._detectors:
            from strike_pose.models.detector import create_detector

            self._detectors[name] = create_detector(name)
        return self._detectors[name]

    def scene(self, name: str, light: dict | None = None):
        from strike_pose.scenes import load_scene

        if name not in self._scenes:
            self._scenes[name] = load_scene(name)
        scene = self._scenes[name]
        if light:
            scene = scene.with_light(**{k: (tuple(v) if k == "direction" else v) for k, v in light.items()})
        return scene

    def classify(self, scene, model: str, poses) -> np.ndarray:
        """Probabilities (N, 1000) of the OpenGL pictures of `poses`, rendered in one tiled pass."""
        clf = self.classifier(model)
        images = self.renderer.render_batch(scene, poses, size=clf.input_size)
        return np.concatenate([clf.probabilities(images[i:i + 32]) for i in range(0, len(images), 32)])

    # ---------------------------------------------------------------------------------- running

    def run(self, item: Item) -> list[dict]:
        self.renderer  # GL and torch settings first, in this process
        return getattr(self, f"_{item.kind}")(item)

    def _landscape(self, item: Item) -> list[dict]:
        p = item.payload
        scene = self.scene(p["scene"], p["light"])
        probs = self.classify(scene, p["model"], p["poses"])
        true = scene.true_class
        rows = []
        for i, (pose, prob) in enumerate(zip(p["poses"], probs)):
            top1 = int(np.argmax(prob))
            rows.append({"study": item.study, "item": item.key, "index": p["first"] + i, "scene": p["scene"],
                         "light": p["light_label"], "model": p["model"], **dict(zip(POSE_AXES, map(float, pose))),
                         "true_class": true, "true_prob": float(prob[true]), "top1": top1,
                         "top1_prob": float(prob[top1]), "correct": top1 == true})
        return rows

    def _sensitivity(self, item: Item) -> list[dict]:
        """From a correctly classified random pose, resample one parameter at a time over its range; then,
        per parameter, bisect towards the start from the nearest flipped resample on each side.

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
        scene = self.scene(p["scene"])
        rng = np.random.default_rng(p["seed"])
        start = None
        for _ in range(200):  # a correctly classified natural pose at the scene's distance
            candidate = np.array([rng.uniform(-180, 180), rng.uniform(-30, 30), rng.uniform(-30, 30),
                                  rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3), scene.pose.z + rng.uniform(-1, 1)])
            probs = self.classify(scene, p["model"], [candidate])[0]
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
        probs = self.classify(scene, p["model"], poses)
        flipped = [int(np.argmax(prob)) != scene.true_class for prob in probs]
        bisected = self._bisect_flips(scene, p["model"], start, ranges, meta, flipped)
        rows = []
        for i, ((axis, start_value, value, delta), prob) in enumerate(zip(meta, probs)):
            top1 = int(np.argmax(prob))
            flip, step = bisected.get(i, (None, None))
            rows.append({"study": item.study, "item": item.key, "scene": p["scene"], "model": p["model"],
                         "start": p["start"], "parameter": axis, "start_value": start_value, "value": value,
                         "change": abs(delta), "true_prob": float(prob[scene.true_class]), "top1": top1,
                         "flipped": flipped[i], "bisected_flip": flip, "bisection_step": step})
        return rows

    def _bisect_flips(self, scene, model: str, start, ranges: dict, meta: list, flipped: list) -> dict:
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
            for b, prob in zip(open_, self.classify(scene, model, poses)):
                if int(np.argmax(prob)) != scene.true_class:
                    b.hi = b.mid
                else:
                    b.lo = b.mid
        best: dict[int, _Bracket] = {}  # per parameter, the side with the nearer boundary
        for b in brackets:
            if b.axis not in best or b.distance_at(b.hi) < best[b.axis].distance_at(best[b.axis].hi):
                best[b.axis] = b
        return {b.row: (float(b.distance_at(b.hi)), float(b.step)) for b in best.values()}

    def _attack(self, item: Item) -> list[dict]:
        """One search, reduced as the command line and the visualizer reduce theirs (SearchResult): the
        closest fooling pose, else the pose with the lowest loss, with its verdict re-checked on OpenGL."""
        from strike_pose.search import SearchOptions, run_search

        p = item.payload
        scene = self.scene(p["scene"])
        clf = self.classifier(p["model"])
        target = p["target"]
        options = SearchOptions(method=p["method"], target=target, radius=p["radius"], steps=p["steps"],
                                budget_seconds=p["budget_seconds"], seed=p["seed"], mode=p["mode"],
                                **({"min_margin": p["min_margin"]} if "min_margin" in p else {}))
        result = run_search(scene, clf, p["start"], options, renderer=self.renderer)
        probs, top1, nan = result.probs, result.top1, float("nan")
        moved = result.distances() if result.success else {}
        return [{"study": item.study, "item": item.key, "scene": p["scene"], "model": p["model"],
                 "start_index": p["start_index"], "method": p["method"], "target": -1 if target is None else target,
                 "success": result.success, "steps": result.steps, "evaluations": result.evaluations,
                 "seconds": float(result.found.seconds if result.success else result.seconds),
                 "rotation_from_start": float(moved.get("rotation_from_start", nan)),
                 "translation_from_start": float(moved.get("translation_from_start", nan)),
                 "distance": float(moved.get("distance", nan)), "margin": result.margin,
                 **{f"start_{a}": float(v) for a, v in zip(POSE_AXES, p["start"])},
                 **dict(zip(POSE_AXES, map(float, result.pose.as_tuple()))), "true_class": scene.true_class,
                 "true_prob": float(probs[scene.true_class]), "top1": top1, "top1_prob": float(probs[top1]),
                 "target_prob": float(probs[target]) if target is not None else nan}]

    def _transfer(self, item: Item) -> list[dict]:
        p = item.payload
        if p["model"].startswith(DETECTOR_PREFIX):
            return self._transfer_to_detector(item)
        rows = []
        for (scene_name, light, light_label), group in _group_by_scene(p["sources"]):
            scene = self.scene(scene_name, light)
            probs = self.classify(scene, p["model"], [[s[a] for a in POSE_AXES] for s in group])
            for source, prob in zip(group, probs):
                top1 = int(np.argmax(prob))
                rows.append({"study": item.study, "item": item.key, "scene": scene_name, "light": light_label,
                             "source_model": source["model"], "source_row": source["row"],
                             "source_top1": source["top1"], "source_prob": source["top1_prob"], "model": p["model"],
                             "top1": top1, "top1_prob": float(prob[top1]), "fooled": top1 != scene.true_class,
                             "same_label": top1 == source["top1"], "source_correct": bool(source.get("correct"))})
        return rows


    def _transfer_to_detector(self, item: Item) -> list[dict]:
        """The fooling poses re-rendered at the detector's input size and read by the same rule as the
        detector's search objective (search/detection.py): fooled when no box of the object's COCO class
        scores above the threshold on the object (IoU >= 0.5 with its projected box). A scene without a
        COCO class gives no rows."""
        from strike_pose.models.coco import COCO_OF_IMAGENET, coco_class_of
        from strike_pose.models.labels import label_of
        from strike_pose.search.detection import IOU, detector_fooled, detector_verdicts

        p = item.payload
        detector = self.detector(p["model"].removeprefix(DETECTOR_PREFIX))
        labels = detector.labels
        rows = []
        for (scene_name, light, light_label), group in _group_by_scene(p["sources"]):
            scene = self.scene(scene_name, light)
            own = coco_class_of(scene)
            if own is None:
                continue
            poses = np.array([[s[a] for a in POSE_AXES] for s in group], np.float64)
            images = self.renderer.render_batch(scene, poses, size=detector.input_size)
            verdicts = detector_verdicts(detector, scene, images, poses)
            for source, v in zip(group, verdicts):
                top1 = int(np.argmax(v))
                seen = top1 if float(v[top1]) > detector.conf_threshold else -1
                source_coco = COCO_OF_IMAGENET.get(label_of(int(source["top1"])))
                rows.append({"study": item.study, "item": item.key, "scene": scene_name, "light": light_label,
                             "source_model": source["model"], "source_row": source["row"],
                             "source_top1": source["top1"], "source_prob": source["top1_prob"], "model": p["model"],
                             "top1": top1, "top1_prob": float(v[top1]),
                             "fooled": detector_fooled(v, own, detector.conf_threshold),
                             "same_label": seen >= 0 and source_coco is not None and labels[seen] == source_coco,
                             "labels": "coco", "object_class": own, "object_score": float(v[own]),
                             "seen": labels[seen] if seen >= 0 else "nothing",
                             "wrong_class": seen >= 0 and seen != own,
                             "conf_threshold": detector.conf_threshold, "iou": IOU,
                             "source_correct": bool(source.get("correct"))})
        return rows


def _group_by_scene(sources: list[dict]):
    """Source rows grouped by scene and light, each group rendered in one batch."""
    groups: dict = {}
    for s in sources:
        groups.setdefault((s["scene"], s.get("light_label", "scene")), (s.get("light"), []))[1].append(s)
    for (scene, label), (light, group) in groups.items():
        yield (scene, light, label), group


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
