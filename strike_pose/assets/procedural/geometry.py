"""Mesh helpers shared by the procedural objects.

The objects are built in two steps so that they stay valid for the differentiable twin, which
moves an outline only where it finds a silhouette edge (docs/RENDERING.md): first one closed,
welded surface of positions (each edge shared by exactly two triangles, no parts touching or
sinking into each other, since where two parts meet there is no edge to antialias), then a texture
layout that duplicates vertices only along texture seams. Merging the duplicates by position gives
back the closed surface.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Dominant-axis groups of a box projection: +x, -x, +y, -y, +z, -z.
AXIS_GROUPS = ("+x", "-x", "+y", "-y", "+z", "-z")


def loft(xs: Sequence[float], loops: Sequence[np.ndarray],
         cap_centres: tuple[Sequence[float], Sequence[float]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A closed surface swept along x through cross-sections, with flat fan caps at both ends.

    `loops[k]` is an (N, 2) array of (z, y) points of the cross-section at x = `xs[k]`; every loop
    has the same N, and the i-th points of consecutive loops are joined. With strictly increasing
    xs and simple loops the result is a closed 2-manifold without self-intersection, so parts that
    would be separate meshes (hood, wheels) are modelled as changes of the one cross-section.
    The caps are fans from `cap_centres` ((z, y) of the first and last loop; default: the mean of
    the loop's points), so each end loop must be star-shaped about its centre.
    Returns (vertices (V, 3), faces (F, 3)); faces wind outward when the loops run clockwise in the
    (z, y) plane (z to the right, y up), inward otherwise: pass the result to `orient_outward`.
    """
    xs = np.asarray(xs, dtype=np.float64)
    if len(xs) < 2 or not np.all(np.diff(xs) > 0):
        raise ValueError("loft needs at least two stations with strictly increasing x")
    n = len(loops[0])
    rings = []
    for x, loop in zip(xs, loops, strict=True):
        loop = np.asarray(loop, dtype=np.float64)
        if loop.shape != (n, 2):
            raise ValueError("every loft cross-section needs the same number of points")
        rings.append(np.column_stack([np.full(n, x), loop[:, 1], loop[:, 0]]))
    ring_vertices = np.concatenate(rings)
    if cap_centres is None:
        caps = np.array([rings[0].mean(axis=0), rings[-1].mean(axis=0)])
    else:
        caps = np.array([[xs[0], cap_centres[0][1], cap_centres[0][0]],
                         [xs[-1], cap_centres[1][1], cap_centres[1][0]]], dtype=np.float64)
    vertices = np.concatenate([ring_vertices, caps])
    first_cap, last_cap = len(ring_vertices), len(ring_vertices) + 1

    i = np.arange(n)
    j = (i + 1) % n
    faces = []
    for s in range(len(xs) - 1):
        a, b = s * n + i, s * n + j
        c, d = (s + 1) * n + j, (s + 1) * n + i
        faces.append(np.column_stack([a, b, c]))
        faces.append(np.column_stack([a, c, d]))
    last = (len(xs) - 1) * n
    faces.append(np.column_stack([np.full(n, first_cap), j, i]))
    faces.append(np.column_stack([np.full(n, last_cap), last + i, last + j]))
    return vertices, np.concatenate(faces).astype(np.int64)


def signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Volume enclosed by a closed mesh; positive when the faces wind counter-clockwise outside."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def orient_outward(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """The faces, reversed if needed so that the enclosed volume is positive (normals outward)."""
    return faces if signed_volume(vertices, faces) > 0 else faces[:, ::-1].copy()


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit normals of the faces (right-hand rule)."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    n = np.cross(b - a, c - a)
    return n / np.linalg.norm(n, axis=1, keepdims=True)


def dominant_axis_groups(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Index into AXIS_GROUPS of each face: the axis its normal points along most."""
    n = face_normals(vertices, faces)
    axis = np.abs(n).argmax(axis=1)
    negative = n[np.arange(len(n)), axis] < 0
    return axis * 2 + negative


def split_by_group(
    vertices: np.ndarray, faces: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Duplicate vertices where faces of different groups meet (texture seams, flat shading).

    Faces of one group keep sharing their vertices, so normals are averaged only within a group
    (a flat side stays flat, a rounded roof edge stays smooth within its group).
    Returns (new vertices, new faces, source vertex index, group of each new vertex).
    """
    keys = faces.astype(np.int64) * len(AXIS_GROUPS) + groups[:, None]
    unique, inverse = np.unique(keys.ravel(), return_inverse=True)
    source, vertex_group = unique // len(AXIS_GROUPS), unique % len(AXIS_GROUPS)
    return vertices[source], inverse.reshape(faces.shape), source, vertex_group


def box_projected_mesh(vertices: np.ndarray, faces: np.ndarray, panels: dict, atlas_size: tuple[int, int],
                       texture):
    """A textured mesh whose faces go to the atlas panel of the axis their normal points along;
    vertices are split where panels meet, so each flat face keeps its own normal and uvs.
    Returns a trimesh.Trimesh."""
    import trimesh

    from strike_pose.assets.procedural.atlas import box_uvs

    groups = dominant_axis_groups(vertices, faces)
    positions, new_faces, _, vertex_group = split_by_group(vertices, faces, groups)
    uv = box_uvs(positions, vertex_group, AXIS_GROUPS, panels, atlas_size)
    visual = trimesh.visual.TextureVisuals(uv=uv, image=texture)
    return trimesh.Trimesh(positions, new_faces, visual=visual, process=False)
