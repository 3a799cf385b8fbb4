"""The search against the object detector (YOLOv3-tiny): the rule of when it is fooled, its loss, the
detector's gradient, a real detector-miss search on the bus and the transfer study's detector rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from strike_pose.cli import main
from strike_pose.models.coco import COCO_LABELS
from strike_pose.search.detection import (DetectorObjective, box_iou, coco_target, detector_fooled, object_boxes,
                                          object_scores)

BUS, TRUCK, CAR = 5, 7, 2
OBJECT = [0.2, 0.3, 0.8, 0.7]  # the object's box in [0, 1]


@pytest.fixture(scope="module")
def detector():
    from strike_pose.models.detector import create_detector

    return create_detector("yolov3_tiny", device="cpu")


def _verdict(objective, boxes, scores):
    """The verdict (80,) of hand-made candidate boxes [(x0, y0, x1, y1)] with {class: score} each."""
    b = torch.tensor([boxes], dtype=torch.float64)
    s = torch.zeros(1, len(boxes), 80, dtype=torch.float64)
    for i, per_class in enumerate(scores):
        for c, v in per_class.items():
            s[0, i, c] = v
    return object_scores(b, s, torch.tensor([OBJECT], dtype=torch.float64), objective.iou)[0].numpy()


def test_the_rule_on_constructed_boxes(detector, bus):
    miss = DetectorObjective(detector, bus, BUS)
    as_truck = DetectorObjective(detector, bus, BUS, target=TRUCK)
    on, off = OBJECT, [0.55, 0.3, 0.95, 0.7]  # IoU 1 and 0.25 / 0.75 ~ 0.2 with the object
    shifted = [0.25, 0.3, 0.85, 0.7]  # IoU 0.55 / 0.65 ~ 0.85
    assert float(box_iou(torch.tensor([[off]]), torch.tensor([OBJECT]))[0, 0]) < 0.5

    seen = _verdict(miss, [on, off], [{BUS: 0.9}, {CAR: 0.8}])
    assert not miss.success(seen) and miss.margin(seen) == pytest.approx(-0.4)
    assert list(seen[[BUS, CAR]]) == [0.9, 0.0]  # the car's box is not on the object
    # a bus box above the threshold but off the object does not see the object
    assert miss.success(_verdict(miss, [off, shifted], [{BUS: 0.9}, {BUS: 0.3}]))
    # a bus box on the object below the threshold: missed, by margin 0.5 - 0.45
    low = _verdict(miss, [shifted], [{BUS: 0.45}])
    assert miss.success(low) and miss.margin(low) == pytest.approx(0.05)
    assert not DetectorObjective(detector, bus, BUS, min_margin=0.1).success(low)  # not a clear miss
    # no candidate box on the object at all: nothing is seen
    assert miss.success(_verdict(miss, [off], [{BUS: 0.99}]))

    # detector-class truck: a truck box on the object and no bus box on it
    assert as_truck.success(_verdict(as_truck, [on, shifted], [{TRUCK: 0.7}, {BUS: 0.2}]))
    assert not as_truck.success(_verdict(as_truck, [on, shifted], [{TRUCK: 0.7}, {BUS: 0.6}]))  # still a bus
    assert not as_truck.success(_verdict(as_truck, [off], [{TRUCK: 0.9}]))  # the truck is beside it
    assert not as_truck.success(_verdict(as_truck, [on], [{TRUCK: 0.4}]))  # below the threshold
    both = _verdict(as_truck, [on, shifted], [{TRUCK: 0.6}, {BUS: 0.3}])
    assert as_truck.margin(both) == pytest.approx(min(0.6 - 0.5, 0.5 - 0.3))


def test_the_loss_is_negative_exactly_on_success(detector, bus):
    rng = np.random.default_rng(0)
    verdicts = rng.uniform(0, 1, (400, 80)) ** 3
    verdicts[:100, BUS] = 0.5 + rng.uniform(-0.02, 0.02, 100)  # near the threshold too
    for objective in (DetectorObjective(detector, bus, BUS), DetectorObjective(detector, bus, BUS, target=TRUCK)):
        losses = objective.margins(verdicts)
        torch_losses = objective.loss_from_verdicts(torch.tensor(verdicts)).numpy()
        np.testing.assert_allclose(losses, torch_losses, rtol=1e-9)
        fooled = np.array([objective.success(v) for v in verdicts])
        assert 0 < fooled.sum() < len(verdicts)
        np.testing.assert_array_equal(losses < 0, fooled)
        np.testing.assert_array_equal(fooled, [detector_fooled(v, BUS, 0.5, objective.target) for v in verdicts])
    # min_margin: the loss level the boundary steps aim at is where the margin just meets it
    clear = DetectorObjective(detector, bus, BUS, min_margin=0.2)
    level_verdict = np.zeros(80)
    level_verdict[BUS] = 0.3
    assert clear.margins(level_verdict)[0] == pytest.approx(clear.loss_level())


def test_the_detector_gradient_matches_finite_differences():
    """The sum of one candidate box's class scores on a small random image, in float64: autograd's
    directional derivative against central differences (at 1e-5 some of its leaky ReLUs change side
    within the step and the two differ by 0.4%; at 1e-8 by 1e-7)."""
    from strike_pose.models.detector import create_detector

    d = create_detector("yolov3_tiny", device="cpu")
    d.net.double()
    x = torch.rand(1, 3, 48, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        _, scores = d.scores(x)
    box = int(scores[0].sum(1).argmax())

    def f(image):
        return d.scores(image)[1][0, box].sum()

    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(f(x), x)
    direction = torch.randn(x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    eps = 1e-8  # the network is piecewise linear (leaky ReLU, max-pool): a larger step crosses kinks
    with torch.no_grad():
        numeric = (f(x + eps * direction) - f(x - eps * direction)) / (2 * eps)
    analytic = (grad * direction).sum()
    assert float(grad.abs().sum()) > 0
    assert float(analytic) == pytest.approx(float(numeric), rel=1e-4, abs=1e-8)


def test_the_object_box_is_the_projected_mesh(detector, bus, renderer):
    """At the bus's start pose the detector's bus box and the projected box agree (IoU well above 0.5),
    and the twin's loss goes through the detector with a finite pose gradient."""
    from strike_pose.render.diff import twin_gradients

    objective = DetectorObjective(detector, bus, BUS)
    pose = np.array([bus.pose.as_tuple()])
    box = object_boxes(objective.outline, pose, bus.camera.fov_y)[0]
    assert 0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1
    image = renderer.render(bus, bus.pose, size=detector.input_size)
    found = objective.detections(image, pose[0])
    assert any(d["label"] == "bus" and d["iou"] > 0.7 for d in found), found
    twin = twin_gradients(bus, pose, objective.image_loss_for(pose), size=160, renderer=renderer)
    assert np.all(np.isfinite(twin.pose_grads)) and np.abs(twin.pose_grads).sum() > 0


