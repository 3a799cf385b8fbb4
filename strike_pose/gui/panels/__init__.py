"""The imgui panels: each a function that draws the state it is given and edits it (or calls the
actions of the part that owns it); no logic of their own.

Layout: the view on the left (drawn behind the panels), one column of collapsible panels on the right
(predictions, the detector, search, pose & light, captures, scene, the pose map), a status line at
the bottom, and the help over the view's corner. The detector mode's boxes are drawn over the view by
`draw_boxes` (the window calls it). This module lays them out; the panels are in this package's
modules: predictions (and the detector), search, pose, captures, scene (and file choosing), posemap.
"""

from __future__ import annotations

from imgui_bundle import imgui

from strike_pose.gui import controls
from strike_pose.gui.layout import Layout
from strike_pose.gui.panels.captures import captures_panel
from strike_pose.gui.panels.common import ORANGE, PANEL_FLAGS, RED, ROOMY_PANEL, PanelState
from strike_pose.gui.panels.pose import pose_panel
from strike_pose.gui.panels.posemap import map_panel
from strike_pose.gui.panels.predictions import detector_panel, draw_boxes, predictions_panel
from strike_pose.gui.panels.scene import file_browser, poll_native_dialog, scene_panel
from strike_pose.gui.panels.search import search_panel
from strike_pose.gui.session import Session
from strike_pose.gui.view import ViewSettings

__all__ = ["PanelState", "draw", "draw_boxes"]


def draw(session: Session, state: PanelState, layout: Layout) -> None:
    """All panels for one frame (between imgui.new_frame() and imgui.render())."""
    _side_panel(session, state, layout)
    loading = session.loader.loading
    _status_bar(session.status, session.status_is_error, None if loading is None else loading.what, layout)
    if session.view.help:
        _help(session.view, layout)
    file_browser(session.loader, state, layout)
    poll_native_dialog(session.loader, state)


def _side_panel(session: Session, state: PanelState, layout: Layout) -> None:
    panel = layout.panel
    imgui.set_next_window_pos((panel.x, panel.y))
    imgui.set_next_window_size((panel.width, panel.height))
    imgui.begin("strike-pose##panels", None, PANEL_FLAGS | imgui.WindowFlags_.no_title_bar)
    roomy = panel.height >= ROOMY_PANEL  # a short window opens only the first two panels at start
    if _header("Predictions", True):
        predictions_panel(session)
    imgui.set_next_item_open(session.view.detector, imgui.Cond_.always)  # B opens and closes it too
    opened = imgui.collapsing_header("Detector (B)")
    if opened != session.view.detector:
        session.set_detector(opened)
    if opened:
        detector_panel(session.detection, session.coco_class, session.base_scene.name, session.searching,
                       session.clock())
    if _header("Search", True):
        search_panel(session.optimizer, state, roomy)
    if _header("Pose and light", roomy):
        pose_panel(session)
    if _header("Captures", roomy):
        captures_panel(session.captures, session.export_dir, session.view, session.capture, session.return_to)
    if _header("Scene and model", False):
        scene_panel(session, state)
    imgui.set_next_item_open(session.map_open, imgui.Cond_.always)  # P opens and closes it too
    opened = imgui.collapsing_header("Pose map (P)")
    if opened != session.map_open:
        session.set_map(open=opened)
    if opened:
        map_panel(session.map_view, state.map_texture, session.pose.as_tuple(), session.searching, session.glide_to)
    imgui.end()


def _header(title: str, open_at_start: bool) -> bool:
    imgui.set_next_item_open(open_at_start, imgui.Cond_.first_use_ever)
    return imgui.collapsing_header(title)


def _status_bar(status: str, is_error: bool, loading: str | None, layout: Layout) -> None:
    """The status line; `loading`: what the loader is opening, if anything."""
    bar = layout.status
    imgui.set_next_window_pos((bar.x, bar.y))
    imgui.set_next_window_size((bar.width, bar.height))
    imgui.begin("##status", None, PANEL_FLAGS | imgui.WindowFlags_.no_title_bar | imgui.WindowFlags_.no_scrollbar)
    shown = (f"[loading {loading}]  " if loading is not None else "") + status
    imgui.text_colored(RED if is_error else imgui.ImVec4(0.9, 0.9, 0.9, 1.0), shown)
    if imgui.is_item_hovered():  # a long message is cut at the window's edge: show all of it
        imgui.set_tooltip(status)
    imgui.end()


def _help(view: ViewSettings, layout: Layout) -> None:
    """The key table over the view's corner; closing it turns `view.help` off."""
    area = layout.view_area
    imgui.set_next_window_pos((area.x + 10, area.y + 10), imgui.Cond_.always)
    imgui.set_next_window_bg_alpha(0.78)
    flags = (imgui.WindowFlags_.no_move | imgui.WindowFlags_.always_auto_resize | imgui.WindowFlags_.no_saved_settings
             | imgui.WindowFlags_.no_focus_on_appearing | imgui.WindowFlags_.no_nav)
    _, still_open = imgui.begin("Help (H)", True, flags)
    if imgui.begin_table("keys", 2):
        for keys, what in controls.HELP_ROWS:
            imgui.table_next_row()
            imgui.table_next_column()
            imgui.text_colored(ORANGE, keys)
            imgui.table_next_column()
            imgui.text(what)
        imgui.end_table()
    imgui.end()
    if not still_open:
        view.help = False
