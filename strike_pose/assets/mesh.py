"""Meshes: one in-memory form for every source (mesh files of the formats in MESH_FORMATS, procedural objects).

Every mesh goes through `mesh_from_trimesh`, so a file and a procedural object are prepared the same
way: triangulated, normals present, centred, scaled so the longest bounding-box side is 2, and the
texture resized to power-of-two sides (so the GL renderer and the torch twin share one mip pyramid).

OBJ (with MTL and textures), glTF 2.0 / GLB, PLY, STL, OFF and COLLADA are read by trimesh; AC3D and
Panda3D models by `strike_pose.assets.convert`. A file of any other kind, a glTF 1.0 file, and a format whose
reader package is not installed are refused in one line that says so and what to do (a missing package is
never reported as a broken file). OBJ and MTL text is decoded here, whatever its encoding (UTF-8 with or
without BOM, UTF-16 or UTF-32 with BOM, UTF-16 without one, legacy single-byte code pages), before trimesh
reads it.

Every file is read through `existing_file` and, for images, `open_image`: the one place where a
missing, unreadable, corrupt or oversized file becomes a StrikePoseError naming the file and saying
what to do. Parts of a mesh that trimesh skips (a missing MTL, an unreadable texture) and a mesh
without texture coordinates are used anyway, with a one-line warning; an OBJ whose geometry is broken (a
vertex with fewer than three numbers, a face with fewer than three indices) is refused, naming the line.
"""

from __future__ import annotations

import codecs
import importlib
import io
import json
import logging
import os
import re
import struct
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from strike_pose.assets.convert import CONVERTED_SUFFIXES  # the formats strike_pose.assets.convert reads
from strike_pose.errors import StrikePoseError, existing_file, shown, warn

MAX_TEXTURE_SIDE = 2048
UNTEXTURED_GREY = 180  # the colour of a mesh with neither texture nor colours
MATTE_RGB = (124, 116, 104)  # transparent pixels are shown over the ImageNet mean colour (scene.IMAGENET_MEAN_RGB)
IMAGE_HINT = "give a PNG or JPEG image"
# The mesh formats that load, as (name, suffixes); the suffixes are matched without regard to case.
MESH_FORMATS = (
    ("OBJ", (".obj",)),
    ("glTF 2.0", (".gltf", ".glb")),
    ("PLY", (".ply",)),
    ("STL", (".stl",)),
    ("OFF", (".off",)),
    ("COLLADA", (".dae",)),
    ("AC3D", (".ac", ".acc", ".ac3d")),
    ("Panda3D", (".egg", ".egg.pz", ".bam", ".bam.pz")),
)
MESH_SUFFIXES = tuple(suffix for _, suffixes in MESH_FORMATS for suffix in suffixes)
FORMAT_LIST = ", ".join(name if suffixes == (f".{name.lower()}",) else f"{name} ({', '.join(suffixes)})"
                        for name, suffixes in MESH_FORMATS)  # OBJ, glTF 2.0 (.gltf, .glb), PLY, ...
MESH_HINT = f"give the path of a mesh file: {FORMAT_LIST}"
# suffix -> (the module that reads it, the package that provides that module)
READERS = {
    ".dae": ("collada", "pycollada"),
    ".ac": ("assimp_py", "assimp-py"),
    ".acc": ("assimp_py", "assimp-py"),
    ".ac3d": ("assimp_py", "assimp-py"),
    ".egg": ("panda3d.core", "panda3d"),
    ".egg.pz": ("panda3d.core", "panda3d"),
    ".bam": ("panda3d.core", "panda3d"),
    ".bam.pz": ("panda3d.core", "panda3d"),
}
# top-level module -> the package to install, for a module missing while a file is read
PACKAGES = {"collada": "pycollada", "assimp_py": "assimp-py", "panda3d": "panda3d",
            "charset_normalizer": "charset-normalizer", "PIL": "pillow", "lxml": "lxml", "networkx": "networkx",
            "scipy": "scipy", "DracoPy": "DracoPy"}


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
        texture = np.full((4, 4, 3), UNTEXTURED_GREY, np.uint8)
    return Mesh(
        positions=positions,
        normals=normals.astype(np.float32),
        uvs=np.asarray(uv, dtype=np.float32),
        faces=faces.astype(np.int32),
        texture=texture,
    )


