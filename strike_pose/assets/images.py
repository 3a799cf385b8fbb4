"""Images and textures from files: `open_image` is the one place where a missing, unreadable, corrupt
or oversized picture becomes a StrikePoseError naming the file and saying what to do; textures are
resized to power-of-two sides."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from strike_pose.errors import StrikePoseError, existing_file

MAX_TEXTURE_SIDE = 2048
MATTE_RGB = (124, 116, 104)  # transparent pixels are shown over the ImageNet mean colour (scene.IMAGENET_MEAN_RGB)
IMAGE_HINT = "give a PNG or JPEG image"


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
        raise StrikePoseError(f"{what} {path} is too large an image ({_pixels(exc)}); "
                              f"scale it down to {most}") from None
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
