"""Geometry and texture checks of the procedural assets (no rendering, no classifier).

The differentiable twin needs closed, welded, outward-wound surfaces without parts that touch or
sink into each other (docs/RENDERING.md); the renderer needs UVs in [0, 1] on a PIL RGB atlas
with power-of-two sides, and backgrounds that never change between runs.
"""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from PIL import Image

from strike_pose.assets.procedural import BACKGROUNDS, OBJECTS
from strike_pose.assets.procedural.ball import truncated_icosahedron

TRIANGLES = {"school_bus": (500, 3000), "soccer_ball": (1000, 3000), "traffic_light": (300, 3000)}


@pytest.fixture(scope="module", params=sorted(OBJECTS))
def named_object(request) -> tuple[str, trimesh.Trimesh]:
    return request.param, OBJECTS[request.param]()


def welded(tm: trimesh.Trimesh) -> trimesh.Trimesh:
    """The surface with texture-seam duplicates merged by position."""
    merged = trimesh.Trimesh(np.asarray(tm.vertices), np.asarray(tm.faces), process=False)
    merged.merge_vertices()
    return merged


def texel(image: Image.Image, uv: np.ndarray) -> np.ndarray:
    """RGB of the texels at OpenGL UVs (v = 0 is the bottom row), nearest neighbour, (N, 3)."""
    array = np.asarray(image.convert("RGB"))
    h, w = array.shape[:2]
    cols = np.clip((uv[:, 0] * w).astype(int), 0, w - 1)
    rows = np.clip(((1.0 - uv[:, 1]) * h).astype(int), 0, h - 1)
    return array[rows, cols].astype(int)


def segment_hits_triangle(p0, p1, a, b, c, eps: float = 1e-9) -> np.ndarray:
    """Whether segments p0-p1 cross triangles abc strictly inside both (Moller-Trumbore), (N,)."""
    d = p1 - p0
    e1, e2 = b - a, c - a
    h = np.cross(d, e2)
    det = np.einsum("ij,ij->i", e1, h)
    ok = np.abs(det) > 1e-12  # parallel (coplanar) pairs are not checked
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    s = p0 - a
    u = inv * np.einsum("ij,ij->i", s, h)
    q = np.cross(s, e1)
    v = inv * np.einsum("ij,ij->i", d, q)
    t = inv * np.einsum("ij,ij->i", e2, q)
    return ok & (u > eps) & (v > eps) & (u + v < 1 - eps) & (t > eps) & (t < 1 - eps)


def intersecting_pairs(vertices: np.ndarray, faces: np.ndarray) -> int:
    """How many pairs of triangles sharing no vertex intersect (an edge of one crosses the other)."""
    tri = vertices[faces]
    lo, hi = tri.min(axis=1), tri.max(axis=1)
    count = 0
    for i in range(len(faces)):
        overlap = np.all((lo[i] <= hi[i + 1:]) & (hi[i] >= lo[i + 1:]), axis=1)
        j = i + 1 + np.nonzero(overlap)[0]
        j = j[~np.isin(faces[j], faces[i]).any(axis=1)]
        if len(j) == 0:
            continue
        a, b, c = tri[j, 0], tri[j, 1], tri[j, 2]
        hit = np.zeros(len(j), bool)
        for k in range(3):  # edges of i against triangles j
            p0 = np.broadcast_to(tri[i, k], a.shape)
            p1 = np.broadcast_to(tri[i, (k + 1) % 3], a.shape)
            hit |= segment_hits_triangle(p0, p1, a, b, c)
        ta, tb, tc = (np.broadcast_to(tri[i, k], a.shape) for k in range(3))
        for p0, p1 in ((a, b), (b, c), (c, a)):  # edges of j against triangle i
            hit |= segment_hits_triangle(p0, p1, ta, tb, tc)
        count += int(hit.sum())
    return count


def test_registry_names():
    assert {"school_bus", "soccer_ball"} <= set(OBJECTS)
    assert {"road", "pitch", "sky"} <= set(BACKGROUNDS)


def test_triangle_count(named_object):
    name, tm = named_object
    lo, hi = TRIANGLES.get(name, (100, 5000))
    assert lo <= len(tm.faces) <= hi


def test_closed_welded_two_manifold(named_object):
    _, tm = named_object
    surface = welded(tm)
    _, counts = np.unique(surface.edges_sorted, axis=0, return_counts=True)
    assert np.all(counts == 2), "every edge must be shared by exactly two triangles"
    assert surface.is_watertight and surface.is_winding_consistent
    assert len(surface.split(only_watertight=False)) == 1, "one connected surface, no separate parts"


