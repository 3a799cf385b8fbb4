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


@pytest.mark.parametrize("name", SCENES)
def test_batched_twin_equals_single_renders(name, renderer):
    """N poses in one pass give the N pictures and gradients of N single passes (same visibility)."""
    scene = load(name)
    rng = np.random.default_rng(5)
    poses = np.stack([random_natural_pose(rng, scene.pose) for _ in range(6)])
    ids, depth = renderer.render_visibility_batch(scene, poses, 224)
    weights = torch.from_numpy(rng.normal(size=(6, 224, 224, 3))).float()
    batch = torch.tensor(poses, dtype=torch.float64, requires_grad=True)
    images = render_differentiable(scene, batch, visibility=(ids, depth))
    (images * weights).sum().backward()
    for i in range(6):
        single = torch.tensor(poses[i], dtype=torch.float64, requires_grad=True)
        image = render_differentiable(scene, single, visibility=(ids[i], depth[i]))
        (image * weights[i]).sum().backward()
        assert torch.allclose(image, images[i], atol=1e-9)
        assert torch.allclose(single.grad, batch.grad[i], rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_batched_gradients_agree_with_supersampled_opengl(renderer):
    """The gradient check of the single pass, on poses rendered as one batch with a light per pose."""
    from strike_pose.render.verify import batched_gradient_agreement

    scene = load("school_bus")
    rng = np.random.default_rng(13)
    poses = np.stack([random_natural_pose(rng, scene.pose) for _ in range(8)])
    cosines = batched_gradient_agreement(renderer, scene, poses, rng)
    assert np.median(cosines) >= 0.95, cosines


def test_twin_gradients_of_a_batch_come_back_per_pose(bus, renderer):
    from strike_pose.render.diff import light_tensor, twin_gradients

    poses = np.array([bus.pose.as_tuple(), (60, 0, 5, 0.1, 0, -9)], np.float64)
    lights = np.stack([light_tensor(bus).numpy()] * 2)
    out = twin_gradients(bus, poses, lambda images: (images.mean(dim=(1, 2, 3)), None), lights=lights,
                         renderer=renderer)
    assert out.losses.shape == (2,) and out.pose_grads.shape == (2, 6) and out.light_grads.shape == (2, 5)
    alone = twin_gradients(bus, poses[1:], lambda images: (images.mean(dim=(1, 2, 3)), None), renderer=renderer)
    assert np.allclose(alone.pose_grads[0], out.pose_grads[1], rtol=1e-4, atol=1e-6)
    assert (out.light_grads[:, :2] > 0).all(), "more light, brighter picture"


def test_the_twin_draws_a_scene_as_shown_as_it_draws_any_scene(bus, renderer):
    """Plain (texture=False) is the picture of a plain 4x4 texture at PLAIN_ALBEDO; without background
    the uncovered pixels are the ImageNet mean colour; and the twin still matches OpenGL on both."""
    from dataclasses import replace

    from strike_pose.scene import IMAGENET_MEAN_RGB, PLAIN_ALBEDO

    pose = torch.tensor(bus.pose.as_tuple(), dtype=torch.float32)
    reference = replace(bus, mesh=replace(bus.mesh, texture=np.full((4, 4, 3), PLAIN_ALBEDO, np.uint8)))
    plain = render_differentiable(bus.as_shown(texture=False), pose, renderer=renderer)
    assert torch.equal(plain, render_differentiable(reference, pose, renderer=renderer))
    bare = bus.as_shown(background=False)
    image = render_differentiable(bare, pose, renderer=renderer, antialias=False).numpy()  # no edge blending
    ids, _ = renderer.render_visibility(bare, bus.pose)
    assert np.allclose(image[ids == 0] * 255, IMAGENET_MEAN_RGB, atol=1e-3)
    for scene in (bus.as_shown(texture=False), bare):
        assert parity(renderer, scene, np.array(bus.pose.as_tuple()), antialias=False) <= 0.5
