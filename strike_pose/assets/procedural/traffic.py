"""A four-way traffic signal head (ImageNet class 920): a black housing with three lamps (red lit)
and visors on each of its four sides, as hung over intersections.

Why four faces: a one-sided light is a plain box from behind and the side, which no classifier
calls a traffic light; with a face on every side some lamps show from every yaw. Why black: on the
sky, at pitch +-10, a yellow housing measured top-1 in 10 of 12 views (mean p 0.53), a black one in
12 of 12 (mean p 0.79); round (not squashed) lamps and visors also mattered.

Geometry: a loft along the vertical through square cross-sections whose sides bulge out into a
trapezoidal visor over the upper half of each lamp, so visors belong to the one closed surface.
A visor's front carries the upper half of the lamp face and the housing below it the lower half,
which reads as a lamp under a hood from the front. Texture: a box projection, as for the bus.
Units are metres.
"""

from __future__ import annotations

import numpy as np
import trimesh
from PIL import Image

from strike_pose.assets.procedural.atlas import Color, Panel, PanelPainter, paint_panel
from strike_pose.assets.procedural.geometry import box_projected_mesh, loft, orient_outward

HALF_WIDTH = 0.18  # the housing is a square column 0.36 m wide
HEIGHT = 1.05
LAMP_Y = (0.875, 0.525, 0.175)  # red, amber, green centres
LAMP_RADIUS = 0.125
VISOR_DEPTH, VISOR_TOP = 0.16, 0.15  # how far a visor reaches out; its top above the lamp centre
VISOR_BASE, VISOR_FRONT = 0.155, 0.145  # half widths of the visor where it meets the housing / at the front
STEP = 0.01  # height of a visor's near-horizontal top and bottom faces

ATLAS = (512, 512)
HOUSING: Color = (25, 25, 25)
UNDERSIDE: Color = (38, 38, 38)
RING: Color = (8, 8, 8)
LIT_RED: tuple[Color, Color] = ((255, 40, 30), (255, 190, 170))  # rim, bright centre
DARK_AMBER: tuple[Color, Color] = ((90, 60, 10), (110, 75, 20))
DARK_GREEN: tuple[Color, Color] = ((10, 60, 40), (20, 80, 55))

REACH = HALF_WIDTH + VISOR_DEPTH
SIDE_PANEL_H = (-REACH, REACH)
PANELS: dict[str, Panel] = {
    "+z": Panel((0, 0, 128, 384), SIDE_PANEL_H, (0.0, HEIGHT)),
    "-z": Panel((128, 0, 256, 384), SIDE_PANEL_H, (0.0, HEIGHT)),
    "+x": Panel((256, 0, 384, 384), SIDE_PANEL_H, (0.0, HEIGHT)),
    "-x": Panel((384, 0, 512, 384), SIDE_PANEL_H, (0.0, HEIGHT)),
    "+y": Panel((0, 384, 128, 512), SIDE_PANEL_H, SIDE_PANEL_H),
    "-y": Panel((128, 384, 256, 512), SIDE_PANEL_H, SIDE_PANEL_H),
}


def cross_section(visor: float) -> np.ndarray:
    """(x, z) outline at one height: a square whose four sides bulge out by `visor` (0 where there
    is no visor) in a trapezoid. Every height has the same 20 points, as `loft` needs."""
    w = HALF_WIDTH
    quarter = [(w, -w), (w, -VISOR_BASE), (w + visor, -VISOR_FRONT), (w + visor, VISOR_FRONT),
               (w, VISOR_BASE)]
    points = []
    for k in range(4):  # the +x side, then each next side a quarter turn on
        c, s = np.cos(k * np.pi / 2), np.sin(k * np.pi / 2)
        points += [(c * x - s * z, s * x + c * z) for x, z in quarter]
    return np.round(np.array(points), 12)


def traffic_light_surface() -> tuple[np.ndarray, np.ndarray]:
    """The closed, welded surface: (vertices (V, 3), faces (F, 3)), +y up."""
    stations = [(0.0, 0.0)]
    for centre in sorted(LAMP_Y):
        stations += [(centre - STEP, 0.0), (centre, VISOR_DEPTH),
                     (centre + VISOR_TOP, VISOR_DEPTH), (centre + VISOR_TOP + STEP, 0.0)]
    stations.append((HEIGHT, 0.0))
    heights = [y for y, _ in stations]
    loops = [cross_section(visor) for _, visor in stations]
    # loft sweeps along its first axis with loops in its (z, y): map (loft x, y, z) -> (x=z, y=x, z=y).
    lofted, faces = loft(heights, loops)
    vertices = lofted[:, [2, 0, 1]]
    return vertices, orient_outward(vertices, faces)


def _draw_face(paint: PanelPainter, lamps: tuple[tuple[Color, Color], ...]) -> None:
    """One side: housing with three lamps in black rings."""
    paint.fill(HOUSING)
    for y, (rim, centre) in zip(LAMP_Y, lamps, strict=True):
        paint.circle(0.0, y, LAMP_RADIUS + 0.02, RING)
        paint.circle(0.0, y, LAMP_RADIUS, rim)
        paint.circle(0.0, y + 0.02, LAMP_RADIUS * 0.45, centre)


def traffic_light_texture() -> Image.Image:
    """The 512x512 RGB atlas (panels as in PANELS): red lit on every face."""
    atlas = Image.new("RGB", ATLAS, HOUSING)
    lamps = (LIT_RED, DARK_AMBER, DARK_GREEN)
    for name in ("+z", "-z", "+x", "-x"):
        paint_panel(atlas, PANELS[name], lambda paint: _draw_face(paint, lamps))
    paint_panel(atlas, PANELS["+y"], lambda paint: paint.fill(HOUSING))
    paint_panel(atlas, PANELS["-y"], lambda paint: paint.fill(UNDERSIDE))
    return atlas


def traffic_light() -> trimesh.Trimesh:
    """The traffic light: about 700 triangles, vertices split along panel seams."""
    vertices, faces = traffic_light_surface()
    return box_projected_mesh(vertices, faces, PANELS, ATLAS, traffic_light_texture())
