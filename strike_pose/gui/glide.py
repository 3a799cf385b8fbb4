"""A glide: the object moves to a chosen pose (a click on the pose map) along a path, GLIDE_DEGREES a
frame, as Optimize's walker does, never as a jump of the view. The Glider gets the pose and the field
of view as getters and moves the object through `put`; it keeps no reference to the session."""

from __future__ import annotations

from typing import Callable

import numpy as np

from strike_pose.gui import controls
from strike_pose.scene import Pose

GLIDE_DEGREES = 2.0  # the most the object turns in one frame of a glide


class Glider:
    def __init__(self, pose: Callable[[], Pose], fov_y: Callable[[], float], put: Callable[[Pose], None],
                 say: Callable[..., None]):
        self._pose, self._fov_y, self._put, self._say = pose, fov_y, put, say
        self._target: np.ndarray | None = None
        self._why = ""

    @property
    def gliding(self) -> bool:
        return self._target is not None

    def start(self, pose, why: str = "") -> None:
        """Glide to `pose` (kept in view), saying where to (`why`)."""
        self._target = np.array(controls.clamp_pose(Pose.of(pose), self._fov_y()).as_tuple())
        self._why = why or "the chosen pose"
        self._say(f"gliding to {self._why}")

    def stop(self) -> None:
        self._target = None

    def step(self) -> None:
        """Once a frame: the next pose on the way, until the target is reached."""
        if self._target is None:
            return
        from strike_pose.search.region import Region

        here = np.array(self._pose().as_tuple())
        nxt = Region(start=here, fov_y=self._fov_y()).step_towards(here, self._target, GLIDE_DEGREES)
        arrived = np.allclose(nxt, self._target, atol=1e-6)
        self._put(Pose.of(self._target if arrived else nxt))
        if arrived:
            self._target = None
            self._say(f"at {self._why}")
