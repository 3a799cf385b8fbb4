"""Choosing files: the desktop's own dialog through imgui-bundle's portable_file_dialogs where the
desktop has one (zenity, kdialog, ...), else a small browser drawn with imgui (its state lives here).

imgui-bundle's other dialog (ImFileDialog) needs a texture callback that only its own runners set,
so it cannot run under this project's pyglet backend.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from strike_pose.assets.formats import MESH_SUFFIXES

# what each "Open ..." button looks for
FILE_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "scene": ("Scene files", (".toml",)),
    "mesh": ("Meshes", MESH_SUFFIXES),
    "background": ("Images", (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")),
}
NATIVE_DIALOG_PROGRAMS = ("zenity", "kdialog", "matedialog", "qarma")


def native_dialog_available() -> bool:
    """Whether portable_file_dialogs finds a dialog program on this desktop."""
    return os.environ.get("STRIKE_POSE_NO_NATIVE_DIALOG") is None and any(
        shutil.which(p) for p in NATIVE_DIALOG_PROGRAMS)


def native_filters(kind: str) -> list[str]:
    """portable_file_dialogs' filter list: ['Meshes (*.obj ...)', '*.obj *.gltf ...', 'All files', '*']."""
    title, suffixes = FILE_KINDS[kind]
    patterns = " ".join(f"*{s}" for s in suffixes)
    return [f"{title} ({patterns})", patterns, "All files", "*"]


@dataclass(frozen=True)
class Entry:
    name: str
    path: Path
    is_dir: bool


def list_folder(folder: Path, suffixes: tuple[str, ...], show_hidden: bool = False) -> list[Entry]:
    """Sub-folders first, then files with one of `suffixes`, each sorted by name (case-insensitive)."""
    try:
        children = list(folder.iterdir())
    except OSError:
        return []
    dirs, files = [], []
    for child in children:
        if not show_hidden and child.name.startswith("."):
            continue
        try:
            is_dir = child.is_dir()
        except OSError:
            continue
        if is_dir:
            dirs.append(Entry(child.name + "/", child, True))
        elif child.name.lower().endswith(suffixes):  # also the double ones, .egg.pz
            files.append(Entry(child.name, child, False))
    key = lambda e: e.name.lower()  # noqa: E731
    return sorted(dirs, key=key) + sorted(files, key=key)


@dataclass
class FileBrowser:
    """The state of the built-in browser: which kind it opens, the folder, the typed path."""

    kind: str
    folder: Path
    typed_path: str = ""
    entries: list[Entry] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.refresh()

    @property
    def suffixes(self) -> tuple[str, ...]:
        return FILE_KINDS[self.kind][1]

    def refresh(self) -> None:
        self.entries = list_folder(self.folder, self.suffixes)

    def enter(self, folder: Path) -> None:
        if folder.is_dir():
            self.folder = folder.resolve()
            self.refresh()

    def up(self) -> None:
        self.enter(self.folder.parent)

    def choose(self, entry: Entry) -> Path | None:
        """Clicking an entry: a folder opens, a file is the answer."""
        if entry.is_dir:
            self.enter(entry.path)
            return None
        return entry.path

    def typed(self) -> Path | None:
        """The typed path: a folder opens, anything else is the answer (the loader checks it)."""
        text = self.typed_path.strip()
        if not text:
            return None
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = self.folder / path
        if path.is_dir():
            self.enter(path)
            self.typed_path = ""
            return None
        return path
