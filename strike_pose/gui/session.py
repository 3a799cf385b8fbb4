"""The visualizer's state and every action it offers, with no window: the GUI is a thin view over this.

A Session holds the scene, the pose, the view toggles, the classifier and the workers. The window
calls `key_press`, `begin_rotate`, ..., then once a frame `update(now)`, and shows `frame` (with
`heatmap_layer()` over it) and the fields below; tests drive the same methods with an offscreen renderer.

Threads: live analysis (classification, Grad-CAM) runs in a LatestFrameWorker on the newest frame;
the search runs in a SearchRunner; files and models load in one loader thread. The view itself is
rendered on the caller's thread with the caller's renderer (the window's GL context).
"""

from __future__ import annotations

import collections
import os
import statistics
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from strike_pose.errors import StrikePoseError
from strike_pose.gui import controls
from strike_pose.gui.arcball import ArcballDrag
from strike_pose.gui.capture import Shot, take_shot
from strike_pose.gui.workers import (LatestFrameWorker, RateMeter, SearchEnded, SearchJob, SearchRunner,
                                     search_methods)
from strike_pose.models.labels import imagenet_labels, label_of, resolve_class
from strike_pose.scene import Pose, Scene

MAX_DISPLAY = 1024  # the largest side of the smooth display render, in pixels
DISPLAY_MSAA = 2  # its antialiasing samples (4 costs twice as much on a software renderer, for little)
DISPLAY_SETTLE = 0.12  # seconds the pose rests before the smooth display is rendered (moving, the
#                        model's own frame is shown, filtered: a frame at the display's size would
#                        halve the window's rate on a CPU)
PLAIN_ALBEDO = 179  # 0.7 * 255: the grey the shader uses when the texture is off
DEFAULT_SPECULAR = 0.5


@dataclass
class ViewSettings:
    background: bool = True
    texture: bool = True
    specular: bool = False
    live: bool = True  # classify every new frame
    gradcam: bool = False  # heatmap of the top-1 class over the view
    help: bool = False  # the key table over the view (H); the status line says so at start
    model_view: bool = False  # show the model's input pixel for pixel instead of the smooth display (M)
    save_window: bool = False  # a capture also saves the whole window

    def exported(self) -> dict:
        """What a capture records about the view (the rest is in the scene's light and camera)."""
        return {"background": self.background, "texture": self.texture, "specular": self.specular}


@dataclass
class SearchSettings:
    method: str = "grad"
    target: int | None = None  # None: untargeted (any class but the true one)
    steps: int = 100
    step_size: float = 0.0  # 0: the method's default step size
    radius: float = 30.0  # degrees around the pose where Optimize starts
    whole_space: bool = False  # search the whole pose space instead of the radius
    search_light: bool = False  # search the light too
    auto_capture: bool = True  # capture the closest fooling pose when a search ends


@dataclass(frozen=True)
class Prediction:
    probs: np.ndarray  # (1000,)
    frame_id: int | None  # the frame it was computed from; None: reported by the search
    source: str  # "live", "search" or "capture"
    latency: float | None = None  # seconds from the frame to this prediction
    heatmap: np.ndarray | None = None  # Grad-CAM of the top-1 class, the frame's size, in [0, 1]
    layer: np.ndarray | None = None  # the heatmap as an RGBA layer to draw over the frame


@dataclass(frozen=True)
class AnalysisJob:
    frame: np.ndarray
    classifier: Any
    want_heatmap: bool


@dataclass(frozen=True)
class Analysis:
    probs: np.ndarray
    heatmap: np.ndarray | None = None
    layer: np.ndarray | None = None


@dataclass
class Loading:
    kind: str  # "scene", "mesh", "background" or "model"
    what: str  # shown while it loads
    future: Future


def filter_classes(text: str, limit: int | None = None) -> list[int]:
    """ImageNet indices whose label contains `text` (case-insensitive), or whose index is `text`."""
    needle = text.strip().lower()
    labels = imagenet_labels()
    if not needle:
        out = list(range(len(labels)))
    else:
        out = [i for i, label in enumerate(labels) if needle in label.lower() or needle == str(i)]
    return out[:limit] if limit else out


