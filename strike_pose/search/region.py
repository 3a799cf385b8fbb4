"""Where a search may go, and how far a pose is from where it started.

A search moves a parameter vector: the pose (yaw, pitch, roll, x, y, z) and, when the light is
searched too, the light (ambient, diffuse, direction x, y, z). SCALE gives one unit of each in the
optimisers' space: a degree for the angles and 1/30 of a scene unit for x, y, z, so a region of 30
degrees lets the object's centre move by up to one unit on each axis (about half the bus's length).

The distance of a pose from the start is the rotation between them (geodesic degrees) or its shift in
those units, whichever is larger; a Region of radius r holds every pose at most r from its start, so
shrinking the radius to the closest fooling pose found keeps exactly the poses that would be closer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from strike_pose.render.transforms import frustum_half_extent, outline_points, wholly_in_view
from strike_pose.rotations import (axis_angle_matrix, euler_from_matrix, quaternion_matrix, rotation_angle,
                                   rotation_matrix, turned_towards, unwrap_degrees)
from strike_pose.scene import Light, Pose, Scene

POSE_SCALE = np.array([1.0, 1.0, 1.0, 1 / 30, 1 / 30, 1 / 30])  # degrees; scene units per degree
LIGHT_SCALE = np.array([0.01, 0.01, 0.01, 0.01, 0.01])  # ambient, diffuse, direction per step unit
LIGHT_RANGE = (0.0, 1.5)  # ambient and diffuse stay within this range


def translation_distance(a: np.ndarray, b: np.ndarray) -> float:
    """How far pose b's centre is from pose a's, in scene units."""
    return float(np.linalg.norm(np.asarray(b[3:6], np.float64) - np.asarray(a[3:6], np.float64)))


def light_vector(light: Light) -> np.ndarray:
    """A Light as the five searched numbers (ambient, diffuse, unit direction)."""
    return np.array([light.ambient, light.diffuse, *light.unit_direction()])


def light_of(vector: np.ndarray, like: Light) -> Light:
    """The Light of five searched numbers; specular and shininess as in `like`."""
    v = np.asarray(vector, np.float64)
    return replace(like, ambient=float(v[0]), diffuse=float(v[1]), direction=tuple(float(d) for d in v[2:5]))


@dataclass(frozen=True)
class Region:
    """The poses (and lights) a search may visit: the view frustum, a z range, optionally a radius.

    With `radius` (degrees) the orientation stays within that geodesic angle of the start's and the
    centre within `radius` SCALE units of the start's on each axis (the nearest-fooling-pose mode
    shrinks the radius as it finds closer fooling poses). With `light`, the parameters are eleven:
    the pose and the light (ambient and diffuse within LIGHT_RANGE, a unit direction). With `outline`
    (the object's hull points) a pose belongs to the region only when the whole object is in the
    frame, and `project` pulls the centre back towards the start's until it is.
    """

    start: np.ndarray  # (6,) the start pose
    fov_y: float
    radius: float | None = None
    z_near: float = -4.0
    z_far: float = -20.0
    margin: float = 0.8  # the centre stays within this fraction of the half field of view
    light: np.ndarray | None = None  # (5,) the start light, when the light is searched
    outline: np.ndarray | None = None  # object-space points that must stay in the frame (None: the centre only)

    @property
    def size(self) -> int:
        """How many parameters: 6 (the pose) or 11 (the pose and the light)."""
        return 6 if self.light is None else 11

    @property
    def scale(self) -> np.ndarray:
        return POSE_SCALE if self.light is None else np.concatenate([POSE_SCALE, LIGHT_SCALE])

    def initial(self) -> np.ndarray:
        """The start as a parameter vector."""
        return np.asarray(self.start, np.float64) if self.light is None else np.concatenate([self.start, self.light])

    def shrunk(self, radius: float) -> "Region":
        return replace(self, radius=float(radius))

    def distance(self, params: np.ndarray) -> float:
        """How far a pose is from the start: max(rotation in degrees, shift in SCALE units)."""
        p = np.asarray(params, np.float64)
        shift = np.max(np.abs(p[3:6] - self.start[3:6]) / POSE_SCALE[3:6])
        return max(rotation_angle(self.start, p), float(shift))

    def in_view(self, params: np.ndarray) -> bool:
        """Whether the whole object is in the frame at these parameters (always, without an outline)."""
        return self.outline is None or wholly_in_view(self.outline, np.asarray(params, np.float64), self.fov_y)

    def _pull_into_view(self, p: np.ndarray) -> np.ndarray:
        """p with its centre moved the least way back towards the start's centre that brings the whole
        object into the frame, and when not even the start's centre does, moved farther away."""
        if self.in_view(p):
            return p
        start = np.asarray(self.start[3:6], np.float64)
        q = p.copy()
        q[3:6] = start
        if self.in_view(q):
            return self._bisect(p, p[3:6].copy(), start)
        farther = start.copy()
        farther[2] = self.z_far
        q[3:6] = farther
        return self._bisect(p, start, farther) if self.in_view(q) else q

    def _bisect(self, p: np.ndarray, out: np.ndarray, inside: np.ndarray) -> np.ndarray:
        """p with the centre nearest `out` on the segment to `inside` (in view) that shows the whole object."""
        q, lo, hi = p.copy(), 0.0, 1.0  # fractions of the way from out to inside: lo out of view, hi in
        for _ in range(12):
            mid = (lo + hi) / 2
            q[3:6] = out + mid * (inside - out)
            if self.in_view(q):
                hi = mid
            else:
                lo = mid
        q[3:6] = out + hi * (inside - out)
        return q

    def project(self, params: np.ndarray) -> np.ndarray:
        """The nearest parameters inside the region (orientation by geodesic, the rest by clamping)."""
        p = np.array(params, dtype=np.float64)
        start = np.asarray(self.start, np.float64)
        if self.radius is not None:
            if rotation_angle(start, p) > self.radius:
                r = turned_towards(start, p, self.radius)
                # None: half a turn away, no unique way back, so go back to the start's orientation
                p[:3] = start[:3] if r is None else unwrap_degrees(euler_from_matrix(r), p[:3])
            reach = self.radius * POSE_SCALE[3:6]
            p[3:6] = np.clip(p[3:6], start[3:6] - reach, start[3:6] + reach)
        p[5] = min(max(p[5], self.z_far), self.z_near)
        tx, ty = frustum_half_extent(self.fov_y)
        limit_x, limit_y = -p[5] * tx * self.margin, -p[5] * ty * self.margin
        p[3] = min(max(p[3], -limit_x), limit_x)
        p[4] = min(max(p[4], -limit_y), limit_y)
        if self.light is not None:
            p[6:8] = np.clip(p[6:8], *LIGHT_RANGE)
            norm = np.linalg.norm(p[8:11])
            p[8:11] = p[8:11] / norm if norm > 1e-6 else self.light[2:5]
        return p if self.outline is None else self._pull_into_view(p)

    def between(self, a: np.ndarray, b: np.ndarray, fraction: float) -> np.ndarray:
        """The point `fraction` of the way from a to b (beyond b when fraction > 1): the orientation
        along the geodesic, the other parameters on a straight line."""
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        out = a + fraction * (b - a)
        r = turned_towards(a, b, fraction * rotation_angle(a, b), tolerance=1e-12)
        if r is not None:
            out[:3] = unwrap_degrees(euler_from_matrix(r), out[:3])
        return out

    def step_towards(self, params: np.ndarray, target: np.ndarray, max_step: float) -> np.ndarray:
        """`params` moved towards `target` by at most `max_step`: the orientation by at most that
        many degrees (along the geodesic), every other parameter by at most that many of its units."""
        p, out = np.asarray(params, np.float64), np.array(target, np.float64)
        if rotation_angle(p, out) > max_step:
            r = turned_towards(p, out, max_step)
            out[:3] = p[:3] if r is None else unwrap_degrees(euler_from_matrix(r), p[:3])
        limit = max_step * self.scale[3:]
        out[3:] = p[3:] + np.clip(out[3:] - p[3:], -limit, limit)
        return out

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n parameter vectors drawn uniformly from the region (orientations uniform on the rotation
        group, or within the radius; lights uniform within their range)."""
        out = np.empty((n, self.size))
        start = np.asarray(self.start, np.float64)
        tx, ty = frustum_half_extent(self.fov_y)
        for i in range(n):
            if self.radius is None:
                q = rng.normal(size=4)
                r = quaternion_matrix(q / np.linalg.norm(q))
                z = rng.uniform(self.z_far, self.z_near)
                x = rng.uniform(-1, 1) * -z * tx * self.margin
                y = rng.uniform(-1, 1) * -z * ty * self.margin
                out[i, :6] = (*euler_from_matrix(r), x, y, z)
            else:
                axis = rng.normal(size=3)
                angle = self.radius * rng.uniform() ** (1 / 3)
                r = axis_angle_matrix(axis, angle) @ rotation_matrix(start)
                shift = rng.uniform(-1, 1, 3) * self.radius * POSE_SCALE[3:6]
                out[i, :6] = (*unwrap_degrees(euler_from_matrix(r), start[:3]), *(start[3:6] + shift))
            if self.light is not None:
                direction = rng.normal(size=3)
                out[i, 6:] = (*rng.uniform(*LIGHT_RANGE, 2), *direction / np.linalg.norm(direction))
            out[i] = self.project(out[i])
        return out

    def params_of(self, pose: Pose, light: Light | None = None) -> np.ndarray:
        """The parameter vector of a Pose (and Light, when the light is searched)."""
        params = np.array(pose.as_tuple(), np.float64)
        return params if self.light is None else np.concatenate([params, light_vector(light)])

    def pose_and_light(self, params: np.ndarray, scene: Scene) -> tuple[Pose, Light]:
        """The Pose and Light that a parameter vector stands for."""
        p = np.asarray(params, np.float64)
        light = scene.light if self.light is None else light_of(p[6:11], scene.light)
        return Pose.of(p[:6]), light


def region_for(scene: Scene, start: Pose, radius: float | None, search_light: bool = False,
               in_view: bool = False) -> Region:
    """The search region around `start`: z from 3 units nearer to 12 units farther than the start;
    with `in_view`, only the poses that show the whole object."""
    return Region(start=np.array(start.as_tuple()), fov_y=scene.camera.fov_y, radius=radius,
                  z_near=min(-5.0, start.z + 3.0), z_far=start.z - 12.0,
                  light=light_vector(scene.light) if search_light else None,
                  outline=outline_points(scene.mesh.positions) if in_view else None)
