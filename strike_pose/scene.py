"""Scenes and poses: small frozen dataclasses, and TOML loading that names the bad field.

A scene file (see scenes/*.toml) looks like:

    name = "school_bus"
    mesh = "procedural:school_bus"     # or a path to OBJ / glTF / GLB, relative to the file
    texture = "bus.png"                # optional: replaces the mesh's own texture
    background = "procedural:road"     # optional: a path or procedural:NAME; none = ImageNet mean grey
    true_class = "school bus"          # ImageNet label or index
    [camera]  fov_y = 16.426, z = 0             # z: where the file's camera sits (see parse_scene_camera)
    [light]   ambient = 0.5, diffuse = 0.7, direction = [0, 0.7071, 0.7071], specular = 0, shininess = 32
    [pose]    yaw = 30, pitch = 10, roll = 0, x = 0, y = 0, z = -8

The camera sits at the origin looking down -z with +y up; the pose places the object's centre at
(x, y, z) in camera space, turned by R = Ry(yaw) Rx(pitch) Rz(roll) (degrees). A scene file written
for a camera elsewhere on the z axis says where with `[camera] z` (the original strike-with-a-pose
app's scenes: z = 2.0); loading moves its pose into this convention (z - camera z).
"""

from __future__ import annotations

import hashlib
import math
import threading
import tomllib
import weakref
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from PIL import Image

from strike_pose.errors import StrikePoseError, shown, warn
from strike_pose.rotations import ANGLE_AXES, POSE_AXES

SCENES_DIR = Path(str(resources.files("strike_pose") / "scenes"))  # the bundled scene files: package data
POSE_FIELDS = POSE_AXES  # the fields of a Pose, in the order of its six numbers
NEAR, FAR = 0.1, 1000.0
IMAGENET_MEAN_RGB = (124, 116, 104)
MAX_ANGLE = 36000.0  # degrees (100 turns): beyond it float32 maths loses the angle, so a pose is refused
MAX_DISTANCE = 1e12  # scene units: far beyond the far plane (1000), and well inside float32's range
MAX_SCENE_BYTES = 1_000_000  # a scene file is a few lines of TOML
PLAIN_ALBEDO = 179  # the grey (of 255) an object shown without its texture has: 0.7, as in the original app


