"""The objective's written interface (strike_pose.search.objective.SearchObjective), checked the same way
for both implementations: the classifier's and the detector's. Whatever a strategy, the search's record
and SearchResult rely on is here, once, for each."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from strike_pose.errors import StrikePoseError
from strike_pose.search import SearchOptions
from strike_pose.search.objective import SearchObjective, make_objective

SIZE = 160  # the twin's pictures: small, the checks are about shapes, signs and agreement


@pytest.fixture(scope="module")
def detector():
    from strike_pose.models.detector import create_detector

    return create_detector("yolov3_tiny", device="cpu")


@pytest.fixture(params=["classifier", "detector"])
def objective(request, bus, classifier, detector):
    model = classifier if request.param == "classifier" else detector
    return make_objective(bus, model, SearchOptions(min_margin=0.1))


@pytest.fixture(scope="module")
def pictures(bus, renderer):
    """OpenGL pictures of the bus at its pose and at two turned ones, at each model's size."""
    poses = np.array([bus.pose.as_tuple(), (60, 30, 10, 0, 0, -8), (150, -20, 0, 0.2, 0, -9)], np.float64)
    return poses, {size: renderer.render_batch(bus, poses, size=size) for size in (224, 416)}


def test_both_models_make_an_objective_of_the_written_interface(objective):
    assert isinstance(objective, SearchObjective)
    assert objective.kind in ("classifier", "detector") and objective.min_margin == 0.1
    assert make_objective(None, objective) is objective  # an objective is taken as it is
    assert objective.labels[objective.true_class] in ("school bus", "bus")


def test_the_opengl_check_gives_losses_and_verdicts_that_agree(objective, pictures):
    poses, images = pictures
    losses, verdicts = objective.evaluate(images[objective.input_size], poses)
    assert losses.shape == (3,) and verdicts.shape == (3, len(objective.labels))
    assert np.all(np.isfinite(losses)) and np.all(np.isfinite(verdicts))
    assert np.allclose(objective.verdicts(images[objective.input_size], poses), verdicts, atol=1e-5)
    for loss, verdict, margin_loss in zip(losses, verdicts, objective.margins(verdicts)):
        # the margin loss (from the verdicts) and the loss (from the model's own outputs) agree in sign
        assert np.sign(loss) == np.sign(margin_loss) or abs(loss) < 1e-3
        margin = objective.margin(verdict)
        assert objective.success(verdict) == (margin > 0 and margin >= objective.min_margin)
        assert (margin > 0) == objective.misses(verdict)  # untargeted: fooled exactly when the object is missed
        assert isinstance(objective.describe(verdict), dict) and objective.top(verdict, 3)[0]["label"]
        seen = objective.seen_label(verdict)  # a label, or for the detector "nothing" when no box is on the object
        assert isinstance(seen, str) and seen
        assert objective.shot_stem("school_bus", verdict).startswith("school_bus-as-")
    assert objective.misses(verdicts[0]) is False or objective.kind == "detector"  # the bus at its pose is known


def test_the_margin_level_lies_past_the_boundary_only_with_a_minimum_margin(objective):
    from dataclasses import replace

    assert objective.loss_level() < 0  # a clear fool lies past the decision boundary (margin loss 0)
    assert replace(objective, min_margin=0.0).loss_level() == 0.0


def test_the_twin_s_loss_is_differentiable_and_matches_the_opengl_loss(objective, bus, renderer):
    from strike_pose.render.diff import render_differentiable

    pose = torch.tensor([bus.pose.as_tuple()], dtype=torch.float64, requires_grad=True)
    images = render_differentiable(bus, pose, size=objective.input_size, renderer=renderer)
    image_loss = objective.image_loss_for(pose.detach().numpy())
    losses, verdicts = image_loss(images.float())
    assert losses.shape == (1,) and tuple(verdicts.shape) == (1, len(objective.labels))
    losses.sum().backward()
    assert pose.grad is not None and torch.isfinite(pose.grad).all() and pose.grad.abs().sum() > 0
    gl_losses, _ = objective.evaluate(renderer.render_batch(bus, pose.detach().numpy(), size=objective.input_size),
                                      pose.detach().numpy())
    assert float(losses.detach()[0]) == pytest.approx(float(gl_losses[0]), abs=0.5)  # the twin's antialiased picture


def test_a_model_of_the_wrong_kind_for_the_objective_is_refused(bus, classifier, detector):
    with pytest.raises(StrikePoseError, match="needs a detector"):
        make_objective(bus, classifier, SearchOptions(objective="detector-miss"))
    with pytest.raises(StrikePoseError, match="needs a classifier"):
        make_objective(bus, detector, SearchOptions(objective="classifier"))
    with pytest.raises(StrikePoseError, match="a classifier or a detector"):
        make_objective(bus, object())
