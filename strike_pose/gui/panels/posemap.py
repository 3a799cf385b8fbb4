"""The pose map panel: the model's verdict over two pose axes around the pose (strike_pose.analysis.posemap,
computed by gui/mapview.py); hovering names a cell, a click glides the object there."""

from __future__ import annotations

from typing import Callable

from imgui_bundle import imgui

from strike_pose.gui.mapview import MapView
from strike_pose.gui.panels.common import GREEN, GREY, RED
from strike_pose.models.labels import label_of


def map_panel(map_view: MapView, texture: tuple[int, int, int] | None, pose: tuple[float, ...], paused: bool,
              glide_to: Callable[[tuple, str], None]) -> None:
    """`texture`: the window's texture of the map (GL name, width, height); `pose`: the current pose;
    `paused`: Optimize runs; `glide_to(pose, why)`: where a click sends the object."""
    from strike_pose.analysis.mapdraw import map_legend
    from strike_pose.analysis.posemap import AXIS_PAIRS

    names = [" x ".join(pair) for pair in AXIS_PAIRS]
    index = AXIS_PAIRS.index(tuple(map_view.axes))
    changed, index = imgui.combo("axes##map", index, names)
    if changed:
        map_view.set(axes=AXIS_PAIRS[index])
    _, pose_map, error = map_view.snapshot()
    if error is not None:
        imgui.text_colored(RED, f"the map stopped: {error}")
        return
    if pose_map is None or texture is None:
        imgui.text_colored(GREY, "computing the coarse map..." if not paused else "paused while Optimize runs")
        return
    name, w, h = texture
    width = imgui.get_content_region_avail().x
    height = width * h / max(w, 1)
    imgui.image(imgui.ImTextureRef(name), (width, height))
    if imgui.is_item_hovered():
        _hovered_cell(pose_map, width, height, glide_to)
    share = pose_map.misclassified_share()
    nearest = pose_map.nearest_fooling(pose)
    imgui.text(f"misclassified: {share:.0%} of the map" + ("" if pose_map.complete else " (so far)"))
    if nearest is not None:
        imgui.text_colored(RED, f"nearest fooling cell: {nearest.distance:.1f} away ({nearest.label})")
    else:
        imgui.text_colored(GREEN, "no fooling cell on the map" + ("" if pose_map.complete else " yet"))
    for entry in map_legend(pose_map, 5):
        imgui.color_button(f"##legend{entry.index}", (*[c / 255 for c in entry.colour], 1.0),
                           imgui.ColorEditFlags_.no_tooltip, (12, 12))
        imgui.same_line()
        imgui.text(f"{entry.label} {entry.share:.0%}")
    done = int(pose_map.computed.mean() * 100)
    imgui.text_colored(GREY, "done" if pose_map.complete else f"refining... ({done}% of the cells computed)")


def _hovered_cell(pose_map, width: float, height: float, glide_to: Callable[[tuple, str], None]) -> None:
    """The cell under the mouse: its numbers as a tooltip; a click glides the object to its centre."""
    from strike_pose.rotations import POSE_AXES

    low, mouse = imgui.get_item_rect_min(), imgui.get_mouse_pos()
    fx, fy = (mouse.x - low.x) / max(width, 1), 1.0 - (mouse.y - low.y) / max(height, 1)
    (a_lo, a_hi), (b_lo, b_hi) = pose_map.ranges()
    cell = pose_map.cell_at(a_lo + fx * (a_hi - a_lo), b_lo + fy * (b_hi - b_lo))
    info = pose_map.cell_info(cell) if cell is not None else None
    if info is None:
        return
    a, b = pose_map.axes
    k = pose_map.spec.levels[info["level"]]  # the cell that was classified: its centre is where to go
    pose = pose_map.pose_of((info["level"], cell[0] // k, cell[1] // k))
    imgui.set_tooltip(f"{a} {pose[POSE_AXES.index(a)]:.1f}, {b} {pose[POSE_AXES.index(b)]:.1f}\n"
                      f"top-1 {label_of(info['top1'])} {info['top1_prob']:.2f}\n"
                      f"p({label_of(pose_map.true_class)}) {info['true_prob']:.2f}\nclick: glide there")
    if imgui.is_item_clicked():
        glide_to(pose, f"the map's cell at {a} {pose[POSE_AXES.index(a)]:.1f}, {b} {pose[POSE_AXES.index(b)]:.1f}")
