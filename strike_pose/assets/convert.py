"""Formats that trimesh does not read, through the libraries made for them: AC3D (.ac, and TORCS's .acc)
through assimp (assimp-py), Panda3D's EGG (.egg, .egg.pz) and BAM through panda3d itself.

Each reader turns the file into parts (positions, triangles and either texture coordinates into an
image, one colour per vertex, or one colour per part) with every node transform applied; `join_parts`
then makes one textured trimesh of them: every image and colour goes into one atlas, so the mesh has
the one texture that the renderers draw. A texture that repeats (coordinates beyond 0..1) is tiled
into the atlas as often as its coordinates reach, so it looks as it did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from strike_pose.assets.formats import AC3D_SUFFIXES, CONVERTED_SUFFIXES, PANDA_SUFFIXES, mesh_suffix
from strike_pose.assets.images import open_image
from strike_pose.errors import StrikePoseError, warn

MAX_ATLAS_SIDE = 4096  # the atlas is scaled down to this; the texture the renderers use is at most 2048
MAX_TILES = 8  # a texture repeated more often than this along an axis is wrapped per triangle instead
PAD = 4  # pixels of each atlas entry's edge repeated around it, against bleeding in mipmaps


def suffix_of(path: str | Path) -> str:
    """The format suffix of a path (.egg.pz kept whole), in lower case: mesh.mesh_suffix, or the plain one."""
    return mesh_suffix(path) or Path(path).suffix.lower()


@dataclass
class Part:
    """Triangles with one way of colouring them: `uv` into `image`, `vertex_colors`, or `color`."""

    positions: np.ndarray  # (N, 3) float
    faces: np.ndarray  # (F, 3) int
    uv: np.ndarray | None = None  # (N, 2), OpenGL convention (v = 0 at the bottom of the image)
    image: Image.Image | None = None  # RGB
    vertex_colors: np.ndarray | None = None  # (N, 3) uint8
    color: tuple[int, int, int] = (180, 180, 180)


def read_converted(path: str | Path):
    """The file at `path` (AC3D or Panda3D) as one textured trimesh.Trimesh; a StrikePoseError naming the
    file when the reader is missing or the file cannot be read."""
    path = Path(path)
    suffix = suffix_of(path)
    if suffix in AC3D_SUFFIXES:
        parts = read_ac3d(path)
    elif suffix in PANDA_SUFFIXES:
        parts = read_panda(path)
    else:
        raise StrikePoseError(f"mesh {path}: {suffix or 'a file without a suffix'} is not a format converted here "
                              f"({', '.join(CONVERTED_SUFFIXES)})")
    if not parts:
        raise StrikePoseError(f"mesh {path} holds no triangles; check the file")
    return join_parts(parts, f"mesh {path}")


# -------------------------------------------------------------------------------------------- AC3D

def read_ac3d(path: Path) -> list[Part]:
    try:
        import assimp_py
    except ImportError:
        raise StrikePoseError(f"reading {suffix_of(path)} files (AC3D) needs the assimp-py package; install it with "
                              "pip install assimp-py") from None
    # (FindDegenerates would turn collapsed triangles into lines, which assimp then refuses to process.)
    flags = assimp_py.Process_Triangulate | assimp_py.Process_PreTransformVertices | assimp_py.Process_SortByPType
    try:
        scene = assimp_py.import_file(str(path), flags)
    except Exception as exc:  # assimp raises RuntimeError with its own message
        raise StrikePoseError(f"mesh {path} could not be read as AC3D ({exc}); check the file") from None
    if scene is None or not scene.meshes:
        raise StrikePoseError(f"mesh {path} holds no triangles; check it is an AC3D file")
    images: dict[str, Image.Image | None] = {}
    parts = []
    for mesh in scene.meshes:
        positions = np.asarray(mesh.vertices, dtype=np.float64).reshape(-1, 3)
        indices = np.asarray(mesh.indices, dtype=np.int64)
        if not len(indices) or len(indices) != 3 * mesh.num_faces:  # points and lines (sorted apart by SortByPType)
            continue
        faces = indices.reshape(-1, 3)
        material = scene.materials[mesh.material_index] if mesh.material_index < len(scene.materials) else {}
        color = tuple(int(round(255 * min(max(c, 0.0), 1.0)))
                      for c in material.get("COLOR_DIFFUSE", (0.7, 0.7, 0.7))[:3])
        names = material.get("TEXTURES", {}).get(getattr(assimp_py, "TextureType_DIFFUSE", 1)) or []
        image = None
        if names and mesh.texcoords:
            name = names[0]
            if name not in images:
                images[name] = _texture_next_to(path, name)
            image = images[name]
        if image is not None:
            k = int(mesh.num_uv_components[0]) if mesh.num_uv_components else 2
            uv = np.asarray(mesh.texcoords[0], dtype=np.float64).reshape(-1, k)[:, :2]
            parts.append(Part(positions, faces, uv=uv, image=image, color=color))
        else:
            parts.append(Part(positions, faces, color=color))
    return parts


def _texture_next_to(path: Path, name: str) -> Image.Image | None:
    """The texture `name` of a model file, looked up beside it (as written, then by its file name alone,
    in any case); None, with a warning, when it is missing or unreadable."""
    folder = path.parent
    candidates = [folder / name, folder / Path(name.replace("\\", "/")).name]
    lowered = {p.name.lower(): p for p in folder.iterdir()} if folder.is_dir() else {}
    candidates.append(lowered.get(Path(name.replace("\\", "/")).name.lower(), folder / name))
    for candidate in candidates:
        if candidate.is_file():
            try:
                return open_image(candidate, "texture")
            except StrikePoseError as exc:
                warn(f"mesh {path}: {exc}; that part renders in its material's colour")
                return None
    warn(f"mesh {path}: its texture {name} is not beside it; that part renders in its material's colour "
         f"(put {Path(name).name} in {folder})")
    return None


# ----------------------------------------------------------------------------------------- Panda3D

def read_panda(path: Path) -> list[Part]:
    try:
        from panda3d import core
    except ImportError:
        raise StrikePoseError(f"reading {suffix_of(path)} files (Panda3D) needs the panda3d package; install it "
                              "with pip install panda3d") from None
    core.loadPrcFileData("strike-pose", "window-type none\naudio-library-name null\nnotify-level error\n"
                         "model-cache-dir\n")
    options = core.LoaderOptions(core.LoaderOptions.LF_no_cache | core.LoaderOptions.LF_report_errors)
    said = core.StringStream()  # Panda3D's own messages, kept for ours rather than printed
    notify = core.Notify.ptr()
    original = notify.getOstreamPtr()
    notify.setOstreamPtr(said, False)
    try:
        node = core.Loader.getGlobalPtr().loadSync(core.Filename.fromOsSpecific(str(path.resolve())), options)
    finally:
        notify.setOstreamPtr(original, False)
    if node is None:
        lines = [line.strip() for line in bytes(said.getData()).decode("utf-8", "replace").splitlines() if line.strip()]
        at = next((i for i, line in enumerate(lines) if "error" in line.lower() and "Couldn't load" not in line), None)
        reason = "" if at is None else lines[at].split("(error): ", 1)[-1]
        if reason.endswith(":"):  # the EGG parser: where, the line and a caret, then what
            reason += " " + next((line for line in lines[at + 1:] if line[:1].islower()), "")
        reason = reason.replace(str(path.resolve()), path.name)
        raise StrikePoseError(f"mesh {path} could not be read by Panda3D ({reason or 'no reason given'}); check it is "
                              "an EGG or BAM file (or export it again)")
    root = core.NodePath(node)
    parts = []
    for geom_path in root.findAllMatches("**/+GeomNode"):
        if geom_path.isHidden():
            continue
        geom_node = geom_path.node()
        matrix = np.array([[geom_path.getNetTransform().getMat().getCell(r, c) for c in range(4)] for r in range(4)])
        state = geom_path.getNetState()
        for i in range(geom_node.getNumGeoms()):
            part = _panda_part(core, geom_node.getGeom(i), state.compose(geom_node.getGeomState(i)), matrix)
            if part is not None:
                parts.append(part)
    # Panda3D is z-up; the renderers (and glTF) are y-up: (x, y, z) -> (x, z, -y).
    for part in parts:
        x, y, z = part.positions.T
        part.positions = np.stack([x, z, -y], axis=1)
    return parts


def _panda_column(core, data, name: str, width: int) -> np.ndarray | None:
    if not data.hasColumn(name):
        return None
    reader = core.GeomVertexReader(data, name)
    read = {2: reader.getData2, 3: reader.getData3, 4: reader.getData4}[width]
    return np.array([tuple(read()) for _ in range(data.getNumRows())], dtype=np.float64)


def _panda_part(core, geom, state, matrix: np.ndarray) -> Part | None:
    geom = geom.decompose()  # strips and fans as triangles
    data = geom.getVertexData()
    positions = _panda_column(core, data, "vertex", 3)
    if positions is None or not len(positions):
        return None
    faces = []
    for k in range(geom.getNumPrimitives()):
        primitive = geom.getPrimitive(k)
        if not isinstance(primitive, core.GeomTriangles):
            continue
        vertices = primitive.getVertexList()
        faces.append(np.asarray(vertices, dtype=np.int64).reshape(-1, 3))
    if not faces:
        return None
    # Panda3D's matrices act on row vectors: p' = p M.
    positions = np.c_[positions, np.ones(len(positions))] @ matrix
    positions = positions[:, :3] / np.where(np.abs(positions[:, 3:]) > 1e-12, positions[:, 3:], 1.0)
    faces = np.concatenate(faces)
    color = (180, 180, 180)
    color_attrib = state.getAttrib(core.ColorAttrib)
    material_attrib = state.getAttrib(core.MaterialAttrib)
    if color_attrib is not None and color_attrib.getColorType() == core.ColorAttrib.T_flat:
        color = tuple(int(round(255 * min(max(c, 0.0), 1.0))) for c in tuple(color_attrib.getColor())[:3])
    elif material_attrib is not None and material_attrib.getMaterial() is not None:
        material = material_attrib.getMaterial()
        base = material.getBaseColor() if material.hasBaseColor() else material.getDiffuse()
        color = tuple(int(round(255 * min(max(c, 0.0), 1.0))) for c in tuple(base)[:3])
    image, uv = None, None
    texture_attrib = state.getAttrib(core.TextureAttrib)
    if texture_attrib is not None:
        for s in range(texture_attrib.getNumOnStages()):
            stage = texture_attrib.getOnStage(s)
            texture = texture_attrib.getOnTexture(stage)
            if stage.getMode() not in (core.TextureStage.M_modulate, core.TextureStage.M_replace,
                                       core.TextureStage.M_selector) or texture.getXSize() < 2:
                continue  # normal, gloss and emission maps, and the 1-pixel stand-ins for missing ones
            name = stage.getTexcoordName().getName()
            uv = _panda_column(core, data, name if name != "texcoord" or data.hasColumn(name) else "texcoord", 2)
            if uv is None and data.hasColumn("texcoord"):
                uv = _panda_column(core, data, "texcoord", 2)
            if uv is not None:
                image = _panda_image(texture)
            break
    if image is not None and uv is not None:
        return Part(positions, faces, uv=uv, image=image, color=color)
    colors = _panda_column(core, data, "color", 4)
    if colors is not None and (color_attrib is None or color_attrib.getColorType() == core.ColorAttrib.T_vertex):
        return Part(positions, faces, vertex_colors=np.clip(np.rint(colors[:, :3] * 255), 0, 255).astype(np.uint8))
    return Part(positions, faces, color=color)


def _panda_image(texture) -> Image.Image | None:
    """A Panda3D texture's pixels as an RGB image (Panda3D keeps rows bottom first)."""
    if not texture.hasRamImage():
        return None
    width, height = texture.getXSize(), texture.getYSize()
    raw = bytes(texture.getRamImageAs("RGB"))
    if len(raw) < width * height * 3:
        return None
    pixels = np.frombuffer(raw[:width * height * 3], np.uint8).reshape(height, width, 3)[::-1]
    return Image.fromarray(np.ascontiguousarray(pixels))


