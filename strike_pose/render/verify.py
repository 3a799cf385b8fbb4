"""Checks of the differentiable twin against OpenGL: picture parity and gradient agreement.

The gradient reference is a supersampled OpenGL render (SUPERSAMPLE x SUPERSAMPLE samples per pixel)
under a smooth image-space loss (fixed random weights over a Gaussian-blurred image), differentiated
by central finite differences. Finite differences of the classifier's loss are no reference: that
loss is rough at the scale of a degree (see `classifier_fd_agreement` and BENCHMARKS.md).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from strike_pose.render.diff import render_differentiable
from strike_pose.scene import Pose, Scene

SUPERSAMPLE = 4
FD_STEP = np.array([0.5, 0.5, 0.5, 0.01, 0.01, 0.02])  # degrees, scene units
BAND = 3  # pixels either side of the outline that count as "silhouette"


def random_natural_pose(rng: np.random.Generator, start: Pose) -> np.ndarray:
    """Yaw anywhere, pitch and roll within 30 degrees, a little off-centre, about the start's distance."""
    return np.array([rng.uniform(0, 360), rng.uniform(-30, 30), rng.uniform(-30, 30),
                     rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3), start.z + rng.uniform(-1, 1)])


def parity(renderer, scene: Scene, pose, size: int = 224, antialias: bool = True) -> float:
    """Mean |twin - OpenGL (no MSAA)| over the image, in 1/255."""
    gl = renderer.render(scene, Pose.of(pose), size=size).astype(np.float64)
    with torch.no_grad():
        twin = render_differentiable(scene, torch.tensor(np.asarray(pose), dtype=torch.float32), size=size,
                                     antialias=antialias, renderer=renderer)
    return float(np.abs(twin.double().numpy() * 255 - gl).mean())


def blur(image: torch.Tensor, sigma: float = 2.0) -> torch.Tensor:
    """Separable Gaussian blur of an (H, W, 3) image."""
    radius = int(3 * sigma)
    x = torch.arange(-radius, radius + 1, dtype=image.dtype)
    k = torch.exp(-x ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    y = image.permute(2, 0, 1)[:, None]
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1))
    return y[:, 0].permute(1, 2, 0)


def supersampled(renderer, scene: Scene, pose, size: int) -> torch.Tensor:
    """OpenGL at SUPERSAMPLE x the size, each block of samples averaged: (size, size, 3) float64 in [0, 1].
    The blocks are summed as integers (exact, and four times faster than a float mean over two axes)."""
    s = SUPERSAMPLE
    image = renderer.render(scene, Pose.of(pose), size=size * s)
    rows = image.reshape(size, s, size * s * 3).astype(np.uint16).sum(axis=1)  # at most 16 x 255: fits
    blocks = rows.reshape(size, size, s, 3).sum(axis=2)
    return torch.from_numpy(blocks / float(s * s * 255))


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    t = torch.from_numpy(mask.astype(np.float32))[None, None]
    return F.max_pool2d(t, 2 * radius + 1, stride=1, padding=radius)[0, 0].numpy() > 0


def regions(renderer, scene: Scene, pose, size: int) -> dict[str, np.ndarray]:
    """Pixel masks: the whole image, a band around the outline, and the object's interior."""
    ids, _ = renderer.render_visibility(scene, Pose.of(pose), size=size)
    mask = ids > 0
    return {
        "all": np.ones_like(mask),
        "silhouette": _dilate(mask, BAND) & _dilate(~mask, BAND),
        "interior": ~_dilate(~mask, BAND),
    }


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30))


def gradient_agreement(renderer, scene: Scene, pose: np.ndarray, rng: np.random.Generator,
                       size: int = 224) -> dict[str, float]:
    """Cosine between the twin's analytic gradient and central differences of supersampled OpenGL,
    for a smooth loss over the whole image, the silhouette band and the interior."""
    weights = torch.from_numpy(rng.normal(size=(size, size, 3)))
    masks = regions(renderer, scene, pose, size)
    losses = {name: weights * torch.from_numpy(m[..., None].astype(np.float64)) for name, m in masks.items()}

    p = torch.tensor(pose, dtype=torch.float64, requires_grad=True)
    blurred = blur(render_differentiable(scene, p, size=size, renderer=renderer))
    analytic = {}
    for name, w in losses.items():
        (grad,) = torch.autograd.grad((w * blurred).sum(), p, retain_graph=True)
        analytic[name] = grad.numpy()

    plus, minus = [], []
    for i in range(6):
        offset = np.eye(6)[i] * FD_STEP[i]
        plus.append(blur(supersampled(renderer, scene, pose + offset, size)))
        minus.append(blur(supersampled(renderer, scene, pose - offset, size)))
    out = {}
    for name, w in losses.items():
        fd = np.array([float((w * (plus[i] - minus[i])).sum()) / (2 * FD_STEP[i]) for i in range(6)])
        out[name] = cosine(analytic[name], fd)
    return out


def batched_gradient_agreement(renderer, scene: Scene, poses: np.ndarray, rng: np.random.Generator,
                               size: int = 224) -> list[float]:
    """Per pose of a batch rendered in one pass, the cosine between the twin's gradient of a smooth
    loss and central differences of supersampled OpenGL (the whole image, as `gradient_agreement`)."""
    weights = torch.from_numpy(rng.normal(size=(len(poses), size, size, 3)))
    p = torch.tensor(np.asarray(poses, np.float64), requires_grad=True)
    images = render_differentiable(scene, p, size=size, renderer=renderer)
    loss = sum((weights[i] * blur(images[i])).sum() for i in range(len(poses)))
    (analytic,) = torch.autograd.grad(loss, p)
    out = []
    for i, pose in enumerate(np.asarray(poses, np.float64)):
        fd = []
        for k in range(6):
            offset = np.eye(6)[k] * FD_STEP[k]
            plus = blur(supersampled(renderer, scene, pose + offset, size))
            minus = blur(supersampled(renderer, scene, pose - offset, size))
            fd.append(float((weights[i] * (plus - minus)).sum()) / (2 * FD_STEP[k]))
        out.append(cosine(analytic[i].numpy(), np.array(fd)))
    return out
