"""Computing the pose map, coarse to fine: `MapBuilder` plans the cells of each level and takes their
probabilities (so the caller renders and classifies: the visualizer on its own threads), and
`compute_map` drives it with a renderer and a classifier, as `strike-pose map` does. What a map is and
its grid: strike_pose.analysis.posemap."""

from __future__ import annotations

from typing import Callable

import numpy as np

from strike_pose.analysis.posemap import CLASSIFY_CHUNK, RECORD, WRAPPED, MapSpec, PoseMap, grid_poses
from strike_pose.errors import StrikePoseError
from strike_pose.rotations import POSE_AXES, wrap_degrees


class MapBuilder:
    """Plans a map's cells level by level and takes their probabilities; the caller renders and classifies.

        builder = MapBuilder(scene, spec)
        while not builder.done:
            cells, poses = builder.next_batch(64)     # cells (K, 3): level, i, j; poses (K, 6)
            builder.record(cells, probabilities_of(poses))   # (K, 1000) softmax

    A level's cells are handed out nearest the map's pose first; the next level is planned once every
    cell of this one is recorded, so `next_batch` gives no cells while some are still out. One thread at a
    time (the caller's lock, if several use it)."""

    def __init__(self, scene, spec: MapSpec, model: str = ""):
        if scene.true_class is None:
            raise StrikePoseError("a pose map needs the object's true class (give --true-class LABEL)")
        self.scene, self.spec = scene, spec
        self._map = PoseMap(spec, int(scene.true_class), float(scene.camera.fov_y), scene.name, model)
        self._level = -1
        self._queue = np.zeros((0, 2), np.int64)
        self._out: set[tuple[int, int, int]] = set()
        self.planned = 0  # cells planned so far (grows with each finer level)
        self.computed = 0  # cells recorded
        self._records: list[np.ndarray] = []
        self._plan()

    @property
    def level(self) -> int:
        """The level being computed (0: the coarsest); len(spec.levels) once done."""
        return self._level

    @property
    def done(self) -> bool:
        return self._level >= len(self.spec.levels)

    def _plan(self) -> None:
        """Move to the next level that has cells to compute (or past the last)."""
        while not len(self._queue) and not self._out and not self.done:
            self._level += 1
            if self.done:
                self._map.complete = True
                return
            shape = self._map.level_shape(self._level)
            if self._level < self.spec.full_levels:
                todo = np.ones(shape, bool)
            else:
                todo = self._boundary(self._level)
            cells = np.argwhere(todo)
            self._queue = cells[np.argsort(self._distances(self._level, cells), kind="stable")]
            self.planned += len(cells)

    def _boundary(self, level: int) -> np.ndarray:
        """The cells of `level` whose verdict (from the coarser levels) differs from a neighbour's."""
        m = self._map
        k = self.spec.levels[level]
        key = m.top1[::k, ::k]
        if self.spec.refine == "correct":
            key = key == m.true_class
        differs = np.zeros(key.shape, bool)
        for dim, axis in enumerate(self.spec.axes):
            a = np.moveaxis(key, dim, 0)
            d = np.moveaxis(differs, dim, 0)  # a view: writes go to `differs`
            step = a[1:] != a[:-1]
            d[1:] |= step
            d[:-1] |= step
            if axis in WRAPPED and a.shape[0] > 1:
                seam = a[0] != a[-1]
                d[0] |= seam
                d[-1] |= seam
        return differs

    def _distances(self, level: int, cells: np.ndarray) -> np.ndarray:
        poses = grid_poses(self.spec.pose, self.spec.axes, self._map.level_shape(level), self._map.fov_y, cells)
        squared = np.zeros(len(cells))
        for axis in self.spec.axes:
            k = POSE_AXES.index(axis)
            d = poses[:, k] - self.spec.pose[k]
            squared += (wrap_degrees(d) if axis in WRAPPED else d) ** 2
        return squared

    def next_batch(self, max_poses: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to `max_poses` cells of the current level, (K, 3) ints (level, i, j), and their centre poses
        (K, 6); none when done or while the level's last cells are out."""
        take = self._queue[:max(0, int(max_poses))]
        self._queue = self._queue[len(take):]
        if not len(take):
            return np.zeros((0, 3), np.int64), np.zeros((0, 6))
        poses = grid_poses(self.spec.pose, self.spec.axes, self._map.level_shape(self._level), self._map.fov_y, take)
        cells = np.column_stack([np.full(len(take), self._level), take])
        self._out.update(map(tuple, cells.tolist()))
        return cells, poses

    def record(self, cells: np.ndarray, probs: np.ndarray) -> None:
        """Take the softmax probabilities (K, 1000) of cells handed out by next_batch."""
        cells = np.asarray(cells, np.int64).reshape(-1, 3)
        probs = np.asarray(probs, np.float64)
        if probs.ndim != 2 or len(probs) != len(cells):
            raise ValueError(f"record takes one row of probabilities per cell: {len(cells)} cells, {probs.shape}")
        keys = list(map(tuple, cells.tolist()))
        unknown = [c for c in keys if c not in self._out]
        if unknown:
            raise ValueError(f"cell {unknown[0]} was not handed out by next_batch (or is recorded already)")
        m, true = self._map, self._map.true_class
        top1 = probs.argmax(axis=1)
        others = probs.copy()
        others[:, true] = -np.inf
        rows = np.zeros(len(cells), RECORD)
        rows["level"], rows["i"], rows["j"] = cells[:, 0], cells[:, 1], cells[:, 2]
        rows["true_prob"], rows["top1"] = probs[:, true], top1
        rows["top1_prob"] = probs[np.arange(len(probs)), top1]
        rows["margin"] = probs[:, true] - others.max(axis=1)
        for row in rows:
            level = int(row["level"])
            k = self.spec.levels[level]
            region = np.s_[row["i"] * k:(row["i"] + 1) * k, row["j"] * k:(row["j"] + 1) * k]
            newer = m.level[region] <= level
            for name in ("true_prob", "top1", "top1_prob", "margin"):
                getattr(m, name)[region][newer] = row[name]
            m.level[region][newer] = level
        self._records.append(rows)
        self._out.difference_update(keys)
        self.computed += len(cells)
        self._plan()

    def result(self) -> PoseMap:
        """The map so far (a copy: the builder goes on filling its own)."""
        self._map.records = np.concatenate([self._map.records, *self._records]) if self._records else self._map.records
        self._records = []
        return self._map.copy()


def compute_map(scene, classifier, spec: MapSpec, renderer=None, batch: int = 64,
                cancel: Callable[[], bool] | None = None,
                progress: Callable[[int, int], None] | None = None) -> PoseMap:
    """The map of `spec` for `scene` and `classifier`: each batch of cells rendered as tiles of one
    framebuffer (`renderer.render_batch`), classified CLASSIFY_CHUNK at a time. `cancel()` returning True
    stops at once (the batch under way is dropped; the map so far comes back, its `complete` False);
    `progress(computed, planned)` follows each batch."""
    if batch < 1:
        raise ValueError(f"compute_map renders at least one pose a batch, got batch={batch}")
    if renderer is None:
        from strike_pose.render import default_renderer

        renderer = default_renderer()
    builder = MapBuilder(scene, spec, model=getattr(classifier, "name", ""))
    stop = cancel or (lambda: False)
    while not builder.done and not stop():
        cells, poses = builder.next_batch(batch)
        if not len(cells):
            break
        images = renderer.render_batch(scene, poses, size=classifier.input_size)
        probs = []
        for first in range(0, len(images), CLASSIFY_CHUNK):
            if stop():
                return builder.result()
            probs.append(classifier.probabilities(images[first:first + CLASSIFY_CHUNK]))
        if stop():
            break
        builder.record(cells, np.concatenate(probs))
        if progress is not None:
            progress(builder.computed, builder.planned)
    return builder.result()


__all__ = ["MapBuilder", "compute_map"]
