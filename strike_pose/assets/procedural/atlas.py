"""Texture atlases drawn with PIL in the objects' own units.

An atlas is split into rectangular panels; each panel shows one planar projection of the object
(a side of the bus, a patch of the ball) and maps world coordinates (h, v) of that projection to
atlas pixels and to UVs with the same formula, so what is drawn lands where the UVs point.
Panels keep a margin that is painted too (the drawing simply runs past the surface), so mipmap
levels do not bleed a neighbouring panel's colour into the object's edges. Atlases are drawn at
`SUPERSAMPLE` times their size and reduced, which antialiases PIL's hard-edged shapes; each panel
is drawn on its own image, so shapes that run past a panel are clipped to it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SUPERSAMPLE = 2

Color = tuple[int, int, int]


@dataclass(frozen=True)
class Panel:
    """A rectangle of the atlas showing world coordinates h in h_range (left to right) and
    v in v_range (bottom to top)."""

    box: tuple[int, int, int, int]  # left, top, right, bottom in atlas pixels (row 0 = top)
    h_range: tuple[float, float]
    v_range: tuple[float, float]
    margin: int = 6  # atlas pixels between the panel's edge and the mapped area

    def pixel(self, h: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Atlas pixel coordinates (column, row from the top) of world points."""
        left, top, right, bottom = self.box
        (h0, h1), (v0, v1) = self.h_range, self.v_range
        col = left + self.margin + (np.asarray(h) - h0) / (h1 - h0) * (right - left - 2 * self.margin)
        row = top + self.margin + (v1 - np.asarray(v)) / (v1 - v0) * (bottom - top - 2 * self.margin)
        return col, row

    def uv(self, h: np.ndarray, v: np.ndarray, atlas_size: tuple[int, int]) -> np.ndarray:
        """OpenGL UVs (v = 0 at the bottom row) of world points, shape (N, 2)."""
        col, row = self.pixel(h, v)
        width, height = atlas_size
        return np.column_stack([col / width, 1.0 - row / height])

    @property
    def pixels_per_unit(self) -> float:
        """Horizontal atlas pixels per world unit (for line widths and text sizes)."""
        left, _, right, _ = self.box
        return (right - left - 2 * self.margin) / (self.h_range[1] - self.h_range[0])


class PanelPainter:
    """Draws in world coordinates on a supersampled image of one panel (so nothing spills over
    into a neighbouring panel); `paint_panel` pastes it into the atlas."""

    def __init__(self, draw: ImageDraw.ImageDraw, panel: Panel, scale: int = SUPERSAMPLE):
        self.draw, self.panel, self.scale = draw, panel, scale

    def _xy(self, h: float, v: float) -> tuple[float, float]:
        col, row = self.panel.pixel(h, v)
        left, top = self.panel.box[:2]
        return (float(col) - left) * self.scale, (float(row) - top) * self.scale

    def _width(self, world: float) -> int:
        return max(1, round(world * self.panel.pixels_per_unit * self.scale))

    def fill(self, color: Color) -> None:
        """Paint the whole panel, margin included."""
        left, top, right, bottom = self.panel.box
        self.draw.rectangle([0, 0, (right - left) * self.scale, (bottom - top) * self.scale], fill=color)

    def rect(self, h0: float, v0: float, h1: float, v1: float, color: Color) -> None:
        (x0, y0), (x1, y1) = self._xy(h0, v0), self._xy(h1, v1)
        self.draw.rectangle([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], fill=color)

    def rounded(self, h0: float, v0: float, h1: float, v1: float, radius: float, color: Color) -> None:
        (x0, y0), (x1, y1) = self._xy(h0, v0), self._xy(h1, v1)
        self.draw.rounded_rectangle(
            [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], radius=self._width(radius), fill=color
        )

    def circle(self, h: float, v: float, radius: float, color: Color) -> None:
        """A circle in world units (an ellipse in pixels where the panel scales h and v unequally)."""
        x, y = self._xy(h, v)
        x1, y1 = self._xy(h + radius, v + radius)
        rx, ry = abs(x1 - x), abs(y1 - y)
        self.draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=color)

    def polygon(self, points: Sequence[tuple[float, float]], color: Color, outline: Color | None = None,
                width: float = 0.0) -> None:
        xy = [self._xy(h, v) for h, v in points]
        self.draw.polygon(xy, fill=color, outline=outline, width=self._width(width) if outline else 0)

    def line(self, points: Sequence[tuple[float, float]], color: Color, width: float) -> None:
        self.draw.line([self._xy(h, v) for h, v in points], fill=color, width=self._width(width))

    def text(self, s: str, h: float, v: float, height: float, color: Color, bold: float = 0.0) -> None:
        """Text centred at (h, v), `height` world units from baseline to cap height (roughly)."""
        size = max(4, round(height * self.panel.pixels_per_unit * self.scale * 1.35))
        font = ImageFont.load_default(size=size)
        self.draw.text(self._xy(h, v), s, fill=color, font=font, anchor="mm",
                       stroke_width=self._width(bold) if bold > 0 else 0, stroke_fill=color)


def view_coordinates(group: str, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World (h, v) of points on a box-projection panel, as a viewer facing that side sees them
    (h to the viewer's right, v up; the top is seen with -z up, the bottom with +z up)."""
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    return {
        "+z": (x, y), "-z": (-x, y), "+x": (-z, y), "-x": (z, y), "+y": (x, -z), "-y": (x, z),
    }[group]


def box_uvs(positions: np.ndarray, vertex_group: np.ndarray, groups: Sequence[str],
            panels: dict[str, Panel], atlas_size: tuple[int, int]) -> np.ndarray:
    """UVs of a box projection: each vertex mapped through the panel of its group, (V, 2)."""
    uv = np.zeros((len(positions), 2))
    for index, name in enumerate(groups):
        mask = vertex_group == index
        if mask.any():
            h, v = view_coordinates(name, positions[mask])
            uv[mask] = panels[name].uv(h, v, atlas_size)
    return uv


def paint_panel(atlas: Image.Image, panel: Panel, painter: Callable[[PanelPainter], None]) -> None:
    """Run `painter` on a supersampled image of `panel` and paste the reduced result into `atlas`."""
    left, top, right, bottom = panel.box
    size = (right - left, bottom - top)
    image = Image.new("RGB", (size[0] * SUPERSAMPLE, size[1] * SUPERSAMPLE), (0, 0, 0))
    painter(PanelPainter(ImageDraw.Draw(image), panel, SUPERSAMPLE))
    atlas.paste(image.resize(size, Image.Resampling.LANCZOS), (left, top))
