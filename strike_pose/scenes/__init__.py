"""Finding and loading scene files: the bundled ones (the .toml files beside this module, package data),
the objects fetched from the catalogue (strike_pose.assets.objects) and any file by path. Every field is
checked and a wrong one is named (strike_pose.fields); a scene's class names are resolved to ImageNet
(and COCO) indices here, so a Scene always holds numbers.

The scene file's format and the camera convention are in strike_pose.scene's docstring.
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from importlib import resources
from dataclasses import fields
from pathlib import Path
from typing import Any

from strike_pose.errors import StrikePoseError, shown
from strike_pose.fields import number, table, table_of
from strike_pose.scene import MAX_DISTANCE, Camera, Light, Pose, Scene

SCENES_DIR = Path(str(resources.files("strike_pose.scenes")))  # the bundled scene files: package data
MAX_SCENE_BYTES = 1_000_000  # a scene file is a few lines of TOML

_TOP_FIELDS = {"name", "mesh", "texture", "background", "true_class", "detector_class", "camera", "light", "pose",
               "object"}
OBJECT_FIELDS = ("title", "registry", "package", "version", "licence", "files")  # where a fetched object comes from


def parse_camera(data: dict, where: str = "camera") -> Camera:
    table(where, data, Camera)
    return Camera(**{k: number(f"{where}.{k}", v, 1.0, 170.0) for k, v in data.items()})


CAMERA_PLACEMENT = "z"  # [camera] z of a scene file: where its camera sits; not a Camera field


def parse_scene_camera(data: dict, where: str = "camera") -> tuple[Camera, float]:
    """A scene file's [camera]: the Camera, and `z`, where the file's camera sits on the z axis (default 0,
    this project's convention: the camera at the origin). A scene written for a camera at z = 2 (the
    original strike-with-a-pose app's CAMERA_DISTANCE) gives its object's z relative to that camera's
    origin; loading subtracts the camera's z, so everything after loading has the camera at the origin."""
    table_of(where, data, [*(f.name for f in fields(Camera)), CAMERA_PLACEMENT])
    z = number(f"{where}.{CAMERA_PLACEMENT}", data.get(CAMERA_PLACEMENT, 0.0), -MAX_DISTANCE, MAX_DISTANCE)
    return parse_camera({k: v for k, v in data.items() if k != CAMERA_PLACEMENT}, where), z


def parse_light(data: dict, where: str = "light") -> Light:
    table(where, data, Light)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "direction":
            if not isinstance(value, (list, tuple)) or len(value) != 3:
                raise StrikePoseError(f"{where}.direction must be three numbers [x, y, z], got {shown(value)}")
            vec = tuple(number(f"{where}.direction", v) for v in value)
            if math.hypot(*vec) < 1e-9:
                raise StrikePoseError(f"{where}.direction must not be zero")
            out[key] = vec
        elif key == "shininess":
            out[key] = number(f"{where}.{key}", value, 1.0, 1000.0)
        else:
            out[key] = number(f"{where}.{key}", value, 0.0, 10.0)
    return Light(**out)


def parse_pose(data: dict, where: str = "pose", camera_z: float = 0.0) -> Pose:
    """The [pose] table as a Pose; with `camera_z` (see parse_scene_camera) its z, given or the default,
    is moved from the file's camera to this project's camera at the origin."""
    table(where, data, Pose)
    values = {k: number(f"{where}.{k}", v) for k, v in data.items()}
    if not camera_z:
        return Pose(**values)
    given = values.get("z", Pose.z)
    values["z"] = given - camera_z
    try:
        return Pose(**values)
    except StrikePoseError as exc:
        raise StrikePoseError(f"{exc} (the file's {where}.z = {given:g} with its camera at [camera] z = "
                              f"{camera_z:g})") from None


def _resolve_ref(ref: Any, where: str, base: Path) -> str:
    from strike_pose.assets import PROCEDURAL

    if not isinstance(ref, str) or not ref.strip():
        raise StrikePoseError(f"{where} must be a file path or procedural:NAME, got {shown(ref)}")
    if ref.startswith(PROCEDURAL):
        return ref
    path = user_path(ref)
    return str(path if path.is_absolute() else (base / path))


def user_path(text: str) -> Path:
    """Path(text) with ~ expanded where it can be (~nobody/x stays as written, and is then not found)."""
    try:
        return Path(text).expanduser()
    except (RuntimeError, KeyError, ValueError):
        return Path(text)


def scene_from_dict(data: dict, base: Path, source: dict | None = None) -> Scene:
    """Build a Scene from the fields of a scene file; paths are relative to `base`."""
    from strike_pose.assets import load_background, load_mesh
    from strike_pose.models.labels import resolve_class

    for key in data:
        if key not in _TOP_FIELDS:
            raise StrikePoseError(f"unknown field {shown(key)}; a scene has {', '.join(sorted(_TOP_FIELDS))}")
    for required in ("mesh", "true_class"):
        if required not in data:
            raise StrikePoseError(f"the scene has no {required!r} field; add one (see scenes/school_bus.toml)")
    name = data.get("name", "scene")
    if not isinstance(name, str):
        raise StrikePoseError(f"name must be a string, got {shown(name)}")
    mesh_ref = _resolve_ref(data["mesh"], "mesh", base)
    texture = data.get("texture")
    texture_ref = _resolve_ref(texture, "texture", base) if texture is not None else None
    background = data.get("background")
    background_ref = _resolve_ref(background, "background", base) if background is not None else None
    camera, camera_z = parse_scene_camera(data.get("camera", {}))
    light = parse_light(data.get("light", {}))
    pose = parse_pose(data.get("pose", {}), camera_z=camera_z)
    origin = parse_origin(data["object"]) if "object" in data else None
    true_class = None if data["true_class"] is None else resolve_class(data["true_class"], where="true_class")
    detector_class = data.get("detector_class")
    if detector_class is not None:
        from strike_pose.models.coco import coco_class_index

        if not isinstance(detector_class, str):
            raise StrikePoseError(f"detector_class must be a COCO label (a string), got {shown(detector_class)}")
        coco_class_index(detector_class)
    bg_image = load_background(background_ref) if background_ref is not None else None
    mesh = load_mesh(mesh_ref, texture=texture_ref)  # last: its warnings come only for a scene that loads
    return Scene(
        name=name,
        mesh=mesh,
        background=bg_image,
        true_class=true_class,
        camera=camera,
        light=light,
        pose=pose,
        detector_class=detector_class,
        source={**(source or {"mesh": mesh_ref, "texture": texture_ref, "background": background_ref}),
                **({"object": origin} if origin else {})},
    )


def parse_origin(data: Any, where: str = "object") -> dict:
    """The [object] table of a fetched object's scene: strings (and a list of file paths)."""
    table_of(where, data, OBJECT_FIELDS)
    for key, value in data.items():
        ok = (all(isinstance(v, str) for v in value) if key == "files" and isinstance(value, list)
              else isinstance(value, str))
        if not ok:
            raise StrikePoseError(f"{where}.{key} must be {'a list of strings' if key == 'files' else 'a string'}, "
                                  f"got {shown(value)}")
    return dict(data)


def scene_path(name_or_path: str | Path) -> Path:
    """The file of a bundled scene name, or the given path."""
    import difflib

    from strike_pose.assets.formats import mesh_suffix

    text = str(name_or_path)
    path = user_path(text)
    if mesh_suffix(path):
        raise StrikePoseError(f"{text} is a mesh, not a scene file: give it as --mesh {text} (with --texture, "
                              "--background and --true-class as needed)")
    try:
        if path.suffix == ".toml" or path.exists() or "/" in text:
            if path.is_dir():
                raise StrikePoseError(f"{path} is a folder; give a scene .toml file or a bundled name "
                                      f"({', '.join(bundled_scenes())})")
            if path.exists() and not path.is_file():  # a device or a pipe: reading could block or never end
                raise StrikePoseError(f"scene file {path} is not a regular file; give a scene .toml file")
            if not path.is_file():
                raise StrikePoseError(f"scene file not found: {path}; give a .toml path or a bundled name "
                                      f"({', '.join(bundled_scenes())})")
            return path
    except OSError as exc:  # e.g. a name too long for the file system
        raise StrikePoseError(f"scene path {text} cannot be used ({exc.strerror or exc}); give a .toml path or a "
                              f"bundled name ({', '.join(bundled_scenes())})") from None
    bundled = SCENES_DIR / f"{text}.toml"
    if bundled.is_file():
        return bundled
    from strike_pose.assets.objects import catalogue, fetched_scene

    fetched = fetched_scene(text)
    if fetched is not None:
        return fetched
    if text in catalogue():
        raise StrikePoseError(f"{text} is a catalogued object that is not fetched yet; run strike-pose objects fetch "
                              f"{text}")
    close = difflib.get_close_matches(text, [*available_scenes(), *catalogue()], n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise StrikePoseError(f"unknown scene {shown(text)}; {hint}choose one of: {', '.join(available_scenes())}, "
                          "or give a .toml path (strike-pose objects lists the objects that can be fetched)")


def bundled_scenes() -> list[str]:
    return sorted(p.stem for p in SCENES_DIR.glob("*.toml"))


def available_scenes() -> list[str]:
    """The bundled scenes, then the fetched objects (see `strike-pose objects`)."""
    from strike_pose.assets.objects import fetched_objects

    bundled = bundled_scenes()
    return bundled + [name for name in fetched_objects() if name not in bundled]


OVERRIDES = ("texture", "background", "true_class")


def read_scene_file(path: Path) -> tuple[dict, bytes]:
    """The fields of a scene TOML file and its bytes; a StrikePoseError naming the file when it cannot be
    read, is too large to be a scene, is not UTF-8 or is not TOML."""
    try:
        size = path.stat().st_size
        if size > MAX_SCENE_BYTES:
            raise StrikePoseError(f"scene file {path} is {size / 1e6:.1f} MB, too large for a scene (a few lines of "
                                  "TOML, see scenes/school_bus.toml); check it is the right file")
        raw = path.read_bytes()
    except OSError as exc:
        raise StrikePoseError(f"cannot read scene file {path} ({exc.strerror or exc}); check its permissions") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrikePoseError(f"scene file {path} is not UTF-8 text "
                              f"(byte {exc.start} is {raw[exc.start:exc.start + 1]!r}); "
                              "save it as UTF-8 TOML") from None
    try:
        return tomllib.loads(text), raw
    except tomllib.TOMLDecodeError as exc:
        raise StrikePoseError(f"scene file {path} is not valid TOML ({exc}); fix the syntax") from None
    except RecursionError:
        raise StrikePoseError(f"scene file {path} is not valid TOML (it nests too deeply); fix the syntax") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise StrikePoseError(f"scene file {path} has a value that cannot be read ({exc}); fix it") from None


def load_scene(name_or_path: str | Path, overrides: dict | None = None) -> Scene:
    """Load a bundled scene by name (see `strike-pose scenes`) or a scene TOML file by path.

    `overrides` may replace the scene's texture, background (paths, or procedural:NAME) and true
    class; the scene records them, so a shot taken with them reproduces.
    """
    path = scene_path(name_or_path)
    data, raw = read_scene_file(path)
    if overrides is not None and not isinstance(overrides, dict):
        raise StrikePoseError(f"a scene's overrides are a table of {', '.join(OVERRIDES)}; got {shown(overrides)}")
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    for key in overrides:
        if key not in OVERRIDES:
            raise StrikePoseError(f"a scene's {shown(key)} cannot be replaced; only {', '.join(OVERRIDES)}")
    try:
        source = {"path": str(path.resolve()), "sha256": hashlib.sha256(raw).hexdigest()}
        if overrides:
            for key in ("texture", "background"):
                if key in overrides:
                    _resolve_ref(overrides[key], key, Path.cwd())  # a string: checked before it is resolved
                    if not overrides[key].startswith("procedural:"):
                        overrides[key] = str(user_path(overrides[key]).resolve())
            source["overrides"] = dict(overrides)
        # A scene that does not name itself is named after its file: its shots are FILE-as-LABEL.png.
        return scene_from_dict({"name": path.stem, **data, **overrides}, path.resolve().parent, source=source)
    except StrikePoseError as exc:
        raise StrikePoseError(f"scene {path}: {exc}") from None


def scene_from_files(mesh: str, texture: str | None = None, background: str | None = None,
                     true_class: str | int | None = None, base: Path | None = None) -> Scene:
    """A scene made from files given on the command line (--mesh, --texture, --background)."""
    data: dict[str, Any] = {"name": Path(mesh).stem, "mesh": mesh}
    if texture:
        data["texture"] = texture
    if background:
        data["background"] = background
    data["true_class"] = true_class  # None: a scene that can be rendered but not classified
    return scene_from_dict(data, base or Path.cwd())
