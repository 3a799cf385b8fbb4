"""Arcball rotation (Shoemake 1992) and the Euler angles of the project's rotation convention.

The ball is centred on the view and has the view's half-size as radius; the point under the cursor
follows the cursor (the rotation is by the angle between the two ball points, in camera space: x right,
y up, z towards the viewer). Rotations compose as R_new = R_drag @ R_start, then are written back as
yaw, pitch, roll with R = Ry(yaw) Rx(pitch) Rz(roll).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from strike_pose.render.transforms import model_matrix
from strike_pose.scene import Pose


def ball_point(px: float, py: float, centre: tuple[float, float], radius: float) -> np.ndarray:
    """The unit-ball point under screen point (px, py) (y down); outside the ball, on its rim."""
    x = (px - centre[0]) / radius
    y = -(py - centre[1]) / radius
    r2 = x * x + y * y
    if r2 <= 1.0:
        return np.array([x, y, math.sqrt(1.0 - r2)])
    r = math.sqrt(r2)
    return np.array([x / r, y / r, 0.0])


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 3x3 rotation that turns unit vector a onto unit vector b about their common normal."""
    axis = np.cross(a, b)
    sin = float(np.linalg.norm(axis))
    cos = float(np.clip(np.dot(a, b), -1.0, 1.0))
    if sin < 1e-12:
        return np.eye(3)
    k = axis / sin
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + sin * kx + (1 - cos) * (kx @ kx)


def euler_from_matrix(r: np.ndarray, near: tuple[float, float, float] | None = None) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees with R = Ry(yaw) Rx(pitch) Rz(roll).

    Of the two solutions, the one nearest `near` (previous angles) is taken, so sliders do not jump.
    """
    sin_pitch = float(np.clip(-r[1, 2], -1.0, 1.0))
    pitch = math.asin(sin_pitch)
    if abs(sin_pitch) > 1 - 1e-9:  # gimbal lock: only yaw -/+ roll is defined; keep roll at 0
        yaw = math.atan2(r[0, 1], r[0, 0]) if sin_pitch > 0 else math.atan2(-r[0, 1], r[0, 0])
        candidates = [(yaw, pitch, 0.0)]
    else:
        yaw = math.atan2(r[0, 2], r[2, 2])
        roll = math.atan2(r[1, 0], r[1, 1])
        candidates = [(yaw, pitch, roll), (yaw + math.pi, math.pi - pitch, roll + math.pi)]
    solutions = [tuple(_wrap(math.degrees(a)) for a in c) for c in candidates]
    if near is None or len(solutions) == 1:
        return solutions[0]
    return min(solutions, key=lambda s: sum(abs(_wrap(a - b)) for a, b in zip(s, near)))


def _wrap(angle: float) -> float:
    return (angle + 180.0) % 360.0 - 180.0


def rotation_of(pose: Pose) -> np.ndarray:
    """The pose's 3x3 rotation (the same matrix the renderers use)."""
    return model_matrix(pose)[:3, :3]


def with_rotation(pose: Pose, r: np.ndarray) -> Pose:
    yaw, pitch, roll = euler_from_matrix(r, near=(pose.yaw, pose.pitch, pose.roll))
    return replace(pose, yaw=yaw, pitch=pitch, roll=roll)


class ArcballDrag:
    """One left-button drag: remembers the start pose and point, turns later points into poses."""

    def __init__(self, pose: Pose, px: float, py: float, centre: tuple[float, float], radius: float):
        self.start_pose = pose
        self.centre, self.radius = centre, radius
        self.start_point = ball_point(px, py, centre, radius)
        self.start_rotation = rotation_of(pose)

    def pose_at(self, px: float, py: float) -> Pose:
        drag = rotation_between(self.start_point, ball_point(px, py, self.centre, self.radius))
        return with_rotation(self.start_pose, drag @ self.start_rotation)
