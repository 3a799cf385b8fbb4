"""Experiments at scale: many scenes, poses, methods and models, on one machine or a Ray cluster.

    from strike_pose.experiments import run_experiment
    summary = run_experiment("experiments/quick.toml", "out/quick", backend="local")

An experiment file (strike_pose/experiments/config.py) holds studies of four kinds, one module each in
kinds/: landscape (random poses or a grid), sensitivity (one parameter at a time), attack (searches) and
transfer (fooling poses classified by other models). Every study that draws random poses keeps only
those that show the whole object, or with protocol = "centre" the paper's bounds (protocol.py). Studies
are planned into work items (plan.py), run by a backend (backends.py: in this process, or Ray actors),
stored one Parquet file per item (store.py), and summarised (summary.py) into summary.json, plots and
report.html (report.py).
"""

from __future__ import annotations

from pathlib import Path

from strike_pose.experiments.config import Experiment, load_experiment
import strike_pose.experiments.kinds  # noqa: F401  (registers the four kinds)
from strike_pose.experiments.registry import KINDS
from strike_pose.experiments.store import ResultStore


def run_experiment(config: str | Path | Experiment, out_dir: str | Path, backend: str = "local",
                   address: str | None = None, workers: int | None = None, resume: bool = False,
                   progress: bool = True) -> dict:
    """Run every study not yet done, then write summary.json, the plots and report.html into out_dir."""
    from strike_pose.errors import StrikePoseError
    from strike_pose.experiments.backends import BACKENDS, check_ray, run_local, run_ray
    from strike_pose.experiments.registry import phases
    from strike_pose.experiments.plan import plan
    from strike_pose.experiments.report import write_report, write_summary
    from strike_pose.experiments.summary import summarize

    if backend not in BACKENDS:
        raise StrikePoseError(f"unknown backend {backend!r}; choose {' or '.join(BACKENDS)}")
    if address and backend != "ray":
        raise StrikePoseError("--address joins a Ray cluster: use it with --backend ray")
    if workers is not None and workers < 1:
        raise StrikePoseError(f"--workers must be at least 1, got {workers}")
    experiment = config if isinstance(config, Experiment) else load_experiment(config)
    if backend == "ray":
        check_ray(address)  # before anything is written or started
    store = ResultStore(out_dir)
    order = phases()

    def items_of(phase):
        return [item for study in experiment.studies if study.kind in phase
                for item in plan(experiment, study, store.rows)]

    first = items_of(order[0])  # before anything is written: a study that cannot be planned writes nothing
    store.prepare(experiment, resume)
    for i, phase in enumerate(order):
        items = first if i == 0 else items_of(phase)
        todo = [item for item in items if not store.done(item)]
        if not todo:
            continue
        run = run_local(todo, workers) if backend == "local" else run_ray(todo, workers, address)
        bar = _progress(len(items), len(items) - len(todo), "/".join(phase), progress)
        try:
            for item, rows in run:
                store.write(item, rows)
                bar.update(1)
        finally:
            bar.close()
    summary = summarize(experiment, store)
    summary["files"] = {"summary": str(write_summary(store.root, summary)),
                        "report": str(write_report(experiment, store, summary)), "rows": str(store.rows_dir)}
    write_summary(store.root, summary)
    return summary


def _progress(total: int, done: int, what: str, show: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc=what, unit="item", disable=not show, dynamic_ncols=True,
                leave=False)


__all__ = ["run_experiment", "load_experiment", "Experiment", "KINDS", "ResultStore"]
