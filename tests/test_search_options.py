"""One options type for every search: its defaults are the same from the Python API, the command line,
the window and an experiment's attack, and a bad value is refused in one line wherever it comes from."""

import dataclasses

import pytest

from strike_pose.errors import StrikePoseError
from strike_pose.search import DEFAULT_MIN_MARGIN, METHODS, SearchOptions, settings_for
from strike_pose.search.boundary import BoundarySettings

# What the window sets on purpose (Optimize is local, around the pose on screen, by default): every
# other field must be the library's default.
WINDOW_OWN = {"radius": 30.0}


def test_the_defaults_are_the_clear_fool_and_the_first_method():
    o = SearchOptions()
    assert o.method == METHODS[0] == "boundary" and o.mode == "nearest" and o.in_view
    assert o.min_margin == DEFAULT_MIN_MARGIN == 0.1


def test_the_command_line_gets_the_library_s_defaults():
    from strike_pose.cli import build_parser
    from strike_pose.cli.search import search_options_from_args

    args = build_parser().parse_args(["search", "--out", "shots"])
    assert search_options_from_args(args) == SearchOptions()
    args = build_parser().parse_args(["search", "--out", "shots", "--min-margin", "0", "--first", "--allow-partial"])
    assert search_options_from_args(args) == SearchOptions(min_margin=0.0, mode="first", in_view=False)


def test_the_window_gets_the_library_s_defaults_but_its_own_radius():
    from strike_pose.gui.optimizer import SearchSettings

    window = SearchSettings().options()
    assert window == SearchOptions().replace(**WINDOW_OWN)


def test_an_experiment_s_attack_gets_the_library_s_defaults_where_its_study_says_nothing():
    from strike_pose.experiments.config import parse_experiment
    from strike_pose.experiments.plan import plan

    experiment = parse_experiment({"name": "t", "attack": [{"name": "a", "scenes": ["school_bus"], "starts": 1,
                                                            "methods": ["boundary"]}]})
    study = experiment.studies[0]
    item = plan(experiment, study, lambda name: [])[0]
    options = SearchOptions(**{k: v for k, v in item.payload.items() if k in {f.name for f in
                                                                              dataclasses.fields(SearchOptions)}})
    said = {"method", "target", "radius", "steps", "budget_seconds", "mode", "seed"}  # the study's own fields
    for field in dataclasses.fields(SearchOptions):
        if field.name not in said:
            assert getattr(options, field.name) == getattr(SearchOptions(), field.name), field.name


@pytest.mark.parametrize("changes, words", [
    ({"method": "nope"}, "unknown search method 'nope'"),
    ({"mode": "last"}, "unknown search mode"),
    ({"loss": "l2"}, "unknown loss"),
    ({"objective": "detector"}, "unknown objective"),
    ({"objective": "detector-miss", "target": 3}, "detector-miss takes no target"),
    ({"objective": "detector-class"}, "detector-class needs a target"),
    ({"steps": 0}, "steps must be a whole number of at least 1"),
    ({"steps": 2.5}, "steps must be a whole number"),
    ({"seed": -1}, "the seed must be a whole number"),
    ({"learning_rate": float("nan")}, "the learning rate must be a positive number"),
    ({"budget_seconds": 0}, "the time budget must be a positive number"),
    ({"radius": 181}, "radius must be between 0 and 180"),
    ({"min_margin": 1.0}, "the minimum margin is a difference of probabilities"),
    ({"min_margin": float("inf")}, "the minimum margin"),
    ({"method": "grad", "settings": BoundarySettings()}, "the grad search takes GradSettings"),
    ({"method": "random", "settings": BoundarySettings()}, "the random search takes no settings"),
    ({"stepz": 3}, "a search has no option 'stepz'"),
])
def test_a_bad_option_is_refused_in_one_line(changes, words):
    with pytest.raises(StrikePoseError) as err:
        SearchOptions().replace(**changes)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_options_are_frozen_and_record_what_a_sidecar_writes():
    o = SearchOptions(method="boundary", settings=settings_for("boundary", slides="2"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.steps = 3
    record = o.record()
    assert record["method"] == "boundary" and record["min_margin"] == 0.1 and record["settings"]["slides"] == 2
