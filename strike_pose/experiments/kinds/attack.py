"""[[attack]]: searches over scenes x starts x methods x targets; hit rates, times and how far from the
start the fooling poses lie.

    [[attack]]
    name = "attacks"
    scenes = ["school_bus"]
    starts = 3                          # random starts in the whole pose space
    methods = ["boundary", "grad", "random", "fd", "cmaes"]
    targets = "untargeted"              # or a list of labels, or "frequent:K" with from = "poses"
    budget_seconds = 10.0
    steps = 100
    protocol = "whole"                  # starts and fooling poses show the whole object; "centre": the paper's
    min_margin = 0.1                    # the least p(top-1) - p(true) that counts (the search's default)
"""

from __future__ import annotations

import collections
import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np

from strike_pose.errors import StrikePoseError
from strike_pose.experiments.config import Experiment, Study
from strike_pose.fields import integer, number, string, strings
from strike_pose.experiments.registry import StudyKind, register
from strike_pose.experiments.plan import model_key, scene_key
from strike_pose.experiments.protocol import DEFAULT, draw_poses, parse_protocol
from strike_pose.experiments.report import THUMBNAILS, escape, table, thumbnails
from strike_pose.experiments.work import Item, seed_for
from strike_pose.rotations import POSE_AXES
from strike_pose.search import DEFAULT_MIN_MARGIN, DEFAULT_STEPS, METHODS, MODES

PAPER = "targeted hit rates, median over objects: ZRS 78%, FD-G 92%, DR-G 32%"


@dataclass(frozen=True)
class Settings:
    starts: int = 3
    methods: tuple[str, ...] = METHODS
    targets: Any = "untargeted"  # "untargeted", ("label", ...), or ("frequent", K)
    source: str | None = None  # the landscape whose frequent wrong classes are the targets
    budget_seconds: float = 10.0
    steps: int = DEFAULT_STEPS
    radius: float | None = None
    mode: str = "first"
    protocol: str = DEFAULT
    min_margin: float = DEFAULT_MIN_MARGIN  # clear fools only, as every search by default


def parse(table: dict, where: str) -> Settings:
    methods = tuple(strings(table.get("methods", list(METHODS)), f"{where}.methods"))
    for m in methods:
        if m not in METHODS:
            raise StrikePoseError(f"{where}.methods: unknown method {m!r}; choose from {', '.join(METHODS)}")
    mode = string(table.get("mode", "first"), f"{where}.mode")
    if mode not in MODES:
        raise StrikePoseError(f"{where}.mode must be one of {', '.join(MODES)}, got {mode!r}")
    return Settings(starts=integer(table.get("starts", 3), f"{where}.starts", 1), methods=methods,
                    targets=_targets(table.get("targets", "untargeted"), f"{where}.targets"),
                    source=string(table["from"], f"{where}.from") if "from" in table else None,
                    budget_seconds=number(f"{where}.budget_seconds", table.get("budget_seconds", 10.0), 0.1),
                    steps=integer(table.get("steps", DEFAULT_STEPS), f"{where}.steps", 1),
                    radius=number(f"{where}.radius", table["radius"], 0.1, 180.0) if "radius" in table else None,
                    mode=mode, protocol=parse_protocol(table, where),
                    min_margin=number(f"{where}.min_margin", table.get("min_margin", DEFAULT_MIN_MARGIN), 0.0, 0.999))


def _targets(value, where: str):
    from strike_pose.models.labels import resolve_class

    if value == "untargeted":
        return "untargeted"
    if isinstance(value, str) and value.startswith("frequent:"):
        return ("frequent", integer(_int_text(value.split(":", 1)[1], where), where, 1))
    if isinstance(value, list):
        return tuple(resolve_class(v, where=where) for v in value)
    raise StrikePoseError(f"{where} must be \"untargeted\", \"frequent:K\" or a list of ImageNet labels, got {value!r}")