def effective_scene(base: Scene, view: ViewSettings, specular_strength: float,
                    plain_meshes: dict[int, tuple[Any, Any]]) -> Scene:
    """The scene as shown, searched and exported: the base scene with the view toggles applied."""
    scene = base
    if not view.background:
        scene = replace(scene, background=None)
    if not view.texture:
        mesh = base.mesh
        cached = plain_meshes.get(id(mesh))
        if cached is None or cached[0] is not mesh:
            plain = np.full((4, 4, 3), PLAIN_ALBEDO, np.uint8)
            cached = (mesh, replace(mesh, texture=plain))
            plain_meshes[id(mesh)] = cached
        scene = replace(scene, mesh=cached[1])
    specular = specular_strength if view.specular else 0.0
    if scene.light.specular != specular:
        scene = scene.with_light(specular=specular)
    return scene


def live_torch_threads(cpu_count: int | None = None) -> int:
    """Torch threads for live analysis on the CPU: half the cores, so the UI and llvmpipe keep the rest."""
    return max(1, (cpu_count or os.cpu_count() or 2) // 2)


def limit_live_threads() -> None:
    """Runs in the live-analysis thread: torch's CPU thread count is per thread, so the search thread and
    the UI keep theirs. On 2 busy cores, 2 torch threads were seen 10x slower than 1 (they wait on each
    other whenever the UI or the renderer takes a core)."""
    import torch

    torch.set_num_threads(live_torch_threads())


def analyse(job: AnalysisJob, heatmaps: Callable[[Any], Any]) -> Analysis:
    """Classify a frame, with the Grad-CAM heatmap of its top-1 class when asked (one forward pass)."""
    from strike_pose.models.gradcam import heatmap_layer

    if job.want_heatmap:
        result = heatmaps(job.classifier)(job.frame)
        return Analysis(result.probs, result.heatmap, heatmap_layer(result.heatmap))
    return Analysis(job.classifier.probabilities(job.frame))


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
        self.search_settings = SearchSettings()
        self.methods = search_methods()
        self.specular_strength = scene.light.specular or DEFAULT_SPECULAR
        self.view.specular = scene.light.specular > 0
        self._plain_meshes: dict[int, tuple[Any, Any]] = {}
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
        self.loss_history: list[float] = []
        self.last_search: dict | None = None  # how the current pose was found, when it was
        self.search_step: Any = None
        self.searching = False
        self.quit_requested = False
        self.capture_pending = False  # a capture waits for the window image (see finish_capture)
        self.window_capture_available = False  # the window sets this when it can read itself back

        self.ui_rate = RateMeter()
        self.model_rate = RateMeter()
        self.latencies: collections.deque[float] = collections.deque(maxlen=30)
        self.repeater = controls.KeyRepeater()
        self._drag: ArcballDrag | None = None
        self.search_start: Pose = self.pose  # where the last Optimize started
        self._heatmap_makers: dict[int, Any] = {}

        self.worker: LatestFrameWorker[AnalysisJob, Analysis] = LatestFrameWorker(
            lambda job: analyse(job, self._heatmap_maker), clock=clock, on_start=limit_live_threads)
        self.runner = SearchRunner(search_function, clock=clock)
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loader")
        self.loading: Loading | None = None

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
    def latency(self) -> float | None:
        """Median frame-to-prediction latency of the recent live predictions (seconds)."""
        return statistics.median(self.latencies) if self.latencies else None

    # --------------------------------------------------------------------------------- the scene

    def _effective(self, base: Scene) -> Scene:
        return effective_scene(base, self.view, self.specular_strength, self._plain_meshes)

    def _scene_changed(self, base: Scene | None = None) -> None:
        self._stop_search_for_user_change()
        if base is not None:
            self.base_scene = base
        self.scene = self._effective(self.base_scene)
        self._frame_dirty = True

    def set_view(self, **changes: bool) -> None:
        """Toggle background / texture / specular (scene changes) or live / gradcam / help / save_window /
        model_view."""
        scene_fields = {"background", "texture", "specular"}
        for name, value in changes.items():
            setattr(self.view, name, bool(value))
        if scene_fields & set(changes):
            self._scene_changed()
        if {"live", "gradcam"} & set(changes):
            self._analysis_wanted = True

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
        """A pose chosen by the user (keys, mouse, sliders); a running search stops."""
        self._stop_search_for_user_change()
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
        elif action == "reset_pose":
            self.reset_pose()
        elif action == "optimize":
            self.toggle_optimize()
        elif action == "capture":
            self.capture()
        elif action == "toggle_live":
            self.set_view(live=not self.view.live)
            self.say(f"live classification {'on' if self.view.live else 'off'}")
        elif action == "toggle_help":
            self.set_view(help=not self.view.help)
        elif action == "toggle_model_view":
            self.set_view(model_view=not self.view.model_view)
            self.say("showing what the model sees: its input, pixel for pixel" if self.view.model_view
                     else "showing a smooth, higher-resolution render (the model still sees its own input size)")
        elif action == "toggle_gradcam":
            self.set_view(gradcam=not self.view.gradcam)
            self.say(f"Grad-CAM {'on' if self.view.gradcam else 'off'}")
        elif action == "quit":
            self.quit_requested = True
        return action

    def key_release(self, name: str) -> None:
        action = controls.KEY_ACTIONS.get(name)
        if action in controls.POSE_ACTIONS:
            self.repeater.release(action)

    # ----------------------------------------------------------------------------------- searching

    def toggle_optimize(self) -> None:
        if self.searching:
            self.stop_optimize()
        else:
            self.start_optimize()

    def start_optimize(self) -> bool:
        if not self.runner.available:
            self.say("Optimize is not available: the pose search (strike_pose.search) is missing", error=True)
            return False
        if self.runner.busy:
            self.say("the last search is still stopping; try again in a moment", error=True)
            return False
        settings = self.search_settings
        job = SearchJob(self.scene, self.classifier, self.pose, settings.method, settings.target,
                        int(settings.steps), settings.step_size if settings.step_size > 0 else None,
                        radius=None if settings.whole_space else float(settings.radius),
                        search_light=settings.search_light)
        self.runner.start(job)
        self.search_start = self.pose
        self.searching = True
        self.search_step = None
        self.loss_history = []
        self.last_search = None
        self.repeater.release_all()
        goal = f"towards {label_of(settings.target)!r}" if settings.target is not None else "untargeted"
        where = "the whole pose space" if settings.whole_space else f"within {settings.radius:g} deg"
        self.say(f"optimizing ({settings.method}, {goal}, {where})... O or Stop ends it at the closest "
                 "fooling pose found")
        return True

    def stop_optimize(self, reason: str = "stopped", keep_closest: bool = True) -> None:
        """Stop the search; by default the object goes to the closest fooling pose found (if any)."""
        if self.searching:
            self.runner.cancel()
            self.searching = False
            step = self.search_step
            steps = step.index if step is not None else 0
            if keep_closest and step is not None and step.closest is not None:
                self._finish_search(step, seconds=step.seconds, how="stopped")
            elif keep_closest and step is not None and step.lowest is not None:
                self._show_lowest(step, f"{reason} after {steps} steps, not fooled yet")
            else:
                self.say(f"{reason} after {steps} steps; the pose is where the search was")

    def _stop_search_for_user_change(self) -> None:
        if self.searching:
            self.stop_optimize("search stopped by your change", keep_closest=False)

    def _apply_search_messages(self) -> None:
        for message in self.runner.drain():
            if isinstance(message, SearchEnded):
                self._search_ended(message)
            elif self.searching:
                self._search_step(message)

    def _search_step(self, step) -> None:
        self.search_step = step
        self.loss_history.append(float(step.loss))
        if step.pose != self.pose:
            self.pose = step.pose
            self._frame_dirty = True
        if step.light is not None and step.light != self.scene.light:
            self.scene = replace(self.scene, light=step.light)
            self._frame_dirty = True
        self.prediction = Prediction(np.asarray(step.probs), None, "search")
        if step.closest is not None:
            c = step.closest
            self.say(f"optimizing: fooled, as {label_of(int(np.argmax(c.probs)))!r}, {c.rotation_from_start:.1f} deg "
                     f"from the start; looking for a closer one... O or Stop ends it there")

    def _search_ended(self, ended: SearchEnded) -> None:
        was_searching, self.searching = self.searching, False
        step = ended.last_step
        if ended.status == "cancelled":
            took = f" (stopped {ended.cancel_latency * 1000:.0f} ms after the request)" if ended.cancel_latency else ""
            if was_searching:  # cancelled by a user change: that already said so
                self.say(f"stopped after {step.index if step else 0} steps{took}")
            return
        if not was_searching:
            return
        if ended.status == "error":
            self.say(f"the search failed: {ended.message}", error=True)
        elif ended.status == "success":
            self._finish_search(step, ended.seconds, "done")
        elif step is not None and step.lowest is not None:
            self._show_lowest(step, f"no fooling pose found in {step.index} steps")
        else:
            self.say("no fooling pose found", error=True)

    def _go_to(self, found) -> None:
        """Put the object at a pose the search found (with its light, when the light was searched)."""
        self.pose = found.pose
        if found.light is not None:
            self.base_scene = self.base_scene.with_light(ambient=found.light.ambient, diffuse=found.light.diffuse,
                                                         direction=found.light.direction)
        self.scene = self._effective(self.base_scene)
        self._frame_dirty = True
        self.prediction = Prediction(np.asarray(found.probs), None, "search")

    def _show_lowest(self, step, why: str) -> None:
        """A search that fooled nothing leaves the object at its best pose (the lowest loss), not its last."""
        lowest = step.lowest
        self._go_to(lowest)
        goal = self.search_settings.target
        p_goal = (f"target {label_of(goal)!r} p={float(lowest.probs[goal]):.3f}" if goal is not None
                  else f"true class p={float(lowest.probs[self.true_class]):.3f}")
        self.say(f"{why}; showing the best pose so far ({p_goal}, {lowest.rotation_from_start:.1f} deg from the "
                 "start)", error=True)

    def _finish_search(self, step, seconds: float, how: str) -> None:
        """Show the closest fooling pose a search found (and capture it when asked)."""
        closest = step.closest
        self._go_to(closest)
        self.last_search = {
            "method": self.search_settings.method, "mode": "nearest", "steps": int(step.index),
            "seconds": round(float(seconds), 3), "evaluations": int(step.evaluations), "success": True,
            "learning_rate": self.search_settings.step_size or None,
            "radius": None if self.search_settings.whole_space else self.search_settings.radius,
            "start_pose": self.search_start.as_dict(),
            "rotation_from_start": round(closest.rotation_from_start, 3),
            "translation_from_start": round(closest.translation_from_start, 4),
            "pose": closest.pose,
        }
        top = int(np.argmax(closest.probs))
        message = (f"{how} after {step.index} steps ({seconds:.1f} s): the closest fooling pose is "
                   f"{closest.rotation_from_start:.1f} deg from the start; the model sees {label_of(top)!r} "
                   f"({float(closest.probs[top]):.2f})")
        self.say(message)
        if self.search_settings.auto_capture:
            shot = self.capture()
            if shot is not None:
                self.say(f"{message}; captured {shot.name}")

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
            search = None
            if self.last_search is not None and self.last_search["pose"] == self.pose:
                search = {k: v for k, v in self.last_search.items() if k != "pose"}
            shot = take_shot(self.export_dir, self.scene, self.base_scene, self.pose, self.classifier, image,
                             probs, target=self.search_settings.target, view=self.view.exported(),
                             search=search, window_image=window_image)
        except (StrikePoseError, OSError) as exc:
            self.say(f"capture failed: {exc}", error=True)
            return None
        self.captures.append(shot)
        verdict = "fooled" if shot.fooled else "not fooled"
        self.say(f"captured {shot.name} ({verdict}: top-1 {shot.top1_label!r} {shot.top1_prob:.2f})")
        return shot

    def return_to(self, shot: Shot) -> None:
        """Back to a captured shot: its scene, view toggles and pose."""
        for name, value in shot.view.items():
            setattr(self.view, name, value)
        self._scene_changed(shot.base_scene)
        self.set_pose(shot.pose, clamp=False)
        self.say(f"back to {shot.name}")

    # ----------------------------------------------------------------------------------- loading

    def open_file(self, kind: str, path: str | Path) -> bool:
        """Load a scene (.toml), mesh or background image in the loader thread."""
        from strike_pose.assets import load_background, load_mesh
        from strike_pose.scene import load_scene

        path = str(Path(path).expanduser())
        loaders = {"scene": lambda: load_scene(path), "mesh": lambda: load_mesh(path),
                   "background": lambda: load_background(path)}
        if kind not in loaders:
            raise ValueError(f"unknown kind {kind!r}")
        return self._load(kind, path, loaders[kind])

    def open_bundled_scene(self, name: str) -> bool:
        from strike_pose.scene import load_scene

        return self._load("scene", name, lambda: load_scene(name))

    def set_model(self, name: str) -> bool:
        from strike_pose.models import create_classifier

        name = name.strip()
        if not name:
            self.say("type a model name", error=True)
            return False
        return self._load("model", name, lambda: create_classifier(name))

    def _load(self, kind: str, what: str, load: Callable[[], Any]) -> bool:
        if self.loading is not None:
            self.say(f"still loading {self.loading.what}; wait for it", error=True)
            return False
        self.loading = Loading(kind, what, self._loader.submit(load))
        self.say(f"loading {kind} {what}...")
        return True

    def _apply_loaded(self) -> None:
        loading = self.loading
        if loading is None or not loading.future.done():
            return
        self.loading = None
        try:
            result = loading.future.result()
        except StrikePoseError as exc:
            self.say(f"could not open {loading.kind}: {exc} (kept the previous one)", error=True)
            return
        except Exception as exc:  # a broken file can fail anywhere in a third-party loader
            self.say(f"could not open {loading.kind} {loading.what}: {type(exc).__name__}: {exc} "
                     "(kept the previous one)", error=True)
            return
        if loading.kind == "model":
            self._stop_search_for_user_change()
            self.classifier, self.model_name = result, loading.what
            self._frame_dirty = True
            self.prediction = None
            self.say(f"model {loading.what} loaded (input {result.input_size} px)")
            return
        base = self.base_scene
        if loading.kind == "scene":
            new_base, new_pose = result, result.pose
            if self._try_scene(new_base, new_pose):
                self.start_pose = new_pose
                self.say(f"opened scene {loading.what}")
            return
        elif loading.kind == "mesh":
            new_base = replace(base, mesh=result, name=Path(loading.what).stem,
                               source={**base.source, "mesh": loading.what})
            new_pose = self.pose
        else:
            new_base = replace(base, background=result, source={**base.source, "background": loading.what})
            new_pose = self.pose
        if self._try_scene(new_base, new_pose):
            self.say(f"opened {loading.kind} {loading.what}")

    def _try_scene(self, base: Scene, pose: Pose) -> bool:
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
        self._apply_loaded()
        self._apply_search_messages()
        if not self.searching:
            for action, fine in self.repeater.due(now):
                self.move(action, fine)
        self._take_analysis()
        self.render_if_needed()
        if self._analysis_wanted and not self.searching and (self.view.live or self.view.gradcam):
            self.worker.submit(AnalysisJob(self.frame, self.classifier, self.view.gradcam), self.frame_id)
            self._analysis_wanted = False

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
        result = self.worker.take_result()
        if result is None:
            return
        if result.error is not None:
            self.say(f"classification failed: {type(result.error).__name__}: {result.error}", error=True)
            return
        if self.searching:  # the search's own predictions are newer
            return
        analysis: Analysis = result.value
        if analysis.probs.shape[0] != len(imagenet_labels()):
            return
        self.prediction = Prediction(analysis.probs, result.item_id, "live", result.latency, analysis.heatmap,
                                     analysis.layer)
        self.latencies.append(result.latency)
        self.model_rate.tick(result.finished_at)

    def _heatmap_maker(self, classifier):
        """The Grad-CAM of a classifier (made once, in the worker thread that uses it)."""
        from strike_pose.models.gradcam import GradCam

        maker = self._heatmap_makers.get(id(classifier))
        if maker is None or maker.classifier is not classifier:
            maker = self._heatmap_makers[id(classifier)] = GradCam(classifier)
        return maker

    def frame_tick(self, now: float) -> None:
        """The window calls this once per drawn frame (for the UI rate)."""
        self.ui_rate.tick(now)

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

    # ------------------------------------------------------------------------------------- close

    def close(self, timeout: float = 10.0) -> list[str]:
        """Stop every thread this session started; returns the names of any that did not stop."""
        left = []
        if not self.runner.close(timeout):
            left.append("pose-search")
        if not self.worker.close(timeout):
            left.append("live-analysis")
        if self.loading is not None:
            self.loading.future.cancel()
        self._loader.shutdown(wait=True, cancel_futures=True)
        for maker in self._heatmap_makers.values():
            maker.close()
        self._heatmap_makers.clear()
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
                "search": asdict(self.search_settings), "searching": self.searching, "status": self.status,
                "captures": [s.name for s in self.captures], "model": self.model_name}
