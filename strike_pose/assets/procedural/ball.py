"""A classic soccer ball (ImageNet class 805): a truncated icosahedron pushed onto a sphere.

The 12 pentagons (black) and 20 hexagons (white) are each fanned from their centre, subdivided,
and the points pushed onto the unit sphere; points are shared between neighbouring triangles by an
exact key, so the sphere is one closed, welded surface. Each patch has its own cell of the atlas.
Its UVs come from the gnomonic projection onto the plane tangent at the patch's centre: that maps
great circles to straight lines, so the curved patch's outline is exactly the regular polygon drawn
in its cell, and the seams line up with the patch edges whatever the subdivision.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import trimesh
from PIL import Image, ImageDraw

from strike_pose.assets.procedural.atlas import SUPERSAMPLE, Color

SUBDIVISIONS = 3  # each fan triangle becomes SUBDIVISIONS**2 triangles: 180 * 9 = 1620 in all
ATLAS = (1024, 1024)
GRID = 6  # 6 x 6 cells, 32 used
CORNER_RADIUS = 0.42  # polygon corner radius as a fraction of the cell side
SEAM_WIDTH = 3  # atlas pixels, centred on the patch edge (half shows on each patch); thin seams
# measured better than wide ones (mean p 0.90 at 3 px, 0.88 at 5 px)
BLACK: Color = (22, 22, 24)
WHITE: Color = (238, 238, 234)
SEAM: Color = (70, 70, 72)


@dataclass(frozen=True)
class Patch:
    """One face of the truncated icosahedron: its corners (flat, counter-clockwise from outside)."""

    corners: np.ndarray  # (k, 3)
    black: bool

    @property
    def normal(self) -> np.ndarray:
        c = self.corners.mean(axis=0)
        return c / np.linalg.norm(c)


def icosahedron() -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Vertices (12, 3) and the 20 faces, counter-clockwise seen from outside."""
    phi = (1 + 5**0.5) / 2
    v = []
    for a, b in itertools.product((-1.0, 1.0), repeat=2):
        v += [(0.0, a, b * phi), (a, b * phi, 0.0), (b * phi, 0.0, a)]
    vertices = np.array(v)
    faces = []
    for i, j, k in itertools.combinations(range(12), 3):
        tri = vertices[[i, j, k]]
        if all(abs(np.linalg.norm(tri[p] - tri[q]) - 2.0) < 1e-9 for p, q in ((0, 1), (1, 2), (0, 2))):
            outward = np.dot(np.cross(tri[1] - tri[0], tri[2] - tri[0]), tri.sum(axis=0)) > 0
            faces.append((i, j, k) if outward else (i, k, j))
    return vertices, faces


def truncated_icosahedron() -> list[Patch]:
    """The 12 pentagons and 20 hexagons, each a list of corners counter-clockwise from outside."""
    ico, faces = icosahedron()

    def cut(a: int, b: int) -> np.ndarray:
        return ico[a] + (ico[b] - ico[a]) / 3.0

    patches = []
    for a in range(12):
        neighbours = [b for b in range(12) if b != a and abs(np.linalg.norm(ico[b] - ico[a]) - 2) < 1e-9]
        n = ico[a] / np.linalg.norm(ico[a])
        e1 = ico[neighbours[0]] - ico[a]
        e1 -= n * np.dot(e1, n)
        e2 = np.cross(n, e1)
        neighbours.sort(key=lambda b: np.arctan2(np.dot(ico[b] - ico[a], e2), np.dot(ico[b] - ico[a], e1)))
        patches.append(Patch(np.array([cut(a, b) for b in neighbours]), black=True))
    for i, j, k in faces:
        corners = [cut(i, j), cut(j, i), cut(j, k), cut(k, j), cut(k, i), cut(i, k)]
        patches.append(Patch(np.array(corners), black=False))
    return patches


