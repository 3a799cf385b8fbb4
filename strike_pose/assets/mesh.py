"""Meshes: one in-memory form for every source (mesh files of the formats in assets/formats.py, procedural
objects).

Every mesh goes through `mesh_from_trimesh`, so a file and a procedural object are prepared the same
way: triangulated, normals present, centred, scaled so the longest bounding-box side is 2, and the
texture resized to power-of-two sides (so the GL renderer and the torch twin share one mip pyramid).
Reading files is assets/reading.py; images and textures assets/images.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from strike_pose.assets.images import prepare_texture
from strike_pose.errors import StrikePoseError, warn

UNTEXTURED_GREY = 180  # the colour of a mesh with neither texture nor colours


@dataclass(frozen=True, eq=False)
class Mesh:
    """A triangle mesh ready to draw: per-vertex attributes share the index in `faces`."""

    positions: np.ndarray  # (V, 3) float32, centred, longest side 2
    normals: np.ndarray  # (V, 3) float32, unit length
    uvs: np.ndarray  # (V, 2) float32, OpenGL convention (v = 0 at the bottom of the image)
    faces: np.ndarray  # (F, 3) int32, counter-clockwise seen from outside
    texture: np.ndarray  # (H, W, 3) uint8, power-of-two sides, row 0 = top of the image

    @property
    def triangle_count(self) -> int:
        return int(len(self.faces))


# ------------------------------------------------------------------------------------------- meshes

def normalise_positions(positions: np.ndarray) -> np.ndarray:
    """Centre the bounding box at the origin and scale its longest side to 2."""
    lo, hi = positions.min(axis=0), positions.max(axis=0)
    with np.errstate(over="ignore", invalid="ignore"):
        extent = float((hi - lo).max())
    if not np.isfinite(extent):
        raise ValueError("the mesh's coordinates are too large to handle (its size overflows); scale the mesh down")
    if extent <= 0:
        raise ValueError("the mesh has no extent (all vertices coincide); give a mesh with a real shape")
    return ((positions - (lo + hi) / 2) * (2.0 / extent)).astype(np.float32)


def _texture_of(visual) -> tuple[np.ndarray | None, Image.Image | None]:
    """(uv, image) of a trimesh visual, converting vertex/face colours to a texture."""
    import trimesh

    if isinstance(visual, trimesh.visual.ColorVisuals):
        if visual.kind is None:
            return None, None
        visual = visual.to_texture()
    uv = getattr(visual, "uv", None)
    material = getattr(visual, "material", None)
    image = None
    if material is not None:
        image = getattr(material, "image", None) or getattr(material, "baseColorTexture", None)
        if image is None:
            color = getattr(material, "main_color", None)
            if color is not None:
                image = Image.new("RGB", (4, 4), tuple(int(c) for c in np.asarray(color)[:3]))
    return uv, image


def mesh_from_trimesh(tm, texture: np.ndarray | None = None, source: str = "mesh") -> Mesh:
    """Turn a trimesh.Trimesh into a Mesh; `texture` (already prepared) overrides the mesh's own."""
    vertices = np.asarray(tm.vertices, dtype=np.float64)
    faces = np.asarray(tm.faces, dtype=np.int64)
    if len(faces) == 0 or len(vertices) < 3:
        raise StrikePoseError(f"{source} has no triangles; give a mesh with at least one face")
    if not np.isfinite(vertices).all():
        raise StrikePoseError(f"{source} has vertices that are NaN or infinite; repair the mesh file")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise StrikePoseError(f"{source} has faces that index missing vertices; repair the mesh file")
    try:
        positions = normalise_positions(vertices)
    except ValueError as exc:
        raise StrikePoseError(f"{source}: {exc}") from exc

    with np.errstate(all="ignore"):  # degenerate faces give zero normals: replaced below
        normals = np.asarray(tm.vertex_normals, dtype=np.float64)
        lengths = np.linalg.norm(normals, axis=1, keepdims=True)
        normals = np.where(lengths > 1e-12, normals / np.maximum(lengths, 1e-12), [0.0, 0.0, 1.0])
    normals = np.where(np.isfinite(normals), normals, 0.0)

    uv, image = _texture_of(tm.visual)
    if uv is None or len(uv) != len(vertices) or not np.isfinite(np.asarray(uv, dtype=np.float64)).all():
        warn(f"{source} has no texture coordinates (UVs); it renders untextured, in one colour "
             "(export it with UVs to show a texture)")
        uv = np.zeros((len(vertices), 2))
    if texture is None and image is not None:
        try:
            texture = prepare_texture(image)
        except Exception as exc:  # the mesh's own texture, opened lazily by trimesh: truncated, corrupt, ...
            warn(f"{source}: its texture could not be read ({type(exc).__name__}: {exc}); it renders untextured "
                 "(repair the image, or give another with --texture)")
    if texture is None:
        texture = np.full((4, 4, 3), UNTEXTURED_GREY, np.uint8)
    return Mesh(
        positions=positions,
        normals=normals.astype(np.float32),
        uvs=np.asarray(uv, dtype=np.float32),
        faces=faces.astype(np.int32),
        texture=texture,
    )


# what trimesh skips and only logs: an OBJ's MTL and textures, a glTF's, PLY's or COLLADA's images, a broken glTF mesh
