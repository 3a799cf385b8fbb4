"""Scenes and poses: small frozen dataclasses, nothing else (finding and loading scene files is
strike_pose.scenes; reading an exported shot back is strike_pose.export).

A scene file (see strike_pose/scenes/*.toml) looks like:

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

import math
import threading
import weakref
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Iterable

import numpy as np
from PIL import Image

from strike_pose.errors import StrikePoseError, shown
from strike_pose.fields import finite_float
from strike_pose.rotations import ANGLE_AXES, POSE_AXES

POSE_FIELDS = POSE_AXES  # the fields of a Pose, in the order of its six numbers
NEAR, FAR = 0.1, 1000.0
IMAGENET_MEAN_RGB = (124, 116, 104)
MAX_ANGLE = 36000.0  # degrees (100 turns): beyond it float32 maths loses the angle, so a pose is refused
MAX_DISTANCE = 1e12  # scene units: far beyond the far plane (1000), and well inside float32's range
PLAIN_ALBEDO = 179  # the grey (of 255) an object shown without its texture has: 0.7, as in the original app


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
        mesh = (f"{self.mesh.triangle_count} triangles" if hasattr(self.mesh, "triangle_count")
                else type(self.mesh).__name__)
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
