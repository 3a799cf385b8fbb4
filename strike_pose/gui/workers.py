"""Work off the UI thread: live analysis of the newest frame, and the pose search.

`LatestFrameWorker` keeps one pending item: submitting a new frame replaces a frame still waiting
(stale frames are dropped), so the model always works on the newest view and the UI never waits.
`SearchRunner` keeps one long-lived thread for searches (the search makes its own offscreen GL context
in the thread that runs it, so one thread means one context for the whole session).
Both threads are ordinary (non-daemon) threads that `close()` stops and joins.
`ModelTurns` lets the live workers (the classifier, the detector) run their forward passes one at a
time, each getting an equal share of that time while both have work.
"""

from __future__ import annotations

import collections
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class WorkResult(Generic[R]):
    item_id: int
    value: R | None
    error: BaseException | None
    submitted_at: float
    started_at: float
    finished_at: float

    @property
    def latency(self) -> float:
        """From the item's submission to its result: waiting plus working."""
        return self.finished_at - self.submitted_at


class RateMeter:
    """Events per second over a sliding window of recent events."""

    def __init__(self, window_seconds: float = 2.0):
        self.window = window_seconds
        self._times: collections.deque[float] = collections.deque()

    def tick(self, now: float) -> None:
        self._times.append(now)
        while self._times and now - self._times[0] > self.window:
            self._times.popleft()

    def rate(self, now: float | None = None) -> float:
        if now is not None:
            while self._times and now - self._times[0] > self.window:
                self._times.popleft()
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


