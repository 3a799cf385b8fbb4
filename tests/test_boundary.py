"""The default search's gradient steps (strike_pose/search/boundary.py): onto the decision boundary from
a near miss, along it towards the start, the light by its gradient, the ablation switch; and the
whole-object-in-view rule and the minimum margin that every method now honours."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from strike_pose.errors import StrikePoseError
from strike_pose.search import search, settings_for
from strike_pose.search.boundary import BoundarySettings, BoundarySteps
from strike_pose.search.context import SearchContext
from strike_pose.search.objective import Objective, fools, margin_of
from strike_pose.search.region import region_for


def _steps(scene, classifier, renderer, settings=BoundarySettings(), radius=30.0, start=None, **objective):
    start = scene.pose if start is None else start
    ctx = SearchContext(scene=scene, objective=Objective(classifier, scene.true_class, **objective),
                        region=region_for(scene, start, radius, in_view=True), renderer=renderer,
                        size=classifier.input_size, steps=100, budget_seconds=None,
                        rng=np.random.default_rng(0), cancel=threading.Event())
    return BoundarySteps(ctx, settings)


class _Linear:
    """A margin that is linear in the region's scaled units, with a known boundary (margin 0)."""

    def __init__(self, region, g, m0):
        self.region, self.g, self.m0 = region, np.asarray(g, np.float64), m0
        self.origin = region.initial()

    def __call__(self, params):
        return self.m0 + self.g @ ((np.asarray(params) - self.origin) / self.region.scale)


def test_a_boundary_step_lands_on_a_known_boundary_and_no_further_than_its_cap(bus, classifier, renderer):
    steps = _steps(bus, classifier, renderer)
    region = steps.ctx.region
    margin = _Linear(region, [0.8, -0.3, 0.2, 0.5, 0.1, -0.4], 0.3)  # 0.3 logits from the boundary
    start = region.initial()
    moved = steps.onto_boundary(start, margin(start), margin.g)
    assert margin(moved) == pytest.approx(steps.level, abs=2e-3)  # just past the boundary, by the overshoot
    assert steps.level == pytest.approx(-BoundarySettings().overshoot)
    far = _Linear(region, margin.g, 5.0)  # too far for one step: the step stops at the cap
    capped = steps.onto_boundary(start, far(start), far.g)
    assert np.linalg.norm((capped - start) / region.scale) == pytest.approx(BoundarySettings().cap, rel=1e-3)
    assert far(capped) < far(start)


def test_a_minimum_margin_moves_the_level_a_step_aims_at(bus, classifier, renderer):
    steps = _steps(bus, classifier, renderer, min_margin=0.5)
    assert steps.level == pytest.approx(-BoundarySettings().overshoot - np.log(3.0))


def test_a_slide_step_keeps_to_the_level_and_comes_nearer_the_start(bus, classifier, renderer):
    steps = _steps(bus, classifier, renderer)
    region = steps.ctx.region
    start = region.initial()
    fooling = region.project(start + np.array([12.0, 4.0, -3.0, 0.0, 0.0, 0.0]))
    # a boundary through the fooling pose that leans across the way back to the start
    g = np.array([0.6, 0.5, -0.2, 0.1, 0.0, 0.3])
    margin = _Linear(region, g, 0.0)
    margin.origin = fooling
    margin.m0 = steps.level
    moved = steps.along_boundary(fooling, margin(fooling), g, 0.5)
    assert margin(moved) == pytest.approx(steps.level, abs=1e-2)  # still on the fooling side, at the level
    assert region.distance(moved) < region.distance(fooling) - 0.05


def test_the_random_ablation_takes_steps_of_the_same_lengths_in_other_directions(bus, classifier, renderer):
    gradient = _steps(bus, classifier, renderer)
    random = _steps(bus, classifier, renderer, settings=BoundarySettings(direction="random"))
    step = np.array([0.3, -0.1, 0.2, 0.05, 0.0, 0.1])
    assert np.array_equal(gradient._direction(step), step)
    turned = [random._direction(step) for _ in range(20)]
    assert all(np.linalg.norm(t) == pytest.approx(np.linalg.norm(step)) for t in turned)
    cosines = [t @ step / np.linalg.norm(t) / np.linalg.norm(step) for t in turned]
    assert max(cosines) < 0.999 and np.std(cosines) > 0.1
    light = np.concatenate([step, [2.0, 1.0, 0.0, 0.0, 0.5]])  # the pose's and the light's lengths kept apart
    t = random._direction(light)
    assert np.linalg.norm(t[:6]) == pytest.approx(np.linalg.norm(light[:6]))
    assert np.linalg.norm(t[6:]) == pytest.approx(np.linalg.norm(light[6:]))
    with pytest.raises(StrikePoseError, match="unknown boundary direction"):
        BoundarySettings(direction="sideways")


@pytest.mark.parametrize("direction", ["gradient", "none"])
def test_the_ablation_switch_decides_whether_the_twin_is_used(bus, small_classifier, direction):
    steps = list(search(bus, small_classifier, method="boundary", radius=30, steps=3, seed=1, min_margin=0,
                        settings=settings_for("boundary", direction=direction, candidates="2", near="50")))
    assert len(steps) == 3
    assert (steps[-1].gradients > 0) == (direction == "gradient")


