"""The report: plots (matplotlib), thumbnails of fooling poses, and one static report.html that shows
them with the tables and the paper's numbers. It needs nothing but the files beside it (offline).
Each kind writes its own section (its `report`); here: the page and what the sections share."""

from __future__ import annotations

import html
import json
from pathlib import Path

from strike_pose.experiments.plan import scene_key
from strike_pose.rotations import POSE_AXES

THUMBNAILS = 8  # fooling shots per study and scene


def write_report(experiment, store, summary: dict) -> Path:
    import matplotlib

    from strike_pose.experiments.registry import KINDS
    from strike_pose.experiments.protocol import describe

    matplotlib.use("Agg")
    root = store.root
    (root / "plots").mkdir(exist_ok=True)
    (root / "shots").mkdir(exist_ok=True)
    sections = []
    for study, entry in zip(experiment.studies, summary["studies"]):
        rows = store.rows(study.name)
        body = KINDS[study.kind].report(root, study, rows, entry)
        protocol = f"<p>Poses: {escape(describe(entry['protocol']))}.</p>" if entry.get("protocol") else ""
        sections.append(f"<section><h2>{escape(study.kind)}: {escape(study.name)} "
                        f"<small>({len(rows)} rows)</small></h2>"
                        f"<p class=paper>The paper: {escape(_paper_text(entry['paper']))}</p>"
                        f"{protocol}{body}</section>")
    page = _PAGE.format(title=escape(f"strike-pose: {experiment.name}"), name=escape(experiment.name),
                        path=escape(experiment.path), seed=experiment.seed, sections="\n".join(sections))
    path = root / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


def _paper_text(paper) -> str:
    if isinstance(paper, dict):
        return "; ".join(f"{k}: fails {v[0]}%, smallest flip {v[1]}" for k, v in paper.items())
    return str(paper)


def escape(text) -> str:
    return html.escape(str(text))


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    head = "".join(f"<th>{escape(title)}</th>" for title, _ in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(_fmt(r.get(key)))}</td>" for _, key in columns) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value) -> str:
    if isinstance(value, float):
        return "-" if value != value else f"{value:.3g}"
    if isinstance(value, list) and value and isinstance(value[0], float):
        return "[" + ", ".join(f"{v:.3f}" for v in value) + "]"
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return ", ".join(f"{d['label']} {d['share']:.1%}" for d in value)
    return "-" if value is None else str(value)


def figure(root: Path, name: str, draw) -> str:
    import matplotlib.pyplot as plt

    fig = draw(plt)
    path = root / "plots" / f"{name}.png"
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f"<img class=plot src='plots/{escape(path.name)}' alt='{escape(name)}'>"


def thumbnails(root: Path, study, picks: list[dict], light_of=lambda r: None) -> str:
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
        cells.append(f"<figure><img src='shots/{escape(path.name)}' alt='fooling pose'><figcaption>"
                     f"{escape(label_of(r['top1']))} {r['top1_prob']:.2f}<br><small>{escape(r['model'])}, pose "
                     f"{', '.join(f'{v:.0f}' if k < 3 else f'{v:.2f}' for k, v in enumerate(pose))}</small>"
                     "</figcaption></figure>")
    return f"<div class=shots>{''.join(cells)}</div>" if cells else ""


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
