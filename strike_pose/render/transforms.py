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


def outline_points(positions: np.ndarray) -> np.ndarray:
    """The points of a mesh whose projection bounds its outline in every pose: its convex hull's
    vertices (all of them when there are too few for a hull)."""
    points = np.asarray(positions, np.float64).reshape(-1, 3)
    if len(points) < 5:
        return points
    try:
        from scipy.spatial import ConvexHull

        return points[ConvexHull(points).vertices]
    except Exception:  # flat or degenerate meshes: every vertex still bounds the outline
        return points


def wholly_in_view(points: np.ndarray, pose: np.ndarray, fov_y: float, aspect: float = 1.0) -> bool:
    """Whether every one of the object-space `points` at `pose` (yaw, pitch, roll, x, y, z) lies in front
    of the camera and inside the picture: the object's whole outline is in the frame."""
    r, t = pose_rotation_translation(np.asarray(pose[:6], np.float64))
    v = points @ r.T + t
    depth = -v[:, 2]
    if not np.all(depth > 1e-6):
        return False
    tx, ty = frustum_half_extent(fov_y, aspect)
    return bool(np.all(np.abs(v[:, 0]) <= depth * tx) and np.all(np.abs(v[:, 1]) <= depth * ty))
