"""Exports: a PNG and a JSON sidecar with everything needed to reproduce the shot.

Every shot, from the command line, the visualizer or Python, is named SCENE-as-LABEL.png (+ .json),
LABEL being what the model sees (`school_bus-as-snowplow.png`); a second shot of the same kind gets
-2, -3, ...

Files are written to a temporary name in the same folder and renamed into place, so a crash never
leaves half a file; an existing file is never overwritten (a free name is chosen instead).

Reading a shot back (`strike-pose classify --from`) is here too: `scene_from_record` is the inverse of
`shot_record`.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from strike_pose.errors import StrikePoseError, shown, warn
from strike_pose.scene import POSE_FIELDS, Pose, Scene
from strike_pose.scenes import load_scene, parse_camera, parse_light, scene_from_files, user_path


class FileExists(StrikePoseError):
    """The name is taken: exports never replace a file."""


def atomic_write(path: Path, write) -> None:
    """Write to a temporary name, then publish it under `path` in one step that fails if `path`
    exists (a hard link), so neither a crash nor a second process writing the same name at the same
    moment can leave half a file or replace one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise StrikePoseError(f"cannot write into {path.parent} ({exc.strerror}); "
                              "choose a folder you can write to") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise FileExists(f"{path} already exists; choose another name") from None
        except OSError:  # a file system without hard links: check, then rename
            if path.exists():
                raise FileExists(f"{path} already exists; choose another name") from None
            os.replace(tmp, path)
    except OSError as exc:
        raise StrikePoseError(f"could not write {path} ({exc.strerror}); "
                              "free some space or choose another folder") from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def check_writable(folder: str | Path) -> Path:
    """Check that files can be written into `folder` without creating it: before long work, so that
    nothing is computed only to be lost, and so that a refused command leaves no empty folder behind
    (exports make the folder when they write into it). A folder that does not exist yet is checked
    at the nearest folder above it that does."""
    folder = Path(folder)
    existing = folder
    try:
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise StrikePoseError(f"{existing} is a file; give a folder (nothing is overwritten)")
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise StrikePoseError(f"cannot write into {folder} ({exc.strerror}); "
                              "choose a folder you can write to") from None
    return folder


def write_png(path: str | Path, image: np.ndarray) -> Path:
    path = Path(path)
    atomic_write(path, lambda f: Image.fromarray(np.asarray(image, np.uint8)).save(f, format="PNG"))
    return path


def write_json(path: str | Path, data: dict) -> Path:
    path = Path(path)
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
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


WINDOW_SUFFIX = "-window.png"


def export_shot(folder: str | Path, stem: str, image: np.ndarray, record: dict,
                window_image: np.ndarray | None = None) -> dict[str, str]:
    """Write STEM.png, STEM.json (the record, plus the file names) and, when given, STEM-window.png
    under `folder`, never overwriting: a taken name (also one taken by another process a moment
    ago) moves on to STEM-2, -3, ..."""
    while True:
        base = free_stem(folder, stem, (".png", ".json", WINDOW_SUFFIX))
        png, sidecar = base.with_name(base.name + ".png"), base.with_name(base.name + ".json")
        try:
            write_png(png, image)
        except FileExists:
            continue  # another process took this name between the look and the write
        files = {"image": str(png), "json": str(sidecar)}
        extra = {"image": png.name}
        if window_image is not None:
            window = base.with_name(base.name + WINDOW_SUFFIX)
            write_png(window, window_image)
            files["window"], extra["window_image"] = str(window), window.name
        write_json(sidecar, {**record, **extra})
        return files


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


# ------------------------------------------------------------------------- reading shots back

def check_shot(record: Any) -> None:
    """Check the fields of an exported shot that `classify --from` uses (scene, pose, model), naming the
    first bad one; their values are checked again where they are used."""
    if not isinstance(record, dict):
        raise StrikePoseError(f"a shot is a JSON object with 'scene' and 'pose', got {shown(record)}; give a JSON "
                              "written by `strike-pose search` or the GUI")
    for key in ("scene", "pose"):
        if key not in record:
            raise StrikePoseError(f"the shot has no {key!r} field; "
                                  "give a JSON written by `strike-pose search` or the GUI")
    info, pose = record["scene"], record["pose"]
    if not isinstance(info, dict):
        raise StrikePoseError(f"the shot's 'scene' must be an object with 'path' or 'mesh', got {shown(info)}")
    for key in ("path", "sha256", "mesh", "texture", "background"):
        if info.get(key) is not None and not isinstance(info[key], str):
            raise StrikePoseError(f"the shot's scene.{key} must be a string, got {shown(info[key])}; restore the "
                                  "JSON as it was written")
    if isinstance(pose, dict):
        missing = [name for name in POSE_FIELDS if name not in pose]
        if missing:
            raise StrikePoseError(f"the shot's pose has no {missing[0]!r}; a shot's pose has all of "
                                  f"{', '.join(POSE_FIELDS)}")
    Pose.of(pose)
    model = record.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise StrikePoseError(f"the shot's 'model' must be a model name such as efficientnet_lite0, got {shown(model)}")


def scene_from_record(record: dict) -> Scene:
    """The scene of an exported shot (its `scene` field), with the light and camera it was taken
    with; warns when the scene file changed since the shot."""
    check_shot(record)
    info = record["scene"]
    if info.get("path"):
        path = user_path(info["path"])
        try:
            is_dir, is_file = path.is_dir(), path.is_file()
        except OSError as exc:  # e.g. a name too long for the file system
            raise StrikePoseError(f"the shot's scene.path {path} cannot be used ({exc.strerror or exc}); restore "
                                  "the JSON as it was written") from None
        if is_dir:
            raise StrikePoseError(f"the shot's scene file {path} is a folder; "
                                  "restore the scene file to reproduce the shot")
        if not is_file:
            raise StrikePoseError(f"the shot's scene file {path} is missing; restore it to reproduce the shot")
        scene = load_scene(path, info.get("overrides"))
        if info.get("sha256") and scene.source.get("sha256") != info["sha256"]:
            warn(f"scene file {path} changed since the shot was taken; results may differ")
    elif info.get("mesh"):
        scene = scene_from_files(info["mesh"], info.get("texture"), info.get("background"), info.get("true_class"))
    else:
        raise StrikePoseError("the shot's scene has neither 'path' nor 'mesh'; it cannot be re-rendered")
    if "light" in info:
        scene = replace(scene, light=parse_light(info["light"], "scene.light"))
    if "camera" in info:
        scene = replace(scene, camera=parse_camera(info["camera"], "scene.camera"))
    return scene