def test_a_detector_miss_search_on_the_bus(detector, bus, renderer, tmp_path):
    """A real search (CMA-ES, first mode) from the bus's start pose within 30 degrees finds a clear
    miss (the bus's best score on the object at most 0.4), confirmed on OpenGL and labelled in COCO."""
    from strike_pose.search import run_search

    result = run_search(bus, detector, bus.pose, method="cmaes", radius=30, mode="first", min_margin=0.1,
                        budget_seconds=40, steps=12, seed=0, objective="detector-miss", out_dir=tmp_path).summary()
    assert result["success"], result
    assert result["objective"] == "detector-miss" and result["model"] == "detector:yolov3_tiny"
    assert result["rotation_from_start"] <= 30
    assert result["true_class"]["label"] == "bus" and result["true_prob"] <= 0.4
    assert all(t["label"] in COCO_LABELS for t in result["top"])
    assert not any(d["on_object"] and d["label"] == "bus" for d in result["detections"])
    assert "-as-" in result["files"]["image"] and result["files"]["image"].endswith("-yolov3_tiny.png")


def test_every_method_searches_against_the_detector(detector, bus, renderer):
    """One step of each strategy with the detector's objective: its verdicts (80 COCO scores) flow into
    the Steps, and the gradient methods go through the twin and the detector."""
    from strike_pose.search import METHODS, search, settings_for

    short = {"boundary": {"slides": 1}, "grad": {"chains": 1, "screen": 2}}  # one twin pass each, to keep it short
    for method in METHODS:
        settings = settings_for(method, **short[method]) if method in short else None
        steps = list(search(bus, detector, bus.pose, method=method, radius=10, steps=1, seed=1,
                            objective="detector-miss", renderer=renderer, settings=settings))
        assert len(steps) == 1 and steps[0].probs.shape == (80,), method
        assert np.isfinite(steps[0].loss) and steps[0].evaluations > 0, method
        if method == "grad":
            assert steps[0].gradients > 0


def test_the_command_line_refuses_bad_detector_input(capsys, tmp_path):
    out = str(tmp_path / "shots")
    rc = main(["search", "--objective", "detector-class", "--detector-target", "spaceship", "--out", out])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "'spaceship' is not a COCO class" in err
    rc = main(["search", "--objective", "detector-miss", "--true-class", "teapot", "--out", out])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "no MS COCO class" in err
    rc = main(["search", "--objective", "detector-class", "--detector-target", "bus", "--out", out])
    assert rc == 2 and "own COCO class" in capsys.readouterr().err
    rc = main(["search", "--objective", "detector-miss", "--target", "snowplow", "--out", out])
    assert rc == 2 and "--detector-target" in capsys.readouterr().err
    assert coco_target("truck") == TRUCK and coco_target("7") == TRUCK


def test_the_transfer_rows_read_the_detector_by_the_objective_rule(detector, bus, renderer):
    from strike_pose.experiments.kinds.transfer import summarise
    from strike_pose.experiments.work import Item, Worker

    worker = Worker()
    worker._renderer, worker._detectors["yolov3_tiny"] = renderer, detector
    poses = [bus.pose.as_tuple(), (30.0, 100.0, 40.0, 0.0, 0.0, -8.0), (200.0, -60.0, 10.0, 0.5, 0.2, -12.0)]
    sources = [{"row": f"x/{i}", "scene": "school_bus", "light": None, "light_label": "scene",
                "model": "efficientnet_lite0", "top1": 864, "top1_prob": 0.9,
                **dict(zip(("yaw", "pitch", "roll", "x", "y", "z"), p))} for i, p in enumerate(poses)]
    rows = worker.run(Item("t", "transfer", "k", {"model": "detector:yolov3_tiny", "sources": sources}))
    assert len(rows) == 3 and all(r["labels"] == "coco" and r["object_class"] == BUS for r in rows)
    objective = DetectorObjective(detector, bus, BUS)
    images = renderer.render_batch(bus, np.array(poses), size=detector.input_size)
    _, verdicts = objective.evaluate(images, np.array(poses))
    assert [r["fooled"] for r in rows] == [objective.success(v) for v in verdicts]
    assert rows[0]["fooled"] is False or rows[0]["object_score"] < 0.5
    table = summarise(rows, None)["table"]
    assert table[0]["detector"] and table[0]["paper"] == 0.755
    assert table[0]["transfer_rate"] == pytest.approx(sum(r["fooled"] for r in rows) / 3)
