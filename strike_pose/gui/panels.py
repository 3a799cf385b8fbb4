"""The imgui panels: they show a Session's fields and call its methods; no logic of their own.

Layout: the view on the left (drawn behind the panels), one column of collapsible panels on the right
(predictions, the detector, search, pose & light, captures, scene, the pose map), a status line at
the bottom, and the help over the view's corner. The detector mode's boxes are drawn over the view by
`draw_boxes` (the window calls it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from imgui_bundle import imgui

from strike_pose.gui import controls
from strike_pose.gui.files import FILE_KINDS, FileBrowser, native_dialog_available, native_filters
from strike_pose.gui.layout import Layout
from strike_pose.gui.optimizer import OBJECTIVE_CHOICES
from strike_pose.gui.session import Session
from strike_pose.search import METHODS
from strike_pose.models.labels import find_classes, imagenet_labels, label_of
from strike_pose.render.transforms import frustum_half_extent

GREEN = imgui.ImVec4(0.35, 0.85, 0.40, 1.0)
ORANGE = imgui.ImVec4(1.0, 0.62, 0.20, 1.0)
RED = imgui.ImVec4(1.0, 0.40, 0.35, 1.0)
GREY = imgui.ImVec4(0.65, 0.65, 0.65, 1.0)
# the detector's boxes, as strike_pose.models.detector.draw_detections colours them in exports
OBJECT_BOX = imgui.ImVec4(40 / 255, 200 / 255, 70 / 255, 1.0)  # the object's own COCO class
OTHER_BOX = imgui.ImVec4(1.0, 150 / 255, 30 / 255, 1.0)
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


def draw(session: Session, state: PanelState, layout: Layout) -> None:
    """All panels for one frame (between imgui.new_frame() and imgui.render())."""
    _side_panel(session, state, layout)
    _status_bar(session, layout)
    if session.view.help:
        _help(session, layout)
    _file_browser(session, state, layout)
    _poll_native_dialog(session, state)


# ------------------------------------------------------------------------------------ side column

def _side_panel(session: Session, state: PanelState, layout: Layout) -> None:
    panel = layout.panel
    imgui.set_next_window_pos((panel.x, panel.y))
    imgui.set_next_window_size((panel.width, panel.height))
    imgui.begin("strike-pose##panels", None, PANEL_FLAGS | imgui.WindowFlags_.no_title_bar)
    roomy = panel.height >= ROOMY_PANEL  # a short window opens only the first two panels at start
    if _header("Predictions", True):
        _predictions(session)
    imgui.set_next_item_open(session.view.detector, imgui.Cond_.always)  # B opens and closes it too
    opened = imgui.collapsing_header("Detector (B)")
    if opened != session.view.detector:
        session.set_detector(opened)
    if opened:
        _detector(session)
    if _header("Search", True):
        _search(session, state, roomy)
    if _header("Pose and light", roomy):
        _pose(session)
    if _header("Captures", roomy):
        _captures(session)
    if _header("Scene and model", False):
        _scene(session, state)
    imgui.set_next_item_open(session.map_open, imgui.Cond_.always)  # P opens and closes it too
    opened = imgui.collapsing_header("Pose map (P)")
    if opened != session.map_open:
        session.set_map(open=opened)
    if opened:
        _pose_map(session, state)
    imgui.end()


def _header(title: str, open_at_start: bool) -> bool:
    imgui.set_next_item_open(open_at_start, imgui.Cond_.first_use_ever)
    return imgui.collapsing_header(title)


def _predictions(session: Session) -> None:
    prediction = session.prediction
    if prediction is None:
        imgui.text_colored(GREY, "waiting for the first prediction..." if session.view.live
                           else "live classification is off (L)")
    else:
        bar_width = imgui.get_content_region_avail().x * 0.4
        for row in session.classifier.top(prediction.probs, 5):
            colour = GREEN if row["index"] == session.true_class else (
                ORANGE if row["index"] == session.optimizer.settings.target else None)
            if colour is not None:
                imgui.push_style_color(imgui.Col_.plot_histogram, colour)
            imgui.progress_bar(row["prob"], (bar_width, 0), f"{row['prob']:.3f}")
            if colour is not None:
                imgui.pop_style_color()
            imgui.same_line()
            imgui.text(row["label"])
        true_p = float(prediction.probs[session.true_class])
        top1 = int(np.argmax(prediction.probs))
        imgui.text_colored(GREEN if top1 == session.true_class else RED,
                           f"true class {label_of(session.true_class)!r}: {true_p:.3f}"
                           + ("" if top1 == session.true_class else "   FOOLED"))
        target = session.optimizer.settings.target
        if target is not None:
            imgui.text_colored(ORANGE, f"target {label_of(target)!r}: {float(prediction.probs[target]):.3f}")
    now = session.clock()
    latency = session.live.latency
    rate = session.live.rate.rate(now)
    model = f"{rate:.1f}/s" if rate > 0 else "idle"
    source = {"search": "  (from the search)", "capture": "  (at capture)"}.get(
        prediction.source, "") if prediction is not None else ""
    imgui.text_colored(GREY, f"UI {session.ui_rate.rate(now):.0f} fps ({session.draw_rate.rate(now):.0f} drawn)   "
                       f"model {model}   latency "
                       + (f"{latency * 1000:.0f} ms" if latency is not None else "-") + source)
    changed, live = imgui.checkbox("live (L)", session.view.live)
    if changed:
        session.set_view(live=live)
    imgui.same_line()
    changed, cam = imgui.checkbox("Grad-CAM (G)", session.view.gradcam)
    if changed:
        session.set_view(gradcam=cam)
    imgui.same_line()
    changed, show_help = imgui.checkbox("help (H)", session.view.help)
    if changed:
        session.set_view(help=show_help)


def _detector(session: Session) -> None:
    """The detector mode: its boxes (label, score), whether the object's class is seen, its own rate."""
    detection = session.detection
    if detection.error is not None:
        _wrapped(RED, f"the detector is unavailable: {detection.error}")
        return
    if not detection.ready:
        imgui.text_colored(GREY, f"loading {detection.name}...")
        return
    _, detection.threshold = imgui.slider_float("threshold##detector", detection.threshold, 0.05, 0.95, "%.2f")
    wanted = session.coco_class
    labels = detection.detector.labels
    boxes = session.detection_boxes()
    if boxes is None:
        imgui.text_colored(GREY, "paused while Optimize runs" if session.searching
                           else "waiting for the first boxes...")
    else:
        found, _ = boxes
        if wanted is None:
            imgui.text_colored(GREY, f"{session.base_scene.name} has no COCO class (the scene may name one: "
                                     "detector_class)")
        else:
            mine = next((d for d in found if d.class_index == wanted), None)
            if mine is not None:
                imgui.text_colored(GREEN, f"{mine.label} {mine.score:.2f}: the detector sees the {mine.label}")
            else:
                best = detection.best_of(wanted)
                below = f" (its best box: {best.score:.2f} < {detection.threshold:.2f})" if best is not None else ""
                imgui.text_colored(RED, f"the detector misses the {labels[wanted]}{below}")
        imgui.text_colored(GREY, f"{len(found)} box(es) above {detection.threshold:.2f}" + (":" if found else ""))
        for d in found[:8]:
            imgui.text_colored(GREEN if d.class_index == wanted else ORANGE, f"  {d.label} {d.score:.2f}")
    forward = detection.forward_time
    rate = detection.rate.rate(session.clock())
    imgui.text_colored(GREY, f"{detection.name} on {detection.detector.device}, {detection.input_size} px: "
                       + (f"{forward * 1000:.0f} ms a pass" if forward is not None else "-") + ", "
                       + (f"{rate:.1f}/s" if rate > 0 else "idle"))


