"""Exports: a PNG and a JSON sidecar with everything needed to reproduce the shot.

Every shot, from the command line, the visualizer or Python, is named SCENE-as-LABEL.png (+ .json),
LABEL being what the model sees (`school_bus-as-snowplow.png`); a second shot of the same kind gets
-2, -3, ...

Files are written to a temporary name in the same folder and renamed into place, so a crash never
leaves half a file; an existing file is never overwritten (a free name is chosen instead).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from strike_pose.errors import StrikePoseError


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        if path.exists():  # checked again at the last moment: never replace the user's file
            raise StrikePoseError(f"{path} already exists; choose another name")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_png(path: str | Path, image: np.ndarray) -> Path:
    path = Path(path)
    _atomic_write(path, lambda f: Image.fromarray(np.asarray(image, np.uint8)).save(f, format="PNG"))
    return path


def write_json(path: str | Path, data: dict) -> Path:
    path = Path(path)
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    _atomic_write(path, lambda f: f.write(text.encode("utf-8")))
    return path


def slug(text: str) -> str:
    """A file-name-safe form of a label: 'tiger cat' -> 'tiger_cat'."""
    import re

    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "shot"


def shot_stem(scene_name: str, probs: np.ndarray) -> str:
    """'school_bus-as-tiger_cat': the scene and what the model sees."""
    from strike_pose.models.labels import label_of

    return f"{slug(scene_name)}-as-{slug(label_of(int(np.argmax(probs))))}"


def free_stem(folder: str | Path, stem: str, suffixes: tuple[str, ...] = (".png", ".json")) -> Path:
    """folder/stem, or folder/stem-2, -3, ... so that no file with any of `suffixes` exists yet."""
    folder = Path(folder)
    candidate, n = folder / stem, 1
    while any(candidate.with_name(candidate.name + s).exists() for s in suffixes):
        n += 1
        candidate = folder / f"{stem}-{n}"
    return candidate


def export_shot(folder: str | Path, stem: str, image: np.ndarray, record: dict) -> dict[str, str]:
    """Write STEM.png and STEM.json (the record, plus the file names) under `folder`, never overwriting."""
    base = free_stem(folder, stem)
    png, sidecar = base.with_name(base.name + ".png"), base.with_name(base.name + ".json")
    write_png(png, image)
    write_json(sidecar, {**record, "image": png.name})
    return {"image": str(png), "json": str(sidecar)}


def shot_record(scene, pose, classifier, probs: np.ndarray, target: int | None = None,
                **search: object) -> dict:
    """Everything needed to reproduce a shot: scene (path and content hash), pose, light, camera,
    model, top-5, true-class and target probabilities, and how it was found (method, steps, ...)."""
    import strike_pose

    return {
        "strike_pose_version": strike_pose.__version__,
        "scene": scene.describe(),
        "pose": pose.as_dict(),
        **classifier.describe(probs, scene.true_class, k=5, target=target),
        "image_size": classifier.input_size,
        "search": {k: v for k, v in search.items() if v is not None},
    }
