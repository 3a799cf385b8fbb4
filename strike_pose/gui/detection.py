"""The detector mode: YOLOv3-tiny's boxes over the live view, off the UI thread.

The detector is created the first time the mode turns on, in its own worker thread (a
LatestFrameWorker: the newest view only), so neither its load nor its forward passes hold the window;
without its weights the mode turns off with the fetch command in the status line. It runs on CUDA when
there is one, else on one torch thread, taking turns at the model with live classification
(workers.ModelTurns).

Which image it sees: a render of the view at the detector's own input size (416 px), made on the UI
thread only when the detector is free for a new view (a few times a second on a CPU), not every frame.
Measured on this 2-core machine: the 416 render takes about 7 ms against 2.6 ms at 224 and the forward
pass about 240 ms at either size (the detector letterboxes to 416), and the school bus at its start
pose scores 0.50 on the 416 render but 0.35 on the classifier's 224 frame scaled up, under Darknet's
0.5 threshold. So the detector gets its native size, at under 3% of the UI thread's time.

The detector keeps every box above SCORE_FLOOR; the mode's threshold (the slider, Darknet's 0.5 by
default) filters after NMS, which gives exactly the boxes a detector built with that threshold gives
(a lower-scoring box never suppresses a higher one) and lets the panel say how far below the threshold
a missed object's best box is.
"""

from __future__ import annotations

import collections
import statistics
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from strike_pose.gui.live import limit_live_threads
from strike_pose.gui.workers import LatestFrameWorker, ModelTurns, RateMeter

SCORE_FLOOR = 0.05  # the least score kept from the detector; the shown ones are above `threshold`
DEFAULT_THRESHOLD = 0.5  # Darknet's
SIDECAR_DETECTIONS = 10  # a capture's sidecar lists at most this many boxes


@dataclass(frozen=True)
class DetectionJob:
    frame: np.ndarray | None  # None: only create the detector


@dataclass(frozen=True)
class DetectionResult:
    detections: tuple  # strike_pose.models.detector.Detection above SCORE_FLOOR, best first
    frame_id: int | None  # the session's frame (the view) they belong to; None: the detector was just created
    size: int  # the side of the image the boxes are in
    latency: float = 0.0  # seconds from the view's render to the boxes
    forward: float = 0.0  # seconds of the detector's own pass


def object_class(scene) -> int | None:
    """The object's MS COCO class, which the detector should find (None: COCO has none)."""
    from strike_pose.errors import StrikePoseError
    from strike_pose.models.coco import coco_class_of

    try:
        return coco_class_of(scene)
    except StrikePoseError:
        return None