def _int_text(text: str, where: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise StrikePoseError(f"{where}: \"frequent:K\" needs a whole number K, got {text!r}") from None


def validate(study: Study, by_name: dict) -> None:
    if isinstance(study.targets, tuple) and study.targets[:1] == ("frequent",):
        if study.source is None or getattr(by_name.get(study.source), "kind", None) != "landscape":
            raise StrikePoseError(f"attack {study.name!r}: targets = \"frequent:K\" needs from = the name of a "
                                  "[[landscape]] study of the same experiment")


def frequent_wrong_classes(rows: list[dict], scene: str, model: str, count: int) -> list[int]:
    counts = collections.Counter(r["top1"] for r in rows if r["scene"] == scene and r["model"] == model
                                 and not r["correct"])
    return [label for label, _ in counts.most_common(count)]


def plan(experiment: Experiment, study: Study, rows_of) -> list[Item]:
    from strike_pose.scenes import load_scene
    from strike_pose.search.region import region_for

    items = []
    for scene_name in study.scenes:
        scene = load_scene(scene_name)
        region = region_for(scene, scene.pose, None)  # the search's region; "whole" keeps the starts that show it all
        rng = np.random.default_rng(seed_for(experiment.seed, study.name, scene_name))
        starts = draw_poses(region, scene, rng, study.starts, study.protocol, f"attack {study.name!r}, scene "
                            f"{scene_name!r}", "set the scene's [pose] z farther (the starts lie 3 units nearer to 12 "
                            "farther)")
        for model in study.models:
            if study.targets == "untargeted":
                targets = [None]
            elif study.targets[0] == "frequent":
                targets = frequent_wrong_classes(rows_of(study.source), scene_name, model, study.targets[1])
            else:
                targets = [t for t in study.targets if t != scene.true_class]
            for si, start in enumerate(starts):
                for method in study.methods:
                    for target in targets:
                        key = (f"{scene_key(scene_name)}-{model_key(model)}-s{si:03d}-{method}-"
                               f"{'untargeted' if target is None else f't{target:03d}'}")
                        items.append(Item(study.name, "attack", key, {
                            "scene": scene_name, "model": model, "start": start.tolist(), "start_index": si,
                            "method": method, "target": target, "radius": study.radius, "steps": study.steps,
                            "budget_seconds": study.budget_seconds, "mode": study.mode, "protocol": study.protocol,
                            "min_margin": study.min_margin,
                            "seed": seed_for(experiment.seed, study.name, key) % (2**31)}))
    return items


def work(worker, item: Item) -> list[dict]:
    """One search (with protocol "whole", counting only poses that show the whole object), run and reduced as
    the command line and the visualizer run and reduce theirs (run_search, SearchResult): the closest fooling
    pose, else the pose with the lowest loss, with its verdict re-checked on OpenGL."""
    from strike_pose.search import SearchOptions, run_search

    p = item.payload
    scene = worker.scene(p["scene"])
    clf = worker.classifier(p["model"])
    target = p["target"]
    options = SearchOptions(method=p["method"], target=target, radius=p["radius"], steps=p["steps"],
                            budget_seconds=p["budget_seconds"], seed=p["seed"], mode=p["mode"],
                            in_view=p.get("protocol", "whole") == "whole",
                            min_margin=p.get("min_margin", DEFAULT_MIN_MARGIN))
    result = run_search(scene, clf, p["start"], options, renderer=worker.renderer)
    probs, top1, nan = result.probs, result.top1, float("nan")
    moved = result.distances() if result.success else {}
    return [{"study": item.study, "item": item.key, "scene": p["scene"], "model": p["model"],
             "start_index": p["start_index"], "method": p["method"], "target": -1 if target is None else target,
             "success": result.success, "steps": result.steps, "evaluations": result.evaluations,
             "seconds": float(result.found.seconds if result.success else result.seconds),
             "rotation_from_start": float(moved.get("rotation_from_start", nan)),
             "translation_from_start": float(moved.get("translation_from_start", nan)),
             "distance": float(moved.get("distance", nan)), "margin": result.margin,
             **{f"start_{a}": float(v) for a, v in zip(POSE_AXES, p["start"])},
             **dict(zip(POSE_AXES, map(float, result.pose.as_tuple()))), "true_class": scene.true_class,
             "true_prob": float(probs[scene.true_class]), "top1": top1, "top1_prob": float(probs[top1]),
             "target_prob": float(probs[target]) if target is not None else nan}]


def summarise(rows, label_of) -> dict:
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
    return {"table": table,
            "targets": [{"index": t, "label": label_of(t) if t >= 0 else "untargeted"} for t in targets]}


def report(root, study, rows, entry) -> str:
    html = table(entry["table"], [("scene", "scene"), ("model", "model"), ("method", "method"),
                                  ("trials", "trials"), ("hit rate", "hit_rate"), ("median seconds", "median_seconds"),
                                  ("median rotation from start", "median_rotation_from_start"),
                                  ("protocol", "protocol")])
    targets = ", ".join(t["label"] for t in entry["targets"])
    picks = [r for r in rows if r["success"]][:THUMBNAILS * 2]
    return f"<p>Targets: {escape(targets)}</p>" + html + "<h3>Poses found</h3>" + thumbnails(root, study, picks)


KIND = register(StudyKind(
    "attack", phase=1, fields=frozenset({"starts", "methods", "targets", "from", "budget_seconds", "steps", "radius",
                                         "min_margin", "mode", "protocol"}),
    parse=parse, plan=plan, work=work, summarise=summarise, report=report, paper=PAPER, validate=validate,
    none_means={"median_seconds": "no search fooled the model",
                "median_rotation_from_start": "no search fooled the model"}))
