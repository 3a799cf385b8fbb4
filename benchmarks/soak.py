"""`make soak`: long runs in one process, to show that nothing piles up. (One file on purpose: its phases
share the counters and the process they measure.)

- frames: --frames renders + classifications at varying poses, switching among the three bundled
  scenes every frame and among six image sizes every round of scenes, and reloading the scenes (new
  meshes, new textures) every --reload-every frames, so every cache of the renderer (eight meshes,
  eight background textures, eight framebuffers) and of the pictures (sixteen mip pyramids and
  backgrounds) fills during the warm-up and then evicts and refills all along;
- search: --search-steps search steps, grad and random alternately in chunks of --chunk steps within
  --radius degrees, the scene changing after each pair of chunks;
- renderers: --renderers times, create an offscreen GLRenderer, render once, release it and its context;
- threads: --render-threads times, start a thread that renders through strike_pose.render.render_image (the
  thread's own default renderer, as a worker thread gets it) and let it end.

Before the phases a warm-up renders and classifies every scene at every size and runs a few steps of
each method, so the thread pools (torch's, Mesa's) and the lazily built state exist before counting.
Resident memory (RSS, from /proc/self/statm, after malloc_trim; see rss_mb) is sampled at regular
intervals; each phase's first tenth is its own warm-up (at least six scene reloads, two search chunks,
two renderers or threads).
Threads are counted (Python's threading.active_count and the OS's, /proc/self/status) after the warm-up
and at the end. moderngl keeps no count of live objects, so the renderer's caches (meshes, background
textures, framebuffers) are counted, and the default renderer's context is put in moderngl's
"context_gc" mode, where every object whose Python handle goes away is queued on `ctx.objects` instead
of being forgotten: a queued object that was never release()d is a GL object leaked.

Criteria (exit status 1 when one fails): RSS growth after each phase's warm-up below --max-growth MB
(frames, search) and --max-renderer-growth MB (renderers, threads); the same thread counts at the end
as after the warm-up; no GL object dropped without release(). Prints a markdown table on stdout (or
JSON with --json) and progress on stderr.

    python -m benchmarks.soak [--frames 10000] [--search-steps 1000] [--json]
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import os
import platform
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from strike_pose.render.gl import load_llvm_users_first

SCENES = ("school_bus", "traffic_light", "soccer_ball")
# The classifier's own size, smaller, larger and non-square ones: with the search's tiled batches these
# are more framebuffers than the renderer keeps, and more backgrounds than either cache keeps.
SIZES = (224, 160, 256, (320, 240), 192, (200, 300))
METHODS = ("grad", "random")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


# ------------------------------------------------------------------------------------ measuring

def _malloc_trim():
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _malloc_trim()


def rss_mb(collect: bool = True) -> float:
    """This process's resident memory in MiB, from /proc/self/statm.

    With `collect` (the default) after collecting the young garbage (the full collection takes a
    quarter of a second with torch loaded; Python runs it by itself from time to time) and glibc's
    malloc_trim(0), which gives the free pages the allocator keeps for reuse back to the system:
    without it, what a search frees stays resident and later allocations, a leak's included, reuse it
    unseen until it is used up.
    """
    if collect:
        gc.collect(1)
        if _MALLOC_TRIM is not None:
            _MALLOC_TRIM(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE_SIZE / 2**20


def os_threads() -> int:
    """The threads of this process as the OS counts them (Python's, torch's, Mesa's, ...)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


def threads() -> dict:
    return {"python": threading.active_count(), "os": os_threads()}


class GLWatch:
    """The GL objects of one renderer: those it holds in its caches, and those dropped unreleased.

    moderngl's "context_gc" mode queues the handle of every object of the context that Python
    collects on `ctx.objects` (a released one as an InvalidObject); nothing is freed until ctx.gc(),
    which is never called here, so the renderer behaves as in the default mode. A queued handle that
    is not an InvalidObject belonged to an object that was never released: a leaked GL object.
    """

    def __init__(self, renderer):
        import moderngl

        self.renderer = renderer
        self._invalid = moderngl.InvalidObject
        self.ctx = renderer.ctx
        self.ctx.gc_mode = "context_gc"
        self.released = 0
        self.leaked: list = []  # kept: the GL objects stay allocated, as they would without the watch

    def close(self) -> None:
        """Back to moderngl's default mode (the leaked objects stay leaked, as they would have)."""
        self.poll()
        self.ctx.gc_mode = None

    def poll(self) -> None:
        gc.collect()
        queue = self.ctx.objects
        while queue:
            handle = queue.popleft()
            if isinstance(handle, self._invalid):
                self.released += 1
            else:
                self.leaked.append(handle)

    def counts(self) -> dict:
        self.poll()
        r = self.renderer
        return {**r.cache_sizes(),
                "released": self.released, "dropped_unreleased": len(self.leaked),
                "leaked_kinds": dict(sorted(collections.Counter(type(h).__name__ for h in self.leaked).items()))}


@dataclass
class Series:
    """RSS samples of one phase: (units done, MiB), units being frames, steps, renderers or threads."""

    phase: str
    unit: str
    count: int
    warmup: int
    samples: list = field(default_factory=list)
    seconds: float = 0.0
    threads_start: dict = field(default_factory=dict)
    threads_end: dict = field(default_factory=dict)
    gl_start: dict = field(default_factory=dict)
    gl_end: dict = field(default_factory=dict)

    def sample(self, done: int) -> None:
        self.samples.append((done, rss_mb()))

    @property
    def rss_after_warmup(self) -> float:
        return next(rss for done, rss in self.samples if done >= self.warmup)

    @property
    def rss_end(self) -> float:
        return self.samples[-1][1]

    @property
    def growth(self) -> float:
        """MiB gained from the end of the warm-up to the end of the phase."""
        return self.rss_end - self.rss_after_warmup

    @property
    def growth_per_1000(self) -> float:
        span = self.samples[-1][0] - next(done for done, _ in self.samples if done >= self.warmup)
        return self.growth / span * 1000 if span else 0.0

    def late_rate_kb(self) -> float:
        """KiB per unit from the second to the last quarter of the phase: the rise of the lowest RSS
        sampled in each over the distance between the quarters. What is kept raises every sample,
        the lowest too; what is only in use for a while (a search's tensors, allocator arenas not yet
        given back) raises some samples and not the lowest. Caches fill in the first quarter."""
        def quarter(k):
            lo, hi = self.count * (k - 1) / 4, self.count * k / 4
            return [(d, r) for d, r in self.samples if lo < d <= hi]

        second, last = quarter(2), quarter(4)
        if not second or not last:
            return 0.0
        dx = statistics.median(d for d, _ in last) - statistics.median(d for d, _ in second)
        dy = min(r for _, r in last) - min(r for _, r in second)
        return dy * 1024 / dx if dx else 0.0

    def summary(self) -> dict:
        out = asdict(self)
        out.update(rss_after_warmup=self.rss_after_warmup, rss_end=self.rss_end, growth=self.growth,
                   growth_per_1000=self.growth_per_1000, late_rate_kb=self.late_rate_kb())
        return out


def _schedule(count: int, samples: int) -> set:
    """The points (units done) at which to sample: about `samples` of them, the ends included."""
    every = max(1, count // samples)
    return set(range(0, count, every)) | {count}


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(total: int, desc: str, progress: bool):
    if not progress:
        return _NoBar()
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: this process counts its threads
    return tqdm(total=total, desc=desc, file=sys.stderr, dynamic_ncols=True, leave=False)


# -------------------------------------------------------------------------------------- phases

def load_scenes(names=SCENES) -> list:
    import strike_pose

    return [strike_pose.load_scene(name) for name in names]


def frame_pose(i: int, scene) -> tuple:
    """A pose that changes every frame: yaw around, pitch and roll within 25 degrees, a little shift."""
    z = scene.pose.z
    return (i * 37.0 % 360.0, 25 * np.sin(i * 0.7), 25 * np.sin(i * 1.3), 0.3 * np.sin(i * 0.5),
            0.3 * np.cos(i * 0.9), z * (1 + 0.1 * np.sin(i * 0.3)))


def warm_up(renderer, classifier, scenes, sizes=SIZES, search_steps: int = 2) -> None:
    """Touch everything the phases use once: every scene at every size, and with each search method
    (which fills the differentiable twin's per-mesh tensors)."""
    from strike_pose.search import search

    for scene in scenes:
        for size in sizes:
            classifier.probabilities(renderer.render(scene, frame_pose(0, scene), size=size))
        for method in METHODS:
            for _ in search(scene, classifier, method=method, radius=30.0, steps=search_steps, seed=0,
                            renderer=renderer):
                pass


def frame_phase(renderer, classifier, scenes, frames: int, sizes=SIZES, reload_every: int | None = None,
                samples: int = 100, progress: bool = False, watch: GLWatch | None = None,
                on_frame=None) -> Series:
    """Render and classify `frames` frames, switching scene every frame and size every scene round;
    reload the scenes (new meshes) every `reload_every` frames. `on_frame(i, image, probs)` is called
    after each frame."""
    # The warm-up: a tenth, and at least six reloads, after which the 16-entry caches of mip pyramids
    # and backgrounds (three scenes a load) are full.
    warmup = max(frames // 10, 6 * reload_every if reload_every else 0)
    series = Series("render + classify", "frames", frames, max(1, min(warmup, frames // 2)))
    points = _schedule(frames, samples) | {series.warmup}
    series.threads_start = threads()
    series.gl_start = watch.counts() if watch else {}
    names = [scene.name for scene in scenes]
    bar = _bar(frames, "frames", progress)
    t0 = time.perf_counter()
    for i in range(frames):
        if i in points:
            series.sample(i)
        if reload_every and i and i % reload_every == 0:
            scenes = load_scenes(names)
        scene = scenes[i % len(scenes)]
        size = sizes[(i // len(scenes)) % len(sizes)]
        image = renderer.render(scene, frame_pose(i, scene), size=size)
        probs = classifier.probabilities(image)
        if on_frame is not None:
            on_frame(i, image, probs)
        bar.update(1)
    series.sample(frames)
    return _close(series, t0, bar, watch)


def search_phase(classifier, scenes, steps: int, chunk: int = 50, radius: float = 30.0, samples: int = 100,
                 progress: bool = False, watch: GLWatch | None = None, renderer=None, on_step=None) -> Series:
    """`steps` search steps: grad and random alternately, `chunk` steps each (a fresh search every
    chunk, the scene changing after each pair of chunks), on `renderer` (default: this thread's).
    `on_step(i, step)` is called after each step."""
    from strike_pose.search import search

    warmup = min(max(steps // 10, 2 * chunk), steps // 2)
    series = Series("search (grad, random)", "steps", steps, max(1, warmup))
    points = _schedule(steps, samples) | {series.warmup}
    series.threads_start = threads()
    series.gl_start = watch.counts() if watch else {}
    bar = _bar(steps, "search steps", progress)
    t0 = time.perf_counter()
    done, n = 0, 0
    series.sample(0)
    while done < steps:
        method = METHODS[n % len(METHODS)]
        scene = scenes[n // len(METHODS) % len(scenes)]
        budget = min(chunk, steps - done)
        taken = 0
        for step in search(scene, classifier, method=method, radius=radius, steps=budget, seed=n,
                           renderer=renderer):
            taken += 1
            done += 1
            if on_step is not None:
                on_step(done, step)
            if done in points:
                series.sample(done)
            bar.update(1)
        if taken < budget:  # the search ended early (the "first" mode only): count the rest as done
            done += budget - taken
        n += 1
    if series.samples[-1][0] != steps:
        series.sample(steps)
    return _close(series, t0, bar, watch)


def _close(series: Series, t0: float, bar, watch=None) -> Series:
    """End a phase: its time, its progress bar, the threads and (when watched) the GL objects left."""
    series.seconds = time.perf_counter() - t0
    bar.close()
    series.threads_end = threads()
    series.gl_end = watch.counts() if watch else {}
    return series


def _repeat(series: Series, count: int, unit: str, progress: bool, once, settle=None) -> Series:
    """Run `once(i)` `count` times, sampling memory on the series' schedule and threads around it;
    `settle()` runs before the last sample."""
    points = _schedule(count, count) | {series.warmup}
    series.threads_start = threads()
    bar = _bar(count, unit, progress)
    t0 = time.perf_counter()
    for i in range(count):
        if i in points:
            series.sample(i)
        once(i)
        bar.update(1)
    if settle is not None:
        settle()
    series.sample(count)
    return _close(series, t0, bar)


def renderer_phase(scene, count: int = 50, size: int = 224, progress: bool = False) -> Series:
    """Create an offscreen GLRenderer, render once, release it and its context, `count` times."""
    from strike_pose.render.gl import GLRenderer

    def once(i: int) -> None:
        renderer = GLRenderer()
        renderer.render(scene, frame_pose(i, scene), size=size)
        renderer.release()
        renderer.ctx.release()

    series = Series("GLRenderer create + release", "renderers", count, max(2, count // 10))
    return _repeat(series, count, "renderers", progress, once)


def thread_phase(scene, count: int = 50, sizes=(224, 448), progress: bool = False) -> Series:
    """Start a thread that renders `scene` at `sizes` through strike_pose.render.render_image (the thread's
    own default renderer, created on first use) and wait for it to end, `count` times."""
    from strike_pose.render import render_image as render

    def once(i: int) -> None:
        worker = threading.Thread(target=lambda: [render(scene, frame_pose(i, scene), size=s) for s in sizes],
                                  name=f"soak-render-{i}")
        worker.start()
        worker.join()

    def settle() -> None:  # a thread Python has joined may stay a moment in the OS's count
        deadline = time.monotonic() + 2
        while os_threads() > series.threads_start["os"] and time.monotonic() < deadline:
            time.sleep(0.01)

    series = Series("threads rendering with their default renderer", "threads", count, max(2, count // 10))
    return _repeat(series, count, "threads", progress, once, settle)


# ------------------------------------------------------------------------------------- the run

@dataclass
class Thresholds:
    max_growth_mb: float = 50.0  # RSS growth after warm-up, frames and search phases each
    max_renderer_growth_mb: float = 20.0  # over the renderer phase, and over the thread phase


def soak(frames: int = 10_000, search_steps: int = 1_000, renderers: int = 50, render_threads: int = 50,
         chunk: int = 50,
         radius: float = 30.0, reload_every: int | None = 100, model: str = "efficientnet_lite0",
         progress: bool = False) -> dict:
    """Warm up, then run the three phases in this process; returns what the report prints."""
    load_llvm_users_first()
    from strike_pose import create_classifier
    from strike_pose.render import default_renderer

    threads_at_import = threads()
    rss_at_import = rss_mb()
    classifier = create_classifier(model)
    renderer = default_renderer()
    watch = GLWatch(renderer)
    scenes = load_scenes()
    t0 = time.perf_counter()
    warm_up(renderer, classifier, scenes)
    warm = {"seconds": time.perf_counter() - t0, "rss": rss_mb(), "threads": threads(), "gl": watch.counts()}
    phases = []
    if frames:
        phases.append(frame_phase(renderer, classifier, scenes, frames, reload_every=reload_every,
                                  progress=progress, watch=watch))
    if search_steps:
        phases.append(search_phase(classifier, scenes, search_steps, chunk=chunk, radius=radius,
                                   progress=progress, watch=watch, renderer=renderer))
    if renderers:
        phases.append(renderer_phase(scenes[0], renderers, progress=progress))
    if render_threads:
        phases.append(thread_phase(scenes[0], render_threads, progress=progress))
    # The default renderer still works after other contexts came and went.
    classifier.probabilities(renderer.render(scenes[0], size=classifier.input_size))
    end = {"rss": rss_mb(), "threads": threads(), "gl": watch.counts()}
    return {"start": {"rss": rss_at_import, "threads": threads_at_import}, "warm": warm, "end": end,
            "phases": phases, "model": model}


def criteria(result: dict, limits: Thresholds = Thresholds()) -> list[tuple[str, bool]]:
    """(line, passed) for each criterion."""
    lines = []
    for series in result["phases"]:
        limit = limits.max_renderer_growth_mb if series.unit in ("renderers", "threads") else limits.max_growth_mb
        lines.append((f"{series.phase}: RSS growth after warm-up {series.growth:+.1f} MB over "
                      f"{series.count - series.warmup} {series.unit} (limit {limit:g} MB)", series.growth < limit))
    warm, end = result["warm"]["threads"], result["end"]["threads"]
    lines.append((f"threads after warm-up and at the end: Python {warm['python']} / {end['python']}, "
                  f"OS {warm['os']} / {end['os']} (must be equal)", warm == end))
    gl = result["end"]["gl"]
    kinds = ", ".join(f"{kind} {n}" for kind, n in gl["leaked_kinds"].items())
    kinds = f" ({kinds})" if kinds else ""
    lines.append((f"GL objects dropped without release(): {gl['dropped_unreleased']}{kinds} (must be 0; "
                  f"{gl['released']} released)", gl["dropped_unreleased"] == 0))
    return lines


def table(result: dict) -> str:
    rows = ["| phase | count | seconds | RSS after warm-up (MB) | RSS at end (MB) | growth (MB) | "
            "growth per 1000 (MB) | last vs second quarter (KB per unit) | threads start / end (Python, OS) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for s in result["phases"]:
        rows.append(f"| {s.phase} | {s.count} {s.unit} | {s.seconds:.0f} | {s.rss_after_warmup:.1f} | "
                    f"{s.rss_end:.1f} | {s.growth:+.1f} | {s.growth_per_1000:+.2f} | {s.late_rate_kb():+.1f} | "
                    f"{s.threads_start['python']}, {s.threads_start['os']} / "
                    f"{s.threads_end['python']}, {s.threads_end['os']} |")
    return "\n".join(rows)


def gl_table(result: dict) -> str:
    rows = ["| GL objects of the default renderer | after warm-up | end |", "|---|---:|---:|"]
    warm, end = result["warm"]["gl"], result["end"]["gl"]
    for key, name in (("meshes", "meshes cached"), ("backgrounds", "background textures cached"),
                      ("framebuffers", "framebuffers cached"), ("released", "objects released so far"),
                      ("dropped_unreleased", "objects dropped without release()")):
        rows.append(f"| {name} | {warm[key]} | {end[key]} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--search-steps", type=int, default=1_000)
    parser.add_argument("--renderers", type=int, default=50, help="GLRenderers created and released")
    parser.add_argument("--render-threads", type=int, default=50, help="short-lived threads that render")
    parser.add_argument("--chunk", type=int, default=50, help="search steps per method before switching")
    parser.add_argument("--radius", type=float, default=30.0)
    parser.add_argument("--reload-every", type=int, default=100, help="frames between scene reloads (0: never)")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--max-growth", type=float, default=Thresholds.max_growth_mb, help="MB, frames and search")
    parser.add_argument("--max-renderer-growth", type=float, default=Thresholds.max_renderer_growth_mb)
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    result = soak(frames=args.frames, search_steps=args.search_steps, renderers=args.renderers,
                  render_threads=args.render_threads, chunk=args.chunk,
                  radius=args.radius, reload_every=args.reload_every or None, model=args.model,
                  progress=not args.no_progress)
    lines = criteria(result, Thresholds(args.max_growth, args.max_renderer_growth))
    passed = all(ok for _, ok in lines)
    if args.json:
        out = {**result, "phases": [s.summary() for s in result["phases"]],
               "criteria": [{"line": line, "passed": ok} for line, ok in lines], "passed": passed}
        print(json.dumps(out, indent=2))
    else:
        import torch

        print(f"{args.model}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; warm-up "
              f"{result['warm']['seconds']:.0f} s, RSS {result['start']['rss']:.0f} MB at start, "
              f"{result['warm']['rss']:.0f} MB after warm-up, {result['end']['rss']:.0f} MB at the end\n")
        print(table(result))
        print()
        print(gl_table(result))
        print()
        for line, ok in lines:
            print(f"- {'PASS' if ok else 'FAIL'}: {line}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
