"""What both renderers share: the texture's mip pyramid and the background at the output size.

Both are computed once here, so the OpenGL image and the torch twin start from identical data.
"""

from __future__ import annotations

import numpy as np

from strike_pose.scene import IMAGENET_MEAN_RGB, Scene

_CACHE_LIMIT = 16


def _bounded(cache: dict, key, make):
    if key not in cache:
        if len(cache) >= _CACHE_LIMIT:
            cache.pop(next(iter(cache)))
        cache[key] = make()
    return cache[key][1]


_pyramids: dict = {}
_backgrounds: dict = {}


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
        return texture, levels

    return _bounded(_pyramids, id(texture), make)


def background_array(scene: Scene, width: int, height: int) -> np.ndarray:
    """The scene's background cover-cropped to width x height, (H, W, 3) uint8, row 0 at the top.

    With no background image the frame is the ImageNet mean colour, as in the original app.
    """
    from strike_pose.assets import cover_crop

    image = scene.background

    def make():
        if image is None:
            return None, np.broadcast_to(np.array(IMAGENET_MEAN_RGB, np.uint8), (height, width, 3)).copy()
        return image, cover_crop(image, width, height)

    return _bounded(_backgrounds, (id(image), width, height), make)
