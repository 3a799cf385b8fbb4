"""The visualizer's state and every action it offers, with no window: the GUI is a thin view over this.

A Session holds the scene, the pose, the view toggles (gui/view.py), the classifier and the captures,
and owns its parts as objects: `renders` (gui/frames.py: the model's frame and the smooth display),
`live` (gui/live.py: the newest frame classified, with Grad-CAM), `detection` (gui/detection.py: the
detector mode's boxes), `optimizer` (gui/optimizer.py: Optimize, its settings and its result),
`loader` (gui/loader.py: files and models opened in the background) and `map_view` (gui/mapview.py:
the pose map). The optimizer and the loader get narrow ports (a few callbacks that this module wires),
never the session. The window calls `key_press`, `begin_rotate`, ..., then once a frame `update(now)`,
and shows `shown_image()` (with `heatmap_layer()` over it); tests drive the same methods with an
offscreen renderer. The view is rendered on the caller's thread with the caller's renderer (the
window's GL context).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from strike_pose.errors import StrikePoseError
from strike_pose.gui import controls
from strike_pose.gui.capture import Shot, take_shot
from strike_pose.gui.detection import LiveDetection, object_class
from strike_pose.gui.frames import ViewRenders, heatmap_layer
from strike_pose.gui.gestures import Gestures
from strike_pose.gui.glide import Glider
from strike_pose.gui.live import LiveAnalysis, Prediction
from strike_pose.gui.loader import Loader, LoaderPorts
from strike_pose.gui.mapview import MapView
from strike_pose.gui.optimizer import Optimizer, OptimizerPorts
from strike_pose.gui.view import DEFAULT_SPECULAR, TOGGLES, ViewSettings
from strike_pose.gui.workers import ModelTurns, RateMeter
from strike_pose.models.labels import label_of, resolve_class
from strike_pose.scene import Pose, Scene


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

        self.renders = ViewRenders(renderer, clock)
        self._analysis_wanted = True
        self.prediction: Prediction | None = None
        self.status = "ready: turn the object with the arrow keys or the mouse; O optimizes, C captures; H for help"
        self.status_is_error = False
        self.captures: list[Shot] = []
        self.quit_requested = False
        self.capture_pending = False  # a capture waits for the window image (see finish_capture)
        self.window_capture_available = False  # the window sets this when it can read itself back

        self.ui_rate = RateMeter()  # passes of the window's loop
        self.draw_rate = RateMeter()  # frames drawn: fewer when nothing changes
        self.gestures = Gestures(lambda: self.pose, lambda: self.scene.camera.fov_y, self.set_pose)  # keys, mouse

        self.turns = ModelTurns(clock)  # the classifier and the detector take turns at the CPU
        self.live = LiveAnalysis(clock, self.turns)
        self.detection = LiveDetection(clock, self.turns)
        self.optimizer = Optimizer(OptimizerPorts(
            say=self.say, current=lambda: (self.scene, self.pose, self.classifier), renderer=renderer,
            show_step=self.show_search_step, show_result=self.show_result, capture=self.capture,
            release_keys=self.gestures.release_all, detector=self._detector_on), search_function, clock)
        self.loader = Loader(LoaderPorts(
            say=self.say, scene=lambda: self.base_scene, pose=lambda: self.pose, use_scene=self.use_scene,
            use_model=self.use_model, set_start=lambda pose: setattr(self, "start_pose", pose)))
        self.map_view = MapView(yield_to=self.live.worker.wait_idle, live_idle=lambda: self.live.worker.idle)
        self.glider = Glider(lambda: self.pose, lambda: self.scene.camera.fov_y, self._put, self.say)  # map clicks

    # ------------------------------------------------------------------------------------ status

    def say(self, message: str, error: bool = False) -> None:
        self.status, self.status_is_error = message, error

    @property
    def true_class(self) -> int:
        return self.base_scene.true_class

    @property
    def input_size(self) -> int:
        return self.classifier.input_size

    @property
    def frame(self) -> np.ndarray | None:
        """The model's frame: the view at the classifier's input size, the picture classified and captured."""
        return self.renders.frame

    @property
    def frame_id(self) -> int:
        return self.renders.frame_id

    # --------------------------------------------------------------------------------- the scene

    def _effective(self, base: Scene) -> Scene:
        return self.view.shown(base, self.specular_strength)

    def _scene_changed(self, base: Scene | None = None) -> None:
        self.optimizer.stop_for_user_change()
        if base is not None:
            self.base_scene = base
        self.scene = self._effective(self.base_scene)
        self.renders.stale = True

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
        self.glider.stop()
        self._put(controls.clamp_pose(pose, self.scene.camera.fov_y) if clamp else pose)

    def _put(self, pose: Pose) -> None:
        """The object at `pose` (the frame is rendered again when it moved)."""
        if pose != self.pose:
            self.pose = pose
            self.renders.stale = True

    def move(self, action: str, fine: bool = False) -> None:
        self.gestures.step(action, fine)

    def reset_pose(self) -> None:
        self.set_pose(self.start_pose, clamp=False)
        self.say("pose reset to the start")

    # ---------------------------------------------------------------------------------- the keys

    def key_press(self, name: str, shift: bool = False, ctrl: bool = False, now: float | None = None) -> str | None:
        """Handle a key (pyglet's name for it); returns the action taken, or None."""
        action = controls.action_for_key(name, ctrl)
        if action is None:
            return None
        if action in controls.POSE_ACTIONS:
            self.gestures.press(action, shift, self.clock() if now is None else now)
        elif action in TOGGLES:
            setting, value, said = self.view.flipped(action)
            self.set_view(**{setting: value})
            if said:
                self.say(said)
        else:
            {"reset_pose": self.reset_pose, "optimize": self.optimizer.toggle, "capture": self.capture,
             "toggle_map": lambda: self.set_map(open=not self.map_open), "centre_map": self.centre_map,
             "toggle_detector": lambda: self.set_detector(not self.view.detector),
             "quit": lambda: setattr(self, "quit_requested", True)}[action]()
        return action

    def key_release(self, name: str) -> None:
        action = controls.KEY_ACTIONS.get(name)
        if action in controls.POSE_ACTIONS:
            self.gestures.release(action)

    # ----------------------------------------------------------------------------------- searching

    def show_search_step(self, step) -> None:
        """A running search's step: the object moves with it (and the light, when it is searched)."""
        self._put(step.pose)
        if step.light is not None and step.light != self.scene.light:
            self.scene = replace(self.scene, light=step.light)
            self.renders.stale = True
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
        self.renders.stale = True
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
        """The sidecar's detections while the detector mode is on: of exactly this view."""
        if not self.view.detector or not self.detection.ready:
            return None
        return {"detection": self.detection.record_of_view(self.frame_id, self._render_at, self.coco_class)}

    def _render_at(self, size: int) -> np.ndarray:
        """The view rendered at `size` pixels (the detector's input size), not shown."""
        return self.renderer.render(self.scene, self.pose, size=size)

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
        self.renders.stale = True
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
            self.renders.stale = True
            self.say(f"could not show that scene ({type(exc).__name__}: {exc}); kept the previous one", error=True)
            return False
        return True

    # --------------------------------------------------------------------------- each frame

    def update(self, now: float | None = None) -> None:
        """Once a frame: take results from the workers, repeat held keys, render and submit the view."""
        now = self.clock() if now is None else now
        self.loader.update()
        self.optimizer.update()
        self.glider.step()
        if self.map_open and not self.searching and not self.gliding:  # cheap when nothing the map holds changed
            self.map_view.follow(self.scene, self.classifier, self.pose.as_tuple())
        if not self.searching:
            self.gestures.repeat(now)
        self._take_analysis()
        self._take_detection()
        self.render_if_needed()
        if self._analysis_wanted and not self.searching and (self.view.live or self.view.gradcam):
            self.live.submit(self.frame, self.frame_id, self.classifier, self.view.gradcam)
            self._analysis_wanted = False
        if self.view.detector and not self.searching:
            self.detection.offer(self.frame_id, self._render_at)

    def render_if_needed(self) -> None:
        """The model's frame when the scene or pose changed (then it is classified again), and the smooth
        display once the pose rests (gui/frames.py)."""
        if self.renders.render(self.scene, self.pose, self.input_size, self.smooth_display):
            self._analysis_wanted = True

    @property
    def smooth_display(self) -> bool:
        """Whether the window shows the smooth render (larger than the model's input) rather than the input."""
        return not self.view.model_view and self.renders.display_size > self.input_size

    def set_display_size(self, pixels: float) -> None:
        self.renders.set_display_size(pixels)

    def shown_image(self) -> tuple[np.ndarray, int, bool]:
        """What the window draws now (see ViewRenders.shown)."""
        return self.renders.shown(self.smooth_display)

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
            self.say(f"detector mode on: {self.detection.loaded()}")

    @property
    def coco_class(self) -> int | None:
        """The object's MS COCO class, which the detector should find (None: COCO has none)."""
        return object_class(self.base_scene)

    def detection_boxes(self) -> tuple[list, int] | None:
        """What the window draws over the view in the detector mode: (the boxes above the threshold,
        the side of the image their pixels are in), or None (mode off, no boxes yet, Optimize runs)."""
        if not self.view.detector or self.searching:
            return None
        return self.detection.boxes()

    def frame_tick(self, now: float, drawn: bool = True) -> None:
        """The window calls this once a pass of its loop (the UI rate), saying whether it drew."""
        self.ui_rate.tick(now)
        if drawn:
            self.draw_rate.tick(now)

    def shown_state(self) -> tuple:
        """What the window shows that the workers change without any input: when it equals the last
        drawn frame's (and no input came), the window need not draw again (see the window's draw)."""
        map_version = self.map_view.snapshot()[0] if self.map_open else None
        return (self.frame_id, self.renders.display_id, id(self.prediction), self.pose, self.status,
                self.status_is_error, id(self.optimizer.step), self.optimizer.searching,
                self.loader.loading is not None, map_version, self.capture_pending, len(self.captures), self.gliding,
                self.model_name, id(self.base_scene), self.view.detector, id(self.detection.result),
                self.detection.loading, self.detection.threshold)

    def heatmap_layer(self) -> np.ndarray | None:
        """The RGBA Grad-CAM layer to draw over the frame, when Grad-CAM is on and one fits the frame."""
        return heatmap_layer(self.prediction, self.frame) if self.view.gradcam else None

    def display_image(self) -> np.ndarray:
        """The view as the window shows it, composed on the CPU: the frame with the heatmap layer over it."""
        from strike_pose.models.gradcam import overlay_heatmap

        self.render_if_needed()
        if self.heatmap_layer() is not None:
            return overlay_heatmap(self.frame, self.prediction.heatmap)
        return self.frame

    # -------------------------------------------------------------------------------------- map

    @property
    def map_open(self) -> bool:
        return self.map_view.open

    def set_map(self, open: bool | None = None, axes: tuple[str, str] | None = None,
                resolution: float | None = None) -> None:
        self.map_view.set(open, axes, resolution)

    def centre_map(self) -> None:
        """Compute the map again from the current pose outwards (the cells nearest it first)."""
        self.map_view.open = True
        self.map_view.follow(self.scene, self.classifier, self.pose.as_tuple(), restart=True)
        self.say("the map is computed again around this pose")

    def glide_to(self, pose, why: str = "") -> None:
        """Move the object to `pose` along a path, a few degrees a frame (gui/glide.py), never a jump."""
        self.optimizer.stop_for_user_change()
        self.glider.start(pose, why)

    @property
    def gliding(self) -> bool:
        return self.glider.gliding

    # ------------------------------------------------------------------------------------- close

    def close(self, timeout: float = 10.0) -> list[str]:
        """Stop every thread this session started; returns the names of any that did not stop."""
        parts = (("pose-search", self.optimizer), ("live-analysis", self.live), ("live-detection", self.detection),
                 ("pose-map", self.map_view))
        left = [name for name, part in parts if not part.close(timeout)]  # each in turn, all of them
        self.loader.close()
        return left
