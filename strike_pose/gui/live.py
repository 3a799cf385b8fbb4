"""Live analysis: the newest frame classified (and its Grad-CAM drawn) off the UI thread.

One LatestFrameWorker thread takes the newest frame; a frame still waiting when a newer one comes is
dropped, so the model always works on what is on screen and the window never waits for it. Torch's
CPU thread count is set per thread: this one takes half the cores, the UI and the renderer the rest.
With the detector mode on (gui/detection.py), the two take turns at the model (workers.ModelTurns).
"""

from __future__ import annotations

import collections
import os
import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np

from strike_pose.gui.workers import LatestFrameWorker, ModelTurns, RateMeter


@dataclass(frozen=True)
class Prediction:
    probs: np.ndarray  # (1000,)
    frame_id: int | None  # the frame it was computed from; None: reported by the search
    source: str  # "live", "search" or "capture"
    latency: float | None = None  # seconds from the frame to this prediction
    heatmap: np.ndarray | None = None  # Grad-CAM of the top-1 class, the frame's size, in [0, 1]
    layer: np.ndarray | None = None  # the heatmap as an RGBA layer to draw over the frame


@dataclass(frozen=True)
class AnalysisJob:
    frame: np.ndarray
    classifier: Any
    want_heatmap: bool


def live_torch_threads(cpu_count: int | None = None) -> int:
    """Torch threads for live analysis on the CPU: half the cores, so the UI and llvmpipe keep the rest."""
    return max(1, (cpu_count or os.cpu_count() or 2) // 2)


def limit_live_threads() -> None:
    """Runs in the live-analysis thread: torch's CPU thread count is per thread, so the search thread and
    the UI keep theirs. On 2 busy cores, 2 torch threads were seen 10x slower than 1 (they wait on each
    other whenever the UI or the renderer takes a core)."""
    import torch

    torch.set_num_threads(live_torch_threads())


class LiveAnalysis:
    def __init__(self, clock, turns: ModelTurns | None = None):
        self.turns = turns or ModelTurns(clock)
        self.worker: LatestFrameWorker[AnalysisJob, Prediction] = LatestFrameWorker(
            self._analyse, clock=clock, on_start=limit_live_threads)
        self.rate = RateMeter()  # predictions per second
        self.latencies: collections.deque[float] = collections.deque(maxlen=30)
        self._heatmap_makers: dict[int, Any] = {}

    @property
    def latency(self) -> float | None:
        """Median frame-to-prediction latency of the recent predictions (seconds)."""
        return statistics.median(self.latencies) if self.latencies else None

    def submit(self, frame: np.ndarray, frame_id: int, classifier, want_heatmap: bool) -> None:
        self.worker.submit(AnalysisJob(frame, classifier, want_heatmap), frame_id)

    def take(self) -> Prediction | BaseException | None:
        """The newest finished prediction, the error it failed with, or None when nothing is new."""
        result = self.worker.take_result()
        if result is None:
            return None
        if result.error is not None:
            return result.error
        self.latencies.append(result.latency)
        self.rate.tick(result.finished_at)
        return Prediction(result.value.probs, result.item_id, "live", result.latency, result.value.heatmap,
                          result.value.layer)

    def _analyse(self, job: AnalysisJob) -> Prediction:
        """Classify a frame, with the Grad-CAM heatmap of its top-1 class when asked (one forward pass)."""
        with self.turns.turn("live"):
            return self._analyse_now(job)

    def _analyse_now(self, job: AnalysisJob) -> Prediction:
        from strike_pose.models.gradcam import heatmap_layer

        if job.want_heatmap:
            result = self._heatmap_maker(job.classifier)(job.frame)
            return Prediction(result.probs, None, "live", None, result.heatmap, heatmap_layer(result.heatmap))
        return Prediction(job.classifier.probabilities(job.frame), None, "live")

    def _heatmap_maker(self, classifier):
        """The Grad-CAM of a classifier (made once, in the worker thread that uses it)."""
        from strike_pose.models.gradcam import GradCam

        maker = self._heatmap_makers.get(id(classifier))
        if maker is None or maker.classifier is not classifier:
            maker = self._heatmap_makers[id(classifier)] = GradCam(classifier)
        return maker

    def close(self, timeout: float) -> bool:
        stopped = self.worker.close(timeout)
        for maker in self._heatmap_makers.values():
            maker.close()
        self._heatmap_makers.clear()
        return stopped
