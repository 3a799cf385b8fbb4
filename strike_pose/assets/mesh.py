"""Meshes: one in-memory form for every source (OBJ/MTL, glTF/GLB, procedural objects).

Every mesh goes through `mesh_from_trimesh`, so a file and a procedural object are prepared the same
way: triangulated, normals present, centred, scaled so the longest bounding-box side is 2, and the
texture resized to power-of-two sides (so the GL renderer and the torch twin share one mip pyramid).

Every file is read through `existing_file` and, for images, `open_image`: the one place where a
missing, unreadable, corrupt or oversized file becomes a StrikePoseError naming the file and saying
what to do. Parts of a mesh that trimesh skips (a missing MTL, an unreadable texture) and a mesh
without texture coordinates are used anyway, with a one-line warning; an OBJ whose geometry is broken (a
vertex with fewer than three numbers, a face with fewer than three indices) is refused, naming the line.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from strike_pose.errors import StrikePoseError, existing_file, warn

MAX_TEXTURE_SIDE = 2048
MATTE_RGB = (124, 116, 104)  # transparent pixels are shown over the ImageNet mean colour (scene.IMAGENET_MEAN_RGB)
IMAGE_HINT = "give a PNG or JPEG image"
MESH_HINT = "give the path of an OBJ, glTF or GLB file"


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


# ----------------------------------------------------------------------------------- reading files

def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB of any PIL image: 16- and 32-bit greyscale scaled to 0..255 (not clipped, which would
    turn them white), float images from 0..1, transparency composited over the ImageNet mean colour."""
    mode = image.mode
    if mode.startswith("I") or mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        top = float(values.max(initial=0.0))
        if mode == "F":
            scale = 255.0 if top <= 1.0 else 1.0
        else:
            scale = 255.0 / max(65535.0, top)
        grey = np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if "A" in image.getbands() or "a" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        matte = Image.new("RGBA", image.size, (*MATTE_RGB, 255))
        return Image.alpha_composite(matte, rgba).convert("RGB")
    return image.convert("RGB")


def _pixels(exc: BaseException) -> str:
    """'400 megapixels' from PIL's decompression-bomb message, or its text."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    return f"{int(found.group(1)) / 1e6:.0f} megapixels" if found else str(exc)


def open_image(path: str | Path, what: str, hint: str = IMAGE_HINT) -> Image.Image:
    """The image at `path` as 8-bit RGB (see `to_rgb`); a StrikePoseError naming `what` and the file when
    it is missing, not an image, corrupt, truncated or too large to decode safely."""
    path = existing_file(path, what, hint)
    limit = 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else None  # where PIL refuses to decode
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # a large photo loads; a bomb is refused
            with Image.open(path) as image:
                image.load()
                return to_rgb(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        most = f"at most {limit / 1e6:.0f} megapixels" if limit else "a smaller image"
        raise StrikePoseError(f"{what} {path} is too large an image ({_pixels(exc)}); scale it down to {most}") from None
    except MemoryError:
        raise StrikePoseError(f"{what} {path} is too large to load into memory; scale it down") from None
    except Exception as exc:  # PIL raises OSError, ValueError, SyntaxError, EOFError, struct.error, ...
        raise StrikePoseError(f"{what} {path} is not a readable image ({type(exc).__name__}: {exc}); {hint}") from exc


# ----------------------------------------------------------------------------------------- textures

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
    image = to_rgb(image)
    w, h = image.size
    size = (_power_of_two(w), _power_of_two(h))
    if size != (w, h):
        image = image.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8).copy()


def load_texture(path: str | Path) -> np.ndarray:
    return prepare_texture(open_image(path, "texture"))


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
        texture = np.full((4, 4, 3), 180, np.uint8)
    return Mesh(
        positions=positions,
        normals=normals.astype(np.float32),
        uvs=np.asarray(uv, dtype=np.float32),
        faces=faces.astype(np.int32),
        texture=texture,
    )


_SKIPPED_PARTS = ("unable to load materials", "failed to load image")  # what trimesh skips and only logs


class _SkippedParts(logging.Filter):
    """Collects trimesh's notes about parts of a file it skipped (from this thread), and lets through to
    the log's handlers only what they would have seen anyway."""

    def __init__(self, passes_from: int) -> None:
        super().__init__()
        self.thread = threading.get_ident()
        self.passes_from = passes_from
        self.notes: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread == self.thread:
            message = record.getMessage()
            if message.lower().startswith(_SKIPPED_PARTS):
                if record.exc_info and record.exc_info[1] is not None:
                    exc = record.exc_info[1]
                    message = f"{message} ({type(exc).__name__}: {exc})"
                if message not in self.notes:
                    self.notes.append(message)
        return record.levelno >= self.passes_from


