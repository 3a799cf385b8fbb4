"""Assets: meshes, textures and backgrounds, from files or from the project's own procedural code.

A reference is either a file path or `procedural:NAME` (see `strike_pose.assets.procedural`).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from strike_pose.assets.images import load_texture, open_image
from strike_pose.assets.mesh import Mesh, mesh_from_trimesh
from strike_pose.assets.reading import load_mesh_file
from strike_pose.errors import StrikePoseError

PROCEDURAL = "procedural:"
MAX_COVER_PIXELS = 16_000_000  # above this, cover_crop resamples only the part it keeps


def load_mesh(ref: str, texture: str | None = None) -> Mesh:
    """Load the mesh named by `ref` (a path or procedural:NAME), optionally with another texture."""
    if texture and texture.startswith(PROCEDURAL):
        raise StrikePoseError(f"texture {texture}: a texture is an image file (procedural:NAME names only meshes and "
                              "backgrounds); give a PNG or JPEG image")
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
    return open_image(ref, "background")


def cover_crop(image: Image.Image, width: int, height: int) -> np.ndarray:
    """Resize to cover width x height, keeping the aspect, and centre-crop: (H, W, 3) uint8.

    When the covering size would be huge (a long thin image: 1 x 100000 pixels covers 224 x 224 at
    224 x 22400000), only the part that is kept is resampled, so memory stays bounded."""
    w, h = image.size
    scale = max(width / w, height / h)
    new = (max(width, round(w * scale)), max(height, round(h * scale)))
    left, top = (new[0] - width) // 2, (new[1] - height) // 2
    if new[0] * new[1] > MAX_COVER_PIXELS:
        sx, sy = w / new[0], h / new[1]  # source pixels per pixel of the covering size
        box = (left * sx, top * sy, (left + width) * sx, (top + height) * sy)
        resized = image.resize((width, height), Image.Resampling.BILINEAR, box=box, reducing_gap=3.0)
        return np.asarray(resized, dtype=np.uint8).copy()
    resized = image.resize(new, Image.Resampling.BILINEAR, reducing_gap=3.0)
    return np.asarray(resized.crop((left, top, left + width, top + height)), dtype=np.uint8).copy()


__all__ = ["Mesh", "load_mesh", "load_background", "cover_crop", "PROCEDURAL"]
