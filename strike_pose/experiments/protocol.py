"""Which random poses a study draws: `protocol = "whole"` (the default) keeps only the poses that show the
whole object; `protocol = "centre"` keeps the paper's bounds, where only the object's centre need be
in view (so many poses show the object cut off by the frame; for comparison with the paper's 97%).

"whole" draws from the same bounds as "centre" and keeps a pose only when every point of the object's
outline is in the picture (strike_pose.render.transforms.wholly_in_view): rejection sampling, so the
poses kept are uniform over the part of the bounds that shows the whole object.
"""

from __future__ import annotations

import math

import numpy as np

from strike_pose.errors import StrikePoseError

PROTOCOLS = {
    "whole": "the whole object in view",
    "centre": "the paper's bounds: only the object's centre in view",
}
DEFAULT = "whole"
MIN_SHARE = 0.02  # "whole" gives up when fewer than this share of the bounds' poses show the whole object


def parse_protocol(table: dict, where: str) -> str:
    value = table.get("protocol", DEFAULT)
    if value not in PROTOCOLS:
        raise StrikePoseError(f"{where}.protocol must be " + " or ".join(f'"{p}" ({d})' for p, d in PROTOCOLS.items())
                              + f", got {value!r}")
    return value


def describe(protocol: str) -> str:
    """One phrase for reports and tables: what the protocol keeps, and its name."""
    return f"{PROTOCOLS[protocol]} (protocol = \"{protocol}\")"


def protocol_of(experiment, study) -> str | None:
    """The study's protocol, or that of the study it reads (a transfer's source); None when neither has one."""
    if getattr(study, "protocol", None):
        return study.protocol
    source = getattr(study, "source", None)
    if source:
        return protocol_of(experiment, experiment.study(source))
    return None


def outline_of(scene) -> np.ndarray:
    from strike_pose.render.transforms import outline_points

    return outline_points(scene.mesh.positions)


def shows_whole(scene, pose, outline: np.ndarray | None = None) -> bool:
    """Whether the whole object is in the picture at `pose`."""
    from strike_pose.render.transforms import wholly_in_view

    return wholly_in_view(outline_of(scene) if outline is None else outline, np.asarray(pose, np.float64)[:6],
                          scene.camera.fov_y)


def draw_poses(region, scene, rng: np.random.Generator, n: int, protocol: str, where: str, hint: str) -> np.ndarray:
    """n poses drawn from `region` (whose own sampling keeps only the centre in view); with "whole", only
    those that show the whole object, in the order drawn. A StrikePoseError, ending in `hint`, when fewer
    than MIN_SHARE of the region's poses show it."""
    if protocol == "centre":
        return region.sample(rng, n)
    outline = outline_of(scene)
    limit = max(64, math.ceil(n / MIN_SHARE))
    kept: list[np.ndarray] = []
    tries = 0
    while len(kept) < n:
        if tries >= limit:
            raise StrikePoseError(f"{where}: only {len(kept)} of {tries} random poses show the whole object; {hint}, "
                                  "or protocol = \"centre\" (the paper's bounds)")
        batch = region.sample(rng, min(limit - tries, max(64, 2 * (n - len(kept)))))
        tries += len(batch)
        kept += [pose for pose in batch if shows_whole(scene, pose, outline)]
    return np.array(kept[:n])
