"""Work items and the worker that runs them: the same code in-process (local backend) and in each Ray
actor (each with its own EGL context and model).

An Item is small, JSON-able and fully determined by the experiment (its poses are drawn by the
driver from the experiment's seed), so running it again anywhere gives the same rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from strike_pose.rotations import POSE_AXES, wrap_degrees

CHUNK = 64  # poses per landscape or transfer item: one tiled render, one batched classification


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

    def scene(self, name: str, light: dict | None = None):
        from strike_pose.scene import load_scene

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
        """From a correctly classified random pose, resample one parameter at a time over its range."""
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
        rows = []
        for (axis, start_value, value, delta), prob in zip(meta, probs):
            top1 = int(np.argmax(prob))
            rows.append({"study": item.study, "item": item.key, "scene": p["scene"], "model": p["model"],
                         "start": p["start"], "parameter": axis, "start_value": start_value, "value": value,
                         "change": abs(delta), "true_prob": float(prob[scene.true_class]), "top1": top1,
                         "flipped": top1 != scene.true_class})
        return rows

    def _attack(self, item: Item) -> list[dict]:
        """One search, reduced as the command line and the visualizer reduce theirs (SearchResult): the
        closest fooling pose, else the pose with the lowest loss, with its verdict re-checked on OpenGL."""
        from strike_pose.search import search
        from strike_pose.search.result import SearchResult

        p = item.payload
        scene = self.scene(p["scene"])
        clf = self.classifier(p["model"])
        target = p["target"]
        options = dict(method=p["method"], target=target, radius=p["radius"], steps=p["steps"],
                       budget_seconds=p["budget_seconds"], seed=p["seed"], mode=p["mode"])
        last = None
        for last in search(scene, clf, start=p["start"], renderer=self.renderer, **options):
            pass
        result = SearchResult.of(last, scene, clf, p["start"], renderer=self.renderer, **options)
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
                             "same_label": top1 == source["top1"]})
        return rows


def _group_by_scene(sources: list[dict]):
    """Source rows grouped by scene and light, each group rendered in one batch."""
    groups: dict = {}
    for s in sources:
        groups.setdefault((s["scene"], s.get("light_label", "scene")), (s.get("light"), []))[1].append(s)
    for (scene, label), (light, group) in groups.items():
        yield (scene, light, label), group
