"""The report: plots (matplotlib), thumbnails of fooling poses, and one static report.html that shows
them with the tables and the paper's numbers. It needs nothing but the files beside it (offline)."""

from __future__ import annotations

import collections
import html
import json
from pathlib import Path

import numpy as np

from strike_pose.experiments.plan import model_key, scene_key
from strike_pose.rotations import POSE_AXES

THUMBNAILS = 8  # fooling shots per study and scene


def write_report(experiment, store, summary: dict) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    root = store.root
    (root / "plots").mkdir(exist_ok=True)
    (root / "shots").mkdir(exist_ok=True)
    sections = []
    for study, entry in zip(experiment.studies, summary["studies"]):
        rows = store.rows(study.name)
        body = globals()[f"_{study.kind}"](root, study, rows, entry)
        sections.append(f"<section><h2>{_e(study.kind)}: {_e(study.name)} <small>({len(rows)} rows)</small></h2>"
                        f"<p class=paper>The paper: {_e(_paper_text(entry['paper']))}</p>{body}</section>")
    page = _PAGE.format(title=_e(f"strike-pose: {experiment.name}"), name=_e(experiment.name),
                        path=_e(experiment.path), seed=experiment.seed, sections="\n".join(sections))
    path = root / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


def _paper_text(paper) -> str:
    if isinstance(paper, dict):
        return "; ".join(f"{k}: fails {v[0]}%, smallest flip {v[1]}" for k, v in paper.items())
    return str(paper)


def _e(text) -> str:
    return html.escape(str(text))


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    head = "".join(f"<th>{_e(title)}</th>" for title, _ in columns)
    body = "".join("<tr>" + "".join(f"<td>{_e(_fmt(r.get(key)))}</td>" for _, key in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value) -> str:
    if isinstance(value, float):
        return "-" if value != value else f"{value:.3g}"
    if isinstance(value, list) and value and isinstance(value[0], float):
        return "[" + ", ".join(f"{v:.3f}" for v in value) + "]"
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return ", ".join(f"{d['label']} {d['share']:.1%}" for d in value)
    return "-" if value is None else str(value)


def _figure(root: Path, name: str, draw) -> str:
    import matplotlib.pyplot as plt

    fig = draw(plt)
    path = root / "plots" / f"{name}.png"
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f"<img class=plot src='plots/{_e(path.name)}' alt='{_e(name)}'>"


def _thumbnails(root: Path, study, picks: list[dict], light_of=lambda r: None) -> str:
    """Render the picked rows' poses (160 px) into shots/ and show them with their labels."""
    from strike_pose.export import write_png
    from strike_pose.models.labels import label_of
    from strike_pose.render import default_renderer
    from strike_pose.scenes import load_scene

    renderer = default_renderer()
    cells = []
    scenes: dict = {}
    for i, r in enumerate(picks):
        scene = scenes.setdefault(r["scene"], load_scene(r["scene"]))
        light = light_of(r)
        if light:
            scene = scene.with_light(**{k: (tuple(v) if k == "direction" else v) for k, v in light.items()})
        pose = [r[a] for a in POSE_AXES]
        path = root / "shots" / f"{study.name}-{scene_key(r['scene'])}-{i:02d}.png"
        if not path.exists():
            write_png(path, renderer.render(scene, pose, size=160))
        cells.append(f"<figure><img src='shots/{_e(path.name)}' alt='fooling pose'><figcaption>"
                     f"{_e(label_of(r['top1']))} {r['top1_prob']:.2f}<br><small>{_e(r['model'])}, pose "
                     f"{', '.join(f'{v:.0f}' if k < 3 else f'{v:.2f}' for k, v in enumerate(pose))}</small>"
                     "</figcaption></figure>")
    return f"<div class=shots>{''.join(cells)}</div>" if cells else ""


def _landscape(root, study, rows, entry) -> str:
    table = _table(entry["table"], [("scene", "scene"), ("light", "light"), ("model", "model"),
                                    ("poses", "poses"), ("misclassified", "misclassified"), ("95% CI", "ci95"),
                                    ("most frequent wrong classes", "frequent_wrong")])
    if entry.get("over_scenes"):
        table += "<h3>Over the scenes (the paper: a median over its 30 objects)</h3>" + _table(
            [{**r, "paper": "97%"} for r in entry["over_scenes"]],
            [("light", "light"), ("model", "model"), ("scenes", "scenes"),
             ("median misclassified", "median_misclassified"), ("range", "range_misclassified"), ("paper", "paper")])
    figures = []
    groups = collections.defaultdict(list)
    for r in rows:
        groups[(r["scene"], r["model"])].append(r)
    for (scene, model), group in sorted(groups.items()):
        figures.append(_figure(root, f"{study.name}-{scene_key(scene)}-{model_key(model)}-maps",
                               lambda plt: _maps(plt, group, f"{scene}, {model}", study.grid_axes)))
    light_of = {s.label: {k: getattr(s, k) for k in ("ambient", "diffuse", "direction")
                          if getattr(s, k) is not None} for s in study.lights}
    picks = []
    for scene in sorted({r["scene"] for r in rows}):
        wrong = sorted((r for r in rows if r["scene"] == scene and not r["correct"]), key=lambda r: -r["top1_prob"])
        picks += wrong[:THUMBNAILS]
    return table + "".join(figures) + "<h3>Fooling poses the model is surest of</h3>" + _thumbnails(
        root, study, picks, lambda r: light_of.get(r["light"]))


def _maps(plt, group: list[dict], title: str, grid_axes: tuple[str, str] | None = None):
    """Mean probability of the true class: over the grid's two angles, one cell per grid point; for
    random poses over yaw x pitch and pitch x roll, in bins wide enough to hold a few poses each."""
    p = np.array([r["true_prob"] for r in group])
    panels = [grid_axes] if grid_axes else [("yaw", "pitch"), ("pitch", "roll")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels) + 1.2, 3.8), layout="constrained",
                             squeeze=False)
    for ax, (a, b) in zip(axes[0], panels):
        x = np.array([r[a] for r in group])
        y = np.array([r[b] for r in group])
        if grid_axes:
            xe, ye = _cell_edges(np.unique(x)), _cell_edges(np.unique(y))
        else:
            xe, ye = _bin_edges(a, b, len(group))
        total, _, _ = np.histogram2d(x, y, bins=(xe, ye), weights=p)
        count, _, _ = np.histogram2d(x, y, bins=(xe, ye))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        image = ax.pcolormesh(xe, ye, mean.T, vmin=0, vmax=1, cmap="viridis")
        ax.set_xlim(xe[0], xe[-1])
        ax.set_ylim(ye[0], ye[-1])
        ax.set_xlabel(f"{a} (deg)")
        ax.set_ylabel(f"{b} (deg)")
    fig.colorbar(image, ax=axes[0].tolist(), label="mean p(true class)")
    fig.suptitle(title)
    return fig


