"""The mesh formats that load, their suffixes, the package that reads each, and the one-line refusals of a
file of another kind or of a format whose reader package is not installed (never reported as a broken
file). AC3D and Panda3D are read by assets/convert.py, the others by trimesh (assets/reading.py)."""

from __future__ import annotations

import importlib
from pathlib import Path


from strike_pose.errors import StrikePoseError

AC3D_SUFFIXES = (".ac", ".acc", ".ac3d")
PANDA_SUFFIXES = (".egg", ".egg.pz", ".bam", ".bam.pz")
CONVERTED_SUFFIXES = AC3D_SUFFIXES + PANDA_SUFFIXES  # the formats assets/convert.py reads
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


# ------------------------------------------------------------------------------------ formats and readers

def mesh_suffix(path: str | Path) -> str:
    """The suffix of `path` among MESH_SUFFIXES, in lower case (".egg.pz" for a compressed EGG); "" for any
    other file."""
    name = Path(path).name.lower()
    return next((suffix for suffix in sorted(MESH_SUFFIXES, key=len, reverse=True) if name.endswith(suffix)), "")


def format_of(suffix: str) -> str:
    """'COLLADA (.dae)': the format's name and the suffix, for messages."""
    name = next(name for name, suffixes in MESH_FORMATS if suffix in suffixes)
    return f"{name} ({suffix})"


def unknown_format(path: Path) -> StrikePoseError:
    suffix = path.suffix
    what = f"{suffix!r} files are not a mesh format read here" if suffix else "it has no suffix to tell its format"
    return StrikePoseError(f"mesh {path} could not be read: {what}; give one of: {FORMAT_LIST} (convert other "
                           "formats to one of these, e.g. with Blender)")


def missing_package(path: Path, suffix: str, exc: ImportError) -> StrikePoseError:
    """The one line for a reader library that is not installed (or does not load): never 'the file is broken'."""
    missing = (getattr(exc, "name", None) or "").split(".")[0]
    if suffix in READERS:
        module, package = READERS[suffix]
        if isinstance(exc, ModuleNotFoundError) and missing and missing != module.split(".")[0]:
            return StrikePoseError(f"mesh {path}: reading {format_of(suffix)} files needs the {package} package, "
                                   f"which does not load ({type(exc).__name__}: {exc}); reinstall it with pip install "
                                   f"--force-reinstall {package}")
        if not isinstance(exc, ModuleNotFoundError) and missing == module.split(".")[0]:
            return StrikePoseError(f"mesh {path}: reading {format_of(suffix)} files needs the {package} package, "
                                   f"which is installed but does not load ({type(exc).__name__}: {exc}); reinstall it "
                                   f"with pip install --force-reinstall {package}")
    elif missing:
        package = PACKAGES.get(missing, missing)
    else:
        return StrikePoseError(f"mesh {path}: reading {format_of(suffix)} files needs a package that did not load "
                               f"({type(exc).__name__}: {exc}); install it with pip and try again")
    return StrikePoseError(f"mesh {path}: reading {format_of(suffix)} files needs the {package} package; install it "
                           f"with pip install {package}")


def check_reader(path: Path, suffix: str) -> None:
    """Refuses a file whose reader package is not installed, before reading the file."""
    if suffix in READERS:
        try:
            importlib.import_module(READERS[suffix][0])
        except ImportError as exc:
            raise missing_package(path, suffix, exc) from None
