"""The pose and camera maths, written once and used by both renderers.

The rotation itself comes from strike_pose.rotations (every layer shares it); this module adds the
translation, the projection and the framing. The OpenGL renderer calls these on float64 numpy arrays
and uploads the result (so rendering needs no torch); the differentiable twin calls them on torch
tensors that require grad. Conventions (docs/RENDERING.md):
- R = Ry(yaw) Rx(pitch) Rz(roll), angles in degrees; v_camera = R v_object + (x, y, z);
- camera at the origin looking down -z, +y up; OpenGL perspective with a vertical field of view;
- pixel (row i, column j) of an H x W image has its centre at NDC ((j + .5) / W * 2 - 1, 1 - (i + .5) / H * 2).
"""

from __future__ import annotations

import math

from typing import TYPE_CHECKING

import numpy as np

from strike_pose.rotations import rotation

if TYPE_CHECKING:
    import torch


def pose_rotation_translation(pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(R, t) of a pose tensor or array (yaw, pitch, roll in degrees, x, y, z): (3, 3) and (3,) for one
    pose, (N, 3, 3) and (N, 3) for a batch (N, 6)."""
    return rotation(pose[..., 0], pose[..., 1], pose[..., 2]), pose[..., 3:6]


def projection(fov_y: float, aspect: float, near: float, far: float) -> np.ndarray:
    """The OpenGL perspective matrix (row-major float64)."""
    f = 1.0 / math.tan(math.radians(fov_y) / 2)
    return np.array(
        [
            [f / aspect, 0, 0, 0],
            [0, f, 0, 0],
            [0, 0, (far + near) / (near - far), 2 * far * near / (near - far)],
            [0, 0, -1, 0],
        ],
        dtype=np.float64,
    )


def model_matrix(pose) -> np.ndarray:
    """4x4 row-major float64 matrix of a Pose (for the OpenGL renderer)."""
    r, t = pose_rotation_translation(np.array(pose.as_tuple(), dtype=np.float64))
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = r, t
    return m


def frustum_half_extent(fov_y: float, aspect: float = 1.0) -> tuple[float, float]:
    """tan of the half field of view, horizontally and vertically: |x| <= -z * tx keeps a point in view."""
    ty = math.tan(math.radians(fov_y) / 2)
    return ty * aspect, ty