# what trimesh skips and only logs: an OBJ's MTL and textures, a glTF's, PLY's or COLLADA's images, a broken glTF mesh
_SKIPPED_PARTS = ("unable to load materials", "failed to load image", "unable to load image",
                  "unable to load base texture", "`image/ktx2` textures are unsupported", "failed to load mesh")
_STREAM = r"<_io\.\w+ object at 0x[0-9a-fA-F]+>"  # PIL names the stream trimesh gave it, not the file
_TIDY_NOTES = ((re.compile(r"cannot identify image file " + _STREAM), "not an image that can be read"),
               (re.compile(_STREAM), "the file's data"),
               (re.compile(r"from: dict_keys\(\[([^\]]*)\]\)"), r"from its \1"), (re.compile(r"!(?= \(|$)"), ""))


def _tidy(note: str) -> str:
    for pattern, replacement in _TIDY_NOTES:
        note = pattern.sub(replacement, note)
    return note


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
                message = _tidy(message)
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


def _trimesh_load(source, **options):
    """trimesh.load of a path (or of a stream, with file_type and resolver in `options`) with the notes of what
    it skipped; a huge texture is skipped rather than loaded."""
    import trimesh

    with _trimesh_skipped_parts() as skipped, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy overflow in broken files: checked after
        return _one_mesh(trimesh.load_scene(source, process=False, **options)), skipped


def _one_mesh(scene):
    """`scene.to_mesh()` (every mesh with its node's transform, concatenated), each part keeping its colours.

    trimesh packs the textures of several parts into one atlas, and three of its habits are undone first:
    - it multiplies a glTF texture by its baseColorFactor as if the factor ran 0..1 while it holds 0..255,
      wrapping around in uint8 (with trimesh's own factor 0.4, red (220, 20, 30) becomes (168, 248, 244)): the
      factor is dropped, as it is for a single texture (see `_texture_of`);
    - it converts the colour of a part coloured only by its glTF material to sRGB, which a single part does not:
      such a part gets a texture of its colour as it is;
    - it drops every texture of the model when glTF materials meet colours of another kind (vertex or face
      colours, an OBJ material, a part with no colour): those become glTF materials of the same colours first
      (the untextured grey for a part without any)."""
    from trimesh import Trimesh
    from trimesh.visual import ColorVisuals, TextureVisuals
    from trimesh.visual.material import PBRMaterial

    meshes = [geometry for geometry in scene.geometry.values() if isinstance(geometry, Trimesh)]
    for mesh in meshes:
        material = getattr(mesh.visual, "material", None)
        if isinstance(material, PBRMaterial) and material.baseColorTexture is not None:
            material.baseColorFactor = None
    if len(meshes) < 2 or not any(isinstance(mesh.visual, TextureVisuals) for mesh in meshes):
        return scene.to_mesh()

    def solid(colour) -> Image.Image:
        return Image.new("RGBA", (2, 2), tuple(int(c) for c in colour))

    for mesh in meshes:
        visual = mesh.visual
        if isinstance(visual, ColorVisuals):
            if visual.kind is None:
                mesh.visual = TextureVisuals(uv=np.full((len(mesh.vertices), 2), 0.5),
                                             image=solid((UNTEXTURED_GREY, UNTEXTURED_GREY, UNTEXTURED_GREY, 255)))
            else:
                mesh.visual = visual.to_texture()
        elif isinstance(visual.material, PBRMaterial) and visual.material.baseColorTexture is None:
            visual.material.baseColorTexture = solid(visual.material.main_color)
            visual.material.baseColorFactor = None
    if any(isinstance(mesh.visual.material, PBRMaterial) for mesh in meshes):
        for mesh in meshes:
            material = mesh.visual.material
            if not isinstance(material, PBRMaterial):
                image = getattr(material, "image", None)
                mesh.visual.material = PBRMaterial(baseColorTexture=image if image is not None
                                                   else solid(material.main_color))
    return scene.to_mesh()


