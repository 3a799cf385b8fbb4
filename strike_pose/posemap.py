"""The pose map: the classifier's verdict over two pose axes, computed coarse to fine.

Two of the six pose numbers vary over their whole range, each cell evaluated at its centre; the other
four stay at the map's pose (its centre, shown as the cursor), and the light, scene and model are as
given. The axes are yaw x pitch, pitch x roll, yaw x roll (degrees; yaw and roll over [-180, 180),
pitch over [-90, 90]) or x x y (scene units: the span that keeps the object's centre in view at the
pose's z). Cell sizes are in degrees; for x and y their span counts as 360 degrees, so a 30-degree
cell is 1/12 of it.

The coarse levels (30 and 10 degrees by default) are computed over the whole map; each finer level
(halving where it can, down to the finest resolution) only in the cells whose verdict differs from a
neighbour's at that level: their top-1 label (refine = "label") or only correct against wrong
(refine = "correct"). Everything is stored on the finest grid: each finest cell holds the value of the
smallest computed cell that covers it, and the level it came from.

`MapBuilder` plans the cells and takes their probabilities, so the caller renders and classifies
(the visualizer on its own threads); `compute_map` drives it with a renderer and a classifier. The
grid itself is `grid_poses`, which the landscape study's grid uses too.
"""

from __future__ import annotations

import colorsys
import json
import math
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from strike_pose.errors import StrikePoseError, shown
from strike_pose.rotations import POSE_AXES, wrap_degrees

AXIS_PAIRS = (("yaw", "pitch"), ("pitch", "roll"), ("yaw", "roll"), ("x", "y"))
WRAPPED = ("yaw", "roll")  # the axes whose first and last cells are neighbours
MIN_RESOLUTION = 0.1  # degrees: a finer map would hold tens of millions of cells
REFINE = ("label", "correct")
CLASSIFY_CHUNK = 16  # images per forward pass in compute_map: a cancel waits for one at most

RECORD = np.dtype([("level", "i1"), ("i", "i4"), ("j", "i4"), ("true_prob", "f4"), ("top1", "i2"),
                   ("top1_prob", "f4"), ("margin", "f4")])


# ------------------------------------------------------------------------------------------- the grid

def axis_range(axis: str, pose, fov_y: float | None = None) -> tuple[float, float]:
    """The range an axis of the map covers: yaw and roll [-180, 180), pitch [-90, 90], and x and y the
    span that keeps the object's centre in view at the pose's z (`fov_y`: the camera's vertical field of
    view; the picture is square)."""
    if axis in WRAPPED:
        return -180.0, 180.0
    if axis == "pitch":
        return -90.0, 90.0
    if axis in ("x", "y"):
        if fov_y is None:
            raise ValueError(f"the range of {axis} depends on the camera: give fov_y")
        from strike_pose.render.transforms import frustum_half_extent

        tx, ty = frustum_half_extent(fov_y)
        half = -float(np.asarray(pose, np.float64).reshape(6)[5]) * (tx if axis == "x" else ty)
        return -half, half
    raise StrikePoseError(f"a map axis is one of yaw, pitch, roll, x, y; got {shown(axis)}")


def cell_centres(lo: float, hi: float, count: int) -> np.ndarray:
    """The centres of `count` equal cells over [lo, hi]."""
    return lo + (hi - lo) * (np.arange(count) + 0.5) / count


def grid_poses(pose, axes: tuple[str, str], shape: tuple[int, int], fov_y: float | None = None,
               cells: np.ndarray | None = None) -> np.ndarray:
    """The centre poses (K, 6) of a grid of shape[0] x shape[1] equal cells over the ranges of the two
    `axes` (see axis_range), the other four numbers from `pose`: every cell, the first axis's index
    varying slowest, or only the cells (K, 2) of `cells`. The one grid of the pose map and of the
    landscape study's grid."""
    pose = np.asarray(pose, np.float64).reshape(6)
    a, b = axes
    va = cell_centres(*axis_range(a, pose, fov_y), shape[0])
    vb = cell_centres(*axis_range(b, pose, fov_y), shape[1])
    if cells is None:
        ii, jj = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
        cells = np.stack([ii.reshape(-1), jj.reshape(-1)], axis=1)
    cells = np.asarray(cells, np.int64).reshape(-1, 2)
    out = np.tile(pose, (len(cells), 1))
    out[:, POSE_AXES.index(a)] = va[cells[:, 0]]
    out[:, POSE_AXES.index(b)] = vb[cells[:, 1]]
    return out


