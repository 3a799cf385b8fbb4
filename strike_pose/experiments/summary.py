"""What an experiment's rows say: per study kind, the figures the paper reports, computed the same way.

The paper's own numbers (Alcorn et al. 2019, Inception-v3, 30 objects) sit beside ours in PAPER.
"""

from __future__ import annotations

import collections
import math
import statistics

from strike_pose.rotations import POSE_AXES

PAPER = {
    "landscape": "97% of random poses misclassified (median 3.09% correct over 30 objects, Inception-v3)",
    "sensitivity": {"yaw": (69, 10.3), "pitch": (83, 8.0), "roll": (81, 9.2), "x": (42, 0.09), "y": (49, 0.10),
                    "z": (81, 0.77)},
    "attack": "targeted hit rates, median over objects: ZRS 78%, FD-G 92%, DR-G 32%",
    "transfer": "fooling poses (p >= 0.9) of Inception-v3 fool AlexNet 99.9% and ResNet-50 99.4% of the time",
    "detector": "75.5% of Inception-v3's fooling poses are also misdetected by YOLOv3 (the full network; ours is "
                "YOLOv3-tiny)",
}
PAPER_DETECTOR_RATE = 0.755


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def summarize(experiment, store) -> dict:
    from strike_pose.models.labels import label_of

    out = {"experiment": experiment.name, "path": experiment.path, "seed": experiment.seed, "studies": []}
    for study in experiment.studies:
        rows = store.rows(study.name)
        entry = {"name": study.name, "kind": study.kind, "rows": len(rows), "paper": PAPER[study.kind]}
        entry.update(globals()[f"_{study.kind}"](rows, label_of))
        out["studies"].append(entry)
    return out


def _landscape(rows, label_of) -> dict:
    groups = collections.defaultdict(list)
    for r in rows:
        groups[(r["scene"], r["light"], r["model"])].append(r)
    table = []
    for (scene, light, model), group in sorted(groups.items()):
        wrong = sum(not r["correct"] for r in group)
        low, high = wilson(wrong, len(group))
        counts = collections.Counter(r["top1"] for r in group if not r["correct"])
        table.append({"scene": scene, "light": light, "model": model, "poses": len(group),
                      "misclassified": wrong / len(group), "ci95": [low, high],
                      "frequent_wrong": [{"index": k, "label": label_of(k), "share": n / len(group)}
                                         for k, n in counts.most_common(5)]})
    return {"table": table, "over_scenes": _over_scenes(table, ("light", "model"), ("misclassified",))}


def _over_scenes(table: list[dict], keys: tuple[str, ...], values: tuple[str, ...]) -> list[dict]:
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


def _sensitivity(rows, label_of) -> dict:
    """Per scene, model and parameter: the share of resamples that flip the label, and two medians over
    the starts that flipped: the smallest flipped resample's change (sampled, an upper bound about range /
    trials coarse) and the flip boundary bisected between the start and the nearest flipped resample on
    either side (to 0.5 degrees, or 1/720 of the range: the one to set beside the paper's)."""
    groups = collections.defaultdict(list)
    for r in rows:
        groups[(r["scene"], r["model"], r["parameter"])].append(r)
    table = []
    for (scene, model, parameter), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                                     POSE_AXES.index(kv[0][2]))):
        by_start = collections.defaultdict(list)
        for r in group:
            by_start[r["start"]].append(r)
        smallest = [min(r["change"] for r in rs if r["flipped"]) for rs in by_start.values() if any(r["flipped"] for r in rs)]
        # one row per start and parameter carries the bisected flip; rows written before it have none
        bisected = [r["bisected_flip"] for r in group if r.get("bisected_flip") is not None]
        table.append({"scene": scene, "model": model, "parameter": parameter, "starts": len(by_start),
                      "failure_rate": sum(r["flipped"] for r in group) / len(group),
                      "median_smallest_flip": statistics.median(smallest) if smallest else None,
                      "median_bisected_flip": statistics.median(bisected) if bisected else None})
    return {"table": table, "over_scenes": _over_scenes(table, ("model", "parameter"),
                                                        ("failure_rate", "median_bisected_flip"))}


def _attack(rows, label_of) -> dict:
    groups = collections.defaultdict(list)
    for r in rows:
        groups[(r["scene"], r["model"], r["method"])].append(r)
    table = []
    for (scene, model, method), group in sorted(groups.items()):
        wins = [r for r in group if r["success"]]
        table.append({"scene": scene, "model": model, "method": method, "trials": len(group),
                      "hit_rate": len(wins) / len(group),
                      "median_seconds": statistics.median(r["seconds"] for r in wins) if wins else None,
                      "median_rotation_from_start": statistics.median(r["rotation_from_start"] for r in wins)
                      if wins else None})
    targets = sorted({r["target"] for r in rows})
    return {"table": table, "targets": [{"index": t, "label": label_of(t) if t >= 0 else "untargeted"} for t in targets]}


def _transfer(rows, label_of) -> dict:
    """Per source model and model: the share of the fooling poses that fool the model too. Rows of the
    poses the source classified correctly (the study's `baseline`) give `baseline_rate` beside it: how
    often the model errs on them anyway. A detector's entry also has the interval, what it saw on the
    object, and its rows per scene (`by_scene`)."""
    groups = collections.defaultdict(list)
    for r in rows:
        groups[(r["source_model"], r["model"])].append(r)
    table = []
    for (s, m), both in sorted(groups.items()):
        g = [r for r in both if not r.get("source_correct")]
        base = [r for r in both if r.get("source_correct")]
        if not g:
            continue
        entry = _transfer_entry(g, base)
        entry = {"source_model": s, "model": m, **entry}
        if m.startswith("detector:"):  # the rule: strike_pose/search/detection.py, as the search's objective
            entry["by_scene"] = [{"scene": sc, **_transfer_entry([r for r in g if r["scene"] == sc],
                                                                [r for r in base if r["scene"] == sc])}
                                 for sc in sorted({r["scene"] for r in g})]
        table.append(entry)
    out = {"table": table}
    if any(e.get("detector") for e in table):
        out["paper_detector"] = PAPER["detector"]
    return out


def _transfer_entry(g: list[dict], base: list[dict]) -> dict:
    fooled = sum(r["fooled"] for r in g)
    entry = {"poses": len(g), "transfer_rate": fooled / len(g), "same_label": sum(r["same_label"] for r in g) / len(g)}
    if base:
        entry.update({"baseline_poses": len(base), "baseline_rate": sum(r["fooled"] for r in base) / len(base)})
    if g[0]["model"].startswith("detector:"):
        entry.update({"detector": True, "ci95": list(wilson(fooled, len(g))),
                      "wrong_class": sum(r["wrong_class"] for r in g) / len(g),
                      "nothing_seen": sum(r["seen"] == "nothing" for r in g) / len(g),
                      "paper": PAPER_DETECTOR_RATE,
                      "seen": [{"label": k, "share": n / len(g)}
                               for k, n in collections.Counter(r["seen"] for r in g).most_common(5)]})
    return entry
