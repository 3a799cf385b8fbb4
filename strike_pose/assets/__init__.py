"""Assets: meshes, textures and backgrounds, from files or from the project's own procedural code.

A reference is either a file path or `procedural:NAME` (see `strike_pose.assets.procedural`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from strike_pose.assets.mesh import Mesh, load_mesh_file, load_texture, mesh_from_trimesh
from strike_pose.errors import StrikePoseError

PROCEDURAL = "procedural:"


def load_mesh(ref: str, texture: str | None = None) -> Mesh:
    """Load the mesh named by `ref` (a path or procedural:NAME), optionally with another texture."""
    override = load_texture(texture) if texture else None
    if ref.startswith(PROCEDURAL):
        from strike_pose.assets.procedural import OBJECTS

        name = ref[len(PROCEDURAL):]
        if name not in OBJECTS:
            raise StrikePoseError(
                f"unknown procedural object {name!r}; choose one of: {', '.join(sorted(OBJECTS))}"
            )
        return mesh_from_trimesh(OBJECTS[name](), texture=override, source=ref)
    return load_mesh_file(ref, texture=override)


def load_background(ref: str) -> Image.Image:
    """The background image named by `ref` (a path or procedural:NAME), as RGB."""
    if ref.startswith(PROCEDURAL):
        from strike_pose.assets.procedural import BACKGROUNDS

        name = ref[len(PROCEDURAL):]
        if name not in BACKGROUNDS:
            raise StrikePoseError(
                f"unknown procedural background {name!r}; choose one of: {', '.join(sorted(BACKGROUNDS))}"
            )
        return BACKGROUNDS[name]().convert("RGB")
    path = Path(ref)
    if not path.is_file():
        raise StrikePoseError(f"background image not found: {path}; give the path of a PNG or JPEG image")
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except (OSError, ValueError) as exc:
        raise StrikePoseError(
            f"background {path} is not a readable image ({exc}); give a PNG or JPEG image"
        ) from exc


def cover_crop(image: Image.Image, width: int, height: int) -> np.ndarray:
    """Resize to cover width x height, keeping the aspect, and centre-crop: (H, W, 3) uint8."""
    w, h = image.size
    scale = max(width / w, height / h)
    new = (max(width, round(w * scale)), max(height, round(h * scale)))
    resized = image.resize(new, Image.Resampling.BILINEAR, reducing_gap=3.0)
    left, top = (new[0] - width) // 2, (new[1] - height) // 2
    return np.asarray(resized.crop((left, top, left + width, top + height)), dtype=np.uint8).copy()


__all__ = ["Mesh", "load_mesh", "load_background", "cover_crop", "PROCEDURAL"]
