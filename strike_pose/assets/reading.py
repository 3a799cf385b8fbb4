"""Reading mesh files: OBJ (with MTL and textures), glTF 2.0 / GLB, PLY, STL, OFF and COLLADA through
trimesh, AC3D and Panda3D through assets/convert.py, each checked first (assets/checks.py). Every file
is read through `existing_file`; parts of a mesh that trimesh skips (a missing MTL, an unreadable texture)
and a mesh without texture coordinates are used anyway, with a one-line warning."""

from __future__ import annotations

import io
import logging
import re
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from strike_pose.assets.checks import check_gltf_version, check_obj_geometry, obj_resolver, read_obj_text
from strike_pose.assets.formats import (CONVERTED_SUFFIXES, MESH_HINT, check_reader, format_of, mesh_suffix,
                                        missing_package, unknown_format)
from strike_pose.assets.mesh import UNTEXTURED_GREY, Mesh, mesh_from_trimesh
from strike_pose.errors import StrikePoseError, existing_file, warn

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


# ------------------------------------------------------------------------------------------- loading

def _read_with_trimesh(path: Path, suffix: str):
    """(trimesh geometry, notes of parts it skipped) of a file trimesh reads; a StrikePoseError when it fails."""
    if suffix == ".obj":
        text, encoding = read_obj_text(path)
        check_obj_geometry(path, text)
        resolver = obj_resolver(path, encoding)

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
        raise missing_package(path, suffix, exc) from None
    except MemoryError:
        raise StrikePoseError(f"mesh {path} is too large to load into memory; simplify the mesh") from None
    except Exception as exc:  # trimesh raises many types for broken files
        raise StrikePoseError(f"mesh {path} could not be read ({type(exc).__name__}: {exc}); check that it is a "
                              f"valid {format_of(suffix)} file (or export it again)") from exc


def _read_converted(path: Path, suffix: str):
    """(trimesh.Trimesh, notes of parts skipped) of an AC3D or Panda3D file, through strike_pose.assets.convert."""
    from strike_pose.assets.convert import read_converted

    try:
        with _trimesh_skipped_parts() as skipped:
            return read_converted(path), skipped
    except StrikePoseError:
        raise
    except ImportError as exc:
        raise missing_package(path, suffix, exc) from None
    except MemoryError:
        raise StrikePoseError(f"mesh {path} is too large to load into memory; simplify the mesh") from None
    except Exception as exc:
        raise StrikePoseError(f"mesh {path} could not be read ({type(exc).__name__}: {exc}); check that it is a "
                              f"valid {format_of(suffix)} file (or export it again)") from exc


def read_mesh_file(path: str | Path):
    """(trimesh.Trimesh, notes of parts left out) of a mesh file of one of MESH_FORMATS: OBJ (with MTL and
    textures), glTF 2.0/GLB, PLY, STL, OFF and COLLADA through trimesh, AC3D and Panda3D through
    strike_pose.assets.convert; a StrikePoseError naming the file when it cannot be read."""
    import trimesh

    path = existing_file(path, "mesh", MESH_HINT)
    suffix = mesh_suffix(path)
    if not suffix:
        raise unknown_format(path)
    check_reader(path, suffix)
    if suffix in CONVERTED_SUFFIXES:
        tm, skipped = _read_converted(path, suffix)
    else:
        tm, skipped = _read_with_trimesh(path, suffix)
    if not isinstance(tm, trimesh.Trimesh):
        raise StrikePoseError(f"mesh {path} holds no triangles; check that it is a valid {format_of(suffix)} file")
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
