"""Search: the objective, the region, the strategies' steps, cancelling, and the CLI's exports."""

import json
import threading

import numpy as np
import pytest

from strike_pose import Pose
from strike_pose.cli import main
from strike_pose.search import METHODS, search
from strike_pose.search.objective import Objective
from strike_pose.search.region import Region, region_for, rotation_angle

NEAR_FOOLING = "75,25,0,0,0,-8"  # the bus seen almost end-on: still "school bus", but barely


def test_objective_losses_and_success(classifier):
    import torch

    logits = torch.zeros(1, 1000)
    logits[0, 779] = 2.0
    logits[0, 3] = 0.5
    margin = Objective(classifier, 779)
    assert float(margin.loss_from_logits(logits)[0]) == pytest.approx(1.5)  # true logit - best other
    assert float(Objective(classifier, 779, target=3).loss_from_logits(logits)[0]) == pytest.approx(1.5)
    logits[0, 3] = 0.0
    untargeted = Objective(classifier, 779, loss="logp")
    targeted = Objective(classifier, 779, target=805, loss="logp")
    p779 = float(torch.softmax(logits, 1)[0, 779])
    assert np.isclose(float(untargeted.loss_from_logits(logits)[0]), np.log(p779), atol=1e-5)
    assert np.isclose(float(targeted.loss_from_logits(logits)[0]), -np.log((1 - p779) / 999), atol=1e-4)
    probs = np.zeros(1000)
    probs[805] = 1
    assert untargeted.success(probs) and targeted.success(probs)
    probs[:] = 0
    probs[3] = 1
    assert untargeted.success(probs) and not targeted.success(probs)


def test_region_keeps_the_radius_and_the_frustum():
    start = Pose(30, 10, 0, 0, 0, -8)
    region = Region(start=np.array(start.as_tuple()), fov_y=16.426, radius=20)
    rng = np.random.default_rng(0)
    for pose in region.sample(rng, 50):
        assert rotation_angle(np.array(start.as_tuple()), pose) <= 20 + 1e-6
    far = region.project(np.array([170, 80, -90, 5, -5, -30]))
    assert rotation_angle(np.array(start.as_tuple()), far) == pytest.approx(20, abs=1e-6)
    assert region.z_far <= far[5] <= region.z_near and abs(far[3]) < -far[5] * 0.15
    assert region.distance(far) == pytest.approx(20, abs=1e-6)


def test_region_paths_move_along_the_geodesic():
    region = Region(start=np.array([30, 10, 0, 0, 0, -8.0]), fov_y=16.426, radius=30)
    a, b = np.array([30, 10, 0, 0, 0, -8.0]), np.array([60, -20, 15, 0.2, 0, -9.0])
    half = region.between(a, b, 0.5)
    assert rotation_angle(a, half) == pytest.approx(rotation_angle(a, b) / 2, abs=1e-6)
    assert half[3:] == pytest.approx((a[3:] + b[3:]) / 2)
    moved = region.step_towards(a, b, 2.0)
    assert rotation_angle(a, moved) == pytest.approx(2.0, abs=1e-6)
    assert np.all(np.abs(moved[3:] - a[3:]) <= 2.0 * region.scale[3:] + 1e-12)


def test_light_is_searched_within_its_range(bus):
    region = region_for(bus, bus.pose, 30, search_light=True)
    assert region.size == 11
    for params in region.sample(np.random.default_rng(0), 20):
        assert 0 <= params[6] <= 1.5 and 0 <= params[7] <= 1.5 and np.linalg.norm(params[8:]) == pytest.approx(1)
    pose, light = region.pose_and_light(region.project(np.r_[region.initial()[:6], 9, -1, 0, 0, 2]), bus)
    assert (light.ambient, light.diffuse, light.direction) == (1.5, 0.0, (0.0, 0.0, 1.0))


@pytest.mark.parametrize("method", METHODS)
def test_every_method_yields_steps_and_stops(method, bus, small_classifier):
    steps = list(search(bus, small_classifier, start=Pose.parse(NEAR_FOOLING), method=method, radius=30,
                        steps=3, seed=1))
    assert 1 <= len(steps) <= 3
    assert [s.index for s in steps] == list(range(1, len(steps) + 1))
    for s in steps:
        assert s.probs.shape == (1000,) and np.isfinite(s.loss) and s.evaluations >= s.index
    assert len(steps) == 3  # the nearest mode runs until its budget