def test_outward_winding(named_object):
    _, tm = named_object
    surface = welded(tm)
    assert surface.volume > 0
    # The texture mesh itself (before merging) winds the same way as the welded surface.
    assert np.allclose(tm.face_normals, surface.face_normals, atol=1e-9)


def test_no_degenerate_triangles(named_object):
    _, tm = named_object
    surface = welded(tm)
    assert surface.area_faces.min() > 1e-6 * surface.area / len(surface.faces)


def test_no_self_intersection(named_object):
    _, tm = named_object
    surface = welded(tm)
    assert intersecting_pairs(np.asarray(surface.vertices), np.asarray(surface.faces)) == 0


def test_texture_and_uvs(named_object):
    _, tm = named_object
    image = tm.visual.material.image
    assert isinstance(image, Image.Image) and image.mode == "RGB"
    w, h = image.size
    assert w & (w - 1) == 0 and h & (h - 1) == 0, "power-of-two sides"
    uv = np.asarray(tm.visual.uv)
    assert uv.shape == (len(tm.vertices), 2)
    assert np.isfinite(uv).all() and uv.min() >= 0.0 and uv.max() <= 1.0


def test_objects_are_deterministic(named_object):
    name, tm = named_object
    again = OBJECTS[name]()
    assert np.array_equal(tm.vertices, again.vertices) and np.array_equal(tm.faces, again.faces)
    assert np.array_equal(tm.visual.uv, again.visual.uv)
    assert tm.visual.material.image.tobytes() == again.visual.material.image.tobytes()


def test_bus_orientation_and_uv_convention():
    tm = OBJECTS["school_bus"]()
    v = np.asarray(tm.vertices)
    extent = v.max(axis=0) - v.min(axis=0)
    assert extent[0] > 3 * extent[1] and extent[0] > 3 * extent[2], "length along x"
    front = v[:, 0] > v[:, 0].max() - 0.1 * extent[0]
    assert v[front, 1].max() < v[:, 1].max() - 0.3 * extent[1], "the low hood points to +x"
    # With v = 0 at the bottom of the image, the tyre bottoms sample dark rubber and the roof
    # samples yellow paint; a flipped v would swap them.
    uv = np.asarray(tm.visual.uv)
    image = tm.visual.material.image
    bottom = texel(image, uv[v[:, 1] <= v[:, 1].min() + 1e-9])
    roof = texel(image, uv[v[:, 1] >= v[:, 1].max() - 1e-9])
    assert bottom.max() < 80
    assert np.all((roof[:, 0] > 180) & (roof[:, 1] > 120) & (roof[:, 2] < 100))


def test_ball_patches_black_and_white():
    tm = OBJECTS["soccer_ball"]()
    patches = truncated_icosahedron()
    normals = np.array([p.normal for p in patches])
    plane_distance = np.array([float(p.corners[0] @ p.normal) for p in patches])
    black = np.array([p.black for p in patches])
    assert black.sum() == 12 and (~black).sum() == 20
    faces = np.asarray(tm.faces)
    centroid = np.asarray(tm.vertices)[faces].mean(axis=1)
    # A direction belongs to the polyhedron face its ray meets first (the nearest face plane).
    nearest = np.argmax((centroid @ normals.T) / plane_distance, axis=1)
    colour = texel(tm.visual.material.image, np.asarray(tm.visual.uv)[faces].mean(axis=1))
    brightness = colour.mean(axis=1)
    assert np.all(brightness[black[nearest]] < 90)
    assert np.all(brightness[~black[nearest]] > 160)
    radius = np.linalg.norm(tm.vertices, axis=1)
    assert np.allclose(radius, radius[0]), "every vertex on the sphere"


@pytest.mark.parametrize("name", sorted(BACKGROUNDS))
def test_backgrounds(name):
    image = BACKGROUNDS[name]()
    assert isinstance(image, Image.Image) and image.mode == "RGB"
    assert image.size == (1024, 768)
    array = np.asarray(image)
    assert array.std() > 10, "a picture, not a flat colour"
    assert BACKGROUNDS[name]().tobytes() == image.tobytes(), "the same pixels on every call"


def test_intersection_check_finds_a_sunk_part():
    """The checker itself: a wheel-like box sunk into a body box is found, a separate one is not."""
    body = trimesh.creation.box((4.0, 1.0, 1.0))
    sunk = trimesh.creation.box((0.6, 0.6, 0.6))
    sunk.apply_translation((1.0, -0.5, 0.5))
    apart = trimesh.creation.box((0.6, 0.6, 0.6))
    apart.apply_translation((1.0, -2.0, 0.5))
    for part, expected_hit in ((sunk, True), (apart, False)):
        both = trimesh.util.concatenate([body, part])
        assert (intersecting_pairs(np.asarray(both.vertices), np.asarray(both.faces)) > 0) == expected_hit