# ------------------------------------------------------------------------------------- OBJ and MTL text

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),  # before UTF-16 LE: same start
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
LEGACY_ENCODING = "cp1252"  # the code page of most exporters that do not write UTF-8
_SAMPLE = 65536  # bytes looked at to tell UTF-16 without a BOM, or to guess another encoding


def text_encoding(raw: bytes, prefer: str | None = None) -> str:
    """The encoding of the text in `raw`: the one its BOM names (UTF-8, UTF-16, UTF-32); UTF-16 without a BOM
    when every other byte is zero; UTF-8 when it decodes; else `prefer` or cp1252 when the whole text decodes
    with it, else charset-normalizer's guess, else latin-1 (which decodes anything).

    OBJ and MTL keywords and numbers are ASCII, so only names and comments depend on the choice; a single-byte
    code page keeps names from the OBJ and its MTL equal as long as both are decoded with the same one."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            return codec
    sample = raw[:min(len(raw), _SAMPLE) // 2 * 2]
    half = len(sample) // 2
    if half >= 4:
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if odd > 0.4 * half and even < 0.05 * half:
            return "utf-16-le"
        if even > 0.4 * half and odd < 0.05 * half:
            return "utf-16-be"
    for codec in ("utf-8", prefer, LEGACY_ENCODING):
        if codec:
            try:
                raw.decode(codec)
                return codec
            except (UnicodeDecodeError, LookupError):
                pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(raw[:_SAMPLE]).best()
        if best is not None and best.encoding:
            codecs.lookup(best.encoding)
            return best.encoding
    except Exception:  # not installed, or a guess Python cannot decode with
        pass
    return "latin-1"


def decode_text(raw: bytes, prefer: str | None = None) -> tuple[bytes, str]:
    """(the text of `raw` as UTF-8 without a BOM, the encoding it was read with); see `text_encoding`."""
    encoding = text_encoding(raw, prefer)
    if encoding == "utf-8":
        return raw, encoding
    return raw.decode(encoding, errors="replace").encode("utf-8"), encoding


def _single_byte(encoding: str) -> bool:
    return not encoding.replace("_", "-").lower().startswith("utf")


# Files that are given an .obj suffix by mistake, by their first bytes (a picture saved over the mesh's name).
_NOT_OBJ = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
            (b"glTF", "a GLB (binary glTF) file"), (b"PK\x03\x04", "a zip archive"), (b"\x1f\x8b", "a gzip file"),
            (b"%PDF", "a PDF document"))
_BINARY = re.compile(rb"[\x00-\x08\x0e-\x19\x1b-\x1f]")  # control characters no text file holds


def read_obj_text(path: Path) -> tuple[bytes, str]:
    """The text of an OBJ file as UTF-8 and the encoding it was written in (see `text_encoding`); a
    StrikePoseError when the file is not text at all (an image or other binary file named .obj)."""
    try:
        raw = path.read_bytes()
    except MemoryError:
        raise StrikePoseError(f"mesh {path} is too large to load into memory; simplify the mesh") from None
    except OSError as exc:
        raise StrikePoseError(f"mesh {path} could not be read ({exc.strerror or exc}); check the file") from None
    text, encoding = decode_text(raw)
    kind = next((what for magic, what in _NOT_OBJ if raw.startswith(magic)), None)
    if kind is not None or _BINARY.search(text, 0, _SAMPLE):
        raise StrikePoseError(f"mesh {path} is not an OBJ file ({f'it is {kind}' if kind else 'it is binary, not text'}); "
                              "an OBJ mesh is text (v and f lines): give the mesh's own file")
    return text, encoding


def _obj_resolver(path: Path, encoding: str):
    """A trimesh resolver for the files an OBJ names: an MTL is handed on decoded to UTF-8 (in the OBJ's code page
    when it has no BOM and is not UTF-8, so material names match); a file name that is not found as decoded is
    also looked for as its bytes in the file, and as those bytes read as UTF-8, cp1252 and latin-1 (a texture
    named in a legacy code page, unpacked with its name in another)."""
    from trimesh.resolvers import FilePathResolver

    class ObjResolver(FilePathResolver):
        def __init__(self) -> None:
            super().__init__(str(path))
            self.encoding = encoding  # of the text the next name comes from: the OBJ, then its MTL

        def _other_names(self, name: str) -> list[str]:
            if name.isascii() or not _single_byte(self.encoding):
                return []
            try:
                raw = name.encode(self.encoding)
            except (UnicodeEncodeError, LookupError):
                return []
            names = [os.fsdecode(raw)]
            for codec in ("utf-8", LEGACY_ENCODING, "latin-1"):
                try:
                    names.append(raw.decode(codec))
                except UnicodeDecodeError:
                    pass
            return [other for other in dict.fromkeys(names) if other != name]

        def get(self, name: str) -> bytes:
            try:
                data = super().get(name)
            except FileNotFoundError as missing:
                for other in self._other_names(name):
                    try:
                        data = super().get(other)
                        break
                    except (OSError, ValueError):
                        continue
                else:
                    raise missing from None
            if name.strip().lower().endswith(".mtl"):
                legacy = self.encoding if _single_byte(self.encoding) else None
                data, self.encoding = decode_text(data, prefer=legacy)
            return data

    return ObjResolver()


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


def check_obj_geometry(path: Path, text: bytes | None = None) -> None:
    """A StrikePoseError naming the file and the line of the first vertex with fewer than three numbers or
    face with fewer than three indices: trimesh would drop or misread such lines and render what is left.
    `text` is the file's text as UTF-8 (read and decoded from `path` when not given, in any encoding).
    Lines continued with a backslash are joined first, as trimesh does."""
    raw = read_obj_text(path)[0] if text is None else text
    continuation = re.compile(rb"\\\r?\n")
    joined_text = continuation.sub(b"", raw)
    found = [(m.start(), m, what) for pattern, what in _BROKEN_OBJ_LINES if (m := pattern.search(joined_text))]
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


# ------------------------------------------------------------------------------------ formats and readers

def mesh_suffix(path: str | Path) -> str:
    """The suffix of `path` among MESH_SUFFIXES, in lower case (".egg.pz" for a compressed EGG); "" for any
    other file."""
    name = Path(path).name.lower()
    return next((suffix for suffix in sorted(MESH_SUFFIXES, key=len, reverse=True) if name.endswith(suffix)), "")


def _format_of(suffix: str) -> str:
    """'COLLADA (.dae)': the format's name and the suffix, for messages."""
    name = next(name for name, suffixes in MESH_FORMATS if suffix in suffixes)
    return f"{name} ({suffix})"


