"""What an experiment's rows say: each kind's figures (its `summarise`, as the paper computes them), with
the paper's own numbers beside them (the kind's `paper`: Alcorn et al. 2019, Inception-v3, 30 objects)
and the protocol of its poses. Here: what every kind's summary shares.
"""

from __future__ import annotations

import collections
import math
import statistics

from strike_pose.rotations import POSE_AXES

HIDDEN = ("frequent_wrong", "ci95", "seen", "by_scene", "detector", "paper")  # in summary.json and the report only


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def summarize(experiment, store) -> dict:
    from strike_pose.experiments.registry import KINDS
    from strike_pose.experiments.protocol import protocol_of
    from strike_pose.models.labels import label_of

    out = {"experiment": experiment.name, "path": experiment.path, "seed": experiment.seed, "studies": []}
    for study in experiment.studies:
        kind = KINDS[study.kind]
        rows = store.rows(study.name)
        entry = {"name": study.name, "kind": study.kind, "rows": len(rows), "paper": kind.paper}
        protocol = protocol_of(experiment, study)
        if protocol:
            entry["protocol"] = protocol
        entry.update(kind.summarise(rows, label_of))
        for row in entry.get("table", []) + entry.get("over_scenes", []) if protocol else []:
            row["protocol"] = protocol  # every table says which poses it counts
        out["studies"].append(entry)
    return out


def summary_lines(summary: dict) -> list[str]:
    """The summary as the command line prints it: per study its rows and protocol, and its table's first
    rows; a figure that has no value says why (the kind's `none_means`)."""
    from strike_pose.experiments.registry import KINDS

    lines = []
    for study in summary["studies"]:
        kind = KINDS.get(study["kind"])
        why = kind.none_means if kind else {}
        protocol = f", protocol {study['protocol']}" if study.get("protocol") else ""
        lines.append(f"{study['kind']} {study['name']}: {study['rows']} rows{protocol}")
        for row in study.get("table", [])[:12]:
            lines.append("  " + ", ".join(f"{k} {_short(v, why.get(k))}" for k, v in row.items()
                                          if k not in HIDDEN and k != "protocol"))
    return lines


def _short(value, why: str | None = None) -> str:
    if value is None:
        return f"none ({why})" if why else "none"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def over_scenes(table: list[dict], keys: tuple[str, ...], values: tuple[str, ...]) -> list[dict]:
    """Per value of `keys`, the median (and range) of each of `values` over the scenes: the paper's
    figures are medians over its objects. Only where two or more scenes have it."""
    groups = collections.defaultdict(list)
    for row in table:
        groups[tuple(row[k] for k in keys)].append(row)
    out = []
    for key, group in groups.items():
        if len({r["scene"] for r in group}) < 2:
            continue
        entry = {**dict(zip(keys, key)), "scenes": len({r["scene"] for r in group})}
        for value in values:
            numbers = [r[value] for r in group if r.get(value) is not None]
            base = value.removeprefix("median_")  # a median of the scenes' medians keeps its name
            entry[f"median_{base}"] = statistics.median(numbers) if numbers else None
            entry[f"range_{base}"] = [min(numbers), max(numbers)] if numbers else None
        out.append(entry)
    if keys and keys[-1] == "parameter":
        out.sort(key=lambda e: (*[e[k] for k in keys[:-1]], POSE_AXES.index(e["parameter"])))
    return out
