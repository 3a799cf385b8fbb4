"""Rendering: `gl` draws the picture with OpenGL; `diff` is its differentiable torch twin.

`render_image(scene, pose)` is the picture from this thread's renderer; `view_problem(scene, pose)`
says when a pose shows no object (out of view, or too far away to cover a pixel).
"""

from __future__ import annotations

import threading

import numpy as np

from strike_pose.errors import warn
from strike_pose.render.gl import GLRenderer
from strike_pose.render.transforms import frustum_half_extent
from strike_pose.scene import FAR, Pose, Scene

VIEW_CHECK_SIZE = 64  # pixels: the side of the visibility picture that `view_problem` looks at

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



def view_problem(scene: Scene, pose: Pose | tuple | None = None, size: int = 224,
                 renderer: GLRenderer | None = None) -> str | None:
    """Why a `size`-pixel picture of `scene` at `pose` would not show the object, or None when it does:
    it covers no pixel of a VIEW_CHECK_SIZE-pixel picture (less than 1/4096 of the view) because it is
    out of view (or behind the camera), beyond the far plane, or in view but too far away to see."""
    pose = scene.pose if pose is None else Pose.of(pose)
    renderer = renderer or default_renderer()
    ids, _ = renderer.render_visibility(scene, pose, size=VIEW_CHECK_SIZE)
    if (ids > 0).any():
        return None
    at = ",".join(f"{v:g}" for v in pose.as_tuple())
    tx, ty = frustum_half_extent(scene.camera.fov_y)
    distance = -pose.z  # the camera sits at the origin and looks down -z
    if distance > 0 and abs(pose.x) <= distance * tx and abs(pose.y) <= distance * ty:
        nearer = f"bring z nearer to 0 (the scene starts at z={scene.pose.z:g})"
        radius = float(np.linalg.norm(np.asarray(scene.mesh.positions, np.float64), axis=1).max())
        if distance - radius > FAR:
            return (f"the object is beyond the far plane at pose {at}: nothing more than {FAR:g} units from the "
                    f"camera is drawn, so the picture shows only the background; {nearer}")
        covered = int((renderer.render_visibility(scene, pose, size=size)[0] > 0).sum())
        pixels = "no pixel" if covered == 0 else "1 pixel" if covered == 1 else f"{covered} pixels"
        return (f"the object is too small to see at pose {at}: {distance:g} units from the camera it covers "
                f"{pixels} of the {size}x{size} picture; {nearer}")
    return (f"the object is not in view at pose {at}: the picture shows only the background (x and y must stay "
            f"within about {tx:.2f} x -z of the centre)")


def warn_if_out_of_view(scene: Scene, pose: Pose | tuple | None = None, size: int = 224,
                        renderer: GLRenderer | None = None) -> None:
    """Warn (one line `warning: ...`) when the picture at `pose` would show no object: see `view_problem`."""
    problem = view_problem(scene, pose, size=size, renderer=renderer)
    if problem:
        warn(problem)


__all__ = ["GLRenderer", "default_renderer", "render_image", "view_problem", "warn_if_out_of_view"]
