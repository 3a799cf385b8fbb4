"""Rendering: `gl` draws the picture with OpenGL; `diff` is its differentiable torch twin.

`render_image(scene, pose)` is the picture from this thread's renderer.
"""

from __future__ import annotations

import threading

import numpy as np

from strike_pose.render.gl import GLRenderer
from strike_pose.scene import Pose, Scene

_local = threading.local()  # one offscreen GL context per thread: contexts are bound to a thread


class _ThreadRenderer:
    """A thread's renderer. When the thread ends, Python drops its thread-local data, and this releases
    the renderer's GL objects and its context (about 13 MB each, else kept for the life of the process)."""

    def __init__(self) -> None:
        self.renderer = GLRenderer()

    def __del__(self) -> None:
        try:
            self.renderer.release()
            self.renderer.ctx.release()
        except Exception:  # at interpreter exit the GL library may already be gone
            pass


def default_renderer() -> GLRenderer:
    """This thread's offscreen renderer, created on first use."""
    holder = getattr(_local, "holder", None)
    if holder is None:
        holder = _local.holder = _ThreadRenderer()
    return holder.renderer


def render_image(scene: Scene, pose: Pose | tuple | None = None, size: int | tuple[int, int] | None = None,
                 msaa: int = 0) -> np.ndarray:
    """The picture of `scene` at `pose` (Pose or six numbers), (H, W, 3) uint8, default 224x224.

    The framing depends only on the camera, so a larger size is a supersampled view of the same picture.
    """
    return default_renderer().render(scene, pose, size=size or 224, msaa=msaa)


__all__ = ["GLRenderer", "default_renderer", "render_image"]