# ------------------------------------------------------------------------------------------- atlas

def join_parts(parts: list[Part], source: str):
    """One trimesh.Trimesh of `parts`, textured from one atlas of their images and colours."""
    import trimesh

    entries: list[Image.Image] = []  # atlas entries: tiled images, then one swatch per colour
    keys: dict = {}
    placed = []  # per part: (entry index, uv within the entry) or per-vertex colour entries
    for part in parts:
        if part.image is not None and part.uv is not None:
            uv = np.where(np.isfinite(part.uv), part.uv, 0.0)
            lo, hi = np.floor(uv.min(axis=0)), np.ceil(uv.max(axis=0))
            tiles = np.maximum(hi - lo, 1).astype(int)
            if (tiles > MAX_TILES).any():  # wrap each triangle's coordinates into one copy instead
                uv = uv - np.floor(uv)
                lo, tiles = np.zeros(2), np.ones(2, int)
            key = (id(part.image), tuple(tiles))
            if key not in keys:
                keys[key] = len(entries)
                image = part.image.convert("RGB")
                if (tiles > 1).any():
                    tiled = Image.new("RGB", (image.width * tiles[0], image.height * tiles[1]))
                    for i in range(tiles[0]):
                        for j in range(tiles[1]):
                            tiled.paste(image, (i * image.width, j * image.height))
                    image = tiled
                entries.append(image)
            placed.append(("uv", keys[key], (uv - lo) / tiles))
        else:
            if part.vertex_colors is not None:
                colors, inverse = np.unique(part.vertex_colors, axis=0, return_inverse=True)
                colors = [tuple(int(v) for v in c) for c in colors]
            else:
                colors, inverse = [tuple(part.color)], np.zeros(len(part.positions), int)
            indices = []
            for color in colors:
                if ("color", color) not in keys:
                    keys[("color", color)] = len(entries)
                    entries.append(Image.new("RGB", (4, 4), color))
                indices.append(keys[("color", color)])
            placed.append(("color", np.asarray(indices)[np.asarray(inverse).reshape(-1)], None))

    atlas, boxes = _pack(entries)
    uvs = []
    for part, (kind, where, uv) in zip(parts, placed):
        if kind == "uv":
            x, y, w, h = boxes[where]
            u = (x + uv[:, 0] * w) / atlas.width
            v = 1.0 - (y + (1.0 - uv[:, 1]) * h) / atlas.height
        else:
            box = np.asarray([boxes[i] for i in where], dtype=np.float64)  # each vertex at its swatch's centre
            u = (box[:, 0] + box[:, 2] / 2) / atlas.width
            v = 1.0 - (box[:, 1] + box[:, 3] / 2) / atlas.height
        uvs.append(np.stack([u, v], axis=1))
    offsets = np.cumsum([0] + [len(p.positions) for p in parts])
    positions = np.concatenate([p.positions for p in parts])
    faces = np.concatenate([p.faces + offset for p, offset in zip(parts, offsets[:-1])])
    if not np.isfinite(positions).all():
        raise StrikePoseError(f"{source} has vertices that are NaN or infinite; repair the mesh file")
    visual = trimesh.visual.TextureVisuals(uv=np.concatenate(uvs),
                                           material=trimesh.visual.material.SimpleMaterial(image=atlas))
    return trimesh.Trimesh(vertices=positions, faces=faces, visual=visual, process=False)