class LiveDetection:
    def __init__(self, clock: Callable[[], float], turns: ModelTurns, name: str = "yolov3_tiny",
                 device: str | None = None, create: Callable[..., Any] | None = None):
        self.clock = clock
        self.turns = turns
        self.name = name
        self.device = device
        self._create = create
        self.detector = None  # set in the worker's thread once created
        self.worker: LatestFrameWorker | None = None  # started the first time the mode turns on
        self.loading = False
        self.error: str | None = None  # why the detector could not be created
        self.result: DetectionResult | None = None
        self.threshold = DEFAULT_THRESHOLD
        self.rate = RateMeter()  # detections (passes) per second
        self.forwards: collections.deque[float] = collections.deque(maxlen=20)
        self.submitted_frame: int | None = None

    # ------------------------------------------------------------------------------- the UI thread

    def start(self) -> None:
        """The mode turned on: create the detector in the worker's thread, the first time."""
        self.error = None
        if self.detector is not None or self.loading:
            return
        if self.worker is None:
            self.worker = LatestFrameWorker(self._process, name="live-detection", clock=self.clock,
                                            on_start=limit_live_threads)
        self.loading = True
        self.worker.submit(DetectionJob(None), -1)

    def loaded(self) -> str:
        """What the status line says once the detector is created: which, where, and its load time."""
        d = self.detector
        return f"{d.name} on {d.device}, loaded in {getattr(d, 'load_seconds', 0.0):.1f} s"

    @property
    def ready(self) -> bool:
        return self.detector is not None and not self.loading

    @property
    def input_size(self) -> int:
        return self.detector.input_size

    def wants(self, frame_id: int) -> bool:
        """Whether to render the view `frame_id` for the detector now: it is free and has not seen it."""
        return self.ready and self.worker.idle and self.submitted_frame != frame_id

    def offer(self, frame_id: int, render: Callable[[int], np.ndarray]) -> None:
        """The view `frame_id`, rendered by `render(size)` at the detector's own size only when the detector
        is free for it and has not seen it (see the top of this module)."""
        if self.wants(frame_id):
            self.submit(render(self.input_size), frame_id)

    def submit(self, frame: np.ndarray, frame_id: int) -> None:
        self.submitted_frame = frame_id
        self.worker.submit(DetectionJob(frame), frame_id)

    def take(self) -> str | None:
        """Take a finished pass; returns an error message to show, or None."""
        if self.worker is None:
            return None
        done = self.worker.take_result()
        if done is None:
            return None
        error = done.error
        if error is not None:
            from strike_pose.errors import StrikePoseError

            message = str(error) if isinstance(error, StrikePoseError) else f"{type(error).__name__}: {error}"
        if done.item_id == -1:  # the detector's creation
            self.loading = False
            if error is not None:
                self.error = message
                return f"the detector is unavailable: {message}"
            return None
        if error is not None:
            return f"detection failed: {message}"
        value: DetectionResult = done.value
        self.result = DetectionResult(value.detections, done.item_id, value.size, done.latency, value.forward)
        self.forwards.append(value.forward)
        self.rate.tick(done.finished_at)
        return None

    def shown(self, frame_id: int | None = None) -> list:
        """The boxes above the threshold (of the view `frame_id`, when given), best first."""
        result = self.result
        if result is None or result.frame_id is None or (frame_id is not None and result.frame_id != frame_id):
            return []
        return [d for d in result.detections if d.score >= self.threshold]

    def boxes(self) -> tuple[list, int] | None:
        """The newest pass's boxes above the threshold and the side of the image they are in, or None."""
        result = self.result
        return None if result is None else (self.shown(), result.size)

    def best_of(self, class_index: int | None):
        """The best box of a class (above SCORE_FLOOR, maybe below the threshold), or None."""
        result = self.result
        if class_index is None or result is None:
            return None
        return next((d for d in result.detections if d.class_index == class_index), None)

    @property
    def forward_time(self) -> float | None:
        """Median seconds of the detector's recent passes."""
        return statistics.median(self.forwards) if self.forwards else None

    def record(self, detections: list, size: int, object_class: int | None) -> dict:
        """What a capture's sidecar says about the detector: small (the best boxes, rounded)."""
        labels = self.detector.labels
        return {"detector": self.name, "image_size": size, "conf_threshold": round(self.threshold, 3),
                "object_class": None if object_class is None else labels[object_class],
                "object_detected": any(d.class_index == object_class for d in detections),
                "detections": [d.as_dict() for d in detections[:SIDECAR_DETECTIONS]]}

    def record_of_view(self, frame_id: int, render: Callable[[int], np.ndarray], object_class: int | None) -> dict:
        """A capture's record of exactly the view `frame_id`: the worker's boxes when it has seen that view,
        else detected now on the view rendered at the detector's size by `render(size)`."""
        result = self.result
        if result is not None and result.frame_id == frame_id:
            found, size = self.shown(frame_id), result.size
        else:
            size = self.input_size
            found = self.detect_now(render(size))
        return self.record(found, size, object_class)

    def detect_now(self, frame: np.ndarray) -> list:
        """The boxes above the threshold of one image, on the caller's thread (a capture of a view the
        worker has not seen); waits for its turn at the model."""
        with self.turns.turn("detector"):
            found = self.detector.detect(frame)
        return [d for d in found if d.score >= self.threshold]

    def search_model(self):
        """The detector for Optimize against it: the same network, with the mode's threshold as the
        search's (the search judges a miss by the detector's own threshold, not by SCORE_FLOOR)."""
        from strike_pose.models.detector import Detector

        d = self.detector
        return Detector(d.name, d.net, d.labels, d.device, conf_threshold=round(self.threshold, 3),
                        nms_threshold=d.nms_threshold)

    def close(self, timeout: float) -> bool:
        return self.worker.close(timeout) if self.worker is not None else True

    # ------------------------------------------------------------------------------ the worker

    def _process(self, job: DetectionJob) -> DetectionResult:
        if self.detector is None:
            create = self._create
            if create is None:
                from strike_pose.models.detector import create_detector as create
            self.detector = create(self.name, device=self.device, conf_threshold=SCORE_FLOOR)
        if job.frame is None:
            return DetectionResult((), None, self.detector.input_size)
        with self.turns.turn("detector"):
            started = self.clock()
            found = self.detector.detect(job.frame)
            forward = self.clock() - started
        return DetectionResult(tuple(found), None, job.frame.shape[0], forward=forward)
