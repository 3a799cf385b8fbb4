"""The registry of study kinds: what a kind is (StudyKind) and the kinds there are (KINDS).

A kind is a StudyKind: the fields of its [[KIND]] tables and how to read them, how a study of it is
planned into work items, how a worker runs one item, what its rows add up to (the summary) and its
section of the report. Each kind's module (strike_pose/experiments/kinds/) calls `register`; config, plan,
work, summary and report dispatch through KINDS, and import no kind, so a new kind is one new module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class StudyKind:
    name: str  # the [[NAME]] of its tables
    phase: int  # studies run phase by phase; a study may read the rows of a study of an earlier phase
    fields: frozenset[str]  # its own fields, besides name, model / models and (with `scenes`) scenes
    parse: Callable[[dict, str], Any]  # (table, "kind 'name'") -> its settings, a frozen dataclass
    plan: Callable  # (experiment, study, rows_of) -> [Item]; rows_of(name) gives an earlier study's rows
    work: Callable  # (worker, item) -> rows; the worker holds the renderer, models and scenes
    summarise: Callable  # (rows, label_of) -> {"table": [...], ...}
    report: Callable  # (root, study, rows, summary entry) -> the HTML of its section
    paper: Any = None  # the paper's figures, set beside ours
    scenes: bool = True  # whether its tables take `scenes`
    detectors: bool = False  # whether its models may be "detector:NAME"
    validate: Callable | None = None  # (study, {name: study}) -> None: checks references to other studies
    none_means: dict[str, str] = field(default_factory=dict)  # summary columns that may be None, and why


KINDS: dict[str, StudyKind] = {}


def register(kind: StudyKind) -> StudyKind:
    if kind.name in KINDS:
        raise ValueError(f"study kind {kind.name!r} is registered twice")
    KINDS[kind.name] = kind
    return kind


def phases() -> list[tuple[str, ...]]:
    """The kinds of each phase, in the order they run."""
    return [tuple(k for k in KINDS if KINDS[k].phase == p) for p in sorted({k.phase for k in KINDS.values()})]