def draw_boxes(draw_list, session: Session, view) -> None:
    """The detector's boxes over the view (a layout Rect), scaled from the detector's image to the view:
    the object's COCO class in green, the others in orange, each labelled with its class and score."""
    boxes = session.detection_boxes()
    if not boxes or not boxes[0]:
        return
    found, size = boxes
    wanted = session.coco_class
    scale = view.width / max(size, 1)
    for d in sorted(found, key=lambda d: d.score):  # the best on top
        colour = imgui.get_color_u32(OBJECT_BOX if d.class_index == wanted else OTHER_BOX)
        x0, y0, x1, y1 = (view.x + d.box[0] * scale, view.y + d.box[1] * scale,
                          view.x + d.box[2] * scale, view.y + d.box[3] * scale)
        draw_list.add_rect((x0, y0), (x1, y1), colour, rounding=0.0, thickness=2.0)
        text = f"{d.label} {d.score:.2f}"
        extent = imgui.calc_text_size(text)
        w, h = extent.x, extent.y
        ty = max(view.y, y0 - h - 2)
        draw_list.add_rect_filled((x0, ty), (x0 + w + 6, ty + h + 2), colour)
        draw_list.add_text((x0 + 3, ty + 1), imgui.get_color_u32(imgui.ImVec4(0, 0, 0, 1)), text)


