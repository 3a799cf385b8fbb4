"""Work items and the worker that runs them: the same code in-process (local backend) and in each Ray
actor (each with its own EGL context and model). The worker holds what every kind shares (the renderer,
the models, the scenes) and runs an item with its kind's `work` (strike_pose/experiments/kinds/).

An Item is small, JSON-able and fully determined by the experiment (its poses are drawn by the
driver from the experiment's seed), so running it again anywhere gives the same rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

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
        from strike_pose.experiments.registry import KINDS

        _ = self.renderer  # GL and torch settings first, in this process
        return KINDS[item.kind].work(self, item)
