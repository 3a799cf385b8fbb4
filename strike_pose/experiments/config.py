"""Experiment files: TOML, validated like scenes (a wrong field is named, with what to write instead).

    name = "quick"                      # the experiment's name
    seed = 0                            # every random draw follows from it
    model = "efficientnet_lite0"        # the default model of every study

    [[landscape]]                       # random poses (or a grid over two angles) per scene and light
    name = "poses"
    scenes = ["school_bus"]             # or "fetched": every object fetched (strike-pose objects)
    poses = 512                         # per scene, light and model
    z = [-20.0, -5.0]                   # the z range (the camera looks down -z)
    lights = ["scene"]                  # "scene" or tables {ambient, diffuse, direction}
    grid = {axes = ["yaw", "pitch"], steps = 24}   # instead of random poses (the other angles 0)

    [[sensitivity]]                     # one parameter at a time from correctly classified poses
    name = "nudges"
    scenes = ["school_bus"]
    starts = 10
    trials = 20                         # resamples per parameter and start

    [[attack]]                          # scenes x starts x methods x targets
    name = "attacks"
    scenes = ["school_bus"]
    starts = 3                          # random starts in the whole pose space
    methods = ["boundary", "grad", "random", "fd", "cmaes"]
    targets = "untargeted"              # or a list of labels, or "frequent:K" with from = "poses"
    budget_seconds = 10.0
    steps = 100

    [[transfer]]                        # the fooling poses of a study, classified by other models
    name = "transfer"
    source = "poses"
    models = ["efficientnet_lite2", "detector:yolov3_tiny"]   # "detector:NAME": the object detector
    min_prob = 0.9                      # only fooling poses the source model is this sure of
    baseline = true                     # also the poses it classified correctly (a landscape source only)

A transfer study's "detector:NAME" (only there) reads each fooling pose with the detector by the rule of
the detector's search objective (strike_pose/search/detection.py): fooled when no box of the object's
COCO class scores above the threshold on the object.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from strike_pose.errors import StrikePoseError
from strike_pose.fields import number as _scene_number
from strike_pose.search import DEFAULT_STEPS, METHODS

KINDS = ("landscape", "sensitivity", "attack", "transfer")
FETCHED = "fetched"  # scenes = "fetched": every object fetched from the catalogue
EXPERIMENTS_DIR = Path(str(resources.files("strike_pose.experiments") / "configs"))  # the bundled configs: package data


@dataclass(frozen=True)
class LightSetting:
    label: str  # "scene", or a short description of the light
    ambient: float | None = None
    diffuse: float | None = None
    direction: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class Study:
    kind: str
    name: str
    models: tuple[str, ...]
    scenes: tuple[str, ...] = ()
    # landscape
    poses: int = 256
    z: tuple[float, float] = (-20.0, -5.0)
    lights: tuple[LightSetting, ...] = (LightSetting("scene"),)
    grid_axes: tuple[str, str] | None = None
    grid_steps: int = 0
    # sensitivity
    starts: int = 10
    trials: int = 20
    # attack
    methods: tuple[str, ...] = METHODS
    targets: Any = "untargeted"  # "untargeted", ("label", ...), or ("frequent", K)
    source: str | None = None  # attack: the landscape whose frequent classes are targets; transfer: the study
    budget_seconds: float = 10.0
    steps: int = DEFAULT_STEPS
    radius: float | None = None
    mode: str = "first"
    # transfer
    min_prob: float = 0.0
    baseline: bool = False  # also read the source's correctly classified poses: the rate to set beside the transfer


@dataclass(frozen=True)
class Experiment:
    name: str
    seed: int
    studies: tuple[Study, ...]
    path: str = ""
    sha256: str = ""
    raw: dict = field(default_factory=dict)

    def study(self, name: str) -> Study:
        for s in self.studies:
            if s.name == name:
                return s
        raise KeyError(name)


_COMMON = {"name", "scenes", "model", "models"}
_FIELDS = {
    "landscape": _COMMON | {"poses", "z", "lights", "grid"},
    "sensitivity": _COMMON | {"starts", "trials"},
    "attack": _COMMON | {"starts", "methods", "targets", "from", "budget_seconds", "steps", "radius", "mode"},
    "transfer": {"name", "source", "models", "model", "min_prob", "baseline"},
}
_TOP = {"name", "seed", "model", *KINDS}


def experiment_path(name_or_path: str | Path) -> Path:
    """A path, or the name of a file in experiments/ (with or without .toml). A bundled name is not
    shadowed by a folder of that name (`experiment quick --out quick` makes one): ./quick is the folder."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    bundled = EXPERIMENTS_DIR / (path.name if path.suffix == ".toml" else f"{path.name}.toml")
    if "/" not in str(name_or_path) and bundled.is_file():
        return bundled
    if path.is_dir():
        raise StrikePoseError(f"{path} is a folder; give an experiment .toml file")
    known = ", ".join(sorted(p.stem for p in EXPERIMENTS_DIR.glob("*.toml"))) or "none"
    raise StrikePoseError(f"experiment file not found: {path}; give a .toml path or a bundled name ({known})")


