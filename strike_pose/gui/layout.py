"""Where things go in the window: the view keeps the model's aspect; the model's input is scaled by
whole pixels, the smooth display fills the space."""

from __future__ import annotations

from dataclasses import dataclass

STATUS_BAR_HEIGHT = 28
MARGIN = 8


@dataclass(frozen=True)
class Rect:
    x: float  # left, from the window's left edge
    y: float  # top, from the window's top edge (imgui's convention; pyglet's y is flipped)
    width: float
    height: float

    def contains(self, px: float, py: float) -> bool:
        return self.x <= px < self.x + self.width and self.y <= py < self.y + self.height

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.width / 2, self.y + self.height / 2


@dataclass(frozen=True)
class Layout:
    view: Rect  # the rendered image, scaled
    view_area: Rect  # the space the view is centred in
    panel: Rect  # the column of panels on the right
    status: Rect  # the status line at the bottom


def panel_width(window_width: int) -> float:
    return float(min(max(window_width * 0.32, 340), 460, window_width / 2))


def fit_view(area: Rect, image_width: int, image_height: int, crisp: bool = True) -> Rect:
    """The largest placement of the image in `area`. Crisp (the model's input shown pixel for pixel):
    a whole-number scale when it is at least 1, so that every model pixel becomes an n x n block.
    Otherwise (the smooth display, rendered at the size it is shown) the largest scale that fits."""
    fit = min((area.width - 2 * MARGIN) / image_width, (area.height - 2 * MARGIN) / image_height)
    scale = float(int(fit)) if crisp and fit >= 1 else max(fit, 0.05)
    width, height = image_width * scale, image_height * scale
    cx, cy = area.centre
    return Rect(round(cx - width / 2), round(cy - height / 2), width, height)


def compute_layout(window_width: int, window_height: int, image_width: int, image_height: int,
                   crisp: bool = True) -> Layout:
    side = panel_width(window_width)
    body_height = max(window_height - STATUS_BAR_HEIGHT, 1)
    area = Rect(0, 0, max(window_width - side, 1), body_height)
    return Layout(
        view=fit_view(area, image_width, image_height, crisp),
        view_area=area,
        panel=Rect(window_width - side, 0, side, body_height),
        status=Rect(0, body_height, window_width, STATUS_BAR_HEIGHT),
    )
