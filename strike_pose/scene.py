"""Scenes and poses: small frozen dataclasses, and TOML loading that names the bad field.

A scene file (see scenes/*.toml) looks like:

    name = "school_bus"
    mesh = "procedural:school_bus"     # or a path to OBJ / glTF / GLB, relative to the file
    texture = "bus.png"                # optional: replaces the mesh's own texture
    background = "procedural:road"     # optional: a path or procedural:NAME; none = ImageNet mean grey
    true_class = "school bus"          # ImageNet label or index
    [camera]  fov_y = 16.426
    [light]   ambient = 0.5, diffuse = 0.7, direction = [0, 0.7071, 0.7071], specular = 0, shininess = 32
    [pose]    yaw = 30, pitch = 10, roll = 0, x = 0, y = 0, z = -8

The camera sits at the origin looking down -z with +y up; the pose places the object's centre at
(x, y, z) in camera space, turned by R = Ry(yaw) Rx(pitch) Rz(roll) (degrees).
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from PIL import Image

from strike_pose.errors import StrikePoseError

SCENES_DIR = Path(__file__).resolve().parent.parent / "scenes"
POSE_FIELDS = ("yaw", "pitch", "roll", "x", "y", "z")
NEAR, FAR = 0.1, 1000.0
IMAGENET_MEAN_RGB = (124, 116, 104)


@dataclass(frozen=True)
class Pose:
    """Yaw, pitch, roll in degrees; x, y, z (the object's centre) in camera space."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    x: float = 0.0
    y: float = 0.0
    z: float = -8.0

    def __post_init__(self) -> None:
        for name in POSE_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise StrikePoseError(f"pose {name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.z >= -NEAR:
            raise StrikePoseError(
                f"pose z must be below {-NEAR} (the object must be in front of the camera, which looks "
                f"down -z), got {self.z:g}"
            )

    def as_tuple(self) -> tuple[float, ...]:
        return tuple(getattr(self, name) for name in POSE_FIELDS)

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in POSE_FIELDS}

    @classmethod
    def of(cls, value: "Pose | Iterable[float] | dict") -> "Pose":
        """A Pose from a Pose, six numbers (yaw, pitch, roll, x, y, z) or a dict of those names."""
        if isinstance(value, Pose):
            return value
        if isinstance(value, dict):
            unknown = set(value) - set(POSE_FIELDS)
            if unknown:
                raise StrikePoseError(
                    f"unknown pose field {sorted(unknown)[0]!r}; the fields are {', '.join(POSE_FIELDS)}"
                )
            return cls(**value)
        try:
            values = [float(v) for v in np.asarray(value, dtype=np.float64).reshape(-1)]
        except (TypeError, ValueError) as exc:
            raise StrikePoseError(f"a pose is six numbers yaw,pitch,roll,x,y,z; got {value!r}") from exc
        if len(values) != 6:
            raise StrikePoseError(f"a pose is six numbers yaw,pitch,roll,x,y,z; got {len(values)}")
        return cls(*values)

    @classmethod
    def parse(cls, text: str) -> "Pose":
        """Parse 'YAW,PITCH,ROLL,X,Y,Z' as typed on the command line."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 6:
            raise StrikePoseError(
                f"--pose takes six comma-separated numbers YAW,PITCH,ROLL,X,Y,Z; got {text!r}"
            )
        try:
            values = [float(p) for p in parts]
        except ValueError as exc:
            raise StrikePoseError(f"--pose takes numbers YAW,PITCH,ROLL,X,Y,Z; got {text!r}") from exc
        return cls(*values)


@dataclass(frozen=True)
class Camera:
    fov_y: float = 16.426  # vertical field of view, degrees (as in the original app)


@dataclass(frozen=True)
class Light:
    ambient: float = 0.5
    diffuse: float = 0.7
    direction: tuple[float, float, float] = (0.0, 0.7071, 0.7071)  # towards the light, camera space
    specular: float = 0.0
    shininess: float = 32.0

    def unit_direction(self) -> np.ndarray:
        d = np.asarray(self.direction, dtype=np.float64)
        return d / np.linalg.norm(d)


@dataclass(frozen=True, eq=False)
class Scene:
    """Everything needed to render: the loaded mesh, background, camera, light, class, start pose."""

    name: str
    mesh: Any  # strike_pose.assets.Mesh
    background: Image.Image | None
    true_class: int | None  # None: a scene from files given without a class, which renders but cannot be classified
    camera: Camera = field(default_factory=Camera)
    light: Light = field(default_factory=Light)
    pose: Pose = field(default_factory=Pose)
    source: dict = field(default_factory=dict)  # the scene's file path, content hash and raw fields

    def __repr__(self) -> str:
        mesh = f"{self.mesh.triangle_count} triangles" if hasattr(self.mesh, "triangle_count") else type(self.mesh).__name__
        background = "none" if self.background is None else f"{self.background.width}x{self.background.height} image"
        return (f"Scene(name={self.name!r}, true_class={self.true_class}, mesh={mesh}, background={background}, "
                f"camera={self.camera}, light={self.light}, pose={self.pose})")

    def with_light(self, **changes) -> "Scene":
        return replace(self, light=replace(self.light, **changes))

    def with_camera(self, **changes) -> "Scene":
        return replace(self, camera=replace(self.camera, **changes))

    def describe(self) -> dict:
        """What an export records to reproduce this scene."""
        return {
            "name": self.name,
            **self.source,
            "true_class": self.true_class,
            "camera": asdict(self.camera),
            "light": {**asdict(self.light), "direction": list(self.light.direction)},
        }


# ----------------------------------------------------------------------------- validation helpers

_TOP_FIELDS = {"name", "mesh", "texture", "background", "true_class", "camera", "light", "pose"}


def _number(where: str, value: Any, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise StrikePoseError(f"{where} must be a finite number, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise StrikePoseError(f"{where} must be between {lo:g} and {hi:g}, got {value!r}")
    return float(value)


def _table(where: str, data: dict, cls) -> dict:
    if not isinstance(data, dict):
        raise StrikePoseError(f"{where} must be a table like [{where}], got {data!r}")
    names = {f.name for f in fields(cls)}
    for key in data:
        if key not in names:
            raise StrikePoseError(f"unknown field {where}.{key}; the fields of [{where}] are {', '.join(sorted(names))}")
    return data


def parse_camera(data: dict, where: str = "camera") -> Camera:
    _table(where, data, Camera)
    return Camera(**{k: _number(f"{where}.{k}", v, 1.0, 170.0) for k, v in data.items()})


def parse_light(data: dict, where: str = "light") -> Light:
    _table(where, data, Light)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "direction":
            if not isinstance(value, list) or len(value) != 3:
                raise StrikePoseError(f"{where}.direction must be three numbers [x, y, z], got {value!r}")
            vec = tuple(_number(f"{where}.direction", v) for v in value)
            if math.hypot(*vec) < 1e-9:
                raise StrikePoseError(f"{where}.direction must not be zero")
            out[key] = vec
        elif key == "shininess":
            out[key] = _number(f"{where}.{key}", value, 1.0, 1000.0)
        else:
            out[key] = _number(f"{where}.{key}", value, 0.0, 10.0)
    return Light(**out)


def parse_pose(data: dict, where: str = "pose") -> Pose:
    _table(where, data, Pose)
    return Pose(**{k: _number(f"{where}.{k}", v) for k, v in data.items()})


def _resolve_ref(ref: Any, where: str, base: Path) -> str:
    from strike_pose.assets import PROCEDURAL

    if not isinstance(ref, str) or not ref:
        raise StrikePoseError(f"{where} must be a file path or procedural:NAME, got {ref!r}")
    if ref.startswith(PROCEDURAL):
        return ref
    path = Path(ref).expanduser()
    return str(path if path.is_absolute() else (base / path))


def scene_from_dict(data: dict, base: Path, source: dict | None = None) -> Scene:
    """Build a Scene from the fields of a scene file; paths are relative to `base`."""
    from strike_pose.assets import load_background, load_mesh
    from strike_pose.models.labels import resolve_class

    for key in data:
        if key not in _TOP_FIELDS:
            raise StrikePoseError(f"unknown field {key!r}; a scene has {', '.join(sorted(_TOP_FIELDS))}")
    for required in ("mesh", "true_class"):
        if required not in data:
            raise StrikePoseError(f"the scene has no {required!r} field; add one (see scenes/school_bus.toml)")
    name = data.get("name", "scene")
    if not isinstance(name, str):
        raise StrikePoseError(f"name must be a string, got {name!r}")
    mesh_ref = _resolve_ref(data["mesh"], "mesh", base)
    texture = data.get("texture")
    texture_ref = _resolve_ref(texture, "texture", base) if texture is not None else None
    background = data.get("background")
    background_ref = _resolve_ref(background, "background", base) if background is not None else None
    camera = parse_camera(data.get("camera", {}))
    light = parse_light(data.get("light", {}))
    pose = parse_pose(data.get("pose", {}))
    true_class = None if data["true_class"] is None else resolve_class(data["true_class"], where="true_class")
    mesh = load_mesh(mesh_ref, texture=texture_ref)
    bg_image = load_background(background_ref) if background_ref is not None else None
    return Scene(
        name=name,
        mesh=mesh,
        background=bg_image,
        true_class=true_class,
        camera=camera,
        light=light,
        pose=pose,
        source=source or {"mesh": mesh_ref, "texture": texture_ref, "background": background_ref},
    )


def scene_path(name_or_path: str | Path) -> Path:
    """The file of a bundled scene name, or the given path."""
    import difflib

    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.suffix.lower() in (".obj", ".gltf", ".glb"):
        raise StrikePoseError(f"{text} is a mesh, not a scene file: give it as --mesh {text} (with --texture, "
                              "--background and --true-class as needed)")
    if path.suffix == ".toml" or path.exists() or "/" in text:
        if path.is_dir():
            raise StrikePoseError(f"{path} is a folder; give a scene .toml file or a bundled name "
                                  f"({', '.join(bundled_scenes())})")
        if not path.is_file():
            raise StrikePoseError(f"scene file not found: {path}; give a .toml path or a bundled name ({', '.join(bundled_scenes())})")
        return path
    bundled = SCENES_DIR / f"{text}.toml"
    if not bundled.is_file():
        close = difflib.get_close_matches(text, bundled_scenes(), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise StrikePoseError(f"unknown scene {text!r}; {hint}choose one of: {', '.join(bundled_scenes())}, "
                              "or give a .toml path")
    return bundled


def bundled_scenes() -> list[str]:
    return sorted(p.stem for p in SCENES_DIR.glob("*.toml"))


OVERRIDES = ("texture", "background", "true_class")


def load_scene(name_or_path: str | Path, overrides: dict | None = None) -> Scene:
    """Load a bundled scene by name (see `strike-pose scenes`) or a scene TOML file by path.

    `overrides` may replace the scene's texture, background (paths, or procedural:NAME) and true
    class; the scene records them, so a shot taken with them reproduces.
    """
    path = scene_path(name_or_path)
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise StrikePoseError(f"scene file {path} is not valid TOML ({exc}); fix the syntax") from exc
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    for key in overrides:
        if key not in OVERRIDES:
            raise StrikePoseError(f"a scene's {key!r} cannot be replaced; only {', '.join(OVERRIDES)}")
    try:
        source = {"path": str(path.resolve()), "sha256": hashlib.sha256(raw).hexdigest()}
        if overrides:
            for key in ("texture", "background"):
                if key in overrides and not str(overrides[key]).startswith("procedural:"):
                    overrides[key] = str(Path(overrides[key]).expanduser().resolve())
            source["overrides"] = dict(overrides)
        return scene_from_dict({**data, **overrides}, path.resolve().parent, source=source)
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


def scene_from_record(record: dict) -> tuple[Scene, list[str]]:
    """The scene of an exported shot (its `scene` field), with the light and camera it was taken
    with; also warnings (e.g. the scene file changed since the shot)."""
    info = record.get("scene")
    if not isinstance(info, dict):
        raise StrikePoseError("the shot has no 'scene' field; give a JSON written by `strike-pose search` or the GUI")
    warnings = []
    if info.get("path"):
        path = Path(info["path"])
        if not path.is_file():
            raise StrikePoseError(f"the shot's scene file {path} is missing; restore it to reproduce the shot")
        scene = load_scene(path, info.get("overrides"))
        if info.get("sha256") and scene.source.get("sha256") != info["sha256"]:
            warnings.append(f"scene file {path} changed since the shot was taken; results may differ")
    elif info.get("mesh"):
        scene = scene_from_files(info["mesh"], info.get("texture"), info.get("background"), info.get("true_class"))
    else:
        raise StrikePoseError("the shot's scene has neither 'path' nor 'mesh'; it cannot be re-rendered")
    if "light" in info:
        scene = replace(scene, light=parse_light(info["light"], "scene.light"))
    if "camera" in info:
        scene = replace(scene, camera=parse_camera(info["camera"], "scene.camera"))
    return scene, warnings