def _unknown_format(path: Path) -> StrikePoseError:
    suffix = path.suffix
    what = f"{suffix!r} files are not a mesh format read here" if suffix else "it has no suffix to tell its format"
    return StrikePoseError(f"mesh {path} could not be read: {what}; give one of: {FORMAT_LIST} (convert other "
                           "formats to one of these, e.g. with Blender)")


def _missing_package(path: Path, suffix: str, exc: ImportError) -> StrikePoseError:
    """The one line for a reader library that is not installed (or does not load): never 'the file is broken'."""
    missing = (getattr(exc, "name", None) or "").split(".")[0]
    if suffix in READERS:
        module, package = READERS[suffix]
        if isinstance(exc, ModuleNotFoundError) and missing and missing != module.split(".")[0]:
            return StrikePoseError(f"mesh {path}: reading {_format_of(suffix)} files needs the {package} package, "
                                   f"which does not load ({type(exc).__name__}: {exc}); reinstall it with pip install "
                                   f"--force-reinstall {package}")
        if not isinstance(exc, ModuleNotFoundError) and missing == module.split(".")[0]:
            return StrikePoseError(f"mesh {path}: reading {_format_of(suffix)} files needs the {package} package, "
                                   f"which is installed but does not load ({type(exc).__name__}: {exc}); reinstall it "
                                   f"with pip install --force-reinstall {package}")
    elif missing:
        package = PACKAGES.get(missing, missing)
    else:
        return StrikePoseError(f"mesh {path}: reading {_format_of(suffix)} files needs a package that did not load "
                               f"({type(exc).__name__}: {exc}); install it with pip and try again")
    return StrikePoseError(f"mesh {path}: reading {_format_of(suffix)} files needs the {package} package; install it "
                           f"with pip install {package}")


