"""The search panel: Optimize's settings (method, objective, target, steps, radius, ...), its button,
and the running search's closest fooling pose and loss. It draws and edits the Optimizer only."""

from __future__ import annotations

import numpy as np
from imgui_bundle import imgui

from strike_pose.gui.optimizer import OBJECTIVE_CHOICES, Optimizer, SearchSettings
from strike_pose.gui.panels.common import GREY, ORANGE, RED, PanelState, wrapped
from strike_pose.models.labels import find_classes, imagenet_labels, label_of
from strike_pose.search import METHODS


def search_panel(optimizer: Optimizer, state: PanelState, roomy: bool = True) -> None:
    settings = optimizer.settings
    searching = optimizer.searching
    imgui.begin_disabled(searching)
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
    if roomy or not searching:  # a short window hides the class picker while a search runs
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
    if searching:
        if imgui.button("Stop (O)", (120, 0)):
            optimizer.stop()
    elif imgui.button("Optimize (O)", (120, 0)):
        optimizer.begin()
    imgui.same_line()
    _, settings.auto_capture = imgui.checkbox("capture the result", settings.auto_capture)
    _progress(optimizer, roomy)


def _progress(optimizer: Optimizer, roomy: bool) -> None:
    """The running (or last) search: its closest fooling pose so far, or how far it is from the start,
    and its loss."""
    step, searching = optimizer.step, optimizer.searching
    if step is not None and step.closest is not None:
        c = step.closest
        wrapped(RED, f"closest fooling pose: {c.rotation_from_start:.1f} deg, "
                     f"{c.translation_from_start:.2f} units from the start")
    elif searching and step is not None:
        wrapped(GREY, f"now {_rotation_from(optimizer.start, step.pose):.1f} deg from the start; not fooled yet")
    if optimizer.loss_history and (roomy or searching):  # a short window drops it after the search
        losses = np.asarray(optimizer.loss_history, np.float32)
        overlay = f"loss {losses[-1]:.3f}  step {step.index if step else len(losses)}"
        imgui.plot_lines("##loss", losses, overlay_text=overlay,
                         graph_size=(imgui.get_content_region_avail().x, 70 if roomy else 44))


def _class_picker(state: PanelState, settings: SearchSettings, height: float) -> None:
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


def _rotation_from(start, pose) -> float:
    from strike_pose.search.region import rotation_angle

    return rotation_angle(np.array(start.as_tuple()), np.array(pose.as_tuple()))
