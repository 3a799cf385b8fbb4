"""How a search runs: one frozen, validated value, made once by every caller.

The command line, the visualizer, the experiments and the benchmarks all describe a search with a
`SearchOptions`, so its defaults live here and nowhere else: a caller that does not name a field gets
the same value everywhere. The choices (methods, modes, losses, objectives) are defined here too, so the
command line's and the window's menus are these tuples.

A search by default reports only clear fools: a pose counts when its probability margin (the best wrong
class's p minus the true class's; see search/objective.py) is at least DEFAULT_MIN_MARGIN. A search in
the nearest mode walks to the decision boundary, so without a minimum margin its closest fooling pose is
a tie by construction (a box truck "fooled" at 0.245 against 0.233). `min_margin=0` gives the paper's
plain misclassification.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from strike_pose.errors import StrikePoseError

METHODS = ("boundary", "grad", "random", "fd", "cmaes")  # the first is the default
MODES = ("nearest", "first")
LOSSES = ("margin", "logp")  # the objective's losses (search/objective.py)
OBJECTIVES = ("classifier", "detector-miss", "detector-class")  # what a search is against
DEFAULT_STEPS = 100
DEFAULT_MIN_MARGIN = 0.1  # p(top-1) - p(true class): a clear fool, not a tie (see BENCHMARKS.md)


@dataclass(frozen=True)
class SearchOptions:
    """Everything about a search but the scene, the model, the start and the cancel token.

    method: one of METHODS. mode: "nearest" (after the first fooling pose, look for closer ones until the
    budget ends) or "first" (stop at the first). objective: None (what the model is: a classifier's, or
    for a detector detector-miss, detector-class with a target), or one of OBJECTIVES. target: an
    ImageNet index for a targeted search (None: untargeted); against a detector a COCO index or label.
    loss: "margin" or "logp". radius: keep the orientation within this many degrees of the start (None:
    the whole pose space). steps, budget_seconds: the budget. seed: the random seed. learning_rate:
    degrees per step for grad and fd (None: the method's default). search_light: search the light too.
    in_view: only poses that show the whole object count (a pose that pushes it half out of the frame
    says little about the model). min_margin: the least margin that counts (module docstring).
    settings: the method's own settings (settings_for(method, ...)), None for its defaults.
    """

    method: str = METHODS[0]
    mode: str = "nearest"
    objective: str | None = None
    target: int | str | None = None
    loss: str = "margin"
    radius: float | None = None
    steps: int = DEFAULT_STEPS
    budget_seconds: float | None = None
    seed: int = 0
    learning_rate: float | None = None
    search_light: bool = False
    in_view: bool = True
    min_margin: float = DEFAULT_MIN_MARGIN
    settings: Any = None

    def __post_init__(self) -> None:
        _choose("search method", self.method, METHODS)
        _choose("search mode", self.mode, MODES)
        _choose("loss", self.loss, LOSSES)
        if self.objective is not None:
            _choose("objective", self.objective, OBJECTIVES)
            if self.objective == "detector-miss" and self.target is not None:
                raise StrikePoseError("detector-miss takes no target; detector-class does (a COCO label)")
            if self.objective == "detector-class" and self.target is None:
                raise StrikePoseError("detector-class needs a target: the COCO class the object should be seen as "
                                      "(--detector-target LABEL)")
        if not (_whole(self.steps) and self.steps >= 1):
            raise StrikePoseError(f"steps must be a whole number of at least 1, got {self.steps!r}")
        if not (_whole(self.seed) and self.seed >= 0):
            raise StrikePoseError(f"the seed must be a whole number of at least 0, got {self.seed!r}")
        if self.learning_rate is not None and not (_finite(self.learning_rate) and self.learning_rate > 0):
            raise StrikePoseError(f"the learning rate must be a positive number of degrees per step, got "
                                  f"{self.learning_rate!r}; leave it out for the method's default")
        if self.budget_seconds is not None and not (_finite(self.budget_seconds) and self.budget_seconds > 0):
            raise StrikePoseError(f"the time budget must be a positive number of seconds, got {self.budget_seconds!r}")
        if self.radius is not None and not (_finite(self.radius) and 0 < self.radius <= 180):
            raise StrikePoseError(f"radius must be between 0 and 180 degrees, got {self.radius!r}")
        if not (_finite(self.min_margin) and 0 <= self.min_margin < 1):
            raise StrikePoseError("the minimum margin is a difference of probabilities, from 0 to below 1; got "
                                  f"{self.min_margin!r}")
        if self.settings is not None:
            expected = _settings_type(self.method)
            if expected is None or not isinstance(self.settings, expected):
                raise StrikePoseError(f"the {self.method} search takes "
                                      f"{'no settings' if expected is None else expected.__name__}, got "
                                      f"{type(self.settings).__name__}")

    def replace(self, **changes: Any) -> "SearchOptions":
        """These options with some fields changed (validated again); an unknown field is refused."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise StrikePoseError(f"a search has no option {unknown[0]!r}; it has "
                                  f"{', '.join(f.name for f in fields(self))}")
        return replace(self, **changes) if changes else self

    def record(self) -> dict:
        """The options as a sidecar and a summary write them (the method's settings as a dict)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "settings"}
        if self.settings is not None:
            out["settings"] = asdict(self.settings)
        return out


def settings_for(method: str, **values):
    """The method's own settings (a frozen dataclass) with `values` changed; strings are converted to the
    field's type, so "chains=4" from a command line works. Methods without settings take none."""
    _choose("search method", method, METHODS)
    kind = _settings_type(method)
    if kind is None:
        if values:
            raise StrikePoseError(f"the {method} search has no settings to change")
        return None
    base = kind()
    known = {f.name: type(getattr(base, f.name)) for f in fields(kind)}
    changed = {}
    for name, value in values.items():
        if name not in known:
            raise StrikePoseError(f"the {method} search has no setting {name!r}; it has {', '.join(known)}")
        try:
            changed[name] = known[name](value) if known[name] is not bool or not isinstance(value, str) \
                else value.lower() in ("1", "true", "yes", "on")
        except ValueError:
            kind_name = {int: "a whole number", float: "a number"}.get(known[name], known[name].__name__)
            raise StrikePoseError(f"the {method} search's {name} must be {kind_name}, got {value!r}") from None
    return replace(base, **changed)


def _settings_type(method: str):
    from strike_pose.search.settings import BoundarySettings, GradSettings

    return {"grad": GradSettings, "boundary": BoundarySettings}.get(method)


def _choose(what: str, value, choices: tuple) -> None:
    if value not in choices:
        raise StrikePoseError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")


def _whole(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _finite(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and bool(np.isfinite(value))


__all__ = ["SearchOptions", "settings_for", "METHODS", "MODES", "LOSSES", "OBJECTIVES", "DEFAULT_STEPS",
           "DEFAULT_MIN_MARGIN"]
