"""Keys and mouse to pose changes: pure functions, so tests reach them without a window.

Angles step by 5 degrees (Shift: 1); x, y and z step in proportion to the distance (so a step moves
the object by about the same number of pixels near or far). User moves are clamped so the object's
centre stays in view; the search's own poses are never clamped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from strike_pose.render.transforms import frustum_half_extent
from strike_pose.rotations import wrap_degrees
from strike_pose.scene import Pose

ANGLE_STEP = 5.0  # degrees
FINE_ANGLE_STEP = 1.0
XY_STEP = 0.0125  # of the distance |z|: 0.1 at z = -8
FINE_XY_STEP = 0.0025
Z_FACTOR = 1.0625  # nearer divides the distance by this, farther multiplies
FINE_Z_FACTOR = 1.0125
WHEEL_Z_FACTOR = 1.1  # per wheel notch
Z_NEAREST, Z_FARTHEST = -1.0, -40.0

# (pose field, direction) of each movement action
POSE_ACTIONS: dict[str, tuple[str, int]] = {
    "yaw_left": ("yaw", -1), "yaw_right": ("yaw", +1),
    "pitch_up": ("pitch", -1), "pitch_down": ("pitch", +1),  # up: the front face moves up
    "roll_left": ("roll", +1), "roll_right": ("roll", -1),  # left: counter-clockwise on screen
    "move_left": ("x", -1), "move_right": ("x", +1),
    "move_up": ("y", +1), "move_down": ("y", -1),
    "nearer": ("z", +1), "farther": ("z", -1),
}

# pyglet key names (pyglet.window.key.symbol_string) -> action
KEY_ACTIONS: dict[str, str] = {
    "LEFT": "yaw_left", "RIGHT": "yaw_right", "UP": "pitch_up", "DOWN": "pitch_down",
    "Q": "roll_left", "E": "roll_right", "A": "move_left", "D": "move_right",
    "W": "move_up", "S": "move_down", "R": "nearer", "F": "farther",
    "BACKSPACE": "reset_pose", "O": "optimize", "C": "capture", "L": "toggle_live",
    "H": "toggle_help", "G": "toggle_gradcam", "M": "toggle_model_view", "P": "toggle_map", "N": "centre_map",
    "B": "toggle_detector",
}
CTRL_KEY_ACTIONS: dict[str, str] = {"Q": "quit"}

# The help panel and the README show these rows.
HELP_ROWS: tuple[tuple[str, str], ...] = (
    ("Left / Right", "yaw (turn about the vertical axis)"),
    ("Up / Down", "pitch (tip forward / back)"),
    ("Q / E", "roll (counter-clockwise / clockwise)"),
    ("A / D", "move left / right"),
    ("W / S", "move up / down"),
    ("R / F", "nearer / farther"),
    ("Shift + key", "fine steps (1 degree instead of 5)"),
    ("Backspace", "reset to the starting pose (--pose, else the scene's)"),
    ("O", "start / stop Optimize (gradient search)"),
    ("C", "capture: export PNG + JSON of the view"),
    ("L", "live classification on / off"),
    ("G", "Grad-CAM heatmap of the top-1 class"),
    ("M", "show what the model sees (its input, pixel for pixel) / smooth"),
    ("P", "the pose map on / off (click a cell: the object glides there)"),
    ("N", "compute the map again around the current pose"),
    ("B", "the detector mode: YOLOv3-tiny's boxes over the view"),
    ("H", "this help on / off"),
    ("Left drag", "rotate (arcball)"),
    ("Right drag", "move in x / y"),
    ("Wheel", "nearer / farther"),
    ("Ctrl+Q or close", "quit (Escape does not quit)"),
)


def action_for_key(name: str, ctrl: bool = False) -> str | None:
    """The action of a key (pyglet's key name, e.g. 'LEFT', 'Q'), or None."""
    return (CTRL_KEY_ACTIONS if ctrl else KEY_ACTIONS).get(name)


def clamp_pose(pose: Pose, fov_y: float, aspect: float = 1.0) -> Pose:
    """Angles wrapped to [-180, 180), z within [Z_FARTHEST, Z_NEAREST], the centre inside the frustum."""
    z = min(max(pose.z, Z_FARTHEST), Z_NEAREST)
    half_x, half_y = frustum_half_extent(fov_y, aspect)
    x = min(max(pose.x, z * half_x), -z * half_x)
    y = min(max(pose.y, z * half_y), -z * half_y)
    return Pose(wrap_degrees(pose.yaw), wrap_degrees(pose.pitch), wrap_degrees(pose.roll), x, y, z)


def step_pose(pose: Pose, action: str, fine: bool = False) -> Pose:
    """The pose after one key step of a movement action (see POSE_ACTIONS); not clamped."""
    name, sign = POSE_ACTIONS[action]
    if name in ("yaw", "pitch", "roll"):
        step = FINE_ANGLE_STEP if fine else ANGLE_STEP
        return replace(pose, **{name: getattr(pose, name) + sign * step})
    if name in ("x", "y"):
        step = (FINE_XY_STEP if fine else XY_STEP) * abs(pose.z)
        return replace(pose, **{name: getattr(pose, name) + sign * step})
    factor = FINE_Z_FACTOR if fine else Z_FACTOR
    return replace(pose, z=pose.z / factor if sign > 0 else pose.z * factor)


def dolly(pose: Pose, wheel_notches: float) -> Pose:
    """Wheel up (positive) brings the object nearer; not clamped."""
    return replace(pose, z=pose.z / WHEEL_Z_FACTOR ** wheel_notches)


def world_per_pixel(z: float, fov_y: float, view_height_px: float) -> float:
    """Scene units per screen pixel at depth z, for a view `view_height_px` tall."""
    return 2.0 * abs(z) * math.tan(math.radians(fov_y) / 2) / max(view_height_px, 1.0)


def drag_translate(pose: Pose, dx_px: float, dy_px: float, fov_y: float, view_height_px: float) -> Pose:
    """Move the object with the cursor: dx right, dy down (screen pixels); not clamped."""
    scale = world_per_pixel(pose.z, fov_y, view_height_px)
    return replace(pose, x=pose.x + dx_px * scale, y=pose.y - dy_px * scale)


@dataclass
class KeyRepeater:
    """Repeats a held movement key: one step at the press, then `rate` steps a second after `delay`.

    A quick tap (as xdotool sends) gives exactly one step, whatever the frame rate.
    """

    delay: float = 0.35
    rate: float = 15.0
    _held: dict[str, list] = field(default_factory=dict)  # action -> [pressed_at, fine, repeats done]

    def press(self, action: str, fine: bool, now: float) -> None:
        self._held[action] = [now, fine, 0]

    def release(self, action: str) -> None:
        self._held.pop(action, None)

    def release_all(self) -> None:
        self._held.clear()

    def due(self, now: float) -> list[tuple[str, bool]]:
        """The (action, fine) repeats due since the last call."""
        out: list[tuple[str, bool]] = []
        for action, state in self._held.items():
            pressed_at, fine, done = state
            held_for = now - pressed_at - self.delay
            if held_for < 0:
                continue
            total = int(held_for * self.rate) + 1
            out.extend([(action, fine)] * (total - done))
            state[2] = total
        return out
