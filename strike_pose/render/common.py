"""What both renderers share: the texture's mip pyramid, the background at the output size, and the
one kind of cache that keeps such derived data.

The pyramid and the background are computed once here, so the OpenGL image and the torch twin start
from identical data. Every derived resource (a pyramid, a GPU mesh, a framebuffer, a tensor) is kept in
a BoundedCache: most are keyed by the id of the object they were made from, and the cache holds that
object with the entry, so its id cannot be reused by another object while the entry lives.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Hashable

import numpy as np

from strike_pose.scene import IMAGENET_MEAN_RGB, Scene


class BoundedCache:
    """At most `limit` entries; when full, the oldest is dropped, and `release` (when given) is called
    on its value, e.g. to free GPU objects. `len(cache)` is how many entries it holds now.

    Threads may share one (the twin's caches are module-wide): the entries are changed under a lock,
    while `make` runs outside it; of two threads that make the same entry at once, both get the one
    stored first, and the other's value is released without having been handed out.
    """

    def __init__(self, limit: int, release: Callable[[Any], None] | None = None) -> None:
        self.limit = int(limit)
        self._release = release
        self._entries: dict[Hashable, tuple[Any, Any]] = {}  # key -> (the object kept alive, the value)
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], Any], keep: Any = None) -> Any:
        """The value under `key`, made by `make()` when missing. `keep` is the object whose id the key
        holds (None when the key names no object); the entry holds it, so the id stays its own."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] is keep:
                return entry[1]
        value = make()
        dropped = []
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] is keep:  # another thread made it meanwhile
                value, dropped = entry[1], [value]
            else:
                if entry is not None:
                    dropped.append(self._entries.pop(key)[1])
                while len(self._entries) >= self.limit:
                    dropped.append(self._entries.pop(next(iter(self._entries)))[1])
                self._entries[key] = (keep, value)
        self._released(dropped)
        return value

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Drop every entry (releasing each value, when the cache releases values)."""
        with self._lock:
            dropped = [value for _, value in self._entries.values()]
            self._entries.clear()
        self._released(dropped)

    def _released(self, values: list) -> None:
        if self._release is not None:
            for value in values:
                self._release(value)


CACHE_LIMIT = 16  # pyramids and backgrounds kept: more than the textures and sizes a session uses at once
_pyramids = BoundedCache(CACHE_LIMIT)
_backgrounds = BoundedCache(CACHE_LIMIT)


def mip_pyramid(texture: np.ndarray) -> list[np.ndarray]:
    """Mip levels of an (H, W, 3) uint8 texture with power-of-two sides, down to 1x1.

    Rows are flipped so that row 0 is v = 0 (OpenGL's texture origin); each level is the 2x2 box
    average of the one above, rounded to uint8, so the GPU and the twin filter the same texels.
    """

    def make():
        levels = [np.ascontiguousarray(texture[::-1])]
        while levels[-1].shape[0] > 1 or levels[-1].shape[1] > 1:
            prev = levels[-1].astype(np.float32)
            h, w = prev.shape[:2]
            if h > 1:
                prev = (prev[0::2] + prev[1::2]) / 2
            if w > 1:
                prev = (prev[:, 0::2] + prev[:, 1::2]) / 2
            levels.append(np.clip(np.rint(prev), 0, 255).astype(np.uint8))
        return levels

    return _pyramids.get(id(texture), make, keep=texture)


def background_array(scene: Scene, width: int, height: int) -> np.ndarray:
    """The scene's background cover-cropped to width x height, (H, W, 3) uint8, row 0 at the top.

    With no background image the frame is the ImageNet mean colour, as in the original app.
    """
    from strike_pose.assets import cover_crop

    image = scene.background

    def make():
        if image is None:
            return np.broadcast_to(np.array(IMAGENET_MEAN_RGB, np.uint8), (height, width, 3)).copy()
        return cover_crop(image, width, height)

    return _backgrounds.get((id(image), width, height), make, keep=image)
