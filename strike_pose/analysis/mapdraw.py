"""The pose map as pictures: the colours of its cells, its legend, the RGB picture the visualizer shows
and the matplotlib figure `strike-pose map` writes (with the grid beside it). The grid itself, and how it
is computed, is strike_pose.analysis.posemap."""

from __future__ import annotations

import colorsys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from strike_pose.analysis.posemap import WRAPPED, PoseMap, axis_range
from strike_pose.rotations import POSE_AXES, wrap_degrees

_SHADES = ((0.9, 0.95), (0.5, 0.95), (0.9, 0.72), (0.95, 0.5))  # (saturation, value): four shades of each hue


def label_colour(index: int) -> tuple[int, int, int]:
    """A label's colour in every map: a hue spread by the golden ratio over the indices, in one of four
    shades (about 2% of label pairs come out alike); never grey, unlike the p(true) ramp."""
    saturation, value = _SHADES[(index * 3 // 2) % 4]
    hue = (index * 0.6180339887) % 1.0
    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(hue, saturation, value))


RAMP = ((45, 50, 65), (235, 238, 242))  # p(true class) 0 -> 1 in correctly classified cells
UNCOMPUTED = (0, 0, 0)


def ramp_colour(p) -> np.ndarray:
    """The ramp's colour (..., 3) uint8 for p(true class) in [0, 1]."""
    t = np.clip(np.nan_to_num(np.asarray(p, np.float64)), 0, 1)[..., None]  # not computed (NaN): as 0
    lo, hi = np.array(RAMP[0], np.float64), np.array(RAMP[1], np.float64)
    return np.round(lo + (hi - lo) * t).astype(np.uint8)



@dataclass(frozen=True)
class LegendEntry:
    index: int
    label: str
    share: float  # of the map's computed area
    colour: tuple[int, int, int]


def map_legend(pose_map: PoseMap, k: int = 5) -> list[LegendEntry]:
    """The `k` wrong top-1 labels covering most of the map, largest first."""
    from strike_pose.models.labels import label_of

    computed = int(pose_map.computed.sum())
    counts = Counter(pose_map.top1[pose_map.wrong].tolist())
    return [LegendEntry(int(index), label_of(int(index)), n / computed, label_colour(int(index)))
            for index, n in counts.most_common(k)]


def map_image(pose_map: PoseMap, scale: int = 1, cursor=True) -> np.ndarray:
    """The map as an RGB picture (nb * scale, na * scale, 3) uint8: the first axis to the right, the
    second upwards; correct cells in the p(true class) ramp (dark to light), wrong ones in their top-1
    label's colour, cells not computed yet black. `cursor`: True marks the map's pose with a cross,
    six numbers mark that pose, False none."""
    scale = max(1, int(scale))
    image = ramp_colour(pose_map.true_prob)
    wrong = pose_map.wrong
    if wrong.any():
        labels, inverse = np.unique(pose_map.top1[wrong], return_inverse=True)
        palette = np.array([label_colour(int(i)) for i in labels], np.uint8)
        image[wrong] = palette[inverse.reshape(-1)]
    image[~pose_map.computed] = UNCOMPUTED
    image = np.ascontiguousarray(image.transpose(1, 0, 2)[::-1])  # rows: the second axis, top = largest
    if scale > 1:
        image = image.repeat(scale, axis=0).repeat(scale, axis=1)
    if cursor is not False:
        at = np.asarray(pose_map.spec.pose if cursor is True else cursor, np.float64).reshape(6)
        cell = pose_map.cell_at(*(at[POSE_AXES.index(axis)] for axis in pose_map.axes))
        if cell is not None:
            _draw_cross(image, (pose_map.shape[1] - 1 - cell[1]) * scale + scale // 2,
                        cell[0] * scale + scale // 2, max(3, 2 * scale))
    return image


def save_map(pose_map: PoseMap, path: str | Path) -> tuple[Path, Path]:
    """Write the picture with axis ticks, the ramp and the legend as PATH (.png) and the grid beside it as
    PATH with .npz; neither replaces a file. Returns both paths."""
    from strike_pose.export import FileExists, atomic_write

    png = Path(path)
    npz = png.with_suffix(".npz")
    for p in (png, npz):
        if p.exists():
            raise FileExists(f"{p} already exists; choose another name")
    figure = map_figure(pose_map)
    atomic_write(npz, lambda handle: np.savez_compressed(handle, **pose_map.arrays()))
    atomic_write(png, lambda handle: figure.savefig(handle, format="png", dpi=110))
    return png, npz


def map_figure(pose_map: PoseMap, legend: int = 8):
    """A matplotlib Figure of the map (made without pyplot: safe off the main thread)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LinearSegmentedColormap, Normalize
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    (alo, ahi), (blo, bhi) = pose_map.ranges()
    entries = map_legend(pose_map, legend)
    ratio = (ahi - alo) / (bhi - blo)  # the picture's width over its height
    height = 4.0 if ratio >= 2 else 5.0 if ratio >= 1 else 6.0
    figure = Figure(figsize=(height * ratio + 1.8 + (2.2 if entries else 0), height + 0.6), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.imshow(map_image(pose_map, cursor=False), extent=(alo, ahi, blo, bhi), origin="upper",
              interpolation="nearest", aspect="equal")
    for axis, set_ticks, set_label in ((pose_map.axes[0], ax.set_xticks, ax.set_xlabel),
                                       (pose_map.axes[1], ax.set_yticks, ax.set_ylabel)):
        if axis in ("x", "y"):
            set_label(f"{axis} (scene units, at z={pose_map.spec.pose[5]:g})")
        else:
            lo, hi = axis_range(axis, pose_map.spec.pose)
            set_ticks(np.arange(lo, hi + 1e-9, 45 if axis in WRAPPED else 30))
            set_label(f"{axis} (deg)")
    at = [pose_map.spec.pose[POSE_AXES.index(axis)] for axis in pose_map.axes]
    if pose_map.cell_at(*at) is not None:
        at[0] = float(wrap_degrees(at[0])) if pose_map.axes[0] in WRAPPED else at[0]
        at[1] = float(wrap_degrees(at[1])) if pose_map.axes[1] in WRAPPED else at[1]
        ax.plot(*at, marker="+", markersize=16, markeredgewidth=4, color="black")
        ax.plot(*at, marker="+", markersize=14, markeredgewidth=1.5, color="white")
    ramp = LinearSegmentedColormap.from_list("ramp", [np.array(c) / 255 for c in RAMP])
    figure.colorbar(ScalarMappable(Normalize(0, 1), ramp), ax=ax, label="p(true class), correct cells",
                    shrink=0.9, pad=0.02)
    if entries:
        figure.legend(handles=[Patch(color=np.array(e.colour) / 255, label=f"{e.label[:24]} {e.share:.1%}")
                               for e in entries], title="wrong top-1 (share of the map)", fontsize=8,
                      title_fontsize=8, loc="outside right upper")
    from strike_pose.models.labels import label_of

    share = pose_map.misclassified_share()
    held = ", ".join(f"{name} {value:g}" for name, value in zip(POSE_AXES, pose_map.spec.pose)
                     if name not in pose_map.axes)
    what = f"{pose_map.scene or 'scene'}" + (f", {pose_map.model}" if pose_map.model else "")
    ax.set_title(f"{what}: {share:.1%} misclassified (true class {label_of(pose_map.true_class)!r}); {held}"
                 + ("" if pose_map.complete else " [incomplete]"), fontsize=9)
    return figure


def _draw_cross(image: np.ndarray, row: int, column: int, arm: int) -> None:
    """A white cross outlined in black, centred on (row, column)."""
    h, w = image.shape[:2]
    for colour, half in (((0, 0, 0), 1), ((255, 255, 255), 0)):
        r0, r1 = max(0, row - arm - half), min(h, row + arm + half + 1)
        c0, c1 = max(0, column - arm - half), min(w, column + arm + half + 1)
        image[r0:r1, max(0, column - half):min(w, column + half + 1)] = colour
        image[max(0, row - half):min(h, row + half + 1), c0:c1] = colour


# ------------------------------------------------------------------------------------- the builder


__all__ = ["LegendEntry", "label_colour", "map_figure", "map_image", "map_legend", "ramp_colour", "save_map"]
