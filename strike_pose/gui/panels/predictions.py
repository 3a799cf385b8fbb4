"""The predictions panel (the live top-5, the true class and the target, the rates) and the detector
mode's panel and boxes over the view."""

from __future__ import annotations

import numpy as np
from imgui_bundle import imgui

from strike_pose.gui.detection import LiveDetection
from strike_pose.gui.panels.common import GREEN, GREY, ORANGE, RED, wrapped
from strike_pose.gui.session import Session
from strike_pose.models.labels import label_of

# the detector's boxes, as strike_pose.models.detector.draw_detections colours them in exports
OBJECT_BOX = imgui.ImVec4(40 / 255, 200 / 255, 70 / 255, 1.0)  # the object's own COCO class
OTHER_BOX = imgui.ImVec4(1.0, 150 / 255, 30 / 255, 1.0)


def predictions_panel(session: Session) -> None:
    """The session's newest prediction and its view toggles (live, Grad-CAM, help)."""
    prediction, true_class = session.prediction, session.true_class
    target = session.optimizer.settings.target
    if prediction is None:
        imgui.text_colored(GREY, "waiting for the first prediction..." if session.view.live
                           else "live classification is off (L)")
    else:
        bar_width = imgui.get_content_region_avail().x * 0.4
        for row in session.classifier.top(prediction.probs, 5):
            colour = GREEN if row["index"] == true_class else (ORANGE if row["index"] == target else None)
            if colour is not None:
                imgui.push_style_color(imgui.Col_.plot_histogram, colour)
            imgui.progress_bar(row["prob"], (bar_width, 0), f"{row['prob']:.3f}")
            if colour is not None:
                imgui.pop_style_color()
            imgui.same_line()
            imgui.text(row["label"])
        top1 = int(np.argmax(prediction.probs))
        imgui.text_colored(GREEN if top1 == true_class else RED,
                           f"true class {label_of(true_class)!r}: {float(prediction.probs[true_class]):.3f}"
                           + ("" if top1 == true_class else "   FOOLED"))
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
    for i, (name, label) in enumerate((("live", "live (L)"), ("gradcam", "Grad-CAM (G)"), ("help", "help (H)"))):
        if i:
            imgui.same_line()
        changed, on = imgui.checkbox(label, getattr(session.view, name))
        if changed:
            session.set_view(**{name: on})


def detector_panel(detection: LiveDetection, wanted: int | None, scene_name: str, paused: bool, now: float) -> None:
    """The detector mode: its boxes (label, score), whether the object's COCO class `wanted` is seen,
    its own rate; `paused` while Optimize runs."""
    if detection.error is not None:
        wrapped(RED, f"the detector is unavailable: {detection.error}")
        return
    if not detection.ready:
        imgui.text_colored(GREY, f"loading {detection.name}...")
        return
    _, detection.threshold = imgui.slider_float("threshold##detector", detection.threshold, 0.05, 0.95, "%.2f")
    labels = detection.detector.labels
    boxes = None if paused else detection.boxes()
    if boxes is None:
        imgui.text_colored(GREY, "paused while Optimize runs" if paused else "waiting for the first boxes...")
    else:
        found, _ = boxes
        if wanted is None:
            imgui.text_colored(GREY, f"{scene_name} has no COCO class (the scene may name one: detector_class)")
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
    rate = detection.rate.rate(now)
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