def _smallest_prime(n: int) -> int:
    return next(p for p in range(2, n + 1) if n % p == 0)


@dataclass(frozen=True)
class MapSpec:
    """What a map covers: its two `axes`, its `pose` (the other four numbers, and the cursor), the finest
    cell (`resolution` degrees, made a whole fraction of the coarsest cell: 7 becomes 6), the cell
    sizes computed over the whole map (`coarse`, coarsest first; the coarsest must divide 180), and what
    a finer level follows (`refine`: "label" or "correct")."""

    axes: tuple[str, str] = ("yaw", "pitch")
    pose: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, -8.0)
    resolution: float = 2.5
    coarse: tuple[float, ...] = (30.0, 10.0)
    refine: str = "label"

    def __post_init__(self) -> None:
        from strike_pose.scene import Pose

        axes = tuple(self.axes.split(",")) if isinstance(self.axes, str) else tuple(self.axes)
        if axes not in AXIS_PAIRS:
            raise StrikePoseError(f"the map's axes are one of {', '.join(','.join(p) for p in AXIS_PAIRS)}; "
                                  f"got {shown(','.join(map(str, axes)))}")
        object.__setattr__(self, "axes", axes)
        object.__setattr__(self, "pose", Pose.of(self.pose).as_tuple())
        coarse = tuple(float(c) for c in self.coarse)
        positive = all(math.isfinite(c) and c > 0 for c in coarse)
        if not coarse or not positive or list(coarse) != sorted(coarse, reverse=True):
            raise StrikePoseError(f"the map's coarse cells are sizes in degrees, coarsest first; got {self.coarse!r}")
        if abs(180 / coarse[0] - round(180 / coarse[0])) > 1e-9:
            raise StrikePoseError(f"the map's coarsest cell must divide 180 degrees, got {coarse[0]:g}")
        object.__setattr__(self, "coarse", coarse)
        resolution = float(self.resolution)
        if not (math.isfinite(resolution) and MIN_RESOLUTION <= resolution <= coarse[0]):
            raise StrikePoseError(f"the map's resolution takes degrees from {MIN_RESOLUTION:g} to {coarse[0]:g}, "
                                  f"got {shown(self.resolution)}")
        object.__setattr__(self, "resolution", resolution)
        if self.refine not in REFINE:
            raise StrikePoseError(f"the map's refine is one of {', '.join(REFINE)}, got {shown(self.refine)}")

    @property
    def finest(self) -> float:
        """The finest cell in degrees: the coarsest cell over the whole number of cells nearest above the
        resolution."""
        return self.coarse[0] / math.ceil(self.coarse[0] / self.resolution - 1e-9)

    def _coarse_sizes(self) -> list[int]:
        """The cell sides (in finest cells) of the coarse sizes that are whole multiples of the finest cell
        and divide the level before; the others are left out."""
        sizes = [round(self.coarse[0] / self.finest)]
        for c in self.coarse[1:]:
            k = c / self.finest
            if abs(k - round(k)) < 1e-6 and round(k) < sizes[-1] and sizes[-1] % round(k) == 0:
                sizes.append(round(k))
        return sizes

    @property
    def levels(self) -> tuple[int, ...]:
        """Each level's cell side in finest cells, coarsest first, the last 1: the coarse sizes, then finer
        levels by the smallest factor (halves where they can)."""
        sizes = self._coarse_sizes()
        while sizes[-1] > 1:
            sizes.append(sizes[-1] // _smallest_prime(sizes[-1]))
        return tuple(sizes)

    @property
    def full_levels(self) -> int:
        """How many of the levels (the coarse ones) are computed over the whole map."""
        return len(self._coarse_sizes())

    def level_degrees(self, level: int) -> float:
        return self.levels[level] * self.finest


# -------------------------------------------------------------------------------------- the result

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
class Fooling:
    """A computed cell the model gets wrong: its centre `pose` (which was classified), its distance from
    the asked pose over the map's two axes (degrees, or scene units for x, y; angles wrap) and its verdict."""

    distance: float
    pose: tuple[float, ...]
    cell: tuple[int, int, int]  # (level, i, j) on that level's grid
    top1: int
    top1_prob: float
    true_prob: float

    @property
    def label(self) -> str:
        from strike_pose.models.labels import label_of

        return label_of(self.top1)


@dataclass(frozen=True)
class LegendEntry:
    index: int
    label: str
    share: float  # of the map's computed area
    colour: tuple[int, int, int]


@dataclass
class PoseMap:
    """A map on its finest grid: arrays (na, nb), index [i, j] along the first and second axis, each cell
    holding the smallest computed cell that covers it (level -1: nothing computed there yet). `records`
    holds every computed cell (level, i, j on that level's grid, and its values)."""

    spec: MapSpec
    true_class: int
    fov_y: float
    scene: str = ""
    model: str = ""
    true_prob: np.ndarray = field(default=None, repr=False)
    top1: np.ndarray = field(default=None, repr=False)
    top1_prob: np.ndarray = field(default=None, repr=False)
    margin: np.ndarray = field(default=None, repr=False)  # p(true) - the largest other probability
    level: np.ndarray = field(default=None, repr=False)
    records: np.ndarray = field(default=None, repr=False)
    complete: bool = False

    def __post_init__(self) -> None:
        shape = self.shape
        defaults = {"true_prob": (np.float32, np.nan), "top1": (np.int16, -1), "top1_prob": (np.float32, np.nan),
                    "margin": (np.float32, np.nan), "level": (np.int8, -1)}
        for name, (dtype, fill) in defaults.items():
            if getattr(self, name) is None:
                setattr(self, name, np.full(shape, fill, dtype))
        if self.records is None:
            self.records = np.zeros(0, RECORD)

    # ---------------------------------------------------------------------------------- geometry

    @property
    def axes(self) -> tuple[str, str]:
        return self.spec.axes

    @property
    def shape(self) -> tuple[int, int]:
        """(na, nb): the finest grid."""
        return tuple(round((180.0 if axis == "pitch" else 360.0) / self.spec.finest) for axis in self.axes)

    def level_shape(self, level: int) -> tuple[int, int]:
        k = self.spec.levels[level]
        return tuple(n // k for n in self.shape)

    def ranges(self) -> tuple[tuple[float, float], tuple[float, float]]:
        return tuple(axis_range(axis, self.spec.pose, self.fov_y) for axis in self.axes)

    @property
    def values(self) -> tuple[np.ndarray, np.ndarray]:
        """The centres of the finest cells along each axis."""
        return tuple(cell_centres(lo, hi, n) for (lo, hi), n in zip(self.ranges(), self.shape))

    @property
    def computed(self) -> np.ndarray:
        return self.level >= 0

    @property
    def wrong(self) -> np.ndarray:
        """Finest cells that are computed and misclassified."""
        return self.computed & (self.top1 != self.true_class)

    def cell_at(self, a: float, b: float) -> tuple[int, int] | None:
        """The finest cell (i, j) under the values (a, b) of the two axes (angles wrap), None outside the map."""
        out = []
        for axis, value, (lo, hi), n in zip(self.axes, (a, b), self.ranges(), self.shape):
            value = float(value)
            if not math.isfinite(value):
                return None
            if axis in WRAPPED:
                value = float(wrap_degrees(value))
            elif not lo <= value <= hi:
                return None
            out.append(min(n - 1, int((value - lo) / (hi - lo) * n)))
        return tuple(out)

    def pose_of(self, cell) -> np.ndarray:
        """The six numbers of a cell's centre: a finest cell (i, j), or a level's cell (level, i, j)."""
        cell = tuple(int(c) for c in cell)
        shape, ij = (self.shape, cell) if len(cell) == 2 else (self.level_shape(cell[0]), cell[1:])
        return grid_poses(self.spec.pose, self.axes, shape, self.fov_y, np.array([ij]))[0]

    def cell_info(self, cell: tuple[int, int]) -> dict | None:
        """What a finest cell shows (for a hover): its pose, the values it holds and the level they come from;
        None where nothing is computed yet."""
        i, j = cell
        if self.level[i, j] < 0:
            return None
        from strike_pose.models.labels import label_of

        top1 = int(self.top1[i, j])
        return {"pose": self.pose_of(cell).tolist(), "true_prob": float(self.true_prob[i, j]), "top1": top1,
                "label": label_of(top1), "top1_prob": float(self.top1_prob[i, j]),
                "margin": float(self.margin[i, j]), "correct": top1 == self.true_class,
                "level": int(self.level[i, j]), "cell_degrees": self.spec.level_degrees(int(self.level[i, j]))}

    # ---------------------------------------------------------------------------------- summaries

    def misclassified_share(self) -> float:
        """The share of the map's area (of its computed finest cells) the model gets wrong."""
        computed = int(self.computed.sum())
        return float(self.wrong.sum()) / computed if computed else float("nan")

    def nearest_fooling(self, pose=None) -> Fooling | None:
        """The computed cell nearest to `pose` (default: the map's) over the map's two axes whose centre
        the model gets wrong, or None when there is none. Every computed cell counts, also a coarse one
        later refined: its centre pose was classified as it is."""
        wrong = self.records[self.records["top1"] != self.true_class]
        if not len(wrong):
            return None
        at = np.asarray(self.spec.pose if pose is None else pose, np.float64).reshape(6)
        poses = np.zeros((len(wrong), 6))
        for level in np.unique(wrong["level"]):
            mine = wrong["level"] == level
            poses[mine] = grid_poses(self.spec.pose, self.axes, self.level_shape(int(level)), self.fov_y,
                                     np.column_stack([wrong["i"][mine], wrong["j"][mine]]))
        squared = np.zeros(len(wrong))
        for axis in self.axes:
            k = POSE_AXES.index(axis)
            d = poses[:, k] - at[k]
            squared += (wrap_degrees(d) if axis in WRAPPED else d) ** 2
        best = int(np.argmin(squared))
        r = wrong[best]
        return Fooling(float(math.sqrt(squared[best])), tuple(float(v) for v in poses[best]),
                       (int(r["level"]), int(r["i"]), int(r["j"])), int(r["top1"]), float(r["top1_prob"]),
                       float(r["true_prob"]))

    def legend(self, k: int = 5) -> list[LegendEntry]:
        """The `k` wrong top-1 labels covering most of the map, largest first."""
        from strike_pose.models.labels import label_of

        computed = int(self.computed.sum())
        counts = Counter(self.top1[self.wrong].tolist())
        return [LegendEntry(int(index), label_of(int(index)), n / computed, label_colour(int(index)))
                for index, n in counts.most_common(k)]

    # ---------------------------------------------------------------------------------- pictures

    def to_image(self, scale: int = 1, cursor=True) -> np.ndarray:
        """The map as an RGB picture (nb * scale, na * scale, 3) uint8: the first axis to the right, the
        second upwards; correct cells in the p(true class) ramp (dark to light), wrong ones in their top-1
        label's colour, cells not computed yet black. `cursor`: True marks the map's pose with a cross,
        six numbers mark that pose, False none."""
        scale = max(1, int(scale))
        image = ramp_colour(self.true_prob)
        wrong = self.wrong
        if wrong.any():
            labels, inverse = np.unique(self.top1[wrong], return_inverse=True)
            palette = np.array([label_colour(int(i)) for i in labels], np.uint8)
            image[wrong] = palette[inverse.reshape(-1)]
        image[~self.computed] = UNCOMPUTED
        image = np.ascontiguousarray(image.transpose(1, 0, 2)[::-1])  # rows: the second axis, top = largest
        if scale > 1:
            image = image.repeat(scale, axis=0).repeat(scale, axis=1)
        if cursor is not False:
            at = np.asarray(self.spec.pose if cursor is True else cursor, np.float64).reshape(6)
            cell = self.cell_at(*(at[POSE_AXES.index(axis)] for axis in self.axes))
            if cell is not None:
                _draw_cross(image, (self.shape[1] - 1 - cell[1]) * scale + scale // 2,
                            cell[0] * scale + scale // 2, max(3, 2 * scale))
        return image

    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write the picture with axis ticks, the ramp and the legend as PATH (.png) and the grid beside it as
        PATH with .npz; neither replaces a file. Returns both paths."""
        from strike_pose.export import FileExists, atomic_write

        png = Path(path)
        npz = png.with_suffix(".npz")
        for p in (png, npz):
            if p.exists():
                raise FileExists(f"{p} already exists; choose another name")
        figure = self.figure()
        atomic_write(npz, lambda handle: np.savez_compressed(handle, **self._arrays()))
        atomic_write(png, lambda handle: figure.savefig(handle, format="png", dpi=110))
        return png, npz

    def figure(self, legend: int = 8):
        """A matplotlib Figure of the map (made without pyplot: safe off the main thread)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import LinearSegmentedColormap, Normalize
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch

        (alo, ahi), (blo, bhi) = self.ranges()
        entries = self.legend(legend)
        ratio = (ahi - alo) / (bhi - blo)  # the picture's width over its height
        height = 4.0 if ratio >= 2 else 5.0 if ratio >= 1 else 6.0
        figure = Figure(figsize=(height * ratio + 1.8 + (2.2 if entries else 0), height + 0.6), layout="constrained")
        FigureCanvasAgg(figure)
        ax = figure.add_subplot()
        ax.imshow(self.to_image(cursor=False), extent=(alo, ahi, blo, bhi), origin="upper",
                  interpolation="nearest", aspect="equal")
        for axis, set_ticks, set_label in ((self.axes[0], ax.set_xticks, ax.set_xlabel),
                                           (self.axes[1], ax.set_yticks, ax.set_ylabel)):
            if axis in ("x", "y"):
                set_label(f"{axis} (scene units, at z={self.spec.pose[5]:g})")
            else:
                lo, hi = axis_range(axis, self.spec.pose)
                set_ticks(np.arange(lo, hi + 1e-9, 45 if axis in WRAPPED else 30))
                set_label(f"{axis} (deg)")
        at = [self.spec.pose[POSE_AXES.index(axis)] for axis in self.axes]
        if self.cell_at(*at) is not None:
            at[0] = float(wrap_degrees(at[0])) if self.axes[0] in WRAPPED else at[0]
            at[1] = float(wrap_degrees(at[1])) if self.axes[1] in WRAPPED else at[1]
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

        share = self.misclassified_share()
        held = ", ".join(f"{name} {value:g}" for name, value in zip(POSE_AXES, self.spec.pose) if name not in self.axes)
        what = f"{self.scene or 'scene'}" + (f", {self.model}" if self.model else "")
        ax.set_title(f"{what}: {share:.1%} misclassified (true class {label_of(self.true_class)!r}); {held}"
                     + ("" if self.complete else " [incomplete]"), fontsize=9)
        return figure

    # ---------------------------------------------------------------------------------- files

    def _arrays(self) -> dict:
        meta = {"axes": list(self.axes), "pose": list(self.spec.pose), "resolution": self.spec.resolution,
                "coarse": list(self.spec.coarse), "refine": self.spec.refine, "finest": self.spec.finest,
                "levels": list(self.spec.levels), "true_class": self.true_class, "fov_y": self.fov_y,
                "scene": self.scene, "model": self.model, "complete": self.complete}
        values_a, values_b = self.values
        return {"true_prob": self.true_prob, "top1": self.top1, "top1_prob": self.top1_prob, "margin": self.margin,
                "level": self.level, "records": self.records, "values_a": values_a, "values_b": values_b,
                "meta": np.array(json.dumps(meta))}

    @classmethod
    def load(cls, path: str | Path) -> "PoseMap":
        """A map written by `save` (its .npz)."""
        try:
            with np.load(Path(path).with_suffix(".npz"), allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                arrays = {name: data[name] for name in ("true_prob", "top1", "top1_prob", "margin", "level", "records")}
        except (OSError, KeyError, ValueError) as exc:
            raise StrikePoseError(f"{path} is not a pose map written by strike-pose map ({exc})") from None
        spec = MapSpec(tuple(meta["axes"]), tuple(meta["pose"]), meta["resolution"], tuple(meta["coarse"]),
                       meta["refine"])
        return cls(spec, meta["true_class"], meta["fov_y"], meta["scene"], meta["model"], complete=meta["complete"],
                   **arrays)

    def copy(self) -> "PoseMap":
        return replace(self, **{name: getattr(self, name).copy() for name in
                                ("true_prob", "top1", "top1_prob", "margin", "level", "records")})


def _draw_cross(image: np.ndarray, row: int, column: int, arm: int) -> None:
    """A white cross outlined in black, centred on (row, column)."""
    h, w = image.shape[:2]
    for colour, half in (((0, 0, 0), 1), ((255, 255, 255), 0)):
        r0, r1 = max(0, row - arm - half), min(h, row + arm + half + 1)
        c0, c1 = max(0, column - arm - half), min(w, column + arm + half + 1)
        image[r0:r1, max(0, column - half):min(w, column + half + 1)] = colour
        image[max(0, row - half):min(h, row + half + 1), c0:c1] = colour


# ------------------------------------------------------------------------------------- the builder

class MapBuilder:
    """Plans a map's cells level by level and takes their probabilities; the caller renders and classifies.

        builder = MapBuilder(scene, spec)
        while not builder.done:
            cells, poses = builder.next_batch(64)     # cells (K, 3): level, i, j; poses (K, 6)
            builder.record(cells, probabilities_of(poses))   # (K, 1000) softmax

    A level's cells are handed out nearest the map's pose first; the next level is planned once every
    cell of this one is recorded, so `next_batch` gives no cells while some are still out. One thread at a
    time (the caller's lock, if several use it)."""

    def __init__(self, scene, spec: MapSpec, model: str = ""):
        if scene.true_class is None:
            raise StrikePoseError("a pose map needs the object's true class (give --true-class LABEL)")
        self.scene, self.spec = scene, spec
        self._map = PoseMap(spec, int(scene.true_class), float(scene.camera.fov_y), scene.name, model)
        self._level = -1
        self._queue = np.zeros((0, 2), np.int64)
        self._out: set[tuple[int, int, int]] = set()
        self.planned = 0  # cells planned so far (grows with each finer level)
        self.computed = 0  # cells recorded
        self._records: list[np.ndarray] = []
        self._plan()

    @property
    def level(self) -> int:
        """The level being computed (0: the coarsest); len(spec.levels) once done."""
        return self._level

    @property
    def done(self) -> bool:
        return self._level >= len(self.spec.levels)

    def _plan(self) -> None:
        """Move to the next level that has cells to compute (or past the last)."""
        while not len(self._queue) and not self._out and not self.done:
            self._level += 1
            if self.done:
                self._map.complete = True
                return
            shape = self._map.level_shape(self._level)
            if self._level < self.spec.full_levels:
                todo = np.ones(shape, bool)
            else:
                todo = self._boundary(self._level)
            cells = np.argwhere(todo)
            self._queue = cells[np.argsort(self._distances(self._level, cells), kind="stable")]
            self.planned += len(cells)

    def _boundary(self, level: int) -> np.ndarray:
        """The cells of `level` whose verdict (from the coarser levels) differs from a neighbour's."""
        m = self._map
        k = self.spec.levels[level]
        key = m.top1[::k, ::k]
        if self.spec.refine == "correct":
            key = key == m.true_class
        differs = np.zeros(key.shape, bool)
        for dim, axis in enumerate(self.spec.axes):
            a = np.moveaxis(key, dim, 0)
            d = np.moveaxis(differs, dim, 0)  # a view: writes go to `differs`
            step = a[1:] != a[:-1]
            d[1:] |= step
            d[:-1] |= step
            if axis in WRAPPED and a.shape[0] > 1:
                seam = a[0] != a[-1]
                d[0] |= seam
                d[-1] |= seam
        return differs

    def _distances(self, level: int, cells: np.ndarray) -> np.ndarray:
        poses = grid_poses(self.spec.pose, self.spec.axes, self._map.level_shape(level), self._map.fov_y, cells)
        squared = np.zeros(len(cells))
        for axis in self.spec.axes:
            k = POSE_AXES.index(axis)
            d = poses[:, k] - self.spec.pose[k]
            squared += (wrap_degrees(d) if axis in WRAPPED else d) ** 2
        return squared

    def next_batch(self, max_poses: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to `max_poses` cells of the current level, (K, 3) ints (level, i, j), and their centre poses
        (K, 6); none when done or while the level's last cells are out."""
        take = self._queue[:max(0, int(max_poses))]
        self._queue = self._queue[len(take):]
        if not len(take):
            return np.zeros((0, 3), np.int64), np.zeros((0, 6))
        poses = grid_poses(self.spec.pose, self.spec.axes, self._map.level_shape(self._level), self._map.fov_y, take)
        cells = np.column_stack([np.full(len(take), self._level), take])
        self._out.update(map(tuple, cells.tolist()))
        return cells, poses

    def record(self, cells: np.ndarray, probs: np.ndarray) -> None:
        """Take the softmax probabilities (K, 1000) of cells handed out by next_batch."""
        cells = np.asarray(cells, np.int64).reshape(-1, 3)
        probs = np.asarray(probs, np.float64)
        if probs.ndim != 2 or len(probs) != len(cells):
            raise ValueError(f"record takes one row of probabilities per cell: {len(cells)} cells, {probs.shape}")
        keys = list(map(tuple, cells.tolist()))
        unknown = [c for c in keys if c not in self._out]
        if unknown:
            raise ValueError(f"cell {unknown[0]} was not handed out by next_batch (or is recorded already)")
        m, true = self._map, self._map.true_class
        top1 = probs.argmax(axis=1)
        others = probs.copy()
        others[:, true] = -np.inf
        rows = np.zeros(len(cells), RECORD)
        rows["level"], rows["i"], rows["j"] = cells[:, 0], cells[:, 1], cells[:, 2]
        rows["true_prob"], rows["top1"] = probs[:, true], top1
        rows["top1_prob"] = probs[np.arange(len(probs)), top1]
        rows["margin"] = probs[:, true] - others.max(axis=1)
        for row in rows:
            level = int(row["level"])
            k = self.spec.levels[level]
            region = np.s_[row["i"] * k:(row["i"] + 1) * k, row["j"] * k:(row["j"] + 1) * k]
            newer = m.level[region] <= level
            for name in ("true_prob", "top1", "top1_prob", "margin"):
                getattr(m, name)[region][newer] = row[name]
            m.level[region][newer] = level
        self._records.append(rows)
        self._out.difference_update(keys)
        self.computed += len(cells)
        self._plan()

    def result(self) -> PoseMap:
        """The map so far (a copy: the builder goes on filling its own)."""
        self._map.records = np.concatenate([self._map.records, *self._records]) if self._records else self._map.records
        self._records = []
        return self._map.copy()


def compute_map(scene, classifier, spec: MapSpec, renderer=None, batch: int = 64,
                cancel: Callable[[], bool] | None = None,
                progress: Callable[[int, int], None] | None = None) -> PoseMap:
    """The map of `spec` for `scene` and `classifier`: each batch of cells rendered as tiles of one
    framebuffer (`renderer.render_batch`), classified CLASSIFY_CHUNK at a time. `cancel()` returning True
    stops at once (the batch under way is dropped; the map so far comes back, its `complete` False);
    `progress(computed, planned)` follows each batch."""
    if batch < 1:
        raise ValueError(f"compute_map renders at least one pose a batch, got batch={batch}")
    if renderer is None:
        from strike_pose.render import default_renderer

        renderer = default_renderer()
    builder = MapBuilder(scene, spec, model=getattr(classifier, "name", ""))
    stop = cancel or (lambda: False)
    while not builder.done and not stop():
        cells, poses = builder.next_batch(batch)
        if not len(cells):
            break
        images = renderer.render_batch(scene, poses, size=classifier.input_size)
        probs = []
        for first in range(0, len(images), CLASSIFY_CHUNK):
            if stop():
                return builder.result()
            probs.append(classifier.probabilities(images[first:first + CLASSIFY_CHUNK]))
        if stop():
            break
        builder.record(cells, np.concatenate(probs))
        if progress is not None:
            progress(builder.computed, builder.planned)
    return builder.result()


__all__ = ["AXIS_PAIRS", "Fooling", "LegendEntry", "MapBuilder", "MapSpec", "PoseMap", "axis_range", "cell_centres",
           "compute_map", "grid_poses", "label_colour", "ramp_colour"]
