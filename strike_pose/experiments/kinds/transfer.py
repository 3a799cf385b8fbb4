"""[[transfer]]: the fooling poses of a landscape or an attack, classified by other models (or read by the
object detector): how often they fool those too.

    [[transfer]]
    name = "transfer"
    source = "poses"
    models = ["efficientnet_lite2", "detector:yolov3_tiny"]   # "detector:NAME": the object detector
    min_prob = 0.9                      # only fooling poses the source model is this sure of
    baseline = true                     # also the poses it classified correctly (a landscape source only)

Each model reads the fooling poses of the source's other models; only the models listed read them.
A "detector:NAME" reads each fooling pose by the rule of the detector's search objective
(strike_pose/search/detection.py): fooled when no box of the object's COCO class scores above the
threshold on the object. Its poses are the source's, so its protocol is the source's.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np

from strike_pose.errors import StrikePoseError
from strike_pose.experiments.config import Experiment, Study
from strike_pose.fields import number, string
from strike_pose.experiments.registry import StudyKind, register
from strike_pose.experiments.plan import light_dict, model_key
from strike_pose.experiments.report import escape, figure, table
from strike_pose.experiments.summary import wilson
from strike_pose.experiments.work import CHUNK, Item
from strike_pose.rotations import POSE_AXES

DETECTOR_PREFIX = "detector:"  # a transfer study's model "detector:yolov3_tiny" is the object detector
PAPER = "fooling poses (p >= 0.9) of Inception-v3 fool AlexNet 99.9% and ResNet-50 99.4% of the time"
PAPER_DETECTOR = ("75.5% of Inception-v3's fooling poses are also misdetected by YOLOv3 (the full network; ours is "
                  "YOLOv3-tiny)")
PAPER_DETECTOR_RATE = 0.755


@dataclass(frozen=True)
class Settings:
    source: str = ""  # the landscape or attack study whose fooling poses are read
    min_prob: float = 0.0
    baseline: bool = False  # also read the source's correctly classified poses: the rate to set beside the transfer


def parse(table: dict, where: str) -> Settings:
    if "source" not in table:
        raise StrikePoseError(f"{where} has no source; add source = \"the name of a landscape or attack study\"")
    baseline = table.get("baseline", False)
    if not isinstance(baseline, bool):
        raise StrikePoseError(f"{where}.baseline must be true or false, got {baseline!r}")
    return Settings(source=string(table["source"], f"{where}.source"),
                    min_prob=number(f"{where}.min_prob", table.get("min_prob", 0.0), 0.0, 1.0), baseline=baseline)


def validate(study: Study, by_name: dict) -> None:
    if getattr(by_name.get(study.source), "kind", None) not in ("landscape", "attack"):
        raise StrikePoseError(f"transfer {study.name!r}: source must name a [[landscape]] or [[attack]] study "
                              f"of this experiment, got {study.source!r}")


def transfer_sources(experiment: Experiment, study: Study, rows_of) -> list[dict]:
    """The fooling poses of the source study that its model was at least `min_prob` sure of; with the
    study's `baseline` (a landscape source), also every pose it classified correctly, marked
    "correct": True (the rate at which the other model errs anyway, beside the transfer rate)."""
    source = experiment.study(study.source)
    rows = rows_of(study.source)
    lights = {light.label: light_dict(light) for light in source.lights} if source.kind == "landscape" else {}
    baseline = study.baseline and source.kind == "landscape"
    out = []
    for i, r in enumerate(rows):
        fooled = (not r["correct"]) if source.kind == "landscape" else (
            r["success"] and r["top1"] != r["true_class"])
        if (fooled and r["top1_prob"] >= study.min_prob) or (baseline and r["correct"]):
            label = r.get("light", "scene")
            out.append({"row": f"{r['item']}/{r.get('index', i)}", "scene": r["scene"], "light": lights.get(label),
                        "light_label": label, "model": r["model"], "top1": r["top1"], "top1_prob": r["top1_prob"],
                        **({"correct": True} if not fooled else {}), **{a: r[a] for a in POSE_AXES}})
    return out


def plan(experiment: Experiment, study: Study, rows_of) -> list[Item]:
    """Per model of the study (only those: a source's own models read nothing they were not asked to), the
    source's poses of the other models, CHUNK a item."""
    sources = transfer_sources(experiment, study, rows_of)
    items = []
    for model in study.models:
        todo = [s for s in sources if s["model"] != model]
        for first in range(0, len(todo), CHUNK):
            key = f"{model_key(model)}-{first // CHUNK:05d}"
            items.append(Item(study.name, "transfer", key, {"model": model, "sources": todo[first:first + CHUNK]}))
    return items


def work(worker, item: Item) -> list[dict]:
    p = item.payload
    if p["model"].startswith(DETECTOR_PREFIX):
        return _work_detector(worker, item)
    rows = []
    for (scene_name, light, light_label), group in _group_by_scene(p["sources"]):
        scene = worker.scene(scene_name, light)
        probs = worker.classify(scene, p["model"], [[s[a] for a in POSE_AXES] for s in group])
        for source, prob in zip(group, probs):
            top1 = int(np.argmax(prob))
            rows.append({"study": item.study, "item": item.key, "scene": scene_name, "light": light_label,
                         "source_model": source["model"], "source_row": source["row"],
                         "source_top1": source["top1"], "source_prob": source["top1_prob"], "model": p["model"],
                         "top1": top1, "top1_prob": float(prob[top1]), "fooled": top1 != scene.true_class,
                         "same_label": top1 == source["top1"], "source_correct": bool(source.get("correct"))})
    return rows


def _work_detector(worker, item: Item) -> list[dict]:
    """The fooling poses re-rendered at the detector's input size and read by the same rule as the
    detector's search objective (search/detection.py): fooled when no box of the object's COCO class
    scores above the threshold on the object (IoU >= 0.5 with its projected box). A scene without a
    COCO class gives no rows."""
    from strike_pose.models.coco import COCO_OF_IMAGENET, coco_class_of
    from strike_pose.models.labels import label_of
    from strike_pose.search.detection import IOU, detector_fooled, detector_verdicts

    p = item.payload
    detector = worker.detector(p["model"].removeprefix(DETECTOR_PREFIX))
    labels = detector.labels
    rows = []
    for (scene_name, light, light_label), group in _group_by_scene(p["sources"]):
        scene = worker.scene(scene_name, light)
        own = coco_class_of(scene)
        if own is None:
            continue
        poses = np.array([[s[a] for a in POSE_AXES] for s in group], np.float64)
        images = worker.renderer.render_batch(scene, poses, size=detector.input_size)
        verdicts = detector_verdicts(detector, scene, images, poses)
        for source, v in zip(group, verdicts):
            top1 = int(np.argmax(v))
            seen = top1 if float(v[top1]) > detector.conf_threshold else -1
            source_coco = COCO_OF_IMAGENET.get(label_of(int(source["top1"])))
            rows.append({"study": item.study, "item": item.key, "scene": scene_name, "light": light_label,
                         "source_model": source["model"], "source_row": source["row"],
                         "source_top1": source["top1"], "source_prob": source["top1_prob"], "model": p["model"],
                         "top1": top1, "top1_prob": float(v[top1]),
                         "fooled": detector_fooled(v, own, detector.conf_threshold),
                         "same_label": seen >= 0 and source_coco is not None and labels[seen] == source_coco,
                         "labels": "coco", "object_class": own, "object_score": float(v[own]),
                         "seen": labels[seen] if seen >= 0 else "nothing",
                         "wrong_class": seen >= 0 and seen != own,
                         "conf_threshold": detector.conf_threshold, "iou": IOU,
                         "source_correct": bool(source.get("correct"))})
    return rows


def _group_by_scene(sources: list[dict]):
    """Source rows grouped by scene and light, each group rendered in one batch."""
    groups: dict = {}
    for s in sources:
        groups.setdefault((s["scene"], s.get("light_label", "scene")), (s.get("light"), []))[1].append(s)
    for (scene, label), (light, group) in groups.items():
        yield (scene, light, label), group


def summarise(rows, label_of) -> dict:
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
        out["paper_detector"] = PAPER_DETECTOR
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


def report(root, study, rows, entry) -> str:
    classifiers = [r for r in entry["table"] if not r.get("detector")]
    detectors = [r for r in entry["table"] if r.get("detector")]
    html = table(classifiers, [("fooling poses of", "source_model"), ("classified by", "model"),
                                 ("poses", "poses"), ("also fooled", "transfer_rate"),
                                 ("same wrong label", "same_label")]) if classifiers else ""
    if detectors:
        lines = [{**r, "scene": "all"} for r in detectors]
        for r in detectors:
            lines += [{"source_model": r["source_model"], "model": r["model"], **b} for b in r.get("by_scene", [])]
        html += "<h3>The detector</h3>" + table(
            [{**r, "ci95": f"{r['ci95'][0]:.1%} to {r['ci95'][1]:.1%}", "paper": f"{r['paper']:.1%} (YOLOv3)",
              "seen": ", ".join(f"{s['label']} {s['share']:.0%}" for s in r["seen"])} for r in lines],
            [("fooling poses of", "source_model"), ("detected by", "model"), ("scene", "scene"), ("poses", "poses"),
             ("also fooled (no box of the object's class on it)", "transfer_rate"), ("95% interval", "ci95"),
             ("seen as another class", "wrong_class"), ("nothing seen", "nothing_seen"),
             ("baseline: fooled on the correctly classified poses", "baseline_rate"),
             ("the paper", "paper"), ("what it saw on the object", "seen")])
        html += (f'<p class="paper">{escape(entry.get("paper_detector", ""))}. '
                  "A pose fools the detector when no box of "
                  "the object's COCO class scores above its threshold with IoU &ge; 0.5 with the object's projected "
                  "box (strike_pose/search/detection.py, the rule of the detector's search objective).</p>")
    classifiers_only = {"table": classifiers}
    entry = classifiers_only
    models = sorted({r["source_model"] for r in entry["table"]} | {r["model"] for r in entry["table"]})
    if len(models) < 2:
        return html

    def draw(plt):
        matrix = np.full((len(models), len(models)), np.nan)
        for r in entry["table"]:
            matrix[models.index(r["source_model"]), models.index(r["model"])] = r["transfer_rate"]
        fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(models), 1.2 + 1.0 * len(models)))
        ax.imshow(matrix, vmin=0, vmax=1, cmap="magma")
        for i in range(len(models)):
            for j in range(len(models)):
                if matrix[i, j] == matrix[i, j]:
                    ax.text(j, i, f"{matrix[i, j]:.0%}", ha="center", va="center", color="white")
        ax.set_xticks(range(len(models)), models, rotation=30, ha="right")
        ax.set_yticks(range(len(models)), models)
        ax.set_xlabel("classified by")
        ax.set_ylabel("fooling poses of")
        return fig

    return html + figure(root, f"{study.name}-matrix", draw)


KIND = register(StudyKind(
    "transfer", phase=2, fields=frozenset({"source", "min_prob", "baseline"}), parse=parse, plan=plan, work=work,
    summarise=summarise, report=report, paper=PAPER, scenes=False, detectors=True, validate=validate))