def _search(session: Session, state: PanelState, roomy: bool = True) -> None:
    settings = session.optimizer.settings
    imgui.begin_disabled(session.searching)
    methods = list(METHODS)
    index = methods.index(settings.method) if settings.method in methods else 0
    changed, index = imgui.combo("method", index, methods)
    if changed:
        settings.method = methods[index]
    objectives = list(OBJECTIVE_CHOICES)
    index = objectives.index(settings.objective) if settings.objective in objectives else 0
    changed, index = imgui.combo("objective", index, list(OBJECTIVE_CHOICES.values()))
    if changed:
        settings.objective = objectives[index]
    imgui.begin_disabled(settings.against_detector)  # against the detector the search is untargeted
    target_text = "untargeted (any wrong class)" if settings.target is None else \
        f"{settings.target}: {label_of(settings.target)}"
    imgui.text("target:")
    imgui.same_line()
    imgui.text_colored(ORANGE if settings.target is not None else GREY, target_text)
    if roomy or not session.searching:  # a short window hides the class picker while a search runs
        _class_picker(state, settings, 110 if roomy else 50)
    imgui.end_disabled()
    if not roomy:  # steps and learning rate share a row, without their +/- buttons
        imgui.push_item_width(imgui.get_content_region_avail().x / 2 - 64)
    changed, steps = imgui.input_int("steps", settings.steps, 10 if roomy else 0, 100 if roomy else 0)
    if changed:
        settings.steps = max(1, min(steps, 100000))
    if not roomy:
        imgui.same_line()
    default_step = "default" if settings.learning_rate == 0 else "%.4g"
    changed, size = imgui.input_float("learning rate", settings.learning_rate, 0.5 if roomy else 0, 1.0 if roomy else 0,
                                      default_step)
    if changed:
        settings.learning_rate = max(0.0, size)
    if not roomy:
        imgui.pop_item_width()
    imgui.begin_disabled(settings.whole_space)
    changed, radius = imgui.slider_float("radius", settings.radius, 1.0, 180.0, "%.0f deg")
    if changed:
        settings.radius = radius
    imgui.end_disabled()
    _, settings.whole_space = imgui.checkbox("whole pose space", settings.whole_space)
    imgui.same_line()
    _, settings.search_light = imgui.checkbox("search the light too", settings.search_light)
    _, settings.in_view = imgui.checkbox("whole object in view", settings.in_view)
    imgui.end_disabled()
    if session.searching:
        if imgui.button("Stop (O)", (120, 0)):
            session.optimizer.stop()
    elif imgui.button("Optimize (O)", (120, 0)):
        session.optimizer.begin()
    imgui.same_line()
    _, settings.auto_capture = imgui.checkbox("capture the result", settings.auto_capture)
    step = session.optimizer.step
    if step is not None and step.closest is not None:
        c = step.closest
        _wrapped(RED, f"closest fooling pose: {c.rotation_from_start:.1f} deg, "
                      f"{c.translation_from_start:.2f} units from the start")
    elif session.searching and step is not None:
        _wrapped(GREY, f"now {_rotation_from(session, step.pose):.1f} deg from the start; not fooled yet")
    if session.optimizer.loss_history and (roomy or session.searching):  # a short window drops it after the search
        losses = np.asarray(session.optimizer.loss_history, np.float32)
        step = session.optimizer.step
        overlay = f"loss {losses[-1]:.3f}  step {step.index if step else len(losses)}"
        imgui.plot_lines("##loss", losses, overlay_text=overlay,
                         graph_size=(imgui.get_content_region_avail().x, 70 if roomy else 44))


def _wrapped(colour, text: str) -> None:
    imgui.push_style_color(imgui.Col_.text, colour)
    imgui.text_wrapped(text)
    imgui.pop_style_color()