@contextmanager
def _trimesh_skipped_parts():
    """Yields the list of parts trimesh skipped while loading (it logs them at debug level only)."""
    import trimesh.util

    log = trimesh.util.log
    level = log.level
    notes = _SkippedParts(log.getEffectiveLevel())
    log.addFilter(notes)
    log.setLevel(logging.DEBUG)
    try:
        yield notes.notes
    finally:
        log.removeFilter(notes)
        log.setLevel(level)


def _trimesh_load(path: Path, **options):
    """trimesh.load with the notes of what it skipped; a huge texture is skipped rather than loaded."""
    import trimesh

    with _trimesh_skipped_parts() as skipped, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy overflow in broken files: checked after
        return trimesh.load(str(path), force="mesh", process=False, **options), skipped


_NUMBER = rb"(?:[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?i:nan|inf(?:inity)?))"
_INDEX = rb"[-+]?\d+(?:/[-+]?\d*){0,2}"  # 7, 7/3, 7//5, 7/3/5, -1
_GAP, _END = rb"[ \t]+", rb"[ \t]*(?:#[^\n]*)?\r?$"
_BROKEN_OBJ_LINES = (
    # a `v` line that is not x y z followed by optional numbers (w, or a colour)
    (re.compile(rb"^[ \t]*v(?=[ \t\r]|$)(?!(?:" + _GAP + _NUMBER + rb"){3,}" + _END + rb")[^\n]*", re.MULTILINE),
     "a vertex needs three numbers (x y z)"),
    # an `f` line with fewer than three vertex indices
    (re.compile(rb"^[ \t]*f(?=[ \t\r]|$)(?!(?:" + _GAP + _INDEX + rb"){3,}" + _END + rb")[^\n]*", re.MULTILINE),
     "a face needs at least three vertex indices"),
)


def check_obj_geometry(path: Path) -> None:
    """A StrikePoseError naming the file and the line of the first vertex with fewer than three numbers or
    face with fewer than three indices: trimesh would drop or misread such lines and render what is left.
    Lines continued with a backslash are joined first, as trimesh does."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StrikePoseError(f"mesh {path} could not be read ({exc.strerror or exc}); check the file") from None
    continuation = re.compile(rb"\\\r?\n")
    text = continuation.sub(b"", raw)
    found = [(m.start(), m, what) for pattern, what in _BROKEN_OBJ_LINES if (m := pattern.search(text))]
    if not found:
        return
    at, match, what = min(found, key=lambda f: f[0])
    for joined in continuation.finditer(raw):  # from the joined text back to the file's own lines
        if joined.start() > at:
            break
        at += len(joined.group())
    line = raw.count(b"\n", 0, at) + 1
    shown = match.group().decode("utf-8", "replace").strip()
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise StrikePoseError(f"mesh {path}, line {line}: {what}, got {shown!r}; repair the file "
                          "(or export the mesh again)")


def load_mesh_file(path: str | Path, texture: np.ndarray | None = None) -> Mesh:
    """Load an OBJ (with MTL and textures), glTF/GLB, PLY, STL or OFF file through trimesh."""
    import trimesh

    path = existing_file(path, "mesh", MESH_HINT)
    if path.suffix.lower() == ".obj":
        check_obj_geometry(path)
    try:
        try:
            tm, skipped = _trimesh_load(path)
        except Exception as exc:
            if path.suffix.lower() != ".obj":
                raise
            try:  # an OBJ whose material or texture breaks the loader: the shape without them
                tm, skipped = _trimesh_load(path, skip_materials=True)
            except Exception:
                raise exc from None
            skipped.append(f"its materials ({type(exc).__name__}: {exc})")
    except MemoryError:
        raise StrikePoseError(f"mesh {path} is too large to load into memory; simplify the mesh") from None
    except Exception as exc:  # trimesh raises many types for broken files
        raise StrikePoseError(
            f"mesh {path} could not be read ({type(exc).__name__}: {exc}); check the file is a valid "
            "OBJ, glTF or GLB"
        ) from exc
    if not isinstance(tm, trimesh.Trimesh):
        raise StrikePoseError(f"mesh {path} holds no triangles; check the file is a valid OBJ, glTF or GLB")
    mesh = mesh_from_trimesh(tm, texture=texture, source=f"mesh {path}")
    for note in skipped:  # after the checks: a mesh that fails gets one error line, not warnings before it
        warn(f"mesh {path}: part of it could not be read and is left out: {note}; check the MTL and texture "
             "files next to it")
    return mesh
