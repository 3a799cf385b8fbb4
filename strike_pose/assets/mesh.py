"""Meshes: one in-memory form for every source (OBJ/MTL, glTF/GLB, procedural objects).

Every mesh goes through `mesh_from_trimesh`, so a file and a procedural object are prepared the same
way: triangulated, normals present, centred, scaled so the longest bounding-box side is 2, and the
texture resized to power-of-two sides (so the GL renderer and the torch twin share one mip pyramid).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from strike_pose.errors import StrikePoseError

MAX_TEXTURE_SIDE = 2048


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


def _power_of_two(n: int) -> int:
    p = 1
    while p * 2 <= n:
        p *= 2
    # Round to the nearer power of two, never above the cap.
    if n - p > p * 2 - n:
        p *= 2
    return max(1, min(p, MAX_TEXTURE_SIDE))


def prepare_texture(image: Image.Image) -> np.ndarray:
    """RGB uint8 array with power-of-two sides (resampled with Lanczos when needed)."""
    image = image.convert("RGB")
    w, h = image.size
    size = (_power_of_two(w), _power_of_two(h))
    if size != (w, h):
        image = image.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8).copy()


def load_texture(path: str | Path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise StrikePoseError(f"texture file not found: {path}; give the path of a PNG or JPEG image")
    try:
        with Image.open(path) as image:
            image.load()
            return prepare_texture(image)
    except (OSError, ValueError) as exc:
        raise StrikePoseError(f"texture {path} is not a readable image ({exc}); give a PNG or JPEG") from exc


def normalise_positions(positions: np.ndarray) -> np.ndarray:
    """Centre the bounding box at the origin and scale its longest side to 2."""
    lo, hi = positions.min(axis=0), positions.max(axis=0)
    extent = float((hi - lo).max())
    if not np.isfinite(extent) or extent <= 0:
        raise ValueError("the mesh has no extent (all vertices coincide)")
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
        raise StrikePoseError(f"{source}: {exc}; give a mesh with a real shape") from exc

    normals = np.asarray(tm.vertex_normals, dtype=np.float64)
    lengths = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(lengths > 1e-12, normals / np.maximum(lengths, 1e-12), [0.0, 0.0, 1.0])

    uv, image = _texture_of(tm.visual)
    if uv is None or len(uv) != len(vertices):
        uv = np.zeros((len(vertices), 2))
    if texture is None:
        texture = prepare_texture(image) if image is not None else np.full((4, 4, 3), 180, np.uint8)
    return Mesh(
        positions=positions,
        normals=normals.astype(np.float32),
        uvs=np.asarray(uv, dtype=np.float32),
        faces=faces.astype(np.int32),
        texture=texture,
    )


def load_mesh_file(path: str | Path, texture: np.ndarray | None = None) -> Mesh:
    """Load an OBJ (with MTL and textures), glTF/GLB, PLY, STL or OFF file through trimesh."""
    import trimesh

    path = Path(path)
    if not path.is_file():
        raise StrikePoseError(f"mesh file not found: {path}; give the path of an OBJ, glTF or GLB file")
    try:
        tm = trimesh.load(str(path), force="mesh", process=False)
    except Exception as exc:  # trimesh raises many types for broken files
        raise StrikePoseError(
            f"mesh {path} could not be read ({type(exc).__name__}: {exc}); check the file is a valid "
            "OBJ, glTF or GLB"
        ) from exc
    if not isinstance(tm, trimesh.Trimesh):
        raise StrikePoseError(f"mesh {path} holds no triangles; check the file is a valid OBJ, glTF or GLB")
    return mesh_from_trimesh(tm, texture=texture, source=f"mesh {path}")
