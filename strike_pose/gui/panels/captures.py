"""The captures panel: the Capture button, the shots taken (a click returns to one) and where they go."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from imgui_bundle import imgui

from strike_pose.gui.capture import Shot
from strike_pose.gui.panels.common import GREY
from strike_pose.gui.view import ViewSettings


def captures_panel(shots: list[Shot], export_dir: Path, view: ViewSettings, capture: Callable[[], object],
                   return_to: Callable[[Shot], None]) -> None:
    """`capture()` takes a shot, `return_to(shot)` goes back to one; the panel sets `view.save_window`."""
    if imgui.button("Capture (C)"):
        capture()
    imgui.same_line()
    _, view.save_window = imgui.checkbox("also save the window", view.save_window)
    imgui.text_colored(GREY, f"into {export_dir}")
    if not shots:
        imgui.text_colored(GREY, "no shots yet")
        return
    if imgui.begin_list_box("##captures", (-1, min(24 * len(shots) + 8, 150))):
        for i, shot in enumerate(reversed(shots)):
            mark = "FOOLED " if shot.fooled else ""
            text = f"{shot.name}  {mark}{shot.top1_label} {shot.top1_prob:.2f}##shot{i}"
            if imgui.selectable(text, False)[0]:
                return_to(shot)
        imgui.end_list_box()