def load_experiment(name_or_path: str | Path) -> Experiment:
    path = experiment_path(name_or_path)
    raw_bytes = path.read_bytes()
    try:
        data = tomllib.loads(raw_bytes.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise StrikePoseError(f"experiment {path} is not valid TOML ({exc}); fix the syntax") from None
    try:
        experiment = parse_experiment(data)
    except StrikePoseError as exc:
        raise StrikePoseError(f"experiment {path}: {exc}") from None
    return Experiment(experiment.name, experiment.seed, experiment.studies, str(path.resolve()),
                      hashlib.sha256(raw_bytes).hexdigest(), data)


def parse_experiment(data: dict) -> Experiment:
    from strike_pose.models import DEFAULT_MODEL

    for key in data:
        if key not in _TOP:
            raise StrikePoseError(f"unknown field {key!r}; an experiment has {', '.join(sorted(_TOP))}")
    name = _string(data.get("name", "experiment"), "name")
    seed = _integer(data.get("seed", 0), "seed", 0)
    default_model = _string(data.get("model", DEFAULT_MODEL), "model")
    studies: list[Study] = []
    for kind in KINDS:
        tables = data.get(kind, [])
        if isinstance(tables, dict):
            tables = [tables]
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise StrikePoseError(f"[[{kind}]] must be tables, like [[{kind}]] name = \"...\"")
        for i, table in enumerate(tables):
            studies.append(_study(kind, table, f"{kind}[{i}]", default_model))
    if not studies:
        raise StrikePoseError(f"the experiment has no study; add a table such as [[landscape]] ({', '.join(KINDS)})")
    names = [s.name for s in studies]
    for n in names:
        if names.count(n) > 1:
            raise StrikePoseError(f"two studies are named {n!r}; give each study its own name")
    by_name = {s.name: s for s in studies}
    for s in studies:
        if s.kind == "attack" and isinstance(s.targets, tuple) and s.targets[:1] == ("frequent",):
            if s.source is None or by_name.get(s.source, Study("", "", ())).kind != "landscape":
                raise StrikePoseError(f"{s.kind} {s.name!r}: targets = \"frequent:K\" needs from = the name of a "
                                      "[[landscape]] study of the same experiment")
        if s.kind == "transfer":
            if s.source not in by_name or by_name[s.source].kind not in ("landscape", "attack"):
                raise StrikePoseError(f"transfer {s.name!r}: source must name a [[landscape]] or [[attack]] study "
                                      f"of this experiment, got {s.source!r}")
    return Experiment(name, seed, tuple(studies))


def _study(kind: str, table: dict, where: str, default_model: str) -> Study:
    from strike_pose.scenes import scene_path

    for key in table:
        if key not in _FIELDS[kind]:
            raise StrikePoseError(f"unknown field {where}.{key}; a [[{kind}]] has {', '.join(sorted(_FIELDS[kind]))}")
    if "name" not in table:
        raise StrikePoseError(f"{where} has no name; add name = \"...\"")
    name = _string(table["name"], f"{where}.name")
    if "/" in name or "\\" in name or name.startswith(".") or not name.isprintable():
        raise StrikePoseError(f"{where}.name {name!r} cannot name the folder of its rows (OUT/rows/NAME); use "
                              "letters, digits, - and _")
    where = f"{kind} {name!r}"
    if "model" in table and "models" in table:
        raise StrikePoseError(f"{where}: give model or models, not both")
    models = tuple(_strings(table["models"], f"{where}.models")) if "models" in table else (
        _string(table.get("model", default_model), f"{where}.model"),)
    for model in models:
        if model.startswith("detector:"):
            from strike_pose.models.weights import DETECTORS

            if kind != "transfer":
                raise StrikePoseError(f"{where}: {model!r} is a detector, which only a [[transfer]] study takes; "
                                      "the other studies need a classifier")
            if model.removeprefix("detector:") not in DETECTORS:
                raise StrikePoseError(f"{where}: unknown detector {model!r}; the detectors are: "
                                      + ", ".join(f"detector:{d}" for d in DETECTORS))
    out: dict[str, Any] = {"kind": kind, "name": name, "models": models}
    if kind != "transfer":
        scenes = table.get("scenes", ["school_bus"])
        if scenes == FETCHED:  # every object fetched from the catalogue (strike-pose objects)
            from strike_pose.assets.objects import fetched_objects

            scenes = fetched_objects()
            if not scenes:
                raise StrikePoseError(f"{where}: scenes = \"{FETCHED}\" but no objects are fetched yet; run "
                                      "strike-pose objects fetch --all (or name the scenes)")
        scenes = tuple(_strings(scenes, f"{where}.scenes"))
        for scene in scenes:
            scene_path(scene)  # an unknown scene fails now, with the bundled names
        out["scenes"] = scenes
    if kind == "landscape":
        out["poses"] = _integer(table.get("poses", 256), f"{where}.poses", 1)
        z = table.get("z", [-20.0, -5.0])
        if not isinstance(z, list) or len(z) != 2:
            raise StrikePoseError(f"{where}.z must be two numbers [farthest, nearest], got {z!r}")
        lo, hi = sorted(_scene_number(f"{where}.z", v) for v in z)
        if hi >= -0.5:
            raise StrikePoseError(f"{where}.z must stay in front of the camera (below -0.5), got {z!r}")
        out["z"] = (lo, hi)
        out["lights"] = tuple(_light(v, f"{where}.lights[{i}]") for i, v in enumerate(table.get("lights", ["scene"])))
        if "grid" in table:
            grid = table["grid"]
            if not isinstance(grid, dict) or set(grid) - {"axes", "steps"}:
                raise StrikePoseError(f"{where}.grid must be {{axes = [\"yaw\", \"pitch\"], steps = N}}, got {grid!r}")
            axes = tuple(_strings(grid.get("axes", ["yaw", "pitch"]), f"{where}.grid.axes"))
            if len(axes) != 2 or not set(axes) <= {"yaw", "pitch", "roll"} or axes[0] == axes[1]:
                raise StrikePoseError(f"{where}.grid.axes must be two of yaw, pitch, roll, got {list(axes)}")
            out["grid_axes"] = axes
            out["grid_steps"] = _integer(grid.get("steps", 24), f"{where}.grid.steps", 2, 720)
    if kind == "sensitivity":
        out["starts"] = _integer(table.get("starts", 10), f"{where}.starts", 1)
        out["trials"] = _integer(table.get("trials", 20), f"{where}.trials", 1)
    if kind == "attack":
        out["starts"] = _integer(table.get("starts", 3), f"{where}.starts", 1)
        methods = tuple(_strings(table.get("methods", list(METHODS)), f"{where}.methods"))
        for m in methods:
            if m not in METHODS:
                raise StrikePoseError(f"{where}.methods: unknown method {m!r}; choose from {', '.join(METHODS)}")
        out["methods"] = methods
        out["targets"] = _targets(table.get("targets", "untargeted"), f"{where}.targets")
        out["source"] = _string(table["from"], f"{where}.from") if "from" in table else None
        out["budget_seconds"] = _scene_number(f"{where}.budget_seconds", table.get("budget_seconds", 10.0), 0.1)
        out["steps"] = _integer(table.get("steps", DEFAULT_STEPS), f"{where}.steps", 1)
        if "radius" in table:
            out["radius"] = _scene_number(f"{where}.radius", table["radius"], 0.1, 180.0)
        mode = _string(table.get("mode", "first"), f"{where}.mode")
        if mode not in ("first", "nearest"):
            raise StrikePoseError(f"{where}.mode must be \"first\" or \"nearest\", got {mode!r}")
        out["mode"] = mode
    if kind == "transfer":
        if "source" not in table:
            raise StrikePoseError(f"{where} has no source; add source = \"the name of a landscape or attack study\"")
        out["source"] = _string(table["source"], f"{where}.source")
        out["min_prob"] = _scene_number(f"{where}.min_prob", table.get("min_prob", 0.0), 0.0, 1.0)
        baseline = table.get("baseline", False)
        if not isinstance(baseline, bool):
            raise StrikePoseError(f"{where}.baseline must be true or false, got {baseline!r}")
        out["baseline"] = baseline
    return Study(**out)


def _targets(value, where: str):
    from strike_pose.models.labels import resolve_class

    if value == "untargeted":
        return "untargeted"
    if isinstance(value, str) and value.startswith("frequent:"):
        return ("frequent", _integer(_int_text(value.split(":", 1)[1], where), where, 1))
    if isinstance(value, list):
        return tuple(resolve_class(v, where=where) for v in value)
    raise StrikePoseError(f"{where} must be \"untargeted\", \"frequent:K\" or a list of ImageNet labels, got {value!r}")


def _int_text(text: str, where: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise StrikePoseError(f"{where}: \"frequent:K\" needs a whole number K, got {text!r}") from None


def _light(value, where: str) -> LightSetting:
    from strike_pose.scenes import parse_light

    if value == "scene":
        return LightSetting("scene")
    if not isinstance(value, dict):
        raise StrikePoseError(f"{where} must be \"scene\" or a table {{ambient, diffuse, direction}}, got {value!r}")
    light = parse_light(value, where)
    label = ", ".join(f"{k} {v}" for k, v in value.items())
    return LightSetting(label, light.ambient if "ambient" in value else None,
                        light.diffuse if "diffuse" in value else None,
                        tuple(light.direction) if "direction" in value else None)


def _string(value, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise StrikePoseError(f"{where} must be a non-empty string, got {value!r}")
    return value


def _strings(value, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise StrikePoseError(f"{where} must be a list of strings, got {value!r}")
    return [_string(v, where) for v in value]


def _integer(value, where: str, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise StrikePoseError(f"{where} must be a whole number, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bound = f"at least {lo}" if hi is None else f"between {lo} and {hi}"
        raise StrikePoseError(f"{where} must be {bound}, got {value!r}")
    return value
