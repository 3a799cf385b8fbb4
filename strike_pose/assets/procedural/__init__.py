"""Procedural default assets: objects and backgrounds drawn by the project's own code.

`OBJECTS[name]()` builds a textured `trimesh.Trimesh` (one closed, welded surface once vertices are
merged by position; one PIL texture atlas; OpenGL UVs), `BACKGROUNDS[name]()` draws an RGB image.
Both are deterministic and build on each call, so the package holds no state and writes no files.
"""

from __future__ import annotations

from collections.abc import Callable

import trimesh
from PIL import Image

from strike_pose.assets.procedural.backgrounds import pitch, road, sky
from strike_pose.assets.procedural.ball import soccer_ball
from strike_pose.assets.procedural.bus import school_bus
from strike_pose.assets.procedural.traffic import traffic_light

OBJECTS: dict[str, Callable[[], trimesh.Trimesh]] = {
    "school_bus": school_bus,
    "soccer_ball": soccer_ball,
    "traffic_light": traffic_light,
}

BACKGROUNDS: dict[str, Callable[[], Image.Image]] = {
    "road": road,
    "pitch": pitch,
    "sky": sky,
}

__all__ = ["OBJECTS", "BACKGROUNDS"]
