"""Rotations in the project's one convention, written once for every layer.

A pose is six numbers named by POSE_AXES: yaw, pitch, roll in degrees and the centre x, y, z. Its
orientation is R = Ry(yaw) Rx(pitch) Rz(roll) (docs/RENDERING.md). The scene, the renderers, the
search, the visualizer and the experiments all turn angles into matrices, matrices back into angles,
measure the rotation between two poses and wrap angles; when each wrote its own, one of two copies
of `euler_from_matrix` lost the gimbal-lock case. So this module sits below all of them and imports
only numpy (and torch, only when it is handed torch tensors).
"""

from __future__ import annotations

import math

import numpy as np

POSE_AXES = ("yaw", "pitch", "roll", "x", "y", "z")  # the six numbers of a pose, in order
ANGLE_AXES = POSE_AXES[:3]  # the ones in degrees

_LOCK = 1 - 1e-9  # |sin pitch| above this: gimbal lock, where only yaw -/+ roll is defined


def _array_ops(a):
    """(cos, sin, ones_like, zeros_like, stack along the last axis) for torch tensors, else numpy's."""
    if not type(a).__module__.startswith("torch"):
        return np.cos, np.sin, np.ones_like, np.zeros_like, lambda entries: np.stack(entries, axis=-1)
    import torch

    return torch.cos, torch.sin, torch.ones_like, torch.zeros_like, lambda entries: torch.stack(entries, dim=-1)


def rotation(yaw, pitch, roll):
    """Rotations Ry(yaw) Rx(pitch) Rz(roll) from angles in degrees: (..., 3, 3) for angles of any shape
    (..., ), so a batch of poses gives a batch of matrices. Torch tensors in, torch out (differentiable);
    numpy arrays (or floats) in, numpy out."""
    if not type(yaw).__module__.startswith("torch"):
        yaw, pitch, roll = (np.asarray(a) for a in (yaw, pitch, roll))
    cos, sin, ones_like, zeros_like, stack = _array_ops(yaw)
    y, p, r = (a * (math.pi / 180) for a in (yaw, pitch, roll))
    one, zero = ones_like(y), zeros_like(y)
    cy, sy, cp, sp, cr, sr = cos(y), sin(y), cos(p), sin(p), cos(r), sin(r)

    def matrix(*entries):
        return stack(entries).reshape(*y.shape, 3, 3)

    ry = matrix(cy, zero, sy, zero, one, zero, -sy, zero, cy)
    rx = matrix(one, zero, zero, zero, cp, -sp, zero, sp, cp)
    rz = matrix(cr, -sr, zero, sr, cr, zero, zero, zero, one)
    return ry @ rx @ rz


def rotation_matrix(pose) -> np.ndarray:
    """The 3x3 rotation of a pose vector (its first three numbers: yaw, pitch, roll), float64."""
    t = np.asarray(pose[:3], np.float64)
    return rotation(t[0], t[1], t[2])


def wrap_degrees(angle):
    """An angle (or an array of angles) in [-180, 180)."""
    return (angle + 180.0) % 360.0 - 180.0


def unwrap_degrees(angles, near) -> np.ndarray:
    """Angles shifted by multiples of 360 to lie closest to `near` (keeps poses readable)."""
    a, near = np.asarray(angles, np.float64), np.asarray(near, np.float64)
    return a + 360.0 * np.round((near - a) / 360.0)


def euler_from_matrix(r: np.ndarray, near: tuple[float, float, float] | None = None) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees, each in [-180, 180), with r = Ry(yaw) Rx(pitch) Rz(roll).

    A rotation has two such triples (pitch and 180 - pitch); the one with pitch in [-90, 90] is taken,
    or with `near` (previous angles) the one nearest them, so sliders do not jump. At pitch +-90
    (gimbal lock) only yaw -/+ roll is defined: roll is 0 and yaw takes the whole turn.
    """
    sin_pitch = float(np.clip(-r[1, 2], -1.0, 1.0))
    pitch = math.asin(sin_pitch)
    if abs(sin_pitch) > _LOCK:
        yaw = math.atan2(r[0, 1], r[0, 0]) if sin_pitch > 0 else math.atan2(-r[0, 1], r[0, 0])
        candidates = [(yaw, pitch, 0.0)]
    else:
        yaw = math.atan2(r[0, 2], r[2, 2])
        roll = math.atan2(r[1, 0], r[1, 1])
        candidates = [(yaw, pitch, roll), (yaw + math.pi, math.pi - pitch, roll + math.pi)]
    solutions = [tuple(wrap_degrees(math.degrees(a)) for a in c) for c in candidates]
    if near is None or len(solutions) == 1:
        return solutions[0]
    return min(solutions, key=lambda s: sum(abs(wrap_degrees(a - b)) for a, b in zip(s, near)))


def _rodrigues(unit_axis: np.ndarray, sin: float, cos: float) -> np.ndarray:
    k = np.array([[0, -unit_axis[2], unit_axis[1]], [unit_axis[2], 0, -unit_axis[0]], [-unit_axis[1], unit_axis[0], 0]])
    return np.eye(3) + sin * k + (1 - cos) * (k @ k)


def axis_angle_matrix(axis: np.ndarray, angle_deg: float) -> np.ndarray:
    """The rotation by `angle_deg` degrees about `axis` (any length but zero), right-handed."""
    axis = np.asarray(axis, np.float64)
    a = math.radians(angle_deg)
    return _rodrigues(axis / np.linalg.norm(axis), math.sin(a), math.cos(a))


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 3x3 rotation that turns unit vector a onto unit vector b about their common normal."""
    axis = np.cross(a, b)
    sin = float(np.linalg.norm(axis))
    cos = float(np.clip(np.dot(a, b), -1.0, 1.0))
    if sin < 1e-12:
        return np.eye(3)
    return _rodrigues(axis / sin, sin, cos)


def quaternion_matrix(q: np.ndarray) -> np.ndarray:
    """The rotation of a unit quaternion (w, x, y, z)."""
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def relative_rotation(a, b) -> np.ndarray:
    """R(b) R(a)^T: the rotation that takes pose a's orientation to pose b's."""
    return rotation_matrix(b) @ rotation_matrix(a).T


def rotation_angle(a, b) -> float:
    """The angle in degrees of the rotation that takes pose a's orientation to pose b's (geodesic)."""
    rel = relative_rotation(a, b)
    return math.degrees(math.acos(max(-1.0, min(1.0, (np.trace(rel) - 1) / 2))))


def rotation_axis(a, b) -> np.ndarray:
    """The axis of the rotation from pose a's orientation to pose b's, with length 2 sin(angle): near
    zero when they are (almost) the same or half a turn apart, where no axis can be read."""
    rel = relative_rotation(a, b)
    return np.array([rel[2, 1] - rel[1, 2], rel[0, 2] - rel[2, 0], rel[1, 0] - rel[0, 1]])


def turned_towards(a, b, angle_deg: float, tolerance: float = 1e-9) -> np.ndarray | None:
    """Pose a's orientation turned by `angle_deg` degrees along the geodesic towards pose b's, as a
    3x3 matrix; None where the geodesic has no axis (the rotation axis is shorter than `tolerance`)."""
    axis = rotation_axis(a, b)
    if np.linalg.norm(axis) <= tolerance:
        return None
    return axis_angle_matrix(axis, angle_deg) @ rotation_matrix(a)
