"""The OpenGL renderer: the object lands where the pose says, the background shows around it."""

import math

import numpy as np
import pytest
import trimesh
from PIL import Image

from strike_pose import Pose, StrikePoseError
from strike_pose.assets.mesh import mesh_from_trimesh
from strike_pose.render.common import background_array
from strike_pose.scene import Scene

FOV = 16.426


@pytest.fixture(scope="module")
def cube_scene():
    gradient = np.zeros((300, 400, 3), np.uint8)
    gradient[..., 0] = np.linspace(0, 255, 400)[None, :]
    gradient[..., 2] = np.linspace(0, 255, 300)[:, None]
    mesh = mesh_from_trimesh(trimesh.creation.box(extents=(1, 1, 1)))
    return Scene(name="cube", mesh=mesh, background=Image.fromarray(gradient), true_class=0)


def project(x, y, z, size):
    t = math.tan(math.radians(FOV / 2))
    ndc_x, ndc_y = x / (-z * t), y / (-z * t)
    return (ndc_x + 1) / 2 * size - 0.5, (1 - ndc_y) / 2 * size - 0.5  # column, row of pixel centres


@pytest.mark.parametrize("x, y, z", [(0, 0, -20), (1.5, 0, -20), (0, -1.2, -25), (-1.0, 0.8, -16)])
def test_object_lands_where_the_pose_says(renderer, cube_scene, x, y, z):
    ids, depth = renderer.render_visibility(cube_scene, Pose(0, 0, 0, x, y, z), size=224)
    mesh = cube_scene.mesh
    corners = mesh.positions[mesh.faces]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    front = np.flatnonzero(normals[:, 2] > 0) + 1  # the face towards the camera (ids are index + 1)
    rows, cols = np.nonzero(np.isin(ids, front))
    # The cube's front face (at z + 1) is centred on the projection of its centre.
    assert abs(cols.mean() - project(x, y, z + 1, 224)[0]) < 1.0
    assert abs(rows.mean() - project(x, y, z + 1, 224)[1]) < 1.0
    # Its width is the projected width of the front face (side 2 after normalisation).
    t = math.tan(math.radians(FOV / 2))
    expected = 2 / (-(z + 1) * t) / 2 * 224
    assert abs((cols.max() - cols.min() + 1) - expected) <= 2
    assert np.allclose(depth[ids > 0].min(), -(z + 1), atol=0.01)


def test_background_is_visible_around_the_object(renderer, cube_scene):
    image = renderer.render(cube_scene, Pose(30, 20, 0, 0, 0, -25), size=224)
    ids, _ = renderer.render_visibility(cube_scene, Pose(30, 20, 0, 0, 0, -25), size=224)
    background = background_array(cube_scene, 224, 224)
    outside = ids == 0
    assert outside.mean() > 0.5
    assert np.array_equal(image[outside], background[outside])
    assert not np.array_equal(image[~outside], background[~outside])


def test_pose_moves_the_object(renderer, cube_scene):
    left = renderer.render_visibility(cube_scene, Pose(0, 0, 0, -0.5, 0, -8))[0]
    right = renderer.render_visibility(cube_scene, Pose(0, 0, 0, 0.5, 0, -8))[0]
    assert np.nonzero(right)[1].mean() > np.nonzero(left)[1].mean() + 20


def test_larger_sizes_are_supersampled_views_of_the_same_picture(renderer, bus):
    small = renderer.render(bus, bus.pose, size=112).astype(np.float32)
    large = renderer.render(bus, bus.pose, size=448).astype(np.float32)
    down = large.reshape(112, 4, 112, 4, 3).mean(axis=(1, 3))
    assert np.abs(down - small).mean() < 8


def test_msaa_softens_only_the_edges(renderer, bus):
    plain = renderer.render(bus, bus.pose, size=224).astype(int)
    msaa = renderer.render(bus, bus.pose, size=224, msaa=4).astype(int)
    assert 0 < np.abs(plain - msaa).mean() < 2


def test_bad_sizes_are_refused(renderer, bus):
    with pytest.raises(StrikePoseError, match="size"):
        renderer.render(bus, bus.pose, size=0)


def test_non_square_output(renderer, bus):
    assert renderer.render(bus, bus.pose, size=(320, 200)).shape == (200, 320, 3)


