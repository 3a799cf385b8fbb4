"""Which search finds fooling poses, how close to the start, and how soon, at equal wall-clock time.

One long file on purpose: a benchmark script that plans, runs, resumes and tabulates its own paired
runs (JSONL rows, a process pool, bootstrap intervals, Wilcoxon tests, the anytime plot), so that
one command reproduces every table in BENCHMARKS.md; its statistics of proportions are the
experiments' (strike_pose.experiments.summary.wilson).

What is measured, and why this way:

- Nearest fooling pose (untargeted, the nearest mode: after its first fooling pose a search keeps
  looking for closer ones until its budget ends). Per scene, --starts natural poses (yaw anywhere,
  pitch and roll within 25 degrees, the object at the scene's distance, wholly in the frame where the
  region can tell, classified correctly with a margin of 0.1 over the runner-up). Every variant runs
  from the SAME starts with seed = the start's index: the comparison is paired, so the large
  differences between starts (some are a few degrees from a fooling pose, some are not within the
  radius at all) cancel out of the differences between methods. Every run gets the same wall clock
  (--budget seconds): the methods spend it differently (batched OpenGL passes, gradients through
  the differentiable twin), and time is what a user pays. A search checks its budget between steps,
  so a run ends with the first step that ends past it; only what was found within the budget counts
  (the rows keep the whole run), and each method takes two untimed steps in each process before its
  first timed run, so that no run pays for imports, shader compiles or the twin's first tensors.
  Per variant: how many starts were fooled, the median closest rotation with a bootstrap 95%
  interval (the starts resampled; an unfooled start counts as the radius), the paired difference to
  the reference variant (median of the per-start differences and the Wilcoxon signed-rank test,
  which needs no normality and uses the pairing), and how soon: the median seconds to the first
  fooling pose and until the shown pose's p(true class) has fallen to half of the start's.
  The "full" variants run on all starts; the others on the first --few, which is enough to show a
  large gap and saves time. Work is scheduled start by start, full variants first, so an interrupted
  run already holds the paired core.
- Anytime curve (--plot): the median closest rotation so far against seconds, and against
  forward-pass equivalents (OpenGL classifications + c x twin gradient passes, c the time of a twin
  gradient pass over that of a classifier forward pass, measured per scene before the runs), one
  line per variant.
- Targeted, rare targets: classes that are the top-1 of 0.1% to 1% of random poses of the whole pose
  space (a landscape of --sample poses), --trials trials per target from random starts of the whole
  pose space, each method stopping at its first hit, --target-budget seconds per trial. The hit rate
  is given with a Wilson 95% interval (sound for proportions near 0 or 1 and small n).

Resumable: every finished run appends one JSON line to --rows, keyed by what it ran (table, scene,
variant and its settings, start or target and trial, the start pose, budget, radius, seeds); a rerun
skips the keys already there, and the tables and the plot are always computed from that file
(--report-only computes them without running anything). Markdown tables go to stdout (they are kept
in BENCHMARKS.md), one line per finished run and a progress count to stderr.

    python -m benchmarks.search_effectiveness [--scenes school_bus,traffic_light] [--starts 30]
        [--budget 20] [--jobs 2] [--report-only]
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import shlex
import statistics
import sys
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from strike_pose.experiments.summary import wilson  # the experiments' interval, not a copy

DEFAULT_METHODS = ("boundary,cmaes,boundary-random=boundary:direction=random,"
                   "boundary-none=boundary:direction=none,grad,random,fd")
VIEWS_TO_AVOID = (0.0, 90.0, 180.0, 270.0)  # exact side and end views: few pixels, or trivially right
VIEW_GAP = 10.0  # degrees of yaw kept away from those views
TILT = 25.0  # pitch and roll of natural starts within this many degrees
START_MARGIN = 0.1  # p(true) over the runner-up that a natural start needs
RARE = (0.001, 0.01)  # share of random poses whose top-1 a rare target is
BOOTSTRAP = 2000  # resamples of the starts for the interval of the median
BOOTSTRAP_SEED = 0
MIN_PAIRS = 6  # non-zero paired differences below which no Wilcoxon p is given
TIMING_REPEATS = 5  # timings (after one warm-up) whose medians give the cost of a gradient pass
COST_BATCH = 8  # poses per timed batch

NEAREST_IDENTITY = ("table", "scene", "variant", "method", "settings", "start", "start_pose", "budget", "radius",
                    "starts_seed", "starts_in_view", "mode")
TARGETED_IDENTITY = ("table", "scene", "variant", "method", "settings", "target", "trial", "start_pose", "budget",
                     "trials_seed", "mode")


# ------------------------------------------------------------------------------- variants

def parse_variants(text: str) -> list[dict]:
    """`label=method[:k=v;k=v]` or `method[:k=v;...]`, comma-separated, as
    [{"variant": label, "method": method, "settings": {k: v}}]."""
    variants = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        head, _, options = item.partition(":")
        label, _, method = head.partition("=") if "=" in head else (item, "", head)
        pairs = [pair.split("=", 1) for pair in options.split(";") if pair]
        if any(len(pair) != 2 for pair in pairs):
            sys.exit(f"error: variant {item!r}: settings are written k=v;k=v")
        settings = dict(pairs)
        variants.append({"variant": label.strip(), "method": method.strip(),
                         "settings": {k.strip(): v.strip() for k, v in settings.items()}})
    labels = [v["variant"] for v in variants]
    if len(set(labels)) != len(labels):
        sys.exit(f"error: the variant labels must differ: {', '.join(labels)}")
    return variants


OPTION_KEYS = {"min_margin": float, "learning_rate": float}  # a variant's keys that are SearchOptions fields


def split_settings(method: str, settings: dict):
    """A variant's `k=v` pairs as (the method's own settings, SearchOptions changes such as min_margin=0)."""
    from strike_pose.search import settings_for

    own = {k: v for k, v in settings.items() if k not in OPTION_KEYS}
    return settings_for(method, **own), {k: OPTION_KEYS[k](v) for k, v in settings.items() if k in OPTION_KEYS}


def check_variants(variants: list[dict]) -> None:
    """Stop with a clear message when a method is unknown or its settings do not fit."""
    from strike_pose.errors import StrikePoseError
    from strike_pose.search import METHODS, SearchOptions

    for v in variants:
        if v["method"] not in METHODS:
            sys.exit(f"error: variant {v['variant']}: unknown method {v['method']!r} (this checkout has "
                     f"{', '.join(METHODS)})")
        try:
            settings, changes = split_settings(v["method"], v["settings"])
            SearchOptions(method=v["method"], settings=settings, **changes)
        except (StrikePoseError, ImportError, ValueError) as exc:
            sys.exit(f"error: variant {v['variant']}: {exc}")


# ------------------------------------------------------------------------------- starts and targets

def region_checks_in_view() -> bool:
    """Whether the search region can tell that the whole object is in the frame (region_for's in_view)."""
    import inspect

    from strike_pose.search.region import region_for

    return "in_view" in inspect.signature(region_for).parameters


def view_region(scene, pose, radius: float | None):
    """region_for around `pose`, with the whole object kept in view where this checkout can do that."""
    from strike_pose.scene import Pose
    from strike_pose.search.region import region_for

    return region_for(scene, Pose.of(pose), radius, **({"in_view": True} if region_checks_in_view() else {}))


def wholly_in_view(region, pose) -> bool:
    return not hasattr(region, "in_view") or region.in_view(np.asarray(pose, np.float64))


def natural_starts(scene, clf, renderer, n: int, seed: int) -> list[dict]:
    """n natural poses the model gets right with a margin: [{"pose": [6 numbers], "p_true": p}].

    Yaw anywhere (away from the exact side and end views), pitch and roll uniform within TILT degrees,
    x = y = 0 and the scene's z; the whole object in the frame where the region can tell; the model's
    top-1 the true class, START_MARGIN over the runner-up. Deterministic for a seed, and the first n of
    a longer list are the list for n."""
    from strike_pose.render import view_problem
    from strike_pose.rotations import wrap_degrees

    region = view_region(scene, scene.pose, None)  # whether a pose is wholly in view depends on no start
    rng = np.random.default_rng(seed)
    starts = []
    while len(starts) < n:
        yaw, pitch, roll = rng.uniform(0, 360), rng.uniform(-TILT, TILT), rng.uniform(-TILT, TILT)
        if min(abs(wrap_degrees(yaw - view)) for view in VIEWS_TO_AVOID) < VIEW_GAP:
            continue
        pose = np.round(np.array([yaw, pitch, roll, 0.0, 0.0, scene.pose.z]), 6)
        if not wholly_in_view(region, pose):
            continue
        if view_problem(scene, pose, size=clf.input_size, renderer=renderer) is not None:
            continue
        probs = clf.probabilities(renderer.render(scene, pose, size=clf.input_size))
        runner_up = np.sort(probs)[-2]
        if probs.argmax() == scene.true_class and probs[scene.true_class] - runner_up >= START_MARGIN:
            starts.append({"pose": [float(v) for v in pose], "p_true": float(probs[scene.true_class])})
    return starts


def cached_starts(folder: Path, scene, clf, renderer, n: int, seed: int) -> list[dict]:
    """natural_starts, kept in `folder` (computed again only when more are asked for)."""
    path = folder / f"starts-{scene.name}-seed{seed}{'-inview' if region_checks_in_view() else ''}.json"
    if path.exists():
        kept = json.loads(path.read_text())
        if len(kept) >= n:
            return kept[:n]
    starts = natural_starts(scene, clf, renderer, n, seed)
    path.write_text(json.dumps(starts))
    return starts


def landscape(scene, clf, renderer, samples: int, seed: int) -> dict[int, int]:
    """How many of `samples` random poses of the whole pose space have each class as top-1."""
    from strike_pose.search.region import region_for

    poses = region_for(scene, scene.pose, None).sample(np.random.default_rng(seed), samples)
    counts = collections.Counter()
    for i in range(0, samples, 32):
        pictures = renderer.render_batch(scene, poses[i:i + 32, :6], clf.input_size)
        counts.update(int(c) for c in clf.probabilities(pictures).argmax(1))
    return dict(counts)


def landscape_path(folder: Path, scene_name: str, samples: int, seed: int) -> Path:
    return folder / f"landscape-{scene_name}-n{samples}-seed{seed}.json"


def cached_landscape(folder: Path, scene, clf, renderer, samples: int, seed: int) -> dict[int, int]:
    path = landscape_path(folder, scene.name, samples, seed)
    if path.exists():
        return {int(k): v for k, v in json.loads(path.read_text()).items()}
    counts = landscape(scene, clf, renderer, samples, seed)
    path.write_text(json.dumps(counts))
    return counts


def rare_targets(counts: dict[int, int], true_class: int, samples: int, count: int) -> list[tuple[int, float]]:
    """Up to `count` classes whose share of the poses lies within RARE, spread over that range (the
    nearest unused class to each of `count` shares evenly spaced on a log scale): [(class, share)]."""
    candidates = sorted((n / samples, c) for c, n in counts.items()
                        if c != true_class and RARE[0] <= n / samples <= RARE[1])
    if len(candidates) <= count:
        return [(c, share) for share, c in candidates]
    chosen = []
    for goal in np.geomspace(*RARE, count):
        share, c = min((item for item in candidates if item not in chosen),
                       key=lambda item: (abs(math.log(item[0] / goal)), item[1]))
        chosen.append((share, c))
    return [(c, share) for share, c in sorted(chosen)]


def trial_start(scene, renderer, size: int, seed: int, target: int, trial: int) -> list[float]:
    """A random pose of the whole pose space that shows the object (all of it, where the region can
    tell: a search only starts from such a pose), the same for the same key."""
    from strike_pose.render import view_problem

    region = view_region(scene, scene.pose, None)
    rng = np.random.default_rng([seed, target, trial])
    while True:
        pose = np.round(region.sample(rng, 1)[0, :6], 6)
        if not wholly_in_view(region, pose):
            continue
        if view_problem(scene, pose, size=size, renderer=renderer) is None:
            return [float(v) for v in pose]


# ------------------------------------------------------------------------------- cost of a gradient

def median_seconds(work) -> float:
    work()  # warm-up
    times = []
    for _ in range(TIMING_REPEATS):
        t0 = time.perf_counter()
        work()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def gradient_cost(scene, clf, renderer, poses) -> float:
    """How many classifier forward passes one twin gradient pass costs: the time of twin_gradients on
    COST_BATCH poses over that of classifying COST_BATCH OpenGL pictures (medians after a warm-up)."""
    from strike_pose.render.diff import twin_gradients
    from strike_pose.search.objective import Objective

    poses = np.resize(np.asarray(poses, np.float64), (COST_BATCH, 6))
    objective = Objective(clf, scene.true_class)
    pictures = renderer.render_batch(scene, poses, clf.input_size)
    twin = median_seconds(lambda: twin_gradients(scene, poses, objective.image_losses, size=clf.input_size,
                                                 renderer=renderer, device=getattr(clf, "device", None)))
    forward = median_seconds(lambda: clf.probabilities(pictures))
    return twin / forward


# ------------------------------------------------------------------------------- one run

@lru_cache(maxsize=None)
def scene_named(name: str):
    import strike_pose

    return strike_pose.load_scene(name)


def run_job(job: dict, clf, renderer) -> dict:
    """One search of the plan to its end: the job with what it found (or with "error")."""
    from strike_pose.errors import StrikePoseError
    from strike_pose.search import search

    scene = scene_named(job["scene"])
    settings, changes = split_settings(job["method"], job["settings"])
    warm_up(scene, clf, renderer, job, settings, changes)
    true_class = scene.true_class
    half = job.get("p_true", 0.0) / 2
    curve, half_seconds, last, shown = [], None, None, None
    t0 = time.perf_counter()
    try:
        for last in search(scene, clf, start=np.array(job["start_pose"]), method=job["method"],
                           radius=job.get("radius"), budget_seconds=job["budget"], steps=10**6,
                           seed=job["seed"], mode=job["mode"], target=job.get("target"),
                           settings=settings, renderer=renderer, **changes):
            if last.closest is not None and last.closest is not shown:
                # each find when it was made (its own clock and count; the gradients as of this step); the
                # first find too when a closer one came in the same step
                finds = [last.first] if shown is None and last.first is not last.closest else []
                shown = last.closest
                curve += [[round(f.seconds, 3), int(f.evaluations), int(getattr(last, "gradients", 0)),
                           round(float(f.rotation_from_start), 3)] for f in finds + [shown]]
            if half_seconds is None and job.get("target") is None and last.probs[true_class] <= half:
                half_seconds = float(last.seconds)
    except StrikePoseError as exc:
        return {**job, "error": str(exc)}
    out = {**job, "wall": round(time.perf_counter() - t0, 3), "steps": 0, "seconds": 0.0, "evaluations": 0,
           "gradients": 0, "fooled": False}
    if last is not None:  # None: the budget ended before the first step
        out.update(steps=last.index, seconds=round(last.seconds, 3), evaluations=int(last.evaluations),
                   gradients=int(getattr(last, "gradients", 0)), fooled=last.first is not None)
    if last is not None and last.first is not None:
        first, closest = last.first, last.closest
        out.update(first_seconds=round(first.seconds, 3), first_evaluations=int(first.evaluations),
                   first_rotation=round(first.rotation_from_start, 3),
                   closest_rotation=round(closest.rotation_from_start, 3),
                   closest_translation=round(closest.translation_from_start, 4),
                   closest_distance=round(closest.distance, 3), closest_margin=getattr(closest, "margin", None),
                   closest_top1=int(np.argmax(closest.probs)))
    if job["table"] == "nearest":
        out.update(half_seconds=None if half_seconds is None else round(half_seconds, 3), curve=curve)
    return out


_WARM: set = set()


def warm_up(scene, clf, renderer, job: dict, settings, changes: dict) -> None:
    """Two untimed steps of a method before its first timed run in this process, so that no run pays
    for the one-off costs (imports, shader compiles, mesh uploads, the twin's tensors)."""
    from strike_pose.errors import StrikePoseError
    from strike_pose.search import search

    if scene.name not in _WARM:  # the twin's mesh topology and tensors, for whichever method uses it
        from strike_pose.render.diff import twin_gradients
        from strike_pose.search.objective import Objective

        _WARM.add(scene.name)
        twin_gradients(scene, np.array([job["start_pose"]]), Objective(clf, scene.true_class).image_losses,
                       size=clf.input_size, renderer=renderer, device=getattr(clf, "device", None))
    key = (scene.name, job["method"], json.dumps(job["settings"], sort_keys=True))
    if key in _WARM:
        return
    _WARM.add(key)
    try:
        for _ in search(scene, clf, start=np.array(job["start_pose"]), method=job["method"], radius=job.get("radius"),
                        steps=2, seed=0, mode=job["mode"], target=job.get("target"), settings=settings,
                        renderer=renderer, **changes):
            pass
    except StrikePoseError:
        pass  # the timed run reports it


_TOOLS: dict = {}


def _start_worker() -> None:
    """A worker process: its own classifier and renderer, one torch thread."""
    from strike_pose.render.gl import load_llvm_users_first

    load_llvm_users_first()
    import torch

    import strike_pose
    from strike_pose.render import default_renderer

    torch.set_num_threads(1)
    _TOOLS["clf"] = strike_pose.create_classifier()
    _TOOLS["renderer"] = default_renderer()


def _work(job: dict) -> dict:
    return run_job(job, _TOOLS["clf"], _TOOLS["renderer"])


# ------------------------------------------------------------------------------- the rows file

def identity(row: dict) -> str:
    fields = NEAREST_IDENTITY if row["table"] == "nearest" else TARGETED_IDENTITY
    return json.dumps({k: row.get(k) for k in fields}, sort_keys=True)


def read_rows(path: Path) -> list[dict]:
    """The rows of the file, skipping a line cut short by an interruption."""
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def append_row(path: Path, row: dict) -> None:
    """Append one row as a whole line in one write (after a newline if the file ends in a cut line)."""
    data = (json.dumps(row) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size:
            with open(path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    data = b"\n" + data
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------- the plan

def split_variants(args) -> tuple[list[dict], list[dict]]:
    variants = parse_variants(args.methods)
    full_names = [name for name in args.full.split(",") if name]
    unknown = [name for name in full_names if name not in {v["variant"] for v in variants}]
    if unknown:
        sys.exit(f"error: --full names {', '.join(unknown)}, which --methods does not define")
    return ([v for v in variants if v["variant"] in full_names],
            [v for v in variants if v["variant"] not in full_names])


def nearest_job(args, variant: dict, scene_name: str, i: int, start: dict) -> dict:
    return {"table": "nearest", "scene": scene_name, **variant, "start": i, "start_pose": start["pose"],
            "p_true": start["p_true"], "seed": i, "budget": args.budget, "radius": args.radius,
            "starts_seed": args.starts_seed, "starts_in_view": region_checks_in_view(), "mode": "nearest"}


def nearest_plan(args, starts: dict[str, list[dict]]) -> list[dict]:
    """Start by start (each variant in turn), the full variants over all starts first, then the others
    over the first --few; the scenes interleaved, so that an early end still leaves paired starts."""
    full, few = split_variants(args)
    jobs = [nearest_job(args, v, name, i, starts[name][i])
            for i in range(args.starts) for name in starts for v in full]
    jobs += [nearest_job(args, v, name, i, starts[name][i])
             for i in range(min(args.few, args.starts)) for name in starts for v in few]
    return jobs


def targeted_plan(args, scene, renderer, size: int, targets: list[tuple[int, float]]) -> list[dict]:
    variants = parse_variants(args.target_methods)
    jobs = []
    for target, share in targets:
        for trial in range(args.trials):
            start = trial_start(scene, renderer, size, args.trials_seed, target, trial)
            jobs += [{"table": "targeted", "scene": scene.name, **v, "target": target, "share": share,
                      "trial": trial, "start_pose": start, "seed": trial, "budget": args.target_budget,
                      "radius": None, "trials_seed": args.trials_seed, "mode": "first"} for v in variants]
    return jobs


def describe(row: dict) -> str:
    where = f"start {row['start']}" if row["table"] == "nearest" else f"target {row['target']} trial {row['trial']}"
    if "error" in row:
        return f"{row['variant']} {row['scene']} {where}: error: {row['error']}"
    found = (f"fooled, closest {row['closest_rotation']:.1f} deg, first at {row['first_seconds']:.1f} s"
             if row["fooled"] else "not fooled")
    return f"{row['variant']} {row['scene']} {where}: {found}; {row['seconds']:.1f} s, {row['steps']} steps"


def execute(jobs: list[dict], rows_path: Path, jobs_count: int, tools) -> None:
    """Run the jobs (in `jobs_count` spawned workers when more than 1), writing each row as it comes."""
    total = len(jobs)
    if not total:
        return

    def finished(k: int, row: dict) -> None:
        if "error" not in row:
            append_row(rows_path, row)
        print(f"[{k}/{total}] {describe(row)}", file=sys.stderr, flush=True)

    if jobs_count <= 1:
        clf, renderer = tools()
        for k, job in enumerate(jobs, 1):
            finished(k, run_job(job, clf, renderer))
        return
    import multiprocessing

    pool = multiprocessing.get_context("spawn").Pool(jobs_count, initializer=_start_worker)
    try:
        for k, row in enumerate(pool.imap_unordered(_work, jobs, chunksize=1), 1):
            finished(k, row)
        pool.close()
    finally:
        pool.terminate()
        pool.join()


# ------------------------------------------------------------------------------- statistics

def bootstrap_median(values, resamples: int = BOOTSTRAP, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """95% percentile interval of the median, the values resampled with replacement."""
    v = np.asarray(values, np.float64)
    rng = np.random.default_rng(seed)
    medians = np.median(v[rng.integers(0, len(v), size=(resamples, len(v)))], axis=1)
    lo, hi = np.percentile(medians, [2.5, 97.5])
    return float(lo), float(hi)


def paired(a: dict, b: dict) -> dict:
    """Paired comparison of per-start values a - b on the starts both have (with the same start pose):
    the median difference, a lower / tie / higher, and the Wilcoxon signed-rank p (zero differences
    dropped; None with fewer than MIN_PAIRS non-zero differences)."""
    from scipy.stats import wilcoxon

    common = sorted(k for k in a if k in b)
    d = np.array([a[k] - b[k] for k in common], np.float64)
    nonzero = int(np.count_nonzero(d))
    p = float(wilcoxon(d, zero_method="wilcox").pvalue) if nonzero >= MIN_PAIRS else None
    return {"pairs": len(common), "median": float(np.median(d)) if len(d) else None,
            "lower": int((d < 0).sum()), "ties": int((d == 0).sum()), "higher": int((d > 0).sum()), "p": p,
            "a": float(np.median([a[k] for k in common])) if common else None,
            "b": float(np.median([b[k] for k in common])) if common else None}


def fmt(value, spec: str = "{:.1f}") -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else spec.format(value)


def fmt_p(p) -> str:
    return "-" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}")


# ------------------------------------------------------------------------------- selecting the rows

def latest(rows: list[dict], keep, key) -> dict:
    """The last row for each key among the rows `keep` accepts."""
    out = {}
    for row in rows:
        if keep(row):
            out[key(row)] = row
    return out


def nearest_rows(args, rows: list[dict]) -> dict[tuple, dict]:
    """{(scene, variant, start): row} for the rows of this configuration."""
    full, few = split_variants(args)
    limits = {v["variant"]: (v, args.starts) for v in full}
    limits.update({v["variant"]: (v, min(args.few, args.starts)) for v in few})
    in_view = region_checks_in_view()

    def keep(row):
        if row.get("table") != "nearest" or row.get("variant") not in limits:
            return False
        variant, n = limits[row["variant"]]
        return (row["scene"] in args.scenes.split(",") and row["method"] == variant["method"]
                and row["settings"] == variant["settings"] and row["start"] < n and row["budget"] == args.budget
                and row["radius"] == args.radius and row["starts_seed"] == args.starts_seed
                and row["starts_in_view"] == in_view)

    chosen = latest(rows, keep, lambda r: (r["scene"], r["variant"], r["start"]))
    return {key: within_budget(row, args.budget) for key, row in chosen.items()}


def within_budget(row: dict, budget: float) -> dict:
    """The row as if the run had stopped at its budget: a search checks its budget between steps, so
    a run ends with the first step that ends past it, and what it found after the budget must not
    count. Fooled, first, closest (from the curve of closest finds) and half p(true) within the budget."""
    out = dict(row)
    if not row["fooled"] or row["first_seconds"] > budget:
        out.update(fooled=False, first_seconds=None, closest_rotation=None, curve=[])
    elif "curve" in row:
        kept = [c for c in row["curve"] if c[0] <= budget]
        if not kept:  # the first find and a closer one past the budget in the same step: the first counts
            gradients = row["curve"][0][2] if row["curve"] else 0
            kept = [[row["first_seconds"], row["first_evaluations"], gradients, row["first_rotation"]]]
        out.update(curve=kept, closest_rotation=kept[-1][3])
    if row.get("half_seconds") is not None and row["half_seconds"] > budget:
        out["half_seconds"] = None
    return out


def per_start(chosen: dict, scene: str, variant: str, value) -> dict:
    """{(start, start pose): value(row)} of one variant on one scene."""
    return {(i, tuple(row["start_pose"])): value(row) for (s, v, i), row in chosen.items()
            if s == scene and v == variant}


def closest_or_radius(radius: float):
    return lambda row: row["closest_rotation"] if row["fooled"] else radius


# ------------------------------------------------------------------------------- the tables

def command_line(args, table: str) -> str:
    """The command that runs exactly this table (the other table skipped)."""
    if table == "nearest":
        options = [("--scenes", args.scenes), ("--starts", args.starts), ("--few", args.few),
                   ("--budget", f"{args.budget:g}"), ("--radius", f"{args.radius:g}"), ("--methods", args.methods),
                   ("--full", args.full), ("--starts-seed", args.starts_seed), ("--targets", 0)]
    else:
        options = [("--skip-nearest", None), ("--target-scene", args.target_scene), ("--sample", args.sample),
                   ("--landscape-seed", args.landscape_seed), ("--targets", args.targets),
                   ("--trials", args.trials), ("--trials-seed", args.trials_seed),
                   ("--target-budget", f"{args.target_budget:g}"), ("--target-methods", args.target_methods)]
    words = ["python", "-m", "benchmarks.search_effectiveness"]
    for name, value in options:
        words += [name] if value is None else [name, str(value)]
    return " ".join(shlex.quote(w) for w in words)


def nearest_tables(args, rows: list[dict]) -> list[str]:
    chosen = nearest_rows(args, rows)
    if not chosen:
        return ["No nearest-fooling-pose rows for this configuration yet."]
    full, few = split_variants(args)
    variants = full + few
    radius = args.radius
    value = closest_or_radius(radius)
    lines = [f"Nearest fooling pose: untargeted, nearest mode, radius {radius:g} degrees, {args.budget:g} s of wall "
             f"clock per start and variant; {args.starts} natural starts per scene (starts seed "
             f"{args.starts_seed}, search seed = start index; yaw anywhere, pitch and roll within {TILT:g} degrees, "
             f"top-1 right with a margin of {START_MARGIN:g}"
             f"{', object wholly in view' if region_checks_in_view() else ''}), "
             f"{', '.join(v['variant'] for v in full)} on all of them, "
             f"{', '.join(v['variant'] for v in few) or 'no other variant'} on the first {min(args.few, args.starts)}. "
             f"Command: `{command_line(args, 'nearest')}`", "",
             f"| scene | variant | fooled | median closest rotation (deg) [95% CI] | vs {args.reference}: median "
             f"difference (pairs, Wilcoxon p) | median s to first fooling | median s to half p(true) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for scene in args.scenes.split(","):
        reference = per_start(chosen, scene, args.reference, value)
        for v in variants:
            mine = per_start(chosen, scene, v["variant"], lambda r: r)
            if not mine:
                continue
            values = [value(r) for r in mine.values()]
            lo, hi = bootstrap_median(values)
            fooled = [r for r in mine.values() if r["fooled"]]
            halves = [r["half_seconds"] for r in mine.values() if r.get("half_seconds") is not None]
            if v["variant"] == args.reference or not reference:
                versus = "-"
            else:
                c = paired({k: value(r) for k, r in mine.items()}, reference)
                versus = f"{c['median']:+.1f} ({c['pairs']}, p {fmt_p(c['p'])})"
            lines.append(f"| {scene} | {v['variant']} | {len(fooled)}/{len(mine)} | {statistics.median(values):.1f} "
                         f"[{lo:.1f}, {hi:.1f}] | {versus} | "
                         f"{fmt(statistics.median([r['first_seconds'] for r in fooled]) if fooled else None)} | "
                         f"{fmt(statistics.median(halves) if halves else None)} ({len(halves)}/{len(mine)}) |")
    lines += ["", f"An unfooled start counts as the radius ({radius:g} degrees) in the medians, their intervals "
              f"(bootstrap over the starts, {BOOTSTRAP} resamples, seed {BOOTSTRAP_SEED}) and the differences. "
              f"A difference is the variant's closest rotation minus {args.reference}'s on the same start "
              f"(negative: closer); p is the Wilcoxon signed-rank test over the non-zero differences, '-' with "
              f"fewer than {MIN_PAIRS}. Seconds to first fooling: over the fooled starts. Seconds to half p(true): "
              f"until the shown pose's p(true class) is half the start's, over the starts where it was "
              f"(how many in brackets)."]
    run_seconds = collections.defaultdict(list)
    for (_, name, _), row in chosen.items():
        run_seconds[name].append(row["seconds"])
    lengths = ", ".join(f"{v['variant']} {statistics.median(run_seconds[v['variant']]):.1f} s"
                        for v in variants if run_seconds[v["variant"]])
    lines += ["", f"A search checks its budget between steps, so a run ends with the first step that ends past "
              f"{args.budget:g} s (median run length: {lengths}); only what was found within the budget counts."]
    lines += ablation_tables(args, chosen)
    return lines


def ablation_tables(args, chosen: dict) -> list[str]:
    """Per scene: the ablation pair (--ablation A,B) compared start by start on three measures."""
    names = args.ablation.split(",")
    if len(names) != 2 or not all(any(v == name for _, v, _ in chosen) for name in names):
        return []
    a, b = names
    budget, radius = args.budget, args.radius
    measures = [("closest rotation (deg; unfooled = radius)", closest_or_radius(radius)),
                ("s to first fooling (unfooled = budget)", lambda r: r["first_seconds"] if r["fooled"] else budget),
                ("s to half p(true) (never = budget)",
                 lambda r: budget if r.get("half_seconds") is None else r["half_seconds"])]
    lines = []
    for scene in args.scenes.split(","):
        if not per_start(chosen, scene, a, lambda r: r) or not per_start(chosen, scene, b, lambda r: r):
            continue
        lines += ["", f"Ablation on {scene}: {a} against {b}, start by start (the starts both ran); "
                  f"{a} lower / tie / higher; Wilcoxon signed-rank p over the non-zero differences.", "",
                  f"| measure | pairs | median {a} | median {b} | median difference | lower / tie / higher | p |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for title, value in measures:
            c = paired(per_start(chosen, scene, a, value), per_start(chosen, scene, b, value))
            lines.append(f"| {title} | {c['pairs']} | {fmt(c['a'])} | {fmt(c['b'])} | {fmt(c['median'], '{:+.1f}')} | "
                         f"{c['lower']} / {c['ties']} / {c['higher']} | {fmt_p(c['p'])} |")
    return lines


def chosen_targets(args, rows: list[dict]) -> list[tuple[int, float]]:
    """The rare targets: from the cached landscape, else the ones the rows hold."""
    path = landscape_path(Path(args.rows).parent, args.target_scene, args.sample, args.landscape_seed)
    if path.exists():
        counts = {int(k): v for k, v in json.loads(path.read_text()).items()}
        return rare_targets(counts, scene_named(args.target_scene).true_class, args.sample, args.targets)
    seen = {(r["target"], r.get("share", 0.0)) for r in rows if r.get("table") == "targeted"
            and r["scene"] == args.target_scene}
    return sorted(seen, key=lambda t: t[1])[:args.targets]


def targeted_table(args, rows: list[dict]) -> list[str]:
    from strike_pose.models.labels import imagenet_labels

    labels = imagenet_labels()
    variants = parse_variants(args.target_methods)
    targets = chosen_targets(args, rows)
    wanted = {t for t, _ in targets}

    def keep(row):
        v = next((v for v in variants if v["variant"] == row.get("variant")), None)
        return (row.get("table") == "targeted" and v is not None and row["scene"] == args.target_scene
                and row["method"] == v["method"] and row["settings"] == v["settings"] and row["target"] in wanted
                and row["trial"] < args.trials and row["budget"] == args.target_budget
                and row["trials_seed"] == args.trials_seed)

    chosen = {key: within_budget(row, args.target_budget)
              for key, row in latest(rows, keep, lambda r: (r["variant"], r["target"], r["trial"])).items()}
    if not chosen:
        return ["", "No targeted rows for this configuration yet."]
    short = (f" Only {len(targets)} classes had a share in that range, not the {args.targets} asked for."
             if len(targets) < args.targets else "")
    lines = ["", f"Targeted, rare targets ({args.target_scene}): {len(targets)} classes that are the top-1 of "
             f"{RARE[0]:.1%} to {RARE[1]:.0%} of {args.sample} random poses of the whole pose space (landscape seed "
             f"{args.landscape_seed}), spread over that range; {args.trials} trials per target from random starts of "
             f"the whole pose space (start seed [{args.trials_seed}, target, trial], search seed = trial), every "
             f"method in the first mode with {args.target_budget:g} s of wall clock per trial.{short} "
             f"Command: `{command_line(args, 'targeted')}`", "",
             "| target (share of random poses) | " + " | ".join(v["variant"] for v in variants) + " |",
             "|---|" + "---:|" * len(variants)]
    totals = {v["variant"]: [0, 0] for v in variants}
    for target, share in targets:
        cells = []
        for v in variants:
            mine = [r for (name, t, _), r in chosen.items() if name == v["variant"] and t == target]
            hits = [r for r in mine if r["fooled"]]
            totals[v["variant"]][0] += len(hits)
            totals[v["variant"]][1] += len(mine)
            seconds = statistics.median([r["first_seconds"] for r in hits]) if hits else None
            cells.append(f"{len(hits)}/{len(mine)}" + (f" ({seconds:.1f} s)" if hits else ""))
        lines.append(f"| {labels[target]} ({share:.2%}) | " + " | ".join(cells) + " |")
    cells = []
    for v in variants:
        hits, n = totals[v["variant"]]
        lo, hi = wilson(hits, n)
        cells.append(f"{hits}/{n} = {hits / n:.0%} [{lo:.0%}, {hi:.0%}]" if n else "-")
    lines.append("| **hit rate** [Wilson 95% CI] | " + " | ".join(cells) + " |")
    lines += ["", "A cell: hits / trials (median seconds to the hit)."]
    return lines


# ------------------------------------------------------------------------------- the anytime plot

def anytime_plot(args, rows: list[dict], path: Path) -> bool:
    """Median closest rotation so far against seconds (top row) and forward-pass equivalents (bottom
    row), one panel per scene, one line per variant; False when there is nothing to plot."""
    chosen = nearest_rows(args, rows)
    if not chosen:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    full, few = split_variants(args)
    scenes = [s for s in args.scenes.split(",") if any(key[0] == s for key in chosen)]
    radius, budget = args.radius, args.budget
    fig, axes = plt.subplots(2, len(scenes), figsize=(6.4 * len(scenes), 8.6), squeeze=False)
    colours = plt.get_cmap("tab10")
    for col, scene in enumerate(scenes):
        mine = [r for (s, _, _), r in chosen.items() if s == scene]
        seconds_grid = np.linspace(0, budget, 401)
        costs = [r["gradient_cost"] for r in mine if r.get("gradient_cost") is not None]
        cost = statistics.median(costs) if costs else 1.0

        def spent(row, e, g):
            return e + cost * g

        top = max([spent(r, r["evaluations"], r["gradients"]) for r in mine] + [10.0])
        work_grid = np.geomspace(1, top, 401)
        for n, v in enumerate(full + few):
            runs = [r for r in mine if r["variant"] == v["variant"]]
            if not runs:
                continue
            by_time = np.median([so_far(r, seconds_grid, lambda c: c[0], radius) for r in runs], axis=0)
            by_work = np.median([so_far(r, work_grid, lambda c, r=r: spent(r, c[1], c[2]), radius) for r in runs],
                                axis=0)
            end = statistics.median(spent(r, r["evaluations"], r["gradients"]) for r in runs)
            style = dict(color=colours(n % 10), lw=2.0 if v in full else 1.2, ls="-" if v in full else "--",
                         label=f"{v['variant']} ({len(runs)} starts)")
            axes[0, col].step(seconds_grid, by_time, where="post", **style)
            kept = work_grid <= end
            axes[1, col].step(work_grid[kept], by_work[kept], where="post", **style)
        axes[0, col].set(title=scene, xlabel="seconds", xlim=(0, budget))
        axes[1, col].set(xscale="log", xlabel=f"forward-pass equivalents (OpenGL classifications + {cost:.1f} x "
                                               "twin gradient passes)")
        for row in (0, 1):
            axes[row, col].set(ylabel="median closest rotation so far (deg)", ylim=(0, radius * 1.04))
            axes[row, col].grid(alpha=0.3)
            axes[row, col].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"Nearest fooling pose so far, median over the starts: {budget:g} s per start, radius {radius:g} deg\n"
                 f"(not fooled yet counts as {radius:g}); solid: N = {args.starts} starts per scene, "
                 f"dashed: the first {min(args.few, args.starts)}", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def so_far(row: dict, grid: np.ndarray, at, radius: float) -> np.ndarray:
    """The rotation of the closest fooling pose found by each point of the grid (the radius before the
    first; closest by distance, so its rotation may now and then grow a little)."""
    values = np.full(len(grid), radius)
    for change in row.get("curve", []):
        values[grid >= at(change)] = min(change[3], radius)
    return values


# ------------------------------------------------------------------------------- main

def make_tools(jobs: int):
    """A function giving this process's (classifier, renderer), created on first use."""
    made = {}

    def tools():
        if not made:
            if jobs > 1:
                import torch

                torch.set_num_threads(1)  # as in the workers, so the measured cost is theirs
            import strike_pose
            from strike_pose.render import default_renderer

            made["clf"], made["renderer"] = strike_pose.create_classifier(), default_renderer()
        return made["clf"], made["renderer"]

    return tools


def run_nearest(args, rows_path: Path, done: set, tools) -> None:
    folder = rows_path.parent
    clf, renderer = tools()
    starts = {name: cached_starts(folder, scene_named(name), clf, renderer, args.starts, args.starts_seed)
              for name in args.scenes.split(",")}
    jobs = [job for job in nearest_plan(args, starts) if identity(job) not in done]
    print(f"nearest: {len(jobs)} runs to do ({len(nearest_plan(args, starts)) - len(jobs)} already in {rows_path})",
          file=sys.stderr, flush=True)
    if not jobs:
        return
    costs = {}
    for name in starts:
        if any(job["scene"] == name for job in jobs):
            costs[name] = gradient_cost(scene_named(name), clf, renderer, [s["pose"] for s in starts[name]])
            print(f"{name}: a twin gradient pass costs {costs[name]:.2f} classifier forward passes",
                  file=sys.stderr, flush=True)
    execute([{**job, "gradient_cost": round(costs[job["scene"]], 3)} for job in jobs], rows_path, args.jobs, tools)


def run_targeted(args, rows_path: Path, done: set, tools) -> None:
    clf, renderer = tools()
    scene = scene_named(args.target_scene)
    counts = cached_landscape(rows_path.parent, scene, clf, renderer, args.sample, args.landscape_seed)
    targets = rare_targets(counts, scene.true_class, args.sample, args.targets)
    if len(targets) < args.targets:
        print(f"targeted: only {len(targets)} classes are the top-1 of {RARE[0]:.1%} to {RARE[1]:.0%} of the "
              f"{args.sample} poses (asked for {args.targets})", file=sys.stderr, flush=True)
    plan = targeted_plan(args, scene, renderer, clf.input_size, targets)
    jobs = [job for job in plan if identity(job) not in done]
    print(f"targeted: {len(jobs)} runs to do ({len(plan) - len(jobs)} already in {rows_path})",
          file=sys.stderr, flush=True)
    execute(jobs, rows_path, args.jobs, tools)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--scenes", default="school_bus,traffic_light", help="scenes of the nearest table, comma-separated")
    add("--starts", type=int, default=30, help="natural starts per scene (the full variants run on all)")
    add("--few", type=int, default=10, help="the variants not in --full run on the first this many starts")
    add("--budget", type=float, default=20.0, help="seconds of wall clock per start and variant")
    add("--radius", type=float, default=30.0, help="degrees around the start a fooling pose must lie within")
    add("--methods", default=DEFAULT_METHODS, metavar="LABEL=METHOD[:K=V;K=V],...",
        help="the variants of the nearest table (default: %(default)s)")
    add("--full", default="boundary,cmaes,boundary-random", help="the variants that run on all starts")
    add("--reference", default="cmaes", help="the variant every other is compared with, start by start")
    add("--ablation", default="boundary,boundary-random", metavar="A,B",
        help="two variants compared start by start in a table of their own")
    add("--starts-seed", type=int, default=1, help="seed of the natural starts")
    add("--skip-nearest", action="store_true", help="only the targeted table")
    add("--target-scene", default="school_bus")
    add("--sample", type=int, default=2000, help="random poses of the landscape that picks the targets")
    add("--landscape-seed", type=int, default=0)
    add("--targets", type=int, default=8, help="rare target classes (0 skips the targeted table)")
    add("--trials", type=int, default=10, help="trials per target")
    add("--trials-seed", type=int, default=7, help="seed of the trials' random starts")
    add("--target-budget", type=float, default=10.0, help="seconds of wall clock per trial")
    add("--target-methods", default="boundary,cmaes", metavar="LABEL=METHOD[:K=V;K=V],...")
    add("--rows", default="out/bench-search/rows.jsonl", help="the rows file (appended to, and resumed from)")
    add("--plot", default="docs/images/search-anytime.png", help="the anytime figure (PNG)")
    add("--jobs", type=int, default=1, help="worker processes")
    add("--report-only", action="store_true", help="tables and plot from the rows file; run nothing")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    rows_path = Path(args.rows)
    rows_path.parent.mkdir(parents=True, exist_ok=True)
    nearest = not args.skip_nearest and args.starts > 0 and bool(args.scenes)
    targeted = args.targets > 0
    split_variants(args)  # stops on a --full that --methods does not define
    if not args.report_only:
        check_variants((parse_variants(args.methods) if nearest else [])
                       + (parse_variants(args.target_methods) if targeted else []))
        if args.jobs > 1:
            os.environ["LP_NUM_THREADS"] = "1"  # llvmpipe's threads, before any GL context exists
        from strike_pose.render.gl import load_llvm_users_first

        load_llvm_users_first()
        tools = make_tools(args.jobs)
        done = {identity(row) for row in read_rows(rows_path)}
        t0 = time.perf_counter()
        try:
            if nearest:
                run_nearest(args, rows_path, done, tools)
            if targeted:
                run_targeted(args, rows_path, done, tools)
        except KeyboardInterrupt:
            print(f"interrupted; the finished runs are in {rows_path}, a rerun goes on from there",
                  file=sys.stderr, flush=True)
            sys.exit(130)
        print(f"ran for {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    rows = read_rows(rows_path)
    lines = []
    if nearest:
        lines += nearest_tables(args, rows)
        if anytime_plot(args, rows, Path(args.plot)):
            print(f"anytime plot: {args.plot}", file=sys.stderr, flush=True)
    if targeted:
        lines += targeted_table(args, rows)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
