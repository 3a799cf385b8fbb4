"""The view's two renders: the model's frame (at its input size, the picture that is classified and
captured) and the smooth display (at the window's size, antialiased, once the pose rests), and which
of them the window shows. Both are rendered on the caller's thread with the caller's renderer."""

from __future__ import annotations

from typing import Callable

import numpy as np

MAX_DISPLAY = 1024  # the largest side of the smooth display render, in pixels
DISPLAY_MSAA = 2  # its antialiasing samples (4 costs twice as much on a software renderer, for little)
DISPLAY_SETTLE = 0.12  # seconds the pose rests before the smooth display is rendered (moving, the
#                        model's own frame is shown, filtered: a frame at the display's size would
#                        halve the window's rate on a CPU)


def heatmap_layer(prediction, frame: np.ndarray | None) -> np.ndarray | None:
    """The prediction's RGBA Grad-CAM layer, when it has one that fits the frame (else None)."""
    layer = None if prediction is None else prediction.layer
    if layer is not None and frame is not None and layer.shape[:2] == frame.shape[:2]:
        return layer
    return None


class ViewRenders:
    def __init__(self, renderer, clock: Callable[[], float]):
        self.renderer = renderer
        self.clock = clock
        self.frame: np.ndarray | None = None
        self.frame_id = 0
        self.frame_time = 0.0
        self.stale = True  # the scene or the pose changed: the frame is rendered again
        self.display: np.ndarray | None = None  # the smooth, higher-resolution picture the window shows
        self.display_size = 0  # its side in pixels, set by the window (0: show the model's input)
        self.display_id = 0
        self._display_dirty = True

    def render(self, scene, pose, size: int, smooth: bool) -> bool:
        """Render the frame at `size` when it is stale (returns True: a new frame), and the smooth display
        when `smooth` and the pose has rested DISPLAY_SETTLE seconds."""
        new = self.stale or self.frame is None or self.frame.shape[0] != size
        if new:
            self.frame = self.renderer.render(scene, pose, size=size)
            self.frame_id += 1
            self.frame_time = self.clock()
            self.stale = False
            self._display_dirty = True
        if smooth and self.display_stale() and self.clock() - self.frame_time >= DISPLAY_SETTLE:
            self.display = self.renderer.render(scene, pose, size=self.display_size, msaa=DISPLAY_MSAA)
            self.display_id += 1
            self._display_dirty = False
        return new

    def display_stale(self) -> bool:
        return self._display_dirty or self.display is None or self.display.shape[0] != self.display_size

    def set_display_size(self, pixels: float) -> None:
        """The window's view is `pixels` wide: the smooth display is rendered at that size (at most
        MAX_DISPLAY), in steps of 32 so that resizing does not re-render on every pixel."""
        side = int(min(MAX_DISPLAY, max(0, pixels)) // 32 * 32)
        if side != self.display_size:
            self.display_size = side
            self._display_dirty = True

    def shown(self, smooth: bool) -> tuple[np.ndarray, int, bool]:
        """What the window draws now: (image, an id that changes with it, whether to draw it smoothly):
        the smooth render once the pose rests, the model's frame (filtered smoothly) while it moves, or the
        model's frame pixel for pixel when `smooth` is off."""
        if smooth:
            if not self.display_stale():
                return self.display, -self.display_id, True
            return self.frame, self.frame_id, True
        return self.frame, self.frame_id, False
