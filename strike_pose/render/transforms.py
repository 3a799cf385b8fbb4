"""The pose and camera maths, written once in torch and used by both renderers.

The OpenGL renderer calls these on float64 tensors and uploads the result; the differentiable twin
calls them on tensors that require grad. Conventions (docs/RENDERING.md):
- R = Ry(yaw) Rx(pitch) Rz(roll), angles in degrees; v_camera = R v_object + (x, y, z);
- camera at the origin looking down -z, +y up; OpenGL perspective with a vertical field of view;
- pixel (row i, column j) of an H x W image has its centre at NDC ((j + .5) / W * 2 - 1, 1 - (i + .5) / H * 2).
"""

from __future__ import annotations

import math

import numpy as np
import torch


def rotation(yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """Rotations Ry(yaw) Rx(pitch) Rz(roll) from angles in degrees (differentiable): (..., 3, 3) for
    angles of any shape (..., ), so a batch of poses gives a batch of matrices."""
    y, p, r = (torch.deg2rad(a) for a in (yaw, pitch, roll))
    one, zero = torch.ones_like(y), torch.zeros_like(y)
    cy, sy, cp, sp, cr, sr = y.cos(), y.sin(), p.cos(), p.sin(), r.cos(), r.sin()

    def matrix(*entries):
        return torch.stack(entries, dim=-1).reshape(*y.shape, 3, 3)

    ry = matrix(cy, zero, sy, zero, one, zero, -sy, zero, cy)
    rx = matrix(one, zero, zero, zero, cp, -sp, zero, sp, cp)
    rz = matrix(cr, -sr, zero, sr, cr, zero, zero, zero, one)
    return ry @ rx @ rz


def pose_rotation_translation(pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(R, t) of a pose tensor (yaw, pitch, roll in degrees, x, y, z): (3, 3) and (3,) for one pose,
    (N, 3, 3) and (N, 3) for a batch (N, 6)."""
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
    with torch.no_grad():
        r, t = pose_rotation_translation(torch.tensor(pose.as_tuple(), dtype=torch.float64))
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = r.numpy(), t.numpy()
    return m


def frustum_half_extent(fov_y: float, aspect: float = 1.0) -> tuple[float, float]:
    """tan of the half field of view, horizontally and vertically: |x| <= -z * tx keeps a point in view."""
    ty = math.tan(math.radians(fov_y) / 2)
    return ty * aspect, ty