class ModelTurns:
    """One forward pass at a time among the live workers, shared fairly by time.

    Why one at a time: on 2 cores, two model threads beside the UI thread (and the software renderer's)
    take the UI's core; serialised, the models together use about one core, as live classification
    alone did. Why by time, not by turn: a detection takes about 6 classifications' time on the CPU;
    strict alternation would drop live classification to the detector's rate. So when several workers
    wait, the one that has used the least time goes first (each gets half while both have work, all
    of it while the other has none). A worker back from idle (away longer than `credit` seconds since
    its last pass) brings at most `credit` seconds of unused share, so it cannot hold the model for long
    after a pause; one that comes straight back keeps what it is owed, however long the other's passes.
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter, credit: float = 0.5):
        self._clock = clock
        self._credit = credit
        self._cond = threading.Condition()
        self._busy: str | None = None
        self._waiting: dict[str, int] = {}  # name -> arrival number (ties go to the first)
        self._arrivals = 0
        self._released: dict[str, float] = {}  # when each worker's last pass ended
        self.used: dict[str, float] = {}  # seconds each worker held the model (relative: only differences count)

    def _next(self) -> str | None:
        if not self._waiting:
            return None
        return min(self._waiting, key=lambda n: (self.used.get(n, 0.0), self._waiting[n]))

    @contextmanager
    def turn(self, name: str) -> Iterator[None]:
        with self._cond:
            self._arrivals += 1
            self._waiting[name] = self._arrivals
            away = self._clock() - self._released.get(name, float("-inf"))
            if self.used and away > self._credit:  # back from idle: no banked share beyond `credit`
                self.used[name] = max(self.used.get(name, 0.0), max(self.used.values()) - self._credit)
            self._cond.wait_for(lambda: self._busy is None and self._next() == name)
            del self._waiting[name]
            self._busy = name
        started = self._clock()
        try:
            yield
        finally:
            with self._cond:
                now = self._clock()
                self.used[name] = self.used.get(name, 0.0) + now - started
                self._released[name] = now
                self._busy = None
                self._cond.notify_all()


class LatestFrameWorker(Generic[T, R]):
    """Runs `process(item)` in one thread on the newest submitted item; older waiting items are dropped.

    `on_start` runs first in the worker's thread (for per-thread settings such as torch's thread count).
    """

    def __init__(self, process: Callable[[T], R], name: str = "live-analysis",
                 clock: Callable[[], float] = time.perf_counter, on_start: Callable[[], None] | None = None):
        self._process = process
        self._on_start = on_start
        self._clock = clock
        self._cond = threading.Condition()
        self._pending: tuple[int, float, T] | None = None
        self._result: WorkResult[R] | None = None
        self._busy = False
        self._stopping = False
        self.submitted = 0
        self.dropped = 0
        self.processed = 0
        self._thread = threading.Thread(target=self._run, name=name)
        self._thread.start()

    def submit(self, item: T, item_id: int) -> None:
        with self._cond:
            if self._pending is not None:
                self.dropped += 1
            self._pending = (item_id, self._clock(), item)
            self.submitted += 1
            self._cond.notify()

    def take_result(self) -> WorkResult[R] | None:
        """The newest result not taken yet, or None."""
        with self._cond:
            result, self._result = self._result, None
            return result

    @property
    def idle(self) -> bool:
        with self._cond:
            return self._pending is None and not self._busy

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout)

    def _run(self) -> None:
        if self._on_start is not None:
            self._on_start()
        while True:
            with self._cond:
                while self._pending is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                item_id, submitted_at, item = self._pending
                self._pending = None
                self._busy = True
            started_at = self._clock()
            value, error = None, None
            try:
                value = self._process(item)
            except BaseException as exc:  # reported with the result; the worker keeps going
                error = exc
            result = WorkResult(item_id, value, error, submitted_at, started_at, self._clock())
            with self._cond:
                self._result = result
                self._busy = False
                self.processed += 1
                self._cond.notify_all()

    def close(self, timeout: float = 10.0) -> bool:
        """Stop after the item in progress; True when the thread has ended."""
        with self._cond:
            self._stopping = True
            self._pending = None
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()


# ------------------------------------------------------------------------------------- searching

@dataclass(frozen=True)
class SearchJob:
    scene: Any
    model: Any  # what the search runs against: a classifier, a detector, or their objective
    start: Any  # Pose
    options: Any = None  # strike_pose.search.SearchOptions (None: the defaults)


@dataclass(frozen=True)
class SearchEnded:
    """The last message of a search: how it ended."""

    status: str  # "success", "failed", "cancelled" or "error"
    last_step: Any  # the last Step, or None (its `closest` is the fooling pose nearest the start)
    message: str = ""
    seconds: float = 0.0
    cancel_latency: float | None = None  # from cancel() to the end, when cancelled


SearchFunction = Callable[..., Iterable[Any]]


class SearchRunner:
    """Runs one search at a time in a long-lived thread; steps and the end come back through `drain()`."""

    def __init__(self, search_function: SearchFunction | None = None, clock: Callable[[], float] = time.perf_counter):
        self._search = search_function
        self._clock = clock
        self._cond = threading.Condition()
        self._job: SearchJob | None = None
        self._cancel = threading.Event()
        self._cancelled_at: float | None = None
        self._running = False
        self._stopping = False
        self._out: collections.deque = collections.deque()  # (job number, Step or SearchEnded)
        self._started = 0  # the number of the newest job; messages of older jobs are dropped
        self._thread = threading.Thread(target=self._run, name="pose-search")
        self._thread.start()

    @property
    def busy(self) -> bool:
        """A search is queued or running (also while it is stopping after cancel())."""
        with self._cond:
            return self._job is not None or self._running

    def start(self, job: SearchJob) -> None:
        with self._cond:
            if self._job is not None or self._running:
                raise RuntimeError("a search is already running")
            self._cancel = threading.Event()
            self._cancelled_at = None
            self._started += 1
            self._job = (self._started, job)
            self._cond.notify_all()

    def cancel(self) -> None:
        with self._cond:
            if (self._job is not None or self._running) and not self._cancel.is_set():
                self._cancelled_at = self._clock()
                self._cancel.set()

    def drain(self) -> list:
        """Steps and SearchEnded messages of the newest search posted since the last call, oldest
        first (a search stopped a moment ago may still post its end after a new one started)."""
        out = []
        while self._out:
            number, message = self._out.popleft()
            if number == self._started:
                out.append(message)
        return out

    def wait_done(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._job is None and not self._running, timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._job is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                (number, job), self._job = self._job, None
                self._running = True
                cancel = self._cancel
            try:
                self._out.append((number, self._run_job(job, cancel, number)))
            finally:
                with self._cond:
                    self._running = False
                    self._cond.notify_all()

    def _run_job(self, job: SearchJob, cancel: threading.Event, number: int) -> SearchEnded:
        started = self._clock()
        if self._search is None:
            from strike_pose.search import search

            self._search = search
        last = None
        steps: Iterator | None = None
        try:
            steps = iter(self._search(job.scene, job.model, start=job.start, options=job.options, cancel=cancel))
            for step in steps:
                if cancel.is_set():
                    break
                last = step
                self._out.append((number, step))
        except Exception as exc:  # shown in the GUI; the traceback goes to stderr for a bug report
            from strike_pose.errors import StrikePoseError

            if not isinstance(exc, StrikePoseError):
                traceback.print_exc()
            return SearchEnded("error", last, f"{type(exc).__name__}: {exc}" if not isinstance(exc, StrikePoseError)
                               else str(exc), self._clock() - started)
        finally:
            close = getattr(steps, "close", None)
            if close is not None:
                close()
        seconds = self._clock() - started
        if cancel.is_set():
            latency = self._clock() - self._cancelled_at if self._cancelled_at is not None else None
            return SearchEnded("cancelled", last, "stopped", seconds, latency)
        if last is not None and last.success:
            return SearchEnded("success", last, "success", seconds)
        return SearchEnded("failed", last, "no fooling pose found", seconds)

    def close(self, timeout: float = 10.0) -> bool:
        self.cancel()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()
