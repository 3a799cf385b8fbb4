"""Experiment files: TOML, validated like scenes (a wrong field is named, with what to write instead).

    name = "quick"                      # the experiment's name
    seed = 0                            # every random draw follows from it
    model = "efficientnet_lite0"        # the default model of every study

    [[landscape]]                       # a study: [[KIND]] with a name, scenes and model(s), and its own
    name = "poses"                      # fields, read by its kind's module (strike_pose/experiments/kinds/,
    scenes = ["school_bus"]             # where each module's docstring lists them)
    poses = 512
    protocol = "whole"                  # the poses show the whole object; "centre": the paper's bounds

`scenes` takes bundled or fetched names, scene .toml paths, or "fetched": every object fetched from the
catalogue (strike-pose objects). Here: what every kind shares, and the readers of numbers and names
that the kinds' modules use for their own fields.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from strike_pose.errors import StrikePoseError
from strike_pose.fields import integer, string, strings

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
    settings: Any = None  # the kind's own fields (strike_pose/experiments/kinds/KIND.py: Settings)

    def __getattr__(self, name: str):
        """The kind's own fields read as the study's: study.poses, study.source, ..."""
        settings = self.__dict__.get("settings")
        if settings is not None and not name.startswith("__") and hasattr(settings, name):
            return getattr(settings, name)
        raise AttributeError(f"a {self.__dict__.get('kind')} study has no field {name!r}")


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


_COMMON = {"name", "model", "models"}
_TOP = {"name", "seed", "model"}


def kinds():
    from strike_pose.experiments.registry import KINDS

    return KINDS


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

    top = _TOP | set(kinds())
    for key in data:
        if key not in top:
            raise StrikePoseError(f"unknown field {key!r}; an experiment has {', '.join(sorted(top))}")
    name = string(data.get("name", "experiment"), "name")
    seed = integer(data.get("seed", 0), "seed", 0)
    default_model = string(data.get("model", DEFAULT_MODEL), "model")
    studies: list[Study] = []
    for kind in kinds():
        tables = data.get(kind, [])
        if isinstance(tables, dict):
            tables = [tables]
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise StrikePoseError(f"[[{kind}]] must be tables, like [[{kind}]] name = \"...\"")
        for i, table in enumerate(tables):
            studies.append(_study(kind, table, f"{kind}[{i}]", default_model))
    if not studies:
        raise StrikePoseError(f"the experiment has no study; add a table such as [[landscape]] ({', '.join(kinds())})")
    names = [s.name for s in studies]
    for n in names:
        if names.count(n) > 1:
            raise StrikePoseError(f"two studies are named {n!r}; give each study its own name")
    by_name = {s.name: s for s in studies}
    for s in studies:
        if kinds()[s.kind].validate is not None:
            kinds()[s.kind].validate(s, by_name)
    return Experiment(name, seed, tuple(studies))


def _study(kind_name: str, table: dict, where: str, default_model: str) -> Study:
    """The fields every kind shares (name, model / models, scenes); the kind's module reads its own."""
    from strike_pose.scenes import scene_path

    kind = kinds()[kind_name]
    fields = _COMMON | kind.fields | ({"scenes"} if kind.scenes else set())
    for key in table:
        if key not in fields:
            raise StrikePoseError(f"unknown field {where}.{key}; a [[{kind_name}]] has {', '.join(sorted(fields))}")
    if "name" not in table:
        raise StrikePoseError(f"{where} has no name; add name = \"...\"")
    name = string(table["name"], f"{where}.name")
    if "/" in name or "\\" in name or name.startswith(".") or not name.isprintable():
        raise StrikePoseError(f"{where}.name {name!r} cannot name the folder of its rows (OUT/rows/NAME); use "
                              "letters, digits, - and _")
    where = f"{kind_name} {name!r}"
    if "model" in table and "models" in table:
        raise StrikePoseError(f"{where}: give model or models, not both")
    models = tuple(strings(table["models"], f"{where}.models")) if "models" in table else (
        string(table.get("model", default_model), f"{where}.model"),)
    for model in models:
        if model.startswith("detector:"):
            from strike_pose.models.weights import DETECTORS

            if not kind.detectors:
                raise StrikePoseError(f"{where}: {model!r} is a detector, which only a [[transfer]] study takes; "
                                      "the other studies need a classifier")
            if model.removeprefix("detector:") not in DETECTORS:
                raise StrikePoseError(f"{where}: unknown detector {model!r}; the detectors are: "
                                      + ", ".join(f"detector:{d}" for d in DETECTORS))
    scenes: tuple[str, ...] = ()
    if kind.scenes:
        listed = table.get("scenes", ["school_bus"])
        if listed == FETCHED:  # every object fetched from the catalogue (strike-pose objects)
            from strike_pose.assets.objects import fetched_objects

            listed = fetched_objects()
            if not listed:
                raise StrikePoseError(f"{where}: scenes = \"{FETCHED}\" but no objects are fetched yet; run "
                                      "strike-pose objects fetch --all (or name the scenes)")
        scenes = tuple(strings(listed, f"{where}.scenes"))
        for scene in scenes:
            scene_path(scene)  # an unknown scene fails now, with the bundled names
    return Study(kind_name, name, models, scenes, kind.parse(table, where))
