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

`MapBuilder` (analysis/mapbuild.py) plans the cells and takes their probabilities, so the caller renders and classifies
(the visualizer on its own threads); `compute_map` drives it with a renderer and a classifier. The
grid itself is `grid_poses`, which the landscape study's grid uses too. The map's pictures (the
visualizer's and the figure `strike-pose map` writes) are drawn by strike_pose.analysis.mapdraw.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

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

    # ---------------------------------------------------------------------------------- files

    def arrays(self) -> dict:
        """The grid and its description, as `save_map` writes them (FILE.npz) and `load` reads them."""
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


__all__ = ["AXIS_PAIRS", "Fooling", "MapSpec", "PoseMap", "axis_range", "cell_centres", "grid_poses"]