def finite_float(value: Any) -> float | None:
    """float(value) for a real number (not a bool) that is finite as a float; else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float's range
        return None
    return number if math.isfinite(number) else None


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
            number = finite_float(value)
            if number is None:
                raise StrikePoseError(f"pose {name} must be a finite number, got {shown(value)}")
            if name in ANGLE_AXES and abs(number) > MAX_ANGLE:
                raise StrikePoseError(
                    f"pose {name} is {number:g} degrees, far outside a turn; give an angle within "
                    f"+-{MAX_ANGLE:g} (angles repeat every 360 degrees: {math.fmod(number, 360.0):g} is the same)"
                )
            if name in ("x", "y", "z") and abs(number) > MAX_DISTANCE:
                raise StrikePoseError(
                    f"pose {name} is {number:g}, too far to draw; keep x, y and z within +-{MAX_DISTANCE:g} "
                    f"(the far plane is at z = -{FAR:g})"
                )
            object.__setattr__(self, name, number)
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
            unknown = [key for key in value if key not in POSE_FIELDS]
            if unknown:
                raise StrikePoseError(
                    f"unknown pose field {shown(unknown[0])}; the fields are {', '.join(POSE_FIELDS)}"
                )
            return cls(**value)
        try:
            if isinstance(value, (str, bytes)) or np.ndim(value) == 0:
                raise TypeError("not a sequence")
            values = [float(v) for v in np.asarray(value, dtype=np.float64).reshape(-1)]
        except (TypeError, ValueError, OverflowError) as exc:
            raise StrikePoseError(f"a pose is six numbers yaw,pitch,roll,x,y,z; got {shown(value)}") from exc
        if len(values) != 6:
            raise StrikePoseError(f"a pose is six numbers yaw,pitch,roll,x,y,z; got {len(values)}: {shown(value)}")
        return cls(*values)

    @classmethod
    def parse(cls, text: str) -> "Pose":
        """Parse 'YAW,PITCH,ROLL,X,Y,Z' as typed on the command line."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 6:
            raise StrikePoseError(
                f"--pose takes six comma-separated numbers YAW,PITCH,ROLL,X,Y,Z; got {shown(text)}"
            )
        try:
            values = [float(p) for p in parts]
        except ValueError as exc:
            raise StrikePoseError(f"--pose takes numbers YAW,PITCH,ROLL,X,Y,Z; got {shown(text)}") from exc
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
        largest = np.abs(d).max()
        if not 1e-150 < largest < 1e150:  # the norm of huge (or tiny) components overflows (or underflows)
            d = d / largest
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
    detector_class: str | None = None  # the MS COCO class the detector should see; None: from true_class

    def __repr__(self) -> str:
        mesh = f"{self.mesh.triangle_count} triangles" if hasattr(self.mesh, "triangle_count") else type(self.mesh).__name__
        background = "none" if self.background is None else f"{self.background.width}x{self.background.height} image"
        return (f"Scene(name={self.name!r}, true_class={self.true_class}, mesh={mesh}, background={background}, "
                f"camera={self.camera}, light={self.light}, pose={self.pose})")

    def with_light(self, **changes) -> "Scene":
        return replace(self, light=replace(self.light, **changes))

    def with_camera(self, **changes) -> "Scene":
        return replace(self, camera=replace(self.camera, **changes))

    def as_shown(self, background: bool = True, texture: bool = True, specular: float | None = None) -> "Scene":
        """The scene derived for display, which both renderers draw as they draw any scene: without
        `background` the frame is the ImageNet mean colour; without `texture` the object is plain grey
        (PLAIN_ALBEDO); `specular`, when given, is the light's specular strength (0 turns it off).

        The same mesh always gives the same plain mesh (the renderers keep uploads by mesh), and with
        nothing to change the scene itself comes back.
        """
        scene = self
        if not background and scene.background is not None:
            scene = replace(scene, background=None)
        if not texture:
            scene = replace(scene, mesh=plain_mesh(scene.mesh))
        if specular is not None and scene.light.specular != specular:
            scene = scene.with_light(specular=specular)
        return scene

    def describe(self) -> dict:
        """What an export records to reproduce this scene."""
        return {
            "name": self.name,
            **self.source,
            "true_class": self.true_class,
            **({"detector_class": self.detector_class} if self.detector_class else {}),
            "camera": asdict(self.camera),
            "light": {**asdict(self.light), "direction": list(self.light.direction)},
        }


_PLAIN_TEXTURE = np.full((4, 4, 3), PLAIN_ALBEDO, np.uint8)
_PLAIN_TEXTURE.setflags(write=False)  # shared by every plain mesh
_plain_meshes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # mesh -> its plain mesh, while it lives
_plain_lock = threading.Lock()


def plain_mesh(mesh: Any) -> Any:
    """`mesh` with a plain grey texture (PLAIN_ALBEDO), the same object for the same mesh."""
    with _plain_lock:
        try:
            plain = _plain_meshes.get(mesh)
        except TypeError:  # a mesh that cannot be weakly referenced: not kept
            return replace(mesh, texture=_PLAIN_TEXTURE)
        if plain is None:
            plain = _plain_meshes[mesh] = replace(mesh, texture=_PLAIN_TEXTURE)
        return plain


# ----------------------------------------------------------------------------- validation helpers

_TOP_FIELDS = {"name", "mesh", "texture", "background", "true_class", "detector_class", "camera", "light", "pose",
               "object"}
OBJECT_FIELDS = ("title", "registry", "package", "version", "licence", "files")  # where a fetched object comes from


def _number(where: str, value: Any, lo: float | None = None, hi: float | None = None) -> float:
    """`value` as a float if it is a finite number within lo..hi (either bound may be None), else a
    StrikePoseError naming `where`: the one number check of scene and experiment files."""
    number = finite_float(value)
    if number is None:
        raise StrikePoseError(f"{where} must be a finite number, got {shown(value)}")
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        bound = (f"between {lo:g} and {hi:g}" if lo is not None and hi is not None else
                 f"at least {lo:g}" if lo is not None else f"at most {hi:g}")
        raise StrikePoseError(f"{where} must be {bound}, got {shown(value)}")
    return number