def test_a_batch_is_drawn_as_tiles_and_read_back_once(renderer):
    """render_batch and render_visibility_batch give each pose's own picture: the same as one at a
    time, but for the rare pixel whose edge rounds the other way at another tile's offset."""
    from strike_pose import load_scene
    from strike_pose.render.gl import TileGrid

    scene = load_scene("school_bus")
    rng = np.random.default_rng(2)
    poses = [(rng.uniform(0, 360), rng.uniform(-20, 30), rng.uniform(-20, 20), 0, 0, -8) for _ in range(7)]
    for size in (224, 299):
        batch = renderer.render_batch(scene, poses, size)
        ids, _ = renderer.render_visibility_batch(scene, poses, size)
        for i, pose in enumerate(poses):
            single = renderer.render(scene, pose, size)
            assert (batch[i] != single).any(axis=2).mean() < 1e-3
            assert (ids[i] != renderer.render_visibility(scene, pose, size)[0]).mean() < 1e-3
    grid = TileGrid.of(7, 299, 299)
    assert grid.columns * grid.rows >= 7 and all(v % 2 == 0 for i in range(7) for v in grid.viewport(i)[:2])
    assert TileGrid.capacity(224, 224, 4096) == 18 * 18


def test_bounded_cache_keeps_its_limit_and_releases_what_it_drops():
    from strike_pose.render.common import BoundedCache

    released = []
    cache = BoundedCache(2, release=released.append)
    owners = [np.zeros(1) for _ in range(3)]
    made = [cache.get(id(o), lambda i=i: f"value {i}", keep=o) for i, o in enumerate(owners)]
    assert made == ["value 0", "value 1", "value 2"] and len(cache) == 2 and released == ["value 0"]
    assert cache.get(id(owners[2]), lambda: "again", keep=owners[2]) == "value 2"  # a hit makes nothing
    assert cache.get(("a key", 1), lambda: "no owner") == "no owner" and len(cache) == 2
    assert released == ["value 0", "value 1"]
    cache.clear()
    assert len(cache) == 0 and released == ["value 0", "value 1", "value 2", "no owner"]


def test_renderer_caches_are_bounded_and_their_sizes_public(cube_scene):
    from strike_pose.render.gl import GPU_CACHE_LIMIT, GLRenderer

    renderer = GLRenderer()
    try:
        for side in range(16, 16 + 2 * (GPU_CACHE_LIMIT + 3), 2):
            renderer.render(cube_scene, Pose(0, 0, 0, 0, 0, -8), size=side)
        sizes = renderer.cache_sizes()
        assert sizes == {"meshes": 1, "backgrounds": GPU_CACHE_LIMIT, "framebuffers": GPU_CACHE_LIMIT}
        renderer.release()
        assert renderer.cache_sizes() == {"meshes": 0, "backgrounds": 0, "framebuffers": 0}
    finally:
        renderer.release()
        renderer.ctx.release()


def test_a_scene_as_shown_plain_draws_as_a_plain_grey_texture_would(renderer, bus):
    """as_shown(texture=False) is the picture the visualizer drew by swapping in a plain 4x4 texture."""
    from dataclasses import replace

    from strike_pose.scene import PLAIN_ALBEDO

    assert PLAIN_ALBEDO == 179
    reference = replace(bus, mesh=replace(bus.mesh, texture=np.full((4, 4, 3), 179, np.uint8)))
    shown = bus.as_shown(texture=False)
    assert shown.mesh is bus.as_shown(texture=False).mesh  # one plain mesh per mesh: uploaded once
    assert np.array_equal(renderer.render(shown, bus.pose), renderer.render(reference, bus.pose))
    assert not np.array_equal(renderer.render(shown, bus.pose), renderer.render(bus, bus.pose))


def test_a_scene_as_shown_without_background_has_none(renderer, bus):
    from strike_pose.scene import IMAGENET_MEAN_RGB

    assert bus.background is not None and bus.as_shown() is bus
    shown = bus.as_shown(background=False)
    assert shown.background is None and shown.mesh is bus.mesh
    image = renderer.render(shown, bus.pose)
    ids, _ = renderer.render_visibility(shown, bus.pose)
    assert (ids == 0).mean() > 0.3 and (image[ids == 0] == IMAGENET_MEAN_RGB).all()
    assert np.array_equal(image[ids > 0], renderer.render(bus, bus.pose)[ids > 0])


def test_a_scene_as_shown_with_a_specular_strength(bus):
    assert bus.as_shown(specular=0.6).light.specular == 0.6
    assert bus.as_shown(specular=bus.light.specular) is bus
    both = bus.as_shown(background=False, texture=False, specular=0.0)
    assert both.background is None and both.mesh is bus.as_shown(texture=False).mesh and both.light.specular == 0.0
