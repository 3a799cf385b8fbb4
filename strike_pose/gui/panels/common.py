"""What the panels share: their colours, flags and small widgets, and PanelState, what only the panels
keep between frames."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imgui_bundle import imgui

from strike_pose.gui.files import FileBrowser

GREEN = imgui.ImVec4(0.35, 0.85, 0.40, 1.0)
ORANGE = imgui.ImVec4(1.0, 0.62, 0.20, 1.0)
RED = imgui.ImVec4(1.0, 0.40, 0.35, 1.0)
GREY = imgui.ImVec4(0.65, 0.65, 0.65, 1.0)
ROOMY_PANEL = 760  # pixels of panel height below which the panels start compact
PANEL_FLAGS = (imgui.WindowFlags_.no_move | imgui.WindowFlags_.no_resize | imgui.WindowFlags_.no_collapse
               | imgui.WindowFlags_.no_saved_settings)


@dataclass
class PanelState:
    """What only the panels need between frames: typed text, the open file browser."""

    class_filter: str = ""
    model_text: str = ""
    true_class_text: str = ""
    browser: FileBrowser | None = None
    native_dialog: tuple[str, Any] | None = None  # (kind, portable_file_dialogs.open_file)
    start_folder: Path = field(default_factory=Path.cwd)
    models: list[str] | None = None
    scenes: tuple[float, list[str]] = (0.0, [])  # (when listed, the bundled scenes then the fetched objects)
    map_texture: tuple[int, int, int] | None = None  # the window's texture of the pose map: (GL name, width, height)


def wrapped(colour, text: str) -> None:
    imgui.push_style_color(imgui.Col_.text, colour)
    imgui.text_wrapped(text)
    imgui.pop_style_color()


def slider(label: str, value: float, lo: float, hi: float, fmt: str = "%.2f") -> tuple[bool, float]:
    return imgui.slider_float(label, value, lo, hi, fmt)