def _check_reader(path: Path, suffix: str) -> None:
    """Refuses a file whose reader package is not installed, before reading the file."""
    if suffix in READERS:
        try:
            importlib.import_module(READERS[suffix][0])
        except ImportError as exc:
            raise _missing_package(path, suffix, exc) from None


# ---------------------------------------------------------------------------------------------- glTF

_BINARY_GLTF_1 = {"asset": {"version": "1.0"}}  # what a GLB whose header says version 1 holds


def _gltf_document(path: Path, suffix: str) -> dict | None:
    """The JSON of a .gltf file or of a GLB's JSON chunk (_BINARY_GLTF_1 for a binary glTF 1.0, whose chunks are
    not those of glTF 2.0); None when it cannot be read here (trimesh then says what is wrong)."""
    try:
        with open(path, "rb") as handle:
            if suffix == ".glb":
                head = handle.read(20)
                if len(head) < 12 or head[:4] != b"glTF":
                    return None
                if struct.unpack_from("<I", head, 4)[0] == 1:
                    return _BINARY_GLTF_1
                if len(head) < 20 or head[16:20] != b"JSON":
                    return None
                text = handle.read(struct.unpack_from("<I", head, 12)[0])
            else:
                text = handle.read()
        document = json.loads(text.decode("utf-8-sig"))
    except ValueError as exc:  # not UTF-8, or not JSON: trimesh would blame a missing file
        where = "its JSON chunk" if suffix == ".glb" else "it"
        raise StrikePoseError(f"mesh {path} could not be read: {where} is not JSON text ({exc}); check that it is "
                              "a valid glTF 2.0 file (or export it again)") from None
    except (OSError, RecursionError, MemoryError):
        return None
    return document if isinstance(document, dict) else None


_GLTF_COLLECTIONS = ("meshes", "nodes", "accessors", "bufferViews", "buffers", "materials", "scenes")


def check_gltf_version(path: Path, suffix: str) -> None:
    """A StrikePoseError for a glTF 1.0 file (trimesh reads glTF 2.0 only): one whose asset.version is below 2,
    or one without an `asset` whose collections are objects (glTF 1.0 keys them by name; 2.0 lists them)."""
    document = _gltf_document(path, suffix)
    if document is None:
        return
    asset = document.get("asset")
    if document is _BINARY_GLTF_1:
        reason = "its GLB header says version 1"
    elif isinstance(asset, dict) and "version" in asset:
        major = re.match(r"\s*(\d+)", str(asset["version"]))
        if not major or int(major.group(1)) >= 2:
            return
        reason = f"its asset.version is {shown(asset['version'], 20)}"
    elif asset is None:
        if any(isinstance(document.get(key), list) for key in _GLTF_COLLECTIONS):
            return  # glTF 2.0 that lacks its asset: trimesh reads it
        reason = "it has no 'asset' field, as only glTF 1.0 files may"
    else:
        return
    raise StrikePoseError(f"mesh {path} is glTF 1.0 ({reason}), which is not read here; convert it to glTF 2.0, "
                          f"e.g. with the gltf-pipeline tool: npx gltf-pipeline -i {path.name} -o "
                          f"{path.stem}-2.0{path.suffix} (Blender imports only glTF 2.0)")