def _cell_edges(values: np.ndarray) -> np.ndarray:
    """Edges of cells centred on sorted grid values (half a step beyond the first and the last)."""
    if len(values) == 1:
        return np.array([values[0] - 0.5, values[0] + 0.5])
    middle = (values[1:] + values[:-1]) / 2
    return np.concatenate([[values[0] - (middle[0] - values[0])], middle, [values[-1] + (values[-1] - middle[-1])]])


def _bin_edges(a: str, b: str, poses: int, per_cell: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Square bins (in degrees) over the two angles' ranges, about `per_cell` poses each, 4 to 24 across."""
    ranges = [(-90.0, 90.0) if axis == "pitch" else (-180.0, 180.0) for axis in (a, b)]
    spans = [hi - lo for lo, hi in ranges]
    side = np.sqrt(spans[0] * spans[1] * per_cell / max(poses, 1))  # the degrees of a square cell
    counts = [int(np.clip(round(span / side), 2, 24)) for span in spans]
    return tuple(np.linspace(lo, hi, n + 1) for (lo, hi), n in zip(ranges, counts))


def _sensitivity(root, study, rows, entry) -> str:
    paper = entry["paper"]
    table_rows = [{**r, "paper": f"{paper[r['parameter']][0]}% / {paper[r['parameter']][1]}"} for r in entry["table"]]
    table = _table(table_rows, [("scene", "scene"), ("model", "model"), ("parameter", "parameter"),
                                ("starts", "starts"), ("failure rate", "failure_rate"),
                                ("median smallest flip, sampled", "median_smallest_flip"),
                                ("median smallest flip, bisected", "median_bisected_flip"),
                                ("paper (fails / flip)", "paper")])
    note = ("<p><small>Smallest flip, per start, the median over the starts that flipped: sampled is the smallest "
            "change among the resamples that flipped the label (an upper bound, as coarse as range / trials); "
            "bisected is the boundary found between the start and the nearest flipped resample on either side, "
            "to 0.5 degrees (x, y, z: 1/720 of their range), the one to compare with the paper's. Degrees for "
            "yaw, pitch, roll; scene units for x, y, z.</small></p>")

    def draw(plt):
        fig, ax = plt.subplots(figsize=(7, 3.2))
        scenes = sorted({r["scene"] for r in entry["table"]})
        width = 0.8 / (len(scenes) + 1)
        for i, scene in enumerate(scenes):
            rates = [next((r["failure_rate"] for r in entry["table"] if r["scene"] == scene and r["parameter"] == a), 0)
                     for a in POSE_AXES]
            ax.bar(np.arange(6) + i * width, rates, width, label=scene)
        ax.bar(np.arange(6) + len(scenes) * width, [paper[a][0] / 100 for a in POSE_AXES], width, label="paper",
               color="grey")
        ax.set_xticks(np.arange(6) + 0.4 - width / 2, POSE_AXES)
        ax.set_ylabel("share of resamples that flip the label")
        ax.legend(fontsize=8)
        return fig

    if entry.get("over_scenes"):
        table += "<h3>Over the scenes (medians; the paper's are over its 30 objects)</h3>" + _table(
            [{**r, "paper": f"{paper[r['parameter']][0]}% / {paper[r['parameter']][1]}"} for r in entry["over_scenes"]],
            [("model", "model"), ("parameter", "parameter"), ("scenes", "scenes"),
             ("median failure rate", "median_failure_rate"), ("median bisected flip", "median_bisected_flip"),
             ("paper (fails / flip)", "paper")])
    return table + note + _figure(root, f"{study.name}-failure", draw)


def _attack(root, study, rows, entry) -> str:
    table = _table(entry["table"], [("scene", "scene"), ("model", "model"), ("method", "method"),
                                    ("trials", "trials"), ("hit rate", "hit_rate"), ("median seconds", "median_seconds"),
                                    ("median rotation from start", "median_rotation_from_start")])
    targets = ", ".join(t["label"] for t in entry["targets"])
    picks = [r for r in rows if r["success"]][:THUMBNAILS * 2]
    return f"<p>Targets: {_e(targets)}</p>" + table + "<h3>Poses found</h3>" + _thumbnails(root, study, picks)


def _transfer(root, study, rows, entry) -> str:
    classifiers = [r for r in entry["table"] if not r.get("detector")]
    detectors = [r for r in entry["table"] if r.get("detector")]
    table = _table(classifiers, [("fooling poses of", "source_model"), ("classified by", "model"),
                                 ("poses", "poses"), ("also fooled", "transfer_rate"),
                                 ("same wrong label", "same_label")]) if classifiers else ""
    if detectors:
        lines = [{**r, "scene": "all"} for r in detectors]
        for r in detectors:
            lines += [{"source_model": r["source_model"], "model": r["model"], **b} for b in r.get("by_scene", [])]
        table += "<h3>The detector</h3>" + _table(
            [{**r, "ci95": f"{r['ci95'][0]:.1%} to {r['ci95'][1]:.1%}", "paper": f"{r['paper']:.1%} (YOLOv3)",
              "seen": ", ".join(f"{s['label']} {s['share']:.0%}" for s in r["seen"])} for r in lines],
            [("fooling poses of", "source_model"), ("detected by", "model"), ("scene", "scene"), ("poses", "poses"),
             ("also fooled (no box of the object's class on it)", "transfer_rate"), ("95% interval", "ci95"),
             ("seen as another class", "wrong_class"), ("nothing seen", "nothing_seen"),
             ("baseline: fooled on the correctly classified poses", "baseline_rate"),
             ("the paper", "paper"), ("what it saw on the object", "seen")])
        table += (f'<p class="paper">{_e(entry.get("paper_detector", ""))}. A pose fools the detector when no box of '
                  "the object's COCO class scores above its threshold with IoU &ge; 0.5 with the object's projected "
                  "box (strike_pose/search/detection.py, the rule of the detector's search objective).</p>")
    classifiers_only = {"table": classifiers}
    entry = classifiers_only
    models = sorted({r["source_model"] for r in entry["table"]} | {r["model"] for r in entry["table"]})
    if len(models) < 2:
        return table

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

    return table + _figure(root, f"{study.name}-matrix", draw)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
h1 {{ margin-bottom: 0 }} h2 {{ border-bottom: 1px solid #ccc; margin-top: 2em }} small {{ color: #777 }}
table {{ border-collapse: collapse; margin: 1em 0 }} td, th {{ border: 1px solid #ddd; padding: 3px 8px; }}
th {{ background: #f3f3f3 }} .paper {{ background: #fff8e0; padding: 6px 10px; border-left: 3px solid #e0b000 }}
.plot {{ max-width: 100%; display: block; margin: 1em 0 }}
.shots {{ display: flex; flex-wrap: wrap; gap: 10px }} figure {{ margin: 0; width: 160px; font-size: 12px }}
figure img {{ width: 160px; height: 160px; display: block }}
</style></head>
<body>
<h1>{name}</h1>
<p><small>{path}, seed {seed}. Rows: rows/STUDY/*.parquet; figures: summary.json.</small></p>
{sections}
<script>
// For a headless check: how many images have loaded (n/total) once the page is done.
window.addEventListener("load", function () {{
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (i) {{ return i.complete && i.naturalWidth > 0; }}).length;
  document.body.setAttribute("data-images", loaded + "/" + images.length);
}});
</script>
</body></html>
"""


def write_summary(root: Path, summary: dict) -> Path:
    path = root / "summary.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2, default=float) + "\n")
    tmp.replace(path)
    return path
