"""Arcball rotation (Shoemake 1992): a drag on the view turns the pose as if rolling a ball.

The ball is centred on the view and has the view's half-size as radius; the point under the cursor
follows the cursor (the rotation is by the angle between the two ball points, in camera space: x right,
y up, z towards the viewer). Rotations compose as R_new = R_drag @ R_start, then are written back as
yaw, pitch, roll with R = Ry(yaw) Rx(pitch) Rz(roll), by strike_pose.rotations (nearest the previous
angles, so the sliders do not jump).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from strike_pose.rotations import euler_from_matrix, rotation_between, rotation_matrix
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


def rotation_of(pose: Pose) -> np.ndarray:
    """The pose's 3x3 rotation (the same matrix the renderers use)."""
    return rotation_matrix(pose.as_tuple())


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