def _table(where: str, data: dict, cls) -> dict:
    return _table_of(where, data, [f.name for f in fields(cls)])


def _table_of(where: str, data: dict, names) -> dict:
    if not isinstance(data, dict):
        raise StrikePoseError(f"{where} must be a table like [{where}], got {shown(data)}")
    names = set(names)
    for key in data:
        if key not in names:
            raise StrikePoseError(f"unknown field {where}.{str(key)[:80]}; the fields of [{where}] are "
                                  f"{', '.join(sorted(names))}")
    return data


def parse_camera(data: dict, where: str = "camera") -> Camera:
    _table(where, data, Camera)
    return Camera(**{k: _number(f"{where}.{k}", v, 1.0, 170.0) for k, v in data.items()})


CAMERA_PLACEMENT = "z"  # [camera] z of a scene file: where its camera sits; not a Camera field


def parse_scene_camera(data: dict, where: str = "camera") -> tuple[Camera, float]:
    """A scene file's [camera]: the Camera, and `z`, where the file's camera sits on the z axis (default 0,
    this project's convention: the camera at the origin). A scene written for a camera at z = 2 (the
    original strike-with-a-pose app's CAMERA_DISTANCE) gives its object's z relative to that camera's
    origin; loading subtracts the camera's z, so everything after loading has the camera at the origin."""
    _table_of(where, data, [*(f.name for f in fields(Camera)), CAMERA_PLACEMENT])
    z = _number(f"{where}.{CAMERA_PLACEMENT}", data.get(CAMERA_PLACEMENT, 0.0), -MAX_DISTANCE, MAX_DISTANCE)
    return parse_camera({k: v for k, v in data.items() if k != CAMERA_PLACEMENT}, where), z


def parse_light(data: dict, where: str = "light") -> Light:
    _table(where, data, Light)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "direction":
            if not isinstance(value, (list, tuple)) or len(value) != 3:
                raise StrikePoseError(f"{where}.direction must be three numbers [x, y, z], got {shown(value)}")
            vec = tuple(_number(f"{where}.direction", v) for v in value)
            if math.hypot(*vec) < 1e-9:
                raise StrikePoseError(f"{where}.direction must not be zero")
            out[key] = vec
        elif key == "shininess":
            out[key] = _number(f"{where}.{key}", value, 1.0, 1000.0)
        else:
            out[key] = _number(f"{where}.{key}", value, 0.0, 10.0)
    return Light(**out)


def parse_pose(data: dict, where: str = "pose", camera_z: float = 0.0) -> Pose:
    """The [pose] table as a Pose; with `camera_z` (see parse_scene_camera) its z, given or the default,
    is moved from the file's camera to this project's camera at the origin."""
    _table(where, data, Pose)
    values = {k: _number(f"{where}.{k}", v) for k, v in data.items()}
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
    _table_of(where, data, OBJECT_FIELDS)
    for key, value in data.items():
        ok = all(isinstance(v, str) for v in value) if key == "files" and isinstance(value, list) else isinstance(value, str)
        if not ok:
            raise StrikePoseError(f"{where}.{key} must be {'a list of strings' if key == 'files' else 'a string'}, "
                                  f"got {shown(value)}")
    return dict(data)


def scene_path(name_or_path: str | Path) -> Path:
    """The file of a bundled scene name, or the given path."""
    import difflib

    from strike_pose.assets.mesh import mesh_suffix

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
        raise StrikePoseError(f"scene file {path} is not UTF-8 text (byte {exc.start} is {raw[exc.start:exc.start + 1]!r}); "
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


def check_shot(record: Any) -> None:
    """Check the fields of an exported shot that `classify --from` uses (scene, pose, model), naming the
    first bad one; their values are checked again where they are used."""
    if not isinstance(record, dict):
        raise StrikePoseError(f"a shot is a JSON object with 'scene' and 'pose', got {shown(record)}; give a JSON "
                              "written by `strike-pose search` or the GUI")
    for key in ("scene", "pose"):
        if key not in record:
            raise StrikePoseError(f"the shot has no {key!r} field; give a JSON written by `strike-pose search` or the GUI")
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
            raise StrikePoseError(f"the shot's scene file {path} is a folder; restore the scene file to reproduce the shot")
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
