"""Grad-CAM (Selvaraju et al. 2017): where in the image the evidence for a class lies.

The class score's gradient with respect to the last spatial feature map, averaged over space, weighs
that map's channels; the weighted sum, rectified and scaled to [0, 1], is the heatmap. The original
app had this as its class-activation mode.

The feature map is caught by a forward hook on the model's last module with a spatial (N, C, H, W)
output (found once with a probe pass). The hook acts only in the thread that is computing a heatmap,
so other threads (a search running on the same model) are untouched.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from strike_pose.errors import StrikePoseError


@dataclass(frozen=True)
class CamResult:
    probs: np.ndarray  # (1000,) softmax probabilities of the image
    class_index: int  # the class the heatmap explains
    heatmap: np.ndarray  # (H, W) float32 in [0, 1], the image's size


def last_spatial_module(model: torch.nn.Module, example: torch.Tensor) -> str:
    """The name of the module whose (N, C, H>1, W>1) output is computed last in a forward pass."""
    finished: list[str] = []
    handles = []
    for name, module in model.named_modules():
        if not name:
            continue

        def hook(_module, _inputs, output, name=name):
            if isinstance(output, torch.Tensor) and output.ndim == 4 and min(output.shape[-2:]) > 1:
                finished.append(name)

        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    if not finished:
        raise StrikePoseError("Grad-CAM needs a convolutional model (no spatial feature map was found)")
    return finished[-1]


class GradCam:
    """Heatmaps for one classifier. `close()` removes the hook."""

    def __init__(self, classifier, layer: str | None = None):
        self.classifier = classifier
        model = classifier.model
        size = classifier.input_size
        if layer is None:
            example = torch.zeros(1, 3, size, size, device=classifier.device)
            layer = last_spatial_module(model, example)
        self.layer = layer
        self._lock = threading.Lock()
        self._thread: int | None = None
        self._activation: torch.Tensor | None = None
        self._handle = dict(model.named_modules())[layer].register_forward_hook(self._catch)

    def _catch(self, _module, _inputs, output):
        if self._thread != threading.get_ident():
            return None
        # A leaf that requires grad: the backward pass stops here (only the head is differentiated).
        activation = output.detach().requires_grad_(True)
        self._activation = activation
        return activation

    def __call__(self, image: np.ndarray, class_index: int | None = None) -> CamResult:
        """The heatmap of `class_index` (default: the top-1 class) for a uint8 (H, W, 3) image."""
        clf = self.classifier
        x = clf.to_tensor(image)
        with self._lock:
            self._thread, self._activation = threading.get_ident(), None
            try:
                with torch.enable_grad():
                    logits = clf.logits(x).float()
                    activation = self._activation
                    if activation is None:
                        raise StrikePoseError("Grad-CAM: the feature map was not seen (was the hook removed?)")
                    index = int(logits[0].argmax()) if class_index is None else int(class_index)
                    (grad,) = torch.autograd.grad(logits[0, index], activation)
            finally:
                self._thread, self._activation = None, None
        with torch.no_grad():
            probs = torch.softmax(logits.detach()[0], dim=0).cpu().numpy()
            weights = grad.mean(dim=(2, 3), keepdim=True)
            cam = torch.relu((weights * activation.detach()).sum(dim=1, keepdim=True))
            cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
            peak = float(cam.max())
            cam = cam / peak if peak > 0 else cam
        return CamResult(probs, index, cam.cpu().numpy().astype(np.float32))

    def close(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None


def jet(values: np.ndarray) -> np.ndarray:
    """The classic jet colour map of values in [0, 1]: (..., 3) float32 in [0, 1], blue to red."""
    v = np.clip(np.asarray(values, np.float32), 0.0, 1.0)[..., None]
    centres = np.array([0.75, 0.5, 0.25], np.float32)  # where red, green and blue peak
    return np.clip(1.5 - np.abs(4.0 * (v - centres)), 0.0, 1.0)


def heatmap_layer(heatmap: np.ndarray, strength: float = 0.6) -> np.ndarray:
    """The heatmap as an RGBA layer to draw over the image: jet colours, more opaque where hotter.
    (H, W, 4) uint8, straight (not premultiplied) alpha, as imgui and most compositors blend."""
    heat = np.clip(np.asarray(heatmap, np.float32), 0.0, 1.0)
    layer = np.empty(heat.shape + (4,), np.uint8)
    layer[..., :3] = np.rint(jet(heat) * 255.0)
    layer[..., 3] = np.rint(strength * heat * 255.0)
    return layer


def overlay_heatmap(image: np.ndarray, heatmap: np.ndarray, strength: float = 0.6) -> np.ndarray:
    """The image with the heatmap layer blended over it (what the window shows): (H, W, 3) uint8."""
    if heatmap.shape != image.shape[:2]:
        raise StrikePoseError(f"heatmap {heatmap.shape} does not match the image {image.shape[:2]}")
    layer = heatmap_layer(heatmap, strength).astype(np.float32)
    alpha = layer[..., 3:] / 255.0
    blended = image.astype(np.float32) * (1.0 - alpha) + layer[..., :3] * alpha
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)
