"""The pose's gestures: the pose keys (a step a tap, repeated while held), the arcball drag (the left
button), the right drag that moves the object with the cursor and the wheel that brings it nearer.

Each moves the object through `set_pose`, the user's change (a running search or glide stops); the
Gestures get the pose and the field of view as getters and keep no reference to the session."""

from __future__ import annotations

from typing import Callable

from strike_pose.gui import controls
from strike_pose.gui.arcball import ArcballDrag
from strike_pose.scene import Pose


class Gestures:
    def __init__(self, pose: Callable[[], Pose], fov_y: Callable[[], float], set_pose: Callable[[Pose], None]):
        self._pose, self._fov_y, self._set_pose = pose, fov_y, set_pose
        self.repeater = controls.KeyRepeater()
        self._drag: ArcballDrag | None = None

    def step(self, action: str, fine: bool = False) -> None:
        """One step of a pose action (controls.POSE_ACTIONS); `fine`: the small step (Shift)."""
        self._set_pose(controls.step_pose(self._pose(), action, fine))

    def press(self, action: str, fine: bool, now: float) -> None:
        self.repeater.press(action, fine, now)
        self.step(action, fine)

    def release(self, action: str) -> None:
        self.repeater.release(action)

    def repeat(self, now: float) -> None:
        """The steps of the keys held down that are due by `now`."""
        for action, fine in self.repeater.due(now):
            self.step(action, fine)

    def release_all(self) -> None:
        """No key repeats any more (the window lost the focus, or a search moves the object now)."""
        self.repeater.release_all()

    def begin_rotate(self, px: float, py: float, centre: tuple[float, float], radius: float) -> None:
        self._drag = ArcballDrag(self._pose(), px, py, centre, radius)

    def rotate_to(self, px: float, py: float) -> None:
        if self._drag is not None:
            self._set_pose(self._drag.pose_at(px, py))

    def end_rotate(self) -> None:
        self._drag = None

    def drag_move(self, dx_px: float, dy_px: float, view_height_px: float) -> None:
        """Right drag: the object follows the cursor (dx right, dy down, screen pixels)."""
        self._set_pose(controls.drag_translate(self._pose(), dx_px, dy_px, self._fov_y(), view_height_px))

    def wheel(self, notches: float) -> None:
        self._set_pose(controls.dolly(self._pose(), notches))
