"""The visualizer's state and every action it offers, with no window: the GUI is a thin view over this.

A Session holds the scene, the pose, the view toggles, the classifier, the frame and the captures,
and owns its parts, each an object with its own thread: `live` (gui/live.py: the newest frame
classified, with Grad-CAM), `detection` (gui/detection.py: the detector mode's boxes), `optimizer`
(gui/optimizer.py: Optimize, its settings and its result) and `loader` (gui/loader.py: files and
models opened in the background); these two get narrow ports (a few callbacks wired here), never the
session. The window calls `key_press`,
`begin_rotate`, ..., then once a frame `update(now)`, and shows `shown_image()` (with `heatmap_layer()`
over it); tests drive the same methods with an offscreen renderer. The view itself is rendered on the
caller's thread with the caller's renderer (the window's GL context).

It is a little over 400 lines because it is the one place the panels read and change: the pose and
its gestures, the view and its two renders (the model's frame, the smooth display) and captures.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from strike_pose.errors import StrikePoseError
from strike_pose.gui import controls
from strike_pose.gui.arcball import ArcballDrag
from strike_pose.gui.capture import Shot, take_shot
from strike_pose.gui.detection import LiveDetection
from strike_pose.gui.live import LiveAnalysis, Prediction
from strike_pose.gui.loader import Loader, LoaderPorts
from strike_pose.gui.mapview import MapView
from strike_pose.gui.optimizer import Optimizer, OptimizerPorts
from strike_pose.gui.workers import ModelTurns, RateMeter
from strike_pose.models.labels import label_of, resolve_class
from strike_pose.scene import Pose, Scene

MAX_DISPLAY = 1024  # the largest side of the smooth display render, in pixels
DISPLAY_MSAA = 2  # its antialiasing samples (4 costs twice as much on a software renderer, for little)
DISPLAY_SETTLE = 0.12  # seconds the pose rests before the smooth display is rendered (moving, the
#                        model's own frame is shown, filtered: a frame at the display's size would
#                        halve the window's rate on a CPU)
DEFAULT_SPECULAR = 0.5
GLIDE_DEGREES = 2.0  # a click on the map moves the object by at most this much a frame, as Optimize's walker does
TOGGLES = {  # key action -> (the view setting it flips, what the status line says when it turns on, off)
    "toggle_live": ("live", "live classification on", "live classification off"),
    "toggle_help": ("help", None, None),
    "toggle_model_view": ("model_view", "showing what the model sees: its input, pixel for pixel",
                          "showing a smooth, higher-resolution render (the model still sees its own input size)"),
    "toggle_gradcam": ("gradcam", "Grad-CAM on", "Grad-CAM off"),
}


@dataclass
class ViewSettings:
    background: bool = True
    texture: bool = True
    specular: bool = False
    live: bool = True  # classify every new frame
    gradcam: bool = False  # heatmap of the top-1 class over the view
    help: bool = False  # the key table over the view (H); the status line says so at start
    model_view: bool = False  # show the model's input pixel for pixel instead of the smooth display (M)
    detector: bool = False  # the detector mode: its boxes over the view (B)
    save_window: bool = False  # a capture also saves the whole window

    def shown(self, base: Scene, specular_strength: float) -> Scene:
        """The scene as shown, searched and exported: `base` with these toggles applied."""
        return base.as_shown(self.background, self.texture, specular_strength if self.specular else 0.0)

    def exported(self) -> dict:
        """What a capture records about the view (the rest is in the scene's light and camera)."""
        return {"background": self.background, "texture": self.texture, "specular": self.specular}


class Session:
    def __init__(self, scene: Scene, classifier, renderer, export_dir: str | Path = "out", *,
                 model_name: str | None = None, pose: Pose | None = None,
                 search_function: Callable | None = None, clock: Callable[[], float] = time.perf_counter):
        self.clock = clock
        self.renderer = renderer
        self.classifier = classifier
        self.model_name = model_name or getattr(classifier, "name", "model")
        self.export_dir = Path(export_dir)
        self.view = ViewSettings()
        self.specular_strength = scene.light.specular or DEFAULT_SPECULAR
        self.view.specular = scene.light.specular > 0
        self.base_scene = scene
        self.scene = self._effective(scene)
        self.pose = pose or scene.pose
        self.start_pose = self.pose  # Backspace returns here: the pose given at start, else the scene's

        self.frame: np.ndarray | None = None
        self.frame_id = 0
        self.frame_time = 0.0
        self._frame_dirty = True
        self._analysis_wanted = True
        self.prediction: Prediction | None = None
        self.display: np.ndarray | None = None  # the smooth, higher-resolution picture the window shows
        self.display_size = 0  # its side in pixels, set by the window (0: show the model's input)
        self.display_id = 0
        self._display_dirty = True
        self.status = "ready: turn the object with the arrow keys or the mouse; O optimizes, C captures; H for help"
        self.status_is_error = False
        self.captures: list[Shot] = []
        self.quit_requested = False
        self.capture_pending = False  # a capture waits for the window image (see finish_capture)
        self.window_capture_available = False  # the window sets this when it can read itself back

        self.ui_rate = RateMeter()  # passes of the window's loop
        self.draw_rate = RateMeter()  # frames drawn: fewer when nothing changes
        self.repeater = controls.KeyRepeater()
        self._drag: ArcballDrag | None = None

        self.turns = ModelTurns(clock)  # the classifier and the detector take turns at the CPU
        self.live = LiveAnalysis(clock, self.turns)
        self.detection = LiveDetection(clock, self.turns)
        self.optimizer = Optimizer(OptimizerPorts(
            say=self.say, current=lambda: (self.scene, self.pose, self.classifier), renderer=renderer,
            show_step=self.show_search_step, show_result=self.show_result, capture=self.capture,
            release_keys=self.repeater.release_all, detector=self._detector_on), search_function, clock)
        self.loader = Loader(LoaderPorts(
            say=self.say, scene=lambda: self.base_scene, pose=lambda: self.pose, use_scene=self.use_scene,
            use_model=self.use_model, set_start=lambda pose: setattr(self, "start_pose", pose)))
        self.map_view = MapView(yield_to=self.live.worker.wait_idle, live_idle=lambda: self.live.worker.idle)
        self.map_open = False  # the panel is open: the map is computed
        self.map_axes: tuple[str, str] = ("yaw", "pitch")
        self.map_resolution = 2.5
        self._glide_target: np.ndarray | None = None  # where a click on the map sends the object
        self._glide_why = ""

    # ------------------------------------------------------------------------------------ status

    def say(self, message: str, error: bool = False) -> None:
        self.status, self.status_is_error = message, error

    @property
    def true_class(self) -> int:
        return self.base_scene.true_class

    @property
    def input_size(self) -> int:
        return self.classifier.input_size

    # --------------------------------------------------------------------------------- the scene

    def _effective(self, base: Scene) -> Scene:
        return self.view.shown(base, self.specular_strength)

    def _scene_changed(self, base: Scene | None = None) -> None:
        self.optimizer.stop_for_user_change()
        if base is not None:
            self.base_scene = base
        self.scene = self._effective(self.base_scene)
        self._frame_dirty = True

    def set_view(self, **changes: bool) -> None:
        """Toggle background / texture / specular (scene changes) or live / gradcam / help / save_window /
        model_view / detector."""
        scene_fields = {"background", "texture", "specular"}
        for name, value in changes.items():
            setattr(self.view, name, bool(value))
        if scene_fields & set(changes):
            self._scene_changed()
        if {"live", "gradcam"} & set(changes):
            self._analysis_wanted = True
        if changes.get("detector"):
            self.detection.start()

    def _detector_on(self) -> LiveDetection:
        """The detector mode on (for Optimize against the detector): its LiveDetection."""
        self.set_view(detector=True)
        return self.detection

    def set_detector(self, on: bool) -> None:
        """The detector mode on or off (B, or its panel): created the first time, off the UI thread."""
        self.set_view(detector=on)
        if not on:
            self.say("detector mode off")
        elif self.detection.loading:
            self.say(f"detector mode on: loading {self.detection.name}...")
        else:
            self.say("detector mode on")

    def set_light(self, **changes) -> None:
        """ambient, diffuse, direction, shininess, or specular (the strength used when specular is on)."""
        if "specular" in changes:
            self.specular_strength = float(changes.pop("specular"))
        base = self.base_scene.with_light(**changes) if changes else self.base_scene
        self._scene_changed(base)

    def set_fov(self, fov_y: float) -> None:
        self._scene_changed(self.base_scene.with_camera(fov_y=float(min(max(fov_y, 1.0), 170.0))))

    def set_true_class(self, text: str | int) -> bool:
        try:
            index = resolve_class(text, where="true class")
        except StrikePoseError as exc:
            self.say(str(exc), error=True)
            return False
        self._scene_changed(replace(self.base_scene, true_class=index))
        self.say(f"true class: {label_of(index)}")
        return True

    # ---------------------------------------------------------------------------------- the pose

    def set_pose(self, pose: Pose, clamp: bool = True) -> None:
        """A pose chosen by the user (keys, mouse, sliders); a running search and a glide stop."""
        self.optimizer.stop_for_user_change()
        self._glide_target = None
        if clamp:
            pose = controls.clamp_pose(pose, self.scene.camera.fov_y)
        if pose != self.pose:
            self.pose = pose
            self._frame_dirty = True

    def move(self, action: str, fine: bool = False) -> None:
        self.set_pose(controls.step_pose(self.pose, action, fine))

    def reset_pose(self) -> None:
        self.set_pose(self.start_pose, clamp=False)
        self.say("pose reset to the start")

    def begin_rotate(self, px: float, py: float, centre: tuple[float, float], radius: float) -> None:
        self._drag = ArcballDrag(self.pose, px, py, centre, radius)

    def rotate_to(self, px: float, py: float) -> None:
        if self._drag is not None:
            self.set_pose(self._drag.pose_at(px, py))

    def end_rotate(self) -> None:
        self._drag = None

    def drag_move(self, dx_px: float, dy_px: float, view_height_px: float) -> None:
        """Right-drag: the object follows the cursor (dx right, dy down, screen pixels)."""
        self.set_pose(controls.drag_translate(self.pose, dx_px, dy_px, self.scene.camera.fov_y, view_height_px))

    def wheel(self, notches: float) -> None:
        self.set_pose(controls.dolly(self.pose, notches))

    # ---------------------------------------------------------------------------------- the keys

    def key_press(self, name: str, shift: bool = False, ctrl: bool = False, now: float | None = None) -> str | None:
        """Handle a key (pyglet's name for it); returns the action taken, or None."""
        action = controls.action_for_key(name, ctrl)
        if action is None:
            return None
        if action in controls.POSE_ACTIONS:
            self.repeater.press(action, shift, self.clock() if now is None else now)
            self.move(action, shift)
        elif action in TOGGLES:
            setting, said_on, said_off = TOGGLES[action]
            value = not getattr(self.view, setting)
            self.set_view(**{setting: value})
            if said_on:
                self.say(said_on if value else said_off)
        else:
            {"reset_pose": self.reset_pose, "optimize": self.optimizer.toggle, "capture": self.capture,
             "toggle_map": lambda: self.set_map(open=not self.map_open), "centre_map": self.centre_map,
             "toggle_detector": lambda: self.set_detector(not self.view.detector),
             "quit": lambda: setattr(self, "quit_requested", True)}[action]()
        return action

    def key_release(self, name: str) -> None:
        action = controls.KEY_ACTIONS.get(name)
        if action in controls.POSE_ACTIONS:
            self.repeater.release(action)

    # ----------------------------------------------------------------------------------- searching

    def show_search_step(self, step) -> None:
        """A running search's step: the object moves with it (and the light, when it is searched)."""
        if step.pose != self.pose:
            self.pose = step.pose
            self._frame_dirty = True
        if step.light is not None and step.light != self.scene.light:
            self.scene = replace(self.scene, light=step.light)
            self._frame_dirty = True
        if not self.optimizer.settings.against_detector:  # the detector's verdicts are COCO's, not the classifier's
            self.prediction = Prediction(np.asarray(step.probs), None, "search")

    def show_result(self, result) -> None:
        """Put the object where a search ended (with its light, when the light was searched), with the
        verdict of the OpenGL re-check."""
        self.pose = result.pose
        if result.light is not None:
            light = result.light
            self.base_scene = self.base_scene.with_light(ambient=light.ambient, diffuse=light.diffuse,
                                                         direction=light.direction)
        self.scene = self._effective(self.base_scene)
        self._frame_dirty = True
        if len(result.probs) == len(self.classifier.labels):  # else the detector's: the live view classifies it
            self.prediction = Prediction(np.asarray(result.probs), None, "search")
        else:
            self.prediction, self._analysis_wanted = None, True

    @property
    def searching(self) -> bool:
        return self.optimizer.searching

    # ----------------------------------------------------------------------------------- capture

    def capture(self) -> Shot | None:
        """Export the current shot; with 'save window' on, it waits for the window image."""
        if self.view.save_window and self.window_capture_available:
            self.capture_pending = True
            return None
        return self._capture(None)

    def finish_capture(self, window_image: np.ndarray | None) -> Shot | None:
        self.capture_pending = False
        return self._capture(window_image)

    def _capture(self, window_image: np.ndarray | None) -> Shot | None:
        try:
            self.render_if_needed()
            image = self.frame
            prediction = self.prediction
            if prediction is not None and prediction.frame_id == self.frame_id:
                probs = prediction.probs
            else:  # the shot's numbers must be of exactly this image
                probs = self.classifier.probabilities(image)
                self.prediction = Prediction(probs, self.frame_id, "capture")
            shot = take_shot(self.export_dir, self.scene, self.base_scene, self.pose, self.classifier, image,
                             probs, target=self.optimizer.settings.target, view=self.view.exported(),
                             search=self.optimizer.record_for(self.pose), window_image=window_image,
                             extra=self._detection_record())
        except (StrikePoseError, OSError) as exc:
            self.say(f"capture failed: {exc}", error=True)
            return None
        self.captures.append(shot)
        verdict = "fooled" if shot.fooled else "not fooled"
        self.say(f"captured {shot.name} ({verdict}: top-1 {shot.top1_label!r} {shot.top1_prob:.2f})")
        return shot

    def _detection_record(self) -> dict | None:
        """The sidecar's detections while the detector mode is on: of exactly this view (detected now
        when the worker has not seen it yet)."""
        detection = self.detection
        if not self.view.detector or not detection.ready:
            return None
        result = detection.result
        if result is not None and result.frame_id == self.frame_id:
            found, size = detection.shown(self.frame_id), result.size
        else:
            size = detection.input_size
            found = detection.detect_now(self.renderer.render(self.scene, self.pose, size=size))
        return {"detection": detection.record(found, size, self.coco_class)}

    def return_to(self, shot: Shot) -> None:
        """Back to a captured shot: its scene, view toggles and pose."""
        for name, value in shot.view.items():
            setattr(self.view, name, value)
        self._scene_changed(shot.base_scene)
        self.set_pose(shot.pose, clamp=False)
        self.say(f"back to {shot.name}")

    # ------------------------------------------------------------------ what the loader loaded

    def use_model(self, classifier, name: str) -> None:
        self.optimizer.stop_for_user_change()
        self.classifier, self.model_name = classifier, name
        self._frame_dirty = True
        self.prediction = None

    def use_scene(self, base: Scene, pose: Pose) -> bool:
        """Switch to a scene if it renders; otherwise keep the current one and say why."""
        old = (self.base_scene, self.scene, self.pose)
        self._scene_changed(base)
        self.pose = pose
        try:
            self.renderer.render(self.scene, self.pose, size=self.input_size)
        except Exception as exc:
            self.base_scene, self.scene, self.pose = old
            self._frame_dirty = True
            self.say(f"could not show that scene ({type(exc).__name__}: {exc}); kept the previous one", error=True)
            return False
        return True

    # --------------------------------------------------------------------------- each frame

    def update(self, now: float | None = None) -> None:
        """Once a frame: take results from the workers, repeat held keys, render and submit the view."""
        now = self.clock() if now is None else now
        self.loader.update()
        self.optimizer.update()
        self._glide_step()
        if self.map_open and not self.searching and not self.gliding:  # cheap when nothing the map holds changed
            self.map_view.request(self.scene, self.classifier, self.pose.as_tuple(), self.map_axes, self.map_resolution)
        if not self.searching:
            for action, fine in self.repeater.due(now):
                self.move(action, fine)
        self._take_analysis()
        self._take_detection()
        self.render_if_needed()
        if self._analysis_wanted and not self.searching and (self.view.live or self.view.gradcam):
            self.live.submit(self.frame, self.frame_id, self.classifier, self.view.gradcam)
            self._analysis_wanted = False
        if self.view.detector and not self.searching and self.detection.wants(self.frame_id):
            # the view at the detector's own size, rendered only when it is free for it (see gui/detection.py)
            size = self.detection.input_size
            self.detection.submit(self.renderer.render(self.scene, self.pose, size=size), self.frame_id)

    def render_if_needed(self) -> None:
        size = self.input_size
        if self._frame_dirty or self.frame is None or self.frame.shape[0] != size:
            self.frame = self.renderer.render(self.scene, self.pose, size=size)
            self.frame_id += 1
            self.frame_time = self.clock()
            self._frame_dirty = False
            self._display_dirty = True
            self._analysis_wanted = True
        if self.smooth_display and self._display_stale() and self.clock() - self.frame_time >= DISPLAY_SETTLE:
            self.display = self.renderer.render(self.scene, self.pose, size=self.display_size, msaa=DISPLAY_MSAA)
            self.display_id += 1
            self._display_dirty = False

    def _display_stale(self) -> bool:
        return self._display_dirty or self.display is None or self.display.shape[0] != self.display_size

    @property
    def smooth_display(self) -> bool:
        """Whether the window shows the smooth render (larger than the model's input) rather than the input."""
        return not self.view.model_view and self.display_size > self.input_size

    def set_display_size(self, pixels: float) -> None:
        """The window's view is `pixels` wide: the smooth display is rendered at that size (at most
        MAX_DISPLAY), in steps of 32 so that resizing does not re-render on every pixel."""
        side = int(min(MAX_DISPLAY, max(0, pixels)) // 32 * 32)
        if side != self.display_size:
            self.display_size = side
            self._display_dirty = True

    def shown_image(self) -> tuple[np.ndarray, int, bool]:
        """What the window draws now: (image, an id that changes with it, whether to draw it smoothly):
        the smooth render once the pose rests, the model's frame (filtered smoothly) while it moves, or the
        model's frame pixel for pixel when that is asked for."""
        if self.smooth_display:
            if not self._display_stale():
                return self.display, -self.display_id, True
            return self.frame, self.frame_id, True
        return self.frame, self.frame_id, False

    def _take_analysis(self) -> None:
        prediction = self.live.take()
        if isinstance(prediction, BaseException):
            self.say(f"classification failed: {type(prediction).__name__}: {prediction}", error=True)
        elif prediction is not None and not self.searching:  # while searching, the search's are newer
            self.prediction = prediction

    def _take_detection(self) -> None:
        was_loading = self.detection.loading
        error = self.detection.take()
        if error is not None:
            self.say(error, error=True)
            if self.detection.error is not None:  # no detector: the mode goes off (B tries again)
                self.view.detector = False
        elif was_loading and self.detection.ready and self.view.detector:
            detector = self.detection.detector
            self.say(f"detector mode on: {detector.name} on {detector.device}, loaded in "
                     f"{getattr(detector, 'load_seconds', 0.0):.1f} s")

    @property
    def coco_class(self) -> int | None:
        """The object's MS COCO class, which the detector should find (None: COCO has none)."""
        from strike_pose.models.coco import coco_class_of

        try:
            return coco_class_of(self.base_scene)
        except StrikePoseError:
            return None

    def detection_boxes(self) -> tuple[list, int] | None:
        """What the window draws over the view in the detector mode: (the boxes above the threshold,
        the side of the image their pixels are in), or None (mode off, no boxes yet, Optimize runs)."""
        result = self.detection.result
        if not self.view.detector or self.searching or result is None:
            return None
        return self.detection.shown(), result.size

    def frame_tick(self, now: float, drawn: bool = True) -> None:
        """The window calls this once a pass of its loop (the UI rate), saying whether it drew."""
        self.ui_rate.tick(now)
        if drawn:
            self.draw_rate.tick(now)

    def shown_state(self) -> tuple:
        """What the window shows that the workers change without any input: when it equals the last
        drawn frame's (and no input came), the window need not draw again (see the window's draw)."""
        map_version = self.map_view.snapshot()[0] if self.map_open else None
        return (self.frame_id, self.display_id, id(self.prediction), self.pose, self.status, self.status_is_error,
                id(self.optimizer.step), self.optimizer.searching, self.loader.loading is not None, map_version,
                self.capture_pending, len(self.captures), self.gliding, self.model_name, id(self.base_scene),
                self.view.detector, id(self.detection.result), self.detection.loading, self.detection.threshold)

    def heatmap_layer(self) -> np.ndarray | None:
        """The RGBA Grad-CAM layer to draw over the frame, when Grad-CAM is on and one fits the frame."""
        prediction = self.prediction
        if self.view.gradcam and prediction is not None and prediction.layer is not None \
                and prediction.layer.shape[:2] == self.frame.shape[:2]:
            return prediction.layer
        return None

    def display_image(self) -> np.ndarray:
        """The view as the window shows it, composed on the CPU: the frame with the heatmap layer over it."""
        from strike_pose.models.gradcam import overlay_heatmap

        self.render_if_needed()
        if self.heatmap_layer() is not None:
            return overlay_heatmap(self.frame, self.prediction.heatmap)
        return self.frame

    # -------------------------------------------------------------------------------------- map

    def set_map(self, open: bool | None = None, axes: tuple[str, str] | None = None,
                resolution: float | None = None) -> None:
        if open is not None:
            self.map_open = open
            if not open:
                self.map_view.stop()
        if axes is not None:
            self.map_axes = tuple(axes)
        if resolution is not None:
            self.map_resolution = float(resolution)

    def centre_map(self) -> None:
        """Compute the map again from the current pose outwards (the cells nearest it first)."""
        self.map_open = True
        self.map_view.request(self.scene, self.classifier, self.pose.as_tuple(), self.map_axes, self.map_resolution,
                              restart=True)
        self.say("the map is computed again around this pose")

    def glide_to(self, pose, why: str = "") -> None:
        """Move the object to `pose` along a path, GLIDE_DEGREES a frame (never a jump of the view)."""
        self.optimizer.stop_for_user_change()
        target = controls.clamp_pose(Pose.of(pose), self.scene.camera.fov_y)
        self._glide_target = np.array(target.as_tuple())
        self._glide_why = why or "the chosen pose"
        self.say(f"gliding to {self._glide_why}")

    def _glide_step(self) -> None:
        if self._glide_target is None:
            return
        from strike_pose.search.region import Region

        here = np.array(self.pose.as_tuple())
        region = Region(start=here, fov_y=self.scene.camera.fov_y)
        nxt = region.step_towards(here, self._glide_target, GLIDE_DEGREES)
        arrived = np.allclose(nxt, self._glide_target, atol=1e-6)
        pose = Pose.of(self._glide_target if arrived else nxt)
        if pose != self.pose:
            self.pose = pose
            self._frame_dirty = True
        if arrived:
            self._glide_target = None
            self.say(f"at {self._glide_why}")

    @property
    def gliding(self) -> bool:
        return self._glide_target is not None

    # ------------------------------------------------------------------------------------- close

    def close(self, timeout: float = 10.0) -> list[str]:
        """Stop every thread this session started; returns the names of any that did not stop."""
        left = []
        if not self.optimizer.close(timeout):
            left.append("pose-search")
        if not self.live.close(timeout):
            left.append("live-analysis")
        if not self.detection.close(timeout):
            left.append("live-detection")
        if not self.map_view.close(timeout):
            left.append("pose-map")
        self.loader.close()
        return left

    # --------------------------------------------------------------------------------- panels' data

    def top(self, k: int = 5) -> list[dict]:
        if self.prediction is None:
            return []
        return self.classifier.top(self.prediction.probs, k)

    def probability_of(self, index: int | None) -> float | None:
        if index is None or self.prediction is None:
            return None
        return float(self.prediction.probs[index])

    def snapshot(self) -> dict:
        """The state as plain data (for logs and tests)."""
        return {"scene": self.base_scene.name, "pose": self.pose.as_dict(), "view": asdict(self.view),
                "search": asdict(self.optimizer.settings), "searching": self.searching, "status": self.status,
                "captures": [s.name for s in self.captures], "model": self.model_name}