def test_grad_fools_the_classifier_from_a_near_pose(bus, classifier, tmp_path, capsys):
    assert main(["search", "--pose", NEAR_FOOLING, "--method", "grad", "--radius", "30", "--steps", "20",
                 "--out", str(tmp_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["success"] and result["top"][0]["index"] != 779
    for key in ("steps", "seconds", "seconds_per_step", "start_pose", "final_pose", "true_prob",
                "target_prob", "files", "first"):
        assert key in result
    assert 0 < result["rotation_from_start"] <= 30 + 1e-6
    assert result["rotation_from_start"] <= result["first"]["rotation_from_start"] + 1e-6
    shot = json.loads(open(result["files"]["json"]).read())
    for key in ("scene", "pose", "model", "top", "true_class", "search", "strike_pose_version"):
        assert key in shot
    assert shot["scene"]["sha256"] and shot["search"]["method"] == "grad" and shot["search"]["seed"] == 0

    # The shot reproduces: same top-1, same probabilities within 1e-3.
    assert main(["classify", "--from", result["files"]["json"], "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["top"][0]["index"] == shot["top"][0]["index"]
    assert abs(again["true_class"]["prob"] - shot["true_class"]["prob"]) < 1e-3
    assert abs(again["top"][0]["prob"] - shot["top"][0]["prob"]) < 1e-3


def test_nearest_mode_shrinks_to_the_closest_fooling_pose(bus, classifier):
    """Every method shares it: each closer fooling pose shrinks the region to just inside it."""
    start = Pose.parse(NEAR_FOOLING)
    steps = list(search(bus, classifier, start=start, method="random", radius=30, steps=6, seed=2))
    found = [s.closest for s in steps if s.closest is not None]
    assert found, "random search finds a fooling pose near this start"
    distances = [f.distance for f in found]
    assert distances == sorted(distances, reverse=True) and max(distances) <= 30 + 1e-6
    assert steps[-1].radius == pytest.approx(found[-1].distance * 0.95)
    assert steps[-1].first.distance >= steps[-1].closest.distance
    first_only = list(search(bus, classifier, start=start, method="random", radius=30, steps=6, seed=2, mode="first"))
    assert first_only[-1].first is not None and len(first_only) <= len(steps)


def test_the_gradient_search_shows_a_path_without_jumps(bus, small_classifier):
    """Optimize shows Step.pose: from the start, each step moves it by at most the learning rate (degrees)."""
    from strike_pose.search.gradient import GradSettings

    start = Pose.parse(NEAR_FOOLING)
    poses = [np.array(start.as_tuple())]
    for step in search(bus, small_classifier, start=start, method="grad", radius=30, steps=8, seed=0):
        poses.append(np.array(step.pose.as_tuple()))
        assert step.radius is None or step.radius <= 30
    assert np.allclose(poses[1], poses[0])
    for a, b in zip(poses, poses[1:]):
        assert rotation_angle(a, b) <= GradSettings.learning_rate + 1e-6


def test_same_seed_same_result(bus, small_classifier):
    def run():
        return [s.pose.as_tuple() for s in search(bus, small_classifier, method="random", steps=2, seed=5)]

    assert run() == run()


def test_cancel_stops_the_search(bus, classifier):
    cancel = threading.Event()
    steps = []
    for step in search(bus, classifier, method="grad", cancel=cancel):  # the default budget, DEFAULT_STEPS
        steps.append(step)
        cancel.set()
    assert len(steps) == 1


def test_grad_cli_prints_loss_and_gradient(capsys):
    assert main(["grad", "--pose", "30,10,0,0,0,-8", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["loss"] > 0 and set(data["gradient"]) == {"yaw", "pitch", "roll", "x", "y", "z"}  # still right
    assert all(np.isfinite(v) for v in data["gradient"].values())
    assert main(["grad", "--pose", "30,10,0,0,0,-8", "--loss", "logp", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["loss"] < 0  # log p(true class)


@pytest.mark.parametrize("args, words", [
    (["search", "--method", "grad", "--target", "school bus", "--out", "x"], "true class"),
    (["search", "--target", "not a class", "--out", "x"], "not an ImageNet class"),
    (["search", "--radius", "0", "--out", "x"], "radius"),
    (["search", "--steps", "0", "--out", "x"], "steps"),
    (["classify", "--from", "missing.json"], "not found"),
    (["search", "--out", "shot.png"], "folder"),
])
def test_search_errors(args, words, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


def test_search_refuses_an_existing_file_as_out_before_searching(tmp_path, capsys):
    existing = tmp_path / "existing.png"
    existing.write_bytes(b"keep")
    assert main(["search", "--out", str(existing)]) == 2
    assert "is a file" in capsys.readouterr().err and existing.read_bytes() == b"keep"


def test_bad_shot_json(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["classify", "--from", str(bad)]) == 2
    assert "not a JSON shot" in capsys.readouterr().err


def test_adam_first_step_is_the_rate_against_the_gradient_and_reset_starts_again():
    """One Adam for fd and grad: bias-corrected, so its first step is `rate` a parameter whatever the
    gradient's size."""
    from strike_pose.search.strategies import Adam

    adam, g, rate = Adam(3), np.array([1e-3, -50.0, 2.0]), np.array([2.0, 2.0, 0.1])
    first = adam.step(g, rate)
    assert first == pytest.approx(rate * np.sign(g), rel=1e-4)
    adam.step(-g, rate)
    adam.reset()
    assert np.array_equal(adam.step(g, rate), first)


@pytest.mark.parametrize("search_light, passes", [(False, 13), (True, 23)])
def test_fd_takes_the_pose_and_two_offsets_a_parameter_each_step(search_light, passes, bus, classifier):
    steps = list(search(bus, classifier, method="fd", radius=30, steps=2, mode="first", search_light=search_light))
    assert not steps[-1].success  # a find would add the search back's renders
    assert [s.evaluations for s in steps] == [passes, 2 * passes]
