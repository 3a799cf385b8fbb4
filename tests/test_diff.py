"""The differentiable twin: the same picture as OpenGL, and gradients that agree with it."""

from functools import lru_cache

import numpy as np
import pytest
import torch

from strike_pose import load_scene
from strike_pose.render.diff import mesh_topology, render_differentiable
from strike_pose.render.verify import gradient_agreement, parity, random_natural_pose

SCENES = ["school_bus", "soccer_ball", "traffic_light"]


@lru_cache(maxsize=None)
def load(name):
    return load_scene(name)


@pytest.mark.parametrize("name", SCENES)
def test_bundled_meshes_are_closed(name):
    scene = load(name)
    assert (mesh_topology(scene.mesh).neighbours >= 0).all(), "every edge has a neighbour across it"


@pytest.mark.parametrize("name", SCENES)
def test_parity_with_opengl(name, renderer):
    """The twin's shading equals OpenGL's (no MSAA) to well under a grey level. Its silhouette
    antialiasing then changes outline pixels by about as much as OpenGL's own 4x MSAA does."""
    scene = load(name)
    rng = np.random.default_rng(7)
    for _ in range(6):
        pose = random_natural_pose(rng, scene.pose)
        assert parity(renderer, scene, pose, antialias=False) <= 0.5
        plain = renderer.render(scene, tuple(pose)).astype(float)
        msaa_effect = np.abs(renderer.render(scene, tuple(pose), msaa=4).astype(float) - plain).mean()
        assert parity(renderer, scene, pose, antialias=True) <= max(0.5, 1.3 * msaa_effect)


@pytest.mark.slow
@pytest.mark.parametrize("name", SCENES)
def test_gradients_agree_with_supersampled_opengl(name, renderer):
    scene = load(name)
    rng = np.random.default_rng(11)
    rows = [gradient_agreement(renderer, scene, random_natural_pose(rng, scene.pose), rng) for _ in range(20)]
    medians = {key: float(np.median([r[key] for r in rows])) for key in rows[0]}
    assert medians["all"] >= 0.95, medians
    assert medians["silhouette"] >= 0.9, medians
    assert medians["interior"] >= 0.9, medians


def test_light_gradients_flow(bus, renderer):
    from strike_pose.render.diff import light_tensor

    light = light_tensor(bus).requires_grad_(True)
    pose = torch.tensor(bus.pose.as_tuple(), dtype=torch.float32)
    render_differentiable(bus, pose, light=light, renderer=renderer).mean().backward()
    assert light.grad[0] > 0 and light.grad[1] > 0, "more light, brighter picture"


def test_pose_outside_the_view_gives_the_background(bus, renderer):
    pose = torch.tensor([0, 0, 0, 50, 0, -8], dtype=torch.float32, requires_grad=True)
    image = render_differentiable(bus, pose, renderer=renderer)
    from strike_pose.render.common import background_array

    assert np.allclose(image.detach().numpy() * 255, background_array(bus, 224, 224), atol=1e-3)