# ------------------------------------------------------------------------------------------- loading

def _read_with_trimesh(path: Path, suffix: str):
    """(trimesh geometry, notes of parts it skipped) of a file trimesh reads; a StrikePoseError when it fails."""
    if suffix == ".obj":
        text, encoding = read_obj_text(path)
        check_obj_geometry(path, text)
        resolver = _obj_resolver(path, encoding)

        def load(**options):
            return _trimesh_load(io.BytesIO(text), file_type="obj", resolver=resolver, **options)
    else:
        if suffix in (".gltf", ".glb"):
            check_gltf_version(path, suffix)

        def load(**options):
            return _trimesh_load(str(path), **options)
    try:
        try:
            return load()
        except ImportError:
            raise
        except Exception as exc:
            if suffix != ".obj":
                raise
            try:  # an OBJ whose material or texture breaks the loader: the shape without them
                tm, skipped = load(skip_materials=True)
            except Exception:
                raise exc from None
            skipped.append(f"its materials ({type(exc).__name__}: {exc})")
            return tm, skipped
    except ImportError as exc:  # a reader library trimesh needs for this format
        raise _missing_package(path, suffix, exc) from None
    except MemoryError:
        raise StrikePoseError(f"mesh {path} is too large to load into memory; simplify the mesh") from None
    except Exception as exc:  # trimesh raises many types for broken files
        raise StrikePoseError(f"mesh {path} could not be read ({type(exc).__name__}: {exc}); check that it is a "
                              f"valid {_format_of(suffix)} file (or export it again)") from exc


def _read_converted(path: Path, suffix: str):
    """(trimesh.Trimesh, notes of parts skipped) of an AC3D or Panda3D file, through strike_pose.assets.convert."""
    from strike_pose.assets.convert import read_converted

    try:
        with _trimesh_skipped_parts() as skipped:
            return read_converted(path), skipped
    except StrikePoseError:
        raise
    except ImportError as exc:
        raise _missing_package(path, suffix, exc) from None
    except MemoryError:
        raise StrikePoseError(f"mesh {path} is too large to load into memory; simplify the mesh") from None
    except Exception as exc:
        raise StrikePoseError(f"mesh {path} could not be read ({type(exc).__name__}: {exc}); check that it is a "
                              f"valid {_format_of(suffix)} file (or export it again)") from exc


def read_mesh_file(path: str | Path):
    """(trimesh.Trimesh, notes of parts left out) of a mesh file of one of MESH_FORMATS: OBJ (with MTL and
    textures), glTF 2.0/GLB, PLY, STL, OFF and COLLADA through trimesh, AC3D and Panda3D through
    strike_pose.assets.convert; a StrikePoseError naming the file when it cannot be read."""
    import trimesh

    path = existing_file(path, "mesh", MESH_HINT)
    suffix = mesh_suffix(path)
    if not suffix:
        raise _unknown_format(path)
    _check_reader(path, suffix)
    if suffix in CONVERTED_SUFFIXES:
        tm, skipped = _read_converted(path, suffix)
    else:
        tm, skipped = _read_with_trimesh(path, suffix)
    if not isinstance(tm, trimesh.Trimesh):
        raise StrikePoseError(f"mesh {path} holds no triangles; check that it is a valid {_format_of(suffix)} file")
    return tm, skipped


def load_mesh_file(path: str | Path, texture: np.ndarray | None = None) -> Mesh:
    """Load a mesh file (see read_mesh_file) as a Mesh; `texture` (prepared) replaces its own."""
    path = existing_file(path, "mesh", MESH_HINT)
    tm, skipped = read_mesh_file(path)
    mesh = mesh_from_trimesh(tm, texture=texture, source=f"mesh {path}")
    files = "the MTL and texture files next to it" if mesh_suffix(path) == ".obj" else "the files it names next to it"
    for note in skipped:  # after the checks: a mesh that fails gets one error line, not warnings before it
        warn(f"mesh {path}: part of it could not be read and is left out: {note}; check {files}")
    return mesh