def _class_picker(state: PanelState, settings, height: float) -> None:
    """A filter field over a list of the 1000 classes (and untargeted): the search's target."""
    _, state.class_filter = imgui.input_text_with_hint("filter##classes", "type to filter the 1000 classes",
                                                        state.class_filter)
    if imgui.begin_list_box("##classes", (-1, height)):
        if imgui.selectable("untargeted (any wrong class)", settings.target is None)[0]:
            settings.target = None
        matches = [i for i, _ in find_classes(state.class_filter)]
        labels = imagenet_labels()
        clipper = imgui.ListClipper()
        clipper.begin(len(matches))
        while clipper.step():
            for i in matches[clipper.display_start:clipper.display_end]:
                if imgui.selectable(f"{i:>4} {labels[i]}", settings.target == i)[0]:
                    settings.target = i
        imgui.end_list_box()


def _rotation_from(session: Session, pose) -> float:
    from strike_pose.search.region import rotation_angle

    return rotation_angle(np.array(session.optimizer.start.as_tuple()), np.array(pose.as_tuple()))


def _slider(label: str, value: float, lo: float, hi: float, fmt: str = "%.2f") -> tuple[bool, float]:
    return imgui.slider_float(label, value, lo, hi, fmt)


def _pose(session: Session) -> None:
    pose = session.pose
    changes: dict[str, float] = {}
    for name in ("yaw", "pitch", "roll"):
        changed, value = _slider(name, getattr(pose, name), -180.0, 180.0, "%.1f deg")
        if changed:
            changes[name] = value
    half_x, half_y = frustum_half_extent(session.scene.camera.fov_y)
    reach_x, reach_y = -pose.z * half_x, -pose.z * half_y
    for name, reach in (("x", reach_x), ("y", reach_y)):
        changed, value = _slider(name, getattr(pose, name), -reach, reach, "%.3f")
        if changed:
            changes[name] = value
    changed, value = _slider("z", pose.z, controls.Z_FARTHEST, controls.Z_NEAREST, "%.2f")
    if changed:
        changes["z"] = value
    if changes:
        session.set_pose(pose.__class__(**{**pose.as_dict(), **changes}))
    if imgui.button("Reset pose (Backspace)"):
        session.reset_pose()
    imgui.separator()
    light = session.base_scene.light
    changed, value = _slider("ambient", light.ambient, 0.0, 2.0)
    if changed:
        session.set_light(ambient=value)
    changed, value = _slider("diffuse", light.diffuse, 0.0, 2.0)
    if changed:
        session.set_light(diffuse=value)
    changed, direction = imgui.drag_float3("light towards", list(light.direction), 0.01, -1.0, 1.0, "%.2f")
    if changed and float(np.linalg.norm(direction)) > 1e-3:
        session.set_light(direction=tuple(float(v) for v in direction))
    changed, on = imgui.checkbox("specular", session.view.specular)
    if changed:
        session.set_view(specular=on)
    if session.view.specular:
        changed, value = _slider("strength", session.specular_strength, 0.0, 2.0)
        if changed:
            session.set_light(specular=value)
        changed, value = _slider("shininess", light.shininess, 1.0, 256.0, "%.0f")
        if changed:
            session.set_light(shininess=value)


def _captures(session: Session) -> None:
    if imgui.button("Capture (C)"):
        session.capture()
    imgui.same_line()
    changed, on = imgui.checkbox("also save the window", session.view.save_window)
    if changed:
        session.set_view(save_window=on)
    imgui.text_colored(GREY, f"into {session.export_dir}")
    if not session.captures:
        imgui.text_colored(GREY, "no shots yet")
        return
    if imgui.begin_list_box("##captures", (-1, min(24 * len(session.captures) + 8, 150))):
        for i, shot in enumerate(reversed(session.captures)):
            mark = "FOOLED " if shot.fooled else ""
            text = f"{shot.name}  {mark}{shot.top1_label} {shot.top1_prob:.2f}##shot{i}"
            if imgui.selectable(text, False)[0]:
                session.return_to(shot)
        imgui.end_list_box()


