"""The cache: where fetched objects and model weights live, the hash every download is checked by, and
(registry.py) the downloads themselves, from the package registries by package name with their own
clients. Nothing here knows what is fetched."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CACHE_ENV = "STRIKE_POSE_CACHE"


def cache_dir() -> Path:
    """Where fetched objects live: $STRIKE_POSE_CACHE, else $XDG_CACHE_HOME/strike-pose, else
    ~/.cache/strike-pose."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "strike-pose"


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


__all__ = ["CACHE_ENV", "cache_dir", "sha256_of"]