def _pack(entries: list[Image.Image]) -> tuple[Image.Image, list[tuple[float, float, float, float]]]:
    """Shelf-pack the images into one atlas, each with PAD pixels of its own edge around it; the boxes
    (x, y, width, height; top-left origin) are in the atlas's pixels after any scaling down."""
    order = sorted(range(len(entries)), key=lambda i: -entries[i].height)
    width = max(max(e.width for e in entries) + 2 * PAD,
                int(math.ceil(math.sqrt(sum((e.width + 2 * PAD) * (e.height + 2 * PAD) for e in entries)))))
    boxes: list = [None] * len(entries)
    x = y = shelf = 0
    for i in order:
        w, h = entries[i].width + 2 * PAD, entries[i].height + 2 * PAD
        if x + w > width:
            x, y, shelf = 0, y + shelf, 0
        boxes[i] = (x + PAD, y + PAD, entries[i].width, entries[i].height)
        x, shelf = x + w, max(shelf, h)
    height = y + shelf
    atlas = Image.new("RGB", (width, height), (124, 116, 104))
    for i, image in enumerate(entries):
        bx, by, w, h = boxes[i]
        padded = np.pad(np.asarray(image.convert("RGB")), ((PAD, PAD), (PAD, PAD), (0, 0)), mode="edge")
        atlas.paste(Image.fromarray(padded), (bx - PAD, by - PAD))
    scale = min(1.0, MAX_ATLAS_SIDE / max(width, height))
    if scale < 1.0:
        atlas = atlas.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.LANCZOS)
        boxes = [(bx * atlas.width / width, by * atlas.height / height, w * atlas.width / width,
                  h * atlas.height / height) for bx, by, w, h in boxes]
    return atlas, boxes