def _pose_map(session: Session, state: PanelState) -> None:
    """The classifier's verdict over two pose axes around the pose (strike_pose.analysis.posemap): hover shows a
    cell, a click glides the object there."""
    from strike_pose.analysis.posemap import AXIS_PAIRS

    names = [" x ".join(pair) for pair in AXIS_PAIRS]
    index = AXIS_PAIRS.index(tuple(session.map_view.axes))
    changed, index = imgui.combo("axes##map", index, names)
    if changed:
        session.set_map(axes=AXIS_PAIRS[index])
    _, pose_map, error = session.map_view.snapshot()
    if error is not None:
        imgui.text_colored(RED, f"the map stopped: {error}")
        return
    if pose_map is None or state.map_texture is None:
        imgui.text_colored(GREY, "computing the coarse map..." if not session.searching else
                           "paused while Optimize runs")
        return
    texture, w, h = state.map_texture
    width = imgui.get_content_region_avail().x
    height = width * h / max(w, 1)
    imgui.image(imgui.ImTextureRef(texture), (width, height))
    if imgui.is_item_hovered():
        low, mouse = imgui.get_item_rect_min(), imgui.get_mouse_pos()
        fx, fy = (mouse.x - low.x) / max(width, 1), 1.0 - (mouse.y - low.y) / max(height, 1)
        (a_lo, a_hi), (b_lo, b_hi) = pose_map.ranges()
        cell = pose_map.cell_at(a_lo + fx * (a_hi - a_lo), b_lo + fy * (b_hi - b_lo))
        info = pose_map.cell_info(cell) if cell is not None else None
        if info is not None:
            a, b = pose_map.axes
            k = pose_map.spec.levels[info["level"]]  # the cell that was classified: its centre is where to go
            pose = pose_map.pose_of((info["level"], cell[0] // k, cell[1] // k))
            from strike_pose.rotations import POSE_AXES

            imgui.set_tooltip(f"{a} {pose[POSE_AXES.index(a)]:.1f}, {b} {pose[POSE_AXES.index(b)]:.1f}\n"
                              f"top-1 {label_of(info['top1'])} {info['top1_prob']:.2f}\n"
                              f"p({label_of(pose_map.true_class)}) {info['true_prob']:.2f}\nclick: glide there")
            if imgui.is_item_clicked():
                session.glide_to(pose, f"the map's cell at {a} {pose[POSE_AXES.index(a)]:.1f}, "
                                       f"{b} {pose[POSE_AXES.index(b)]:.1f}")
    share = pose_map.misclassified_share()
    nearest = pose_map.nearest_fooling(session.pose.as_tuple())
    imgui.text(f"misclassified: {share:.0%} of the map" + ("" if pose_map.complete else " (so far)"))
    if nearest is not None:
        imgui.text_colored(RED, f"nearest fooling cell: {nearest.distance:.1f} away ({nearest.label})")
    else:
        imgui.text_colored(GREEN, "no fooling cell on the map" + ("" if pose_map.complete else " yet"))
    from strike_pose.analysis.mapdraw import map_legend

    for entry in map_legend(pose_map, 5):
        imgui.color_button(f"##legend{entry.index}", (*[c / 255 for c in entry.colour], 1.0),
                           imgui.ColorEditFlags_.no_tooltip, (12, 12))
        imgui.same_line()
        imgui.text(f"{entry.label} {entry.share:.0%}")
    done = int(pose_map.computed.mean() * 100)
    imgui.text_colored(GREY, "done" if pose_map.complete else f"refining... ({done}% of the cells computed)")


def _scene_names(state: PanelState) -> list[str]:
    """The bundled scenes and the fetched objects, listed again every few seconds (a fetch in another
    terminal shows up without a restart)."""
    import time

    from strike_pose.scenes import available_scenes

    listed, names = state.scenes
    if time.monotonic() - listed > 3.0:
        names = available_scenes()
        state.scenes = (time.monotonic(), names)
    return names


def _scene(session: Session, state: PanelState) -> None:
    scene = session.base_scene
    imgui.text(f"scene {scene.name}: {scene.mesh.triangle_count} triangles")
    imgui.text(f"true class: {label_of(scene.true_class)}")
    names = _scene_names(state)
    if names:
        index = names.index(scene.name) if scene.name in names else -1
        changed, index = imgui.combo("scene##pick", index, names)
        if imgui.is_item_hovered():
            imgui.set_tooltip("the bundled scenes, then the objects fetched with strike-pose objects fetch")
        if changed and index >= 0:
            session.loader.open_named_scene(names[index])
    for kind, label in (("scene", "Open scene..."), ("mesh", "Open mesh..."), ("background", "Open background...")):
        if imgui.button(label):
            _open_dialog(session, state, kind)
        if kind != "background":
            imgui.same_line()
    _, state.true_class_text = imgui.input_text_with_hint("##true", "ImageNet label or index", state.true_class_text)
    imgui.same_line()
    if imgui.button("set true class") and state.true_class_text.strip():
        session.set_true_class(state.true_class_text)
    imgui.separator()
    if state.models is None:
        from strike_pose.models import list_models

        state.models = [m["name"] for m in list_models() if m["weights"]]
    models = list(state.models)
    if session.model_name not in models:
        models.append(session.model_name)
    imgui.begin_disabled(session.searching or session.loader.loading is not None)
    changed, index = imgui.combo("model", models.index(session.model_name), models)
    if changed and models[index] != session.model_name:
        session.loader.set_model(models[index])
    _, state.model_text = imgui.input_text_with_hint("##othermodel", "e.g. torchvision:resnet50", state.model_text)
    imgui.same_line()
    if imgui.button("load model"):
        session.loader.set_model(state.model_text)
    imgui.end_disabled()
    imgui.text_colored(GREY, "other models: torchvision:NAME or timm:NAME with cached weights")
    imgui.separator()
    changed, fov = _slider("field of view", scene.camera.fov_y, 5.0, 90.0, "%.1f deg")
    if changed:
        session.set_fov(fov)
    for name in ("background", "texture", "specular"):
        changed, on = imgui.checkbox(name, getattr(session.view, name))
        if changed:
            session.set_view(**{name: on})
        if name != "specular":
            imgui.same_line()


# ----------------------------------------------------------------------------- file choosing

def _open_dialog(session: Session, state: PanelState, kind: str) -> None:
    start = state.start_folder
    if native_dialog_available():
        from imgui_bundle import portable_file_dialogs as pfd

        state.native_dialog = (kind, pfd.open_file(f"Open {kind}", str(start), native_filters(kind)))
    else:
        state.browser = FileBrowser(kind, start.resolve())


def _poll_native_dialog(session: Session, state: PanelState) -> None:
    if state.native_dialog is None:
        return
    kind, dialog = state.native_dialog
    if dialog.ready(0):
        state.native_dialog = None
        chosen = dialog.result()
        if chosen:
            state.start_folder = Path(chosen[0]).parent
            session.loader.open_file(kind, chosen[0])


def _file_browser(session: Session, state: PanelState, layout: Layout) -> None:
    browser = state.browser
    if browser is None:
        return
    area = layout.view_area
    imgui.set_next_window_pos((area.x + area.width / 2, area.y + area.height / 2), imgui.Cond_.appearing, (0.5, 0.5))
    imgui.set_next_window_size((min(560, area.width - 20), min(440, area.height - 20)), imgui.Cond_.appearing)
    title, suffixes = FILE_KINDS[browser.kind]
    _, still_open = imgui.begin(f"Open {browser.kind}##browser", True, imgui.WindowFlags_.no_saved_settings)
    imgui.text_colored(GREY, f"{title}: {' '.join(suffixes)}")
    if imgui.button("Up"):
        browser.up()
    imgui.same_line()
    imgui.text(str(browser.folder))
    chosen: Path | None = None
    if imgui.begin_list_box("##entries", (-1, -60)):
        for entry in browser.entries:
            if imgui.selectable(entry.name, False)[0]:
                chosen = browser.choose(entry)
        imgui.end_list_box()
    entered, browser.typed_path = imgui.input_text("path", browser.typed_path,
                                                   imgui.InputTextFlags_.enter_returns_true)
    imgui.same_line()
    if imgui.button("Open") or entered:
        chosen = browser.typed()
    imgui.end()
    if chosen is not None:
        state.start_folder = chosen.parent
        session.loader.open_file(browser.kind, chosen)
        state.browser = None
    elif not still_open:
        state.browser = None


# ---------------------------------------------------------------------------------- overlays

def _status_bar(session: Session, layout: Layout) -> None:
    bar = layout.status
    imgui.set_next_window_pos((bar.x, bar.y))
    imgui.set_next_window_size((bar.width, bar.height))
    imgui.begin("##status", None, PANEL_FLAGS | imgui.WindowFlags_.no_title_bar | imgui.WindowFlags_.no_scrollbar)
    loading = f"[loading {session.loader.loading.what}]  " if session.loader.loading is not None else ""
    imgui.text_colored(RED if session.status_is_error else imgui.ImVec4(0.9, 0.9, 0.9, 1.0),
                       loading + session.status)
    if imgui.is_item_hovered():  # a long message is cut at the window's edge: show all of it
        imgui.set_tooltip(session.status)
    imgui.end()


def _help(session: Session, layout: Layout) -> None:
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
        session.set_view(help=False)