def _patch_frame(patch: Patch) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(normal, e1, e2, scale): 2D coordinates ((p/(p.n)) . e1, . e2) / scale put corners at radius 1."""
    n = patch.normal
    plane = patch.corners / (patch.corners @ n)[:, None]
    e1 = plane[0] - n
    scale = float(np.linalg.norm(e1))
    e1 /= scale
    return n, e1, np.cross(n, e1), scale


def _gnomonic(points: np.ndarray, frame: tuple[np.ndarray, np.ndarray, np.ndarray, float]) -> np.ndarray:
    n, e1, e2, scale = frame
    plane = points / (points @ n)[:, None]
    return np.column_stack([plane @ e1, plane @ e2]) / scale


def _cell_centre(index: int) -> tuple[float, float]:
    """Pixel centre (column, row from top) of atlas cell `index`."""
    side = ATLAS[0] / GRID
    return (index % GRID + 0.5) * side, (index // GRID + 0.5) * side


def ball_texture(patches: list[Patch]) -> Image.Image:
    """The atlas: each cell filled with its patch's colour, its polygon outlined by the seam."""
    s = SUPERSAMPLE
    image = Image.new("RGB", (ATLAS[0] * s, ATLAS[1] * s), WHITE)
    draw = ImageDraw.Draw(image)
    side = ATLAS[0] / GRID
    radius = CORNER_RADIUS * side
    for index, patch in enumerate(patches):
        cx, cy = _cell_centre(index)
        color = BLACK if patch.black else WHITE
        draw.rectangle([(cx - side / 2) * s, (cy - side / 2) * s, (cx + side / 2) * s, (cy + side / 2) * s],
                       fill=color)
        corners = _gnomonic(patch.corners, _patch_frame(patch))
        xy = [((cx + radius * a) * s, (cy - radius * b) * s) for a, b in corners]
        draw.line(xy + xy[:1], fill=SEAM, width=SEAM_WIDTH * s, joint="curve")
    return image.resize(ATLAS, Image.Resampling.LANCZOS)


def _subdivide(a: int, b: int, c: int, n: int) -> tuple[list[tuple], list[tuple[int, int, int]]]:
    """Grid points of triangle (a, b, c) as exact keys (sorted (base index, weight) pairs) and the
    n*n sub-triangles as index triples into that list, wound like (a, b, c)."""
    index: dict[tuple[int, int], int] = {}
    keys = []
    for i in range(n + 1):
        for j in range(n + 1 - i):
            weights: dict[int, int] = {}
            for vertex, w in ((a, n - i - j), (b, i), (c, j)):
                if w:
                    weights[vertex] = weights.get(vertex, 0) + w
            index[(i, j)] = len(keys)
            keys.append(tuple(sorted(weights.items())))
    triangles = []
    for i in range(n):
        for j in range(n - i):
            triangles.append((index[(i, j)], index[(i + 1, j)], index[(i, j + 1)]))
            if i + j < n - 1:
                triangles.append((index[(i + 1, j)], index[(i + 1, j + 1)], index[(i, j + 1)]))
    return keys, triangles


def _base_mesh(patches: list[Patch]) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """The 92 base points (60 shared corners, then 32 patch centres) and the 180 fan triangles as
    (patch, centre, corner, next corner), wound like the patches."""
    points: list[np.ndarray] = []
    corner_index: dict[tuple[float, ...], int] = {}
    fans = []
    for p, patch in enumerate(patches):
        ids = []
        for corner in patch.corners:
            key = tuple(np.round(corner, 9))  # neighbouring patches compute a corner alike
            if key not in corner_index:
                corner_index[key] = len(points)
                points.append(corner)
            ids.append(corner_index[key])
        centre = len(points)
        points.append(patch.corners.mean(axis=0))
        fans += [(p, centre, ids[k], ids[(k + 1) % len(ids)]) for k in range(len(ids))]
    return np.array(points), fans


def _cell_uv(index: int, plane: np.ndarray) -> tuple[float, float]:
    """OpenGL UV of a point with gnomonic coordinates `plane` (corners at radius 1) in a cell."""
    cx, cy = _cell_centre(index)
    radius = CORNER_RADIUS * ATLAS[0] / GRID
    return (cx + radius * plane[0]) / ATLAS[0], 1.0 - (cy - radius * plane[1]) / ATLAS[1]


def soccer_ball() -> trimesh.Trimesh:
    """The ball on the unit sphere: 1620 triangles, one atlas cell per patch."""
    patches = truncated_icosahedron()
    base_points, fans = _base_mesh(patches)
    frames = [_patch_frame(patch) for patch in patches]
    vertex_of: dict[tuple, int] = {}  # (patch, exact key) -> vertex: duplicated only along seams
    positions, uvs, faces = [], [], []
    for p, a, b, c in fans:
        keys, triangles = _subdivide(a, b, c, SUBDIVISIONS)
        local = []
        for key in keys:
            if (p, key) not in vertex_of:
                # Summed in the key's fixed order, so both patches of a seam get the same floats.
                point = sum(base_points[v] * w for v, w in key) / SUBDIVISIONS
                point = point / np.linalg.norm(point)
                vertex_of[(p, key)] = len(positions)
                positions.append(point)
                uvs.append(_cell_uv(p, _gnomonic(point[None], frames[p])[0]))
            local.append(vertex_of[(p, key)])
        faces += [(local[i], local[j], local[k]) for i, j, k in triangles]
    visual = trimesh.visual.TextureVisuals(uv=np.array(uvs), image=ball_texture(patches))
    return trimesh.Trimesh(np.array(positions), np.array(faces), visual=visual, process=False)
