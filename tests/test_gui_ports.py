"""The visualizer's parts on their own: the Optimizer and the Loader get narrow ports (a few callbacks),
not the session, so they can be built and driven here with stand-ins and no Session at all."""

from __future__ import annotations

import time

import pytest

from strike_pose.gui.loader import Loader, LoaderPorts
from strike_pose.gui.optimizer import Optimizer, OptimizerPorts
from tests.test_gui_logic import fake_search


def settle(part, busy, timeout: float = 30.0) -> None:
    """Call `part.update()` once a frame until `busy()` is false."""
    deadline = time.perf_counter() + timeout
    while busy():
        assert time.perf_counter() < deadline, "timed out"
        part.update()
        time.sleep(0.01)


class StandInDetection:
    """What Optimize reads of the detector mode while the detector loads."""

    name, ready, error = "stand-in detector", False, None


def test_the_optimizer_runs_on_stand_in_ports(bus, classifier, renderer):
    said, steps, results, captures, released, detectors = [], [], [], [], [], []
    ports = OptimizerPorts(say=lambda message, error=False: said.append((message, error)),
                           current=lambda: (bus, bus.pose, classifier), renderer=renderer,
                           show_step=steps.append, show_result=results.append,
                           capture=lambda: captures.append("shot"), release_keys=lambda: released.append(True),
                           detector=lambda: detectors.append(True) or StandInDetection())
    optimizer = Optimizer(ports, search_function=fake_search(0.0, succeed_at=3))
    try:
        assert optimizer.start == bus.pose and optimizer.scene is bus
        optimizer.settings.steps = 5
        assert optimizer.begin() and optimizer.searching and released == [True] and not detectors
        assert said[-1][0].startswith("optimizing (boundary, untargeted, within 30 deg)")
        settle(optimizer, lambda: optimizer.searching)
        assert [step.index for step in steps] == [1, 2, 3, 4, 5]  # each step was shown as it came
        (result,) = results  # the end: the closest fooling pose, re-checked on the renderer
        assert result.pose.yaw == bus.pose.yaw + 3 and result.found is not None
        assert captures == ["shot"]  # the result is captured
        assert said[-1][0].startswith("done after 5 steps") and "3.0 deg from the start" in said[-1][0]
        assert optimizer.record_for(result.pose)["rotation_from_start"] == 3.0
        assert optimizer.record_for(bus.pose) is None  # the object moved on: no search found it
        optimizer.settings.objective = "detector-miss"  # the detector still loads: Optimize says so
        assert not optimizer.begin() and detectors == [True]
        assert said[-1] == ("cannot optimize against the detector yet: stand-in detector is loading; "
                            "press O again in a moment", True)
    finally:
        assert optimizer.close(10)


def test_the_loader_opens_files_and_models_on_stand_in_ports(bus, tmp_path):
    from PIL import Image

    said, scenes, models, starts = [], [], [], []
    ports = LoaderPorts(say=lambda message, error=False: said.append((message, error)), scene=lambda: bus,
                        pose=lambda: bus.pose, use_scene=lambda scene, pose: scenes.append((scene, pose)) or True,
                        use_model=lambda classifier, name: models.append(name), set_start=starts.append)
    loader = Loader(ports)
    try:
        path = tmp_path / "bg.png"
        Image.new("RGB", (64, 48), (200, 30, 30)).save(path)
        assert loader.open_file("background", path) and said[-1] == (f"loading background {path}...", False)
        assert not loader.open_named_scene("soccer_ball")  # one load at a time
        assert said[-1] == (f"still loading {path}; wait for it", True)
        settle(loader, lambda: loader.loading is not None)
        (scene, pose), = scenes
        assert scene.mesh is bus.mesh and scene.source["background"] == str(path) and pose == bus.pose
        assert said[-1] == (f"opened background {path}", False) and starts == []
        assert loader.open_named_scene("soccer_ball")
        settle(loader, lambda: loader.loading is not None)
        scene, pose = scenes[-1]
        assert scene.name == "soccer_ball" and starts == [pose] == [scene.pose]  # Backspace returns there now
        assert not loader.set_model("  ") and said[-1] == ("type a model name", True)
        assert loader.open_file("mesh", tmp_path / "missing.obj")
        settle(loader, lambda: loader.loading is not None)
        assert said[-1][1] and said[-1][0].startswith("could not open mesh") and len(scenes) == 2 and not models
        with pytest.raises(ValueError):
            loader.open_file("nothing", path)
    finally:
        loader.close()
