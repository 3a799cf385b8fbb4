"""What every strategy minimises, and the region it searches in.

Untargeted: loss = log p(true class), pushed down; success when the top-1 is not the true class.
Targeted:   loss = -log p(target);              success when the top-1 is the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from strike_pose.render.transforms import frustum_half_extent, rotation
from strike_pose.scene import Pose, Scene


@dataclass(frozen=True)
class Objective:
    classifier: object
    true_class: int
    target: int | None = None

    def loss_from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """(N,) losses from (N, 1000) logits, differentiable."""
        log_probs = torch.log_softmax(logits.float(), dim=1)
        if self.target is None:
            return log_probs[:, self.true_class]
        return -log_probs[:, self.target]

    def success(self, probs: np.ndarray) -> bool:
        top1 = int(np.argmax(probs))
        return top1 != self.true_class if self.target is None else top1 == self.target

    @torch.no_grad()
    def evaluate(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(losses (N,), probabilities (N, 1000)) for uint8 images (N, H, W, 3)."""
        logits = self.classifier.logits(self.classifier.to_tensor(images))
        return self.loss_from_logits(logits).cpu().numpy(), torch.softmax(logits.float(), 1).cpu().numpy()


def rotation_matrix(pose: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        t = torch.as_tensor(np.asarray(pose[:3], np.float64))
        return rotation(t[0], t[1], t[2]).numpy()


def euler_from_matrix(r: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees with R = Ry(yaw) Rx(pitch) Rz(roll)."""
    pitch = math.asin(max(-1.0, min(1.0, -r[1, 2])))
    yaw = math.atan2(r[0, 2], r[2, 2])
    roll = math.atan2(r[1, 0], r[1, 1])
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


def rotation_angle(a: np.ndarray, b: np.ndarray) -> float:
    """The angle in degrees of the rotation that takes pose a's orientation to pose b's."""
    rel = rotation_matrix(b) @ rotation_matrix(a).T
    return math.degrees(math.acos(max(-1.0, min(1.0, (np.trace(rel) - 1) / 2))))


def _axis_angle_matrix(axis: np.ndarray, angle_deg: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    a = math.radians(angle_deg)
    return np.eye(3) + math.sin(a) * k + (1 - math.cos(a)) * (k @ k)


@dataclass(frozen=True)
class Region:
    """Where a search may go: the view frustum, a z range, and optionally a rotation radius.

    With `radius` (degrees) the orientation stays within that geodesic angle of the start's and the
    position within `radius / 30` scene units of the start's (the "nearest fooling pose").
    """

    start: Pose
    fov_y: float
    radius: float | None = None
    z_near: float = -4.0
    z_far: float = -20.0
    margin: float = 0.8  # the centre stays within this fraction of the half field of view

    def project(self, pose: np.ndarray) -> np.ndarray:
        """The nearest pose inside the region (orientation by geodesic, position by clamping)."""
        p = np.array(pose, dtype=np.float64)
        start = np.array(self.start.as_tuple())
        if self.radius is not None:
            angle = rotation_angle(start, p)
            if angle > self.radius:
                rel = rotation_matrix(p) @ rotation_matrix(start).T
                axis = np.array([rel[2, 1] - rel[1, 2], rel[0, 2] - rel[2, 0], rel[1, 0] - rel[0, 1]])
                if np.linalg.norm(axis) > 1e-9:
                    r = _axis_angle_matrix(axis, self.radius) @ rotation_matrix(start)
                    p[:3] = _unwrap(euler_from_matrix(r), p[:3])
            reach = self.radius / 30.0
            p[3:6] = np.clip(p[3:6], start[3:6] - reach, start[3:6] + reach)
        p[5] = min(max(p[5], self.z_far), self.z_near)
        tx, ty = frustum_half_extent(self.fov_y)
        limit_x, limit_y = -p[5] * tx * self.margin, -p[5] * ty * self.margin
        p[3] = min(max(p[3], -limit_x), limit_x)
        p[4] = min(max(p[4], -limit_y), limit_y)
        return p

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n poses drawn uniformly from the region (orientations uniform on the rotation group)."""
        out = np.empty((n, 6))
        start = np.array(self.start.as_tuple())
        for i in range(n):
            if self.radius is None:
                q = rng.normal(size=4)
                r = _quaternion_matrix(q / np.linalg.norm(q))
                z = rng.uniform(self.z_far, self.z_near)
                tx, ty = frustum_half_extent(self.fov_y)
                x = rng.uniform(-1, 1) * -z * tx * self.margin
                y = rng.uniform(-1, 1) * -z * ty * self.margin
                out[i] = (*euler_from_matrix(r), x, y, z)
            else:
                axis = rng.normal(size=3)
                angle = self.radius * rng.uniform() ** (1 / 3)
                r = _axis_angle_matrix(axis, angle) @ rotation_matrix(start)
                reach = self.radius / 30.0
                out[i] = (*_unwrap(euler_from_matrix(r), start[:3]), *(start[3:6] + rng.uniform(-reach, reach, 3)))
            out[i] = self.project(out[i])
        return out


def _unwrap(angles, near) -> np.ndarray:
    """Angles shifted by multiples of 360 to lie closest to `near` (keeps poses readable)."""
    a, near = np.asarray(angles, np.float64), np.asarray(near, np.float64)
    return a + 360.0 * np.round((near - a) / 360.0)


def _quaternion_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def region_for(scene: Scene, start: Pose, radius: float | None) -> Region:
    """The search region around `start`: z from 3 units nearer to 12 units farther than the start."""
    return Region(start=start, fov_y=scene.camera.fov_y, radius=radius,
                  z_near=min(-5.0, start.z + 3.0), z_far=start.z - 12.0)