def test_the_slide_never_leaves_the_fooling_side_on_opengl(bus, small_classifier, renderer):
    classifier = small_classifier  # the slide's logic on OpenGL's verdicts; any model's boundary will do
    steps = _steps(bus, classifier, renderer, radius=90.0)
    ctx = steps.ctx
    pool = ctx.region.sample(np.random.default_rng(3), 96)  # a fooling pose to slide from
    ctx.evaluate(pool)
    assert ctx.closest is not None, "no fooling pose among 96 poses within 90 degrees of the bus's"
    origins = []
    slide = steps.along_boundary
    steps.along_boundary = lambda params, *rest: origins.append(np.array(params)) or slide(params, *rest)
    for _ in range(3):
        before = ctx.closest
        steps.run(np.empty((0, 6)), np.empty((0, 1000)))
        if ctx.closest is before:
            break
    assert len(origins) >= 2
    _, probs = ctx.objective.evaluate(renderer.render_batch(bus, np.stack(origins), size=classifier.input_size))
    assert all(ctx.objective.success(p) for p in probs)  # every slide step starts from a fooling pose
    assert all(ctx.region.in_view(o) for o in origins)


def test_the_light_gradient_agrees_with_finite_differences_at_two_offsets(bus, small_classifier, renderer):
    """The twin's gradient to the light, through a model's loss (a small one: the light's derivative is the
    twin's, the model only carries it), against central differences at two offsets."""
    from strike_pose.render.diff import twin_gradients
    from strike_pose.search.region import light_vector

    objective = Objective(small_classifier, bus.true_class)
    pose = np.array([[40.0, 8.0, 5.0, 0.0, 0.0, bus.pose.z]])
    light = light_vector(bus.light) + np.array([-0.1, 0.1, 0.0, 0.0, 0.0])

    def loss(vector):
        return twin_gradients(bus, pose, objective.image_losses, lights=vector[None], size=224,
                              renderer=renderer).losses[0]

    direction = light[2:] / np.linalg.norm(light[2:])

    def tangent(v):  # the direction is a unit vector: only changes along the sphere count
        v = np.array(v, np.float64)
        v[2:] -= (v[2:] @ direction) * direction
        return v

    analytic = tangent(twin_gradients(bus, pose, objective.image_losses, lights=light[None], size=224,
                                      renderer=renderer).light_grads[0])
    for offset in (0.02, 0.05):
        fd = tangent([(loss(light + offset * e) - loss(light - offset * e)) / (2 * offset) for e in np.eye(5)])
        cosine = fd @ analytic / np.linalg.norm(fd) / np.linalg.norm(analytic)
        assert cosine > 0.8, (offset, cosine)


def test_the_region_keeps_the_whole_object_in_view(bus):
    from strike_pose.render.transforms import outline_points, wholly_in_view

    region = region_for(bus, bus.pose, 30, in_view=True)
    points = outline_points(bus.mesh.positions)
    for params in region.sample(np.random.default_rng(0), 40):
        assert wholly_in_view(points, params, bus.camera.fov_y)
    edge = region.initial() + np.array([0, 0, 0, 1.0, 0.8, 0])  # the centre pushed towards a corner
    assert not wholly_in_view(points, edge, bus.camera.fov_y)
    assert wholly_in_view(points, region.project(edge), bus.camera.fov_y)
    assert region_for(bus, bus.pose, 30).in_view(edge)  # without the rule any centre in the frame will do


def test_a_start_with_part_of_the_object_out_of_view_is_refused_unless_partial_views_are_allowed(bus, classifier):
    start = (*bus.pose.as_tuple()[:3], 1.0, 0.0, bus.pose.z)  # the bus's front beyond the right edge
    with pytest.raises(StrikePoseError, match="part of the object is outside the picture"):
        next(search(bus, classifier, start=start, method="random", steps=1))
    steps = list(search(bus, classifier, start=start, method="random", steps=1, in_view=False))
    assert len(steps) == 1


def test_every_fooling_pose_shows_the_whole_object_and_has_the_margin_asked_for(bus, classifier):
    from strike_pose.render.transforms import outline_points, wholly_in_view

    last = None
    for last in search(bus, classifier, method="random", radius=90, steps=8, seed=3, min_margin=0.2):
        pass
    assert last.closest is not None, "8 x 12 random poses within 90 degrees found no clear fool"
    found = last.closest
    assert found.margin >= 0.2 and margin_of(found.probs, bus.true_class) == pytest.approx(found.margin)
    assert wholly_in_view(outline_points(bus.mesh.positions), np.array(found.pose.as_tuple()), bus.camera.fov_y)
    with pytest.raises(StrikePoseError, match="minimum margin"):
        next(search(bus, classifier, method="random", steps=1, min_margin=1.0))


def test_margins_of_untargeted_and_targeted_verdicts():
    probs = np.array([0.5, 0.3, 0.2])
    assert margin_of(probs, 0) == pytest.approx(-0.2) and not fools(probs, 0)
    assert margin_of(probs, 1) == pytest.approx(0.2) and fools(probs, 1) and not fools(probs, 1, min_margin=0.25)
    assert margin_of(probs, 1, target=0) == pytest.approx(0.2) and fools(probs, 1, target=0)
    assert margin_of(probs, 0, target=2) == pytest.approx(-0.3) and not fools(probs, 0, target=2)


def test_method_settings_from_strings_and_their_errors():
    assert settings_for("boundary", direction="random", rounds="3").rounds == 3
    assert settings_for("grad", chains="4").chains == 4 and settings_for("cmaes") is None
    with pytest.raises(StrikePoseError, match="has no setting 'radius'"):
        settings_for("boundary", radius="3")
    with pytest.raises(StrikePoseError, match="rounds must be a whole number, got 'many'"):
        settings_for("boundary", rounds="many")
    with pytest.raises(StrikePoseError, match="the random search has no settings"):
        settings_for("random", batch="3")
