"""The desktop visualizer: explore poses by hand, watch live predictions, optimize, export shots.

`strike-pose gui` opens it. The logic lives in window-free modules that tests reach headless:
`controls` (keys, mouse steps), `arcball`, `layout`, `workers` (live analysis, search thread),
`capture`, `files`, `session` (all state and actions); `panels` and `app` are the imgui/pyglet view.
Importing this package imports no GUI library.
"""

from strike_pose.gui.app import WindowUnavailable, display_available, require_display, run_gui

__all__ = ["WindowUnavailable", "display_available", "require_display", "run_gui"]
