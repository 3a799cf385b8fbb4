"""The visualizer's pose map, computed in a background thread (see strike_pose.analysis.posemap).

The map holds four pose numbers, the scene (with its light) and the model fixed; when any of them
changes it starts again and the work under way is dropped at once. The thread has its own OpenGL
context (the per-thread renderer) and renders each batch of cells as tiles of one framebuffer with
one readback.

Sharing the model with live classification: the map classifies a few poses at a time, and after each
batch, when the live view has a frame waiting or in work, waits for it (at most as long as the batch
took). So while the object moves, the map holds the model at most half the time and the live view
keeps at least about half its rate; while it rests, the map has the model to itself. The map uses one
torch thread while the live view has work and REST_THREADS while it has none. The thread also runs at
a lower priority (niceness 10), so the UI keeps its frame rate (benchmarks/gui_bench.py measures both).

The MapView also holds what its panel sets: whether the map is open (computed) and its axes and finest
resolution.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from strike_pose.rotations import POSE_AXES

BATCH = 8  # poses per batch: a stale map is dropped within one batch
REST_THREADS = max(1, (os.cpu_count() or 2) // 2 + 1)  # torch threads while the live view has nothing to do


@dataclass(frozen=True)
class MapJob:
    scene: Any
    classifier: Any
    pose: tuple[float, ...]
    axes: tuple[str, str]
    resolution: float

    def key(self) -> tuple:
        """What the map holds fixed: a change of any of it starts the map again."""
        held = tuple(round(v, 6) for k, v in zip(POSE_AXES, self.pose) if k not in self.axes)
        return (id(self.scene), id(self.classifier), held, self.axes, self.resolution)


class MapView:
    """The newest map of the current scene, model and pose; `request` once a frame is cheap."""

    def __init__(self, yield_to: Callable[[float], Any] | None = None,
                 live_idle: Callable[[], bool] | None = None) -> None:
        """`yield_to(seconds)`: after each batch, wait at most that long for the live view's waiting work;
        `live_idle()`: whether the live view has nothing to do (then the map classifies on more threads)."""
        self._yield_to = yield_to
        self._live_idle = live_idle
        self._lock = threading.Condition()
        self._job: MapJob | None = None  # the map wanted
        self._todo = False  # whether the thread has it still to compute
        self._generation = 0
        self._map = None
        self._version = 0  # counts the snapshots published
        self._error: BaseException | None = None
        self._closing = False
        self.rate = 0.0  # cells classified per second, the last batch
        self._thread: threading.Thread | None = None
        self.open = False  # its panel is open: the map is computed
        self.axes: tuple[str, str] = ("yaw", "pitch")
        self.resolution = 2.5  # degrees: the finest cells

    # -------------------------------------------------------------------------------- the UI thread

    def request(self, scene, classifier, pose, axes: tuple[str, str], resolution: float, restart: bool = False) -> None:
        """The map wanted now; the work starts again only when what it holds fixed changed (or `restart`)."""
        job = MapJob(scene, classifier, tuple(float(v) for v in pose), tuple(axes), float(resolution))
        with self._lock:
            if not restart and self._job is not None and self._job.key() == job.key():
                return
            self._job, self._todo = job, True
            self._generation += 1
            self._map, self._error = None, None
            self._version += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="strike-pose-map", daemon=True)
                self._thread.start()
            self._lock.notify_all()

    def set(self, open: bool | None = None, axes: tuple[str, str] | None = None,
            resolution: float | None = None) -> None:
        """Open or close the map (closed, its work stops), or change its axes or its finest resolution."""
        if open is not None:
            self.open = open
            if not open:
                self.stop()
        if axes is not None:
            self.axes = tuple(axes)
        if resolution is not None:
            self.resolution = float(resolution)

    def follow(self, scene, classifier, pose, restart: bool = False) -> None:
        """The map of this scene, model and pose, on the map's own axes and resolution (see `request`)."""
        self.request(scene, classifier, pose, self.axes, self.resolution, restart)

    def stop(self) -> None:
        """No map wanted (the panel is closed): the work stops at the next batch."""
        with self._lock:
            self._job, self._todo = None, False
            self._generation += 1
            self._lock.notify_all()

    def snapshot(self):
        """(version, the map so far or None, the error it stopped with or None)."""
        with self._lock:
            return self._version, self._map, self._error

    def close(self, timeout: float) -> bool:
        with self._lock:
            self._closing = True
            self._job, self._todo = None, False
            self._generation += 1
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    # -------------------------------------------------------------------------------- the map thread

    def _run(self) -> None:
        import torch

        _lower_priority()  # before the renderer: the GL driver's own threads inherit it
        torch.set_num_threads(1)  # per thread: live analysis keeps its own
        from strike_pose.analysis.mapbuild import MapBuilder
        from strike_pose.analysis.posemap import MapSpec
        from strike_pose.render import default_renderer

        renderer = default_renderer()
        while True:
            with self._lock:
                while not self._todo and not self._closing:
                    self._lock.wait()
                if self._closing:
                    return
                job, generation = self._job, self._generation
            try:
                spec = MapSpec(axes=job.axes, pose=job.pose, resolution=job.resolution)
                builder = MapBuilder(job.scene, spec, model=getattr(job.classifier, "name", ""))
                while not builder.done:
                    started = time.perf_counter()
                    resting = self._live_idle is not None and self._live_idle()
                    torch.set_num_threads(REST_THREADS if resting else 1)
                    cells, poses = builder.next_batch(BATCH)
                    if not len(cells):
                        break
                    images = renderer.render_batch(job.scene, poses, size=job.classifier.input_size)
                    if self._stale(generation):
                        break
                    probs = job.classifier.probabilities(images)
                    if self._stale(generation):
                        break
                    builder.record(cells, np.asarray(probs).reshape(len(cells), -1))
                    spent = time.perf_counter() - started
                    self.rate = len(cells) / max(spent, 1e-6)
                    with self._lock:
                        if generation != self._generation:
                            break
                        self._map = builder.result()
                        self._version += 1
                    if self._yield_to is not None:
                        self._yield_to(spent)
                with self._lock:
                    if generation == self._generation:
                        self._todo = False  # done: wait for the next change
            except BaseException as exc:  # shown in the panel; the window goes on
                with self._lock:
                    if generation == self._generation:
                        self._error, self._todo = exc, False
                        self._version += 1

    def _stale(self, generation: int) -> bool:
        with self._lock:
            return generation != self._generation or self._closing


def _lower_priority(niceness: int = 10) -> None:
    """This thread (on Linux a thread has its own niceness, which the threads it starts inherit) gives
    way to the UI and live classification: the map takes the CPU they leave."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):  # not Linux, or not allowed: the map runs at the same priority
        pass
