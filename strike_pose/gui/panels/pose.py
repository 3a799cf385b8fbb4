"""The pose and light panel: sliders for the six pose numbers and the light. They go through the
session's actions (a change of the pose or the light stops a running search and renders again)."""

from __future__ import annotations

import numpy as np
from imgui_bundle import imgui

from strike_pose.gui import controls
from strike_pose.gui.panels.common import slider
from strike_pose.gui.session import Session
from strike_pose.render.transforms import frustum_half_extent


def pose_panel(session: Session) -> None:
    pose = session.pose
    changes: dict[str, float] = {}
    for name in ("yaw", "pitch", "roll"):
        changed, value = slider(name, getattr(pose, name), -180.0, 180.0, "%.1f deg")
        if changed:
            changes[name] = value
    half_x, half_y = frustum_half_extent(session.scene.camera.fov_y)
    reach_x, reach_y = -pose.z * half_x, -pose.z * half_y
    for name, reach in (("x", reach_x), ("y", reach_y)):
        changed, value = slider(name, getattr(pose, name), -reach, reach, "%.3f")
        if changed:
            changes[name] = value
    changed, value = slider("z", pose.z, controls.Z_FARTHEST, controls.Z_NEAREST, "%.2f")
    if changed:
        changes["z"] = value
    if changes:
        session.set_pose(pose.__class__(**{**pose.as_dict(), **changes}))
    if imgui.button("Reset pose (Backspace)"):
        session.reset_pose()
    imgui.separator()
    light = session.base_scene.light
    changed, value = slider("ambient", light.ambient, 0.0, 2.0)
    if changed:
        session.set_light(ambient=value)
    changed, value = slider("diffuse", light.diffuse, 0.0, 2.0)
    if changed:
        session.set_light(diffuse=value)
    changed, direction = imgui.drag_float3("light towards", list(light.direction), 0.01, -1.0, 1.0, "%.2f")
    if changed and float(np.linalg.norm(direction)) > 1e-3:
        session.set_light(direction=tuple(float(v) for v in direction))
    changed, on = imgui.checkbox("specular", session.view.specular)
    if changed:
        session.set_view(specular=on)
    if session.view.specular:
        changed, value = slider("strength", session.specular_strength, 0.0, 2.0)
        if changed:
            session.set_light(specular=value)
        changed, value = slider("shininess", light.shininess, 1.0, 256.0, "%.0f")
        if changed:
            session.set_light(shininess=value)
