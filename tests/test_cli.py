"""The command line: its JSON contract, and one-line errors with exit code 2 and no partial files."""

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from strike_pose.cli import main
from strike_pose.errors import StrikePoseWarning
from tests.cli_helpers import run_cli, run_main


def test_classify_json_contract(capsys):
    assert main(["classify", "--scene", "school_bus", "--pose", "30,10,0,0,0,-8", "--json", "--top", "3"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == "efficientnet_lite0"
    assert data["true_class"]["index"] == 779 and data["true_class"]["label"] == "school bus"
    assert 0 <= data["true_class"]["prob"] <= 1
    assert len(data["top"]) == 3 and set(data["top"][0]) == {"index", "label", "prob"}
    assert data["pose"] == {"yaw": 30, "pitch": 10, "roll": 0, "x": 0, "y": 0, "z": -8}


def test_render_writes_a_png(tmp_path, capsys):
    out = tmp_path / "bus.png"
    assert main(["render", "--scene", "school_bus", "--size", "96", "--out", str(out)]) == 0
    assert Image.open(out).size == (96, 96)


def test_mesh_files_stand_in_for_a_scene(tmp_path, capsys):
    from tests.test_scene import write_textured_cube

    obj = write_textured_cube(tmp_path)
    assert main(["classify", "--mesh", str(obj), "--true-class", "school bus", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["true_class"]["index"] == 779


def test_scenes_and_models_lists(capsys):
    assert main(["scenes"]) == 0
    assert "school_bus" in capsys.readouterr().out
    assert main(["models", "--json"]) == 0
    assert {"name": "efficientnet_lite0", "weights": True, "kind": "classifier"} in json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("args, words", [
    (["classify", "--scene", "nowhere"], "unknown scene"),
    (["classify", "--pose", "1,2,nan,0,0,-8"], "pose"),
    (["classify", "--pose", "1,2"], "six"),
    (["classify", "--model", "nonet"], "unknown model"),
    (["classify", "--mesh", "missing.obj", "--true-class", "school bus"], "mesh file not found"),
    (["grad", "--mesh", "missing.obj"], "--true-class"),
])
def test_errors_are_one_line_and_exit_2(args, words, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and err.count("\n") == 1


def test_error_from_a_real_process_has_no_traceback_and_leaves_no_file(tmp_path):
    bad = tmp_path / "bg.txt"
    bad.write_text("not an image")
    out = tmp_path / "x.png"
    proc = run_cli("render", "--mesh", "nope.obj", "--true-class", "1", "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]


def test_render_never_overwrites(tmp_path, capsys):
    out = tmp_path / "keep.png"
    out.write_bytes(b"precious")
    assert main(["render", "--out", str(out)]) == 2
    assert out.read_bytes() == b"precious"
    assert "exists" in capsys.readouterr().err


def test_headless_run_writes_picture_and_top5(tmp_path, capsys):
    import strike_pose

    assert main(["run", "--headless", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "school_bus-as-school_bus.json").read_text())
    assert len(record["top"]) == 5 and (tmp_path / "school_bus-as-school_bus.png").is_file()
    assert record["strike_pose_version"] == strike_pose.__version__ and record["image_size"] == 224
    assert record["scene"]["name"] == "school_bus" and record["pose"]["z"] == -8
    assert main(["run", "--headless", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "school_bus-as-school_bus-2.png").is_file(), "a second run must not overwrite the first"


def test_classify_a_mesh_without_a_true_class_prints_the_top_classes(tmp_path, capsys):
    from tests.test_scene import write_textured_cube

    obj = write_textured_cube(tmp_path)
    assert main(["classify", "--mesh", str(obj), "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "model efficientnet_lite0" and "true class" not in out
    assert [line[:3] for line in out.splitlines()[1:]] == [" 1.", " 2.", " 3."]
    assert main(["classify", "--mesh", str(obj), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["true_class"] is None and len(data["top"]) == 5


@pytest.mark.parametrize("args, words", [
    (["--seed", "-1"], "--seed takes a whole number from 0 up, got '-1'"),
    (["--seed", "1.5"], "--seed takes a whole number"),
    (["--lr", "0"], "--lr takes a positive learning rate"),
    (["--lr", "-1"], "--lr takes a positive learning rate"),
    (["--lr", "-1e-3"], "--lr takes a positive learning rate"),
    (["--lr", "nan"], "--lr takes a positive learning rate"),
    (["--steps", "0"], "--steps takes a whole number of steps, at least 1"),
    (["--budget-seconds", "-inf"], "--budget-seconds takes a positive number"),
    (["--radius", "181"], "--radius takes degrees between 0 and 180"),
    (["--method", "gradient"], "--method takes one of boundary, grad, random, fd, cmaes"),
    (["--min-margin", "1"], "--min-margin takes a difference of probabilities from 0 to below 1"),
    (["--min-margin", "-0.1"], "--min-margin takes a difference of probabilities"),
    (["--loss", "hinge"], "--loss takes one of margin, logp"),
])
def test_bad_search_values_are_one_error_line_before_any_work(tmp_path, capsys, args, words):
    out = tmp_path / "shots"
    assert main(["search", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and err.count("\n") == 1, err
    assert not out.exists()


def test_a_search_command_line_stands_for_the_search_options_it_names():
    from strike_pose.cli import build_parser
    from strike_pose.cli.search import search_options_from_args
    from strike_pose.search import SearchOptions

    def options(*args):
        return search_options_from_args(build_parser().parse_args(["search", *args, "--out", "shots"]))

    assert options() == SearchOptions()
    assert options("--method", "grad", "--first", "--radius", "30", "--steps", "7", "--seed", "3", "--lr", "0.5",
                   "--loss", "logp", "--min-margin", "0", "--light", "--allow-partial") == SearchOptions(
        method="grad", mode="first", radius=30.0, steps=7, seed=3, learning_rate=0.5,
        loss="logp", min_margin=0.0, search_light=True, in_view=False)


def test_the_search_choices_are_the_search_package_s_and_quick_commands_stay_quick(capsys):
    from strike_pose.search import LOSSES, METHODS

    done = subprocess.run([sys.executable, "-c", "import sys\nfrom strike_pose.cli import main\n"
                           "main(['classes', 'bus'])\n"
                           "assert 'torch' not in sys.modules and 'moderngl' not in sys.modules, sorted(sys.modules)"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    code, helped, _ = run_main(capsys, "search", "--help")
    assert code == 0
    assert ", ".join(METHODS) in " ".join(helped.split()) and ", ".join(LOSSES) in " ".join(helped.split())


def test_msaa_help_and_error_agree_and_a_capped_msaa_is_said(tmp_path, renderer, capsys):
    code, helped, _ = run_main(capsys, "render", "--help")
    assert code == 0
    helped = " ".join(helped.split())
    assert main(["render", "--msaa", "3", "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    allowed = err.split("--msaa takes ")[1].split(" samples")[0]
    assert allowed == "0 (off), 2, 4, 8 or 16" and allowed in helped and not (tmp_path / "x.png").exists()
    if renderer.max_samples < 16:  # llvmpipe draws at most 4: more gave the same picture, silently
        with pytest.warns(StrikePoseWarning, match=f"draws at most {renderer.max_samples} samples per pixel"):
            assert main(["render", "--msaa", "16", "--size", "32", "--out", str(tmp_path / "y.png")]) == 0
    supported = max(n for n in (0, 2, 4, 8, 16) if n <= renderer.max_samples)
    with _no_strike_pose_warning():
        assert main(["render", "--msaa", str(supported), "--size", "32", "--out", str(tmp_path / "z.png")]) == 0


def _no_strike_pose_warning():
    import contextlib
    import warnings

    @contextlib.contextmanager
    def check():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        assert not [w for w in caught if issubclass(w.category, StrikePoseWarning)], [str(w.message) for w in caught]

    return check()


@pytest.mark.parametrize("pose, said, not_said", [
    ("0,0,0,0,0,-200", "too small to see at pose 0,0,0,0,0,-200", "not in view"),
    ("0,0,0,0,0,-2000", "beyond the far plane", "not in view"),
    ("0,0,0,50,0,-8", "not in view at pose 0,0,0,50,0,-8", "too small"),
    ("0,0,0,0,3,-8", "not in view", "too small"),
])
def test_a_picture_without_the_object_says_why(tmp_path, pose, said, not_said):
    with pytest.warns(StrikePoseWarning) as caught:
        assert main(["render", "--pose", pose, "--size", "64", "--out", str(tmp_path / "x.png")]) == 0
    messages = [str(w.message) for w in caught if issubclass(w.category, StrikePoseWarning)]
    assert len(messages) == 1 and said in messages[0] and not_said not in messages[0], messages


def test_a_visible_object_gives_no_view_warning(tmp_path):
    with _no_strike_pose_warning():
        assert main(["render", "--pose", "0,0,0,0,0,-40", "--size", "64", "--out", str(tmp_path / "x.png")]) == 0


def test_classes_finds_an_index_or_a_text(capsys):
    assert main(["classes", "779"]) == 0
    assert capsys.readouterr().out == " 779 school bus\n"
    assert main(["classes", "Bus"]) == 0
    assert " 779 school bus" in capsys.readouterr().out.splitlines()
    assert main(["classes", "1000"]) == 2
    assert "the indices are 0 to 999" in capsys.readouterr().err
    assert main(["classes", "buss"]) == 2
    assert "did you mean 'school bus'" in capsys.readouterr().err


def test_a_misspelt_class_suggests_the_closest_labels_first(capsys):
    assert main(["grad", "--scene", "traffic_light", "--target", "Bus"]) == 2
    err = capsys.readouterr().err
    assert "--target 'Bus' is not an ImageNet class; did you mean 'school bus'," in err, err


def test_find_classes_is_the_one_filter_of_labels():
    from strike_pose.models.labels import find_classes

    assert find_classes("779") == [(779, "school bus")]
    assert find_classes("TIGER_cat") == [(282, "tiger cat")]
    assert [i for i, _ in find_classes("bus")] == [138, 375, 654, 779, 874]
    assert len(find_classes("")) == len(find_classes(None)) == 1000 and len(find_classes("a", limit=7)) == 7
    assert find_classes("5000") == [] and find_classes("no such thing") == []


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="X11 only")
def test_a_display_that_does_not_answer_is_named_with_what_to_do():
    done = subprocess.run([sys.executable, "-m", "strike_pose", "gui"], env={**os.environ, "DISPLAY": ":4093"},
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: cannot connect to the X display ':4093'") and "None" not in done.stderr
    assert "Xvfb :4093" in done.stderr and "--headless" in done.stderr


@pytest.mark.parametrize("args, words", [
    (["search", "--target", "schol bus", "--steps", "1", "--out", "{out}"], "--target 'schol bus'"),
    (["search", "--scene", "school_bux", "--out", "{out}/deeper"], "unknown scene"),
    (["render", "--pose", "1,2", "--out", "{out}/x.png"], "--pose takes six"),
    (["map", "--true-class", "schol bus", "--out", "{out}/m.png"], "true_class 'schol bus'"),
    (["detect", "--pose", "1,2", "--out", "{out}/d.png"], "--pose takes six"),
    (["run", "--headless", "--model", "nonet", "--out", "{out}"], "unknown model 'nonet'"),
    (["experiment", "no_such_study", "--out", "{out}"], "no_such_study"),
])
def test_a_refused_command_creates_no_folder(tmp_path, capsys, args, words):
    out = tmp_path / "s"
    assert main([a.replace("{out}", str(out)) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == [], "a refused command writes nothing, not even an empty folder"


def test_the_objects_list_keeps_its_columns_after_long_package_names(capsys):
    import re

    from strike_pose.assets import objects

    rows = objects.status()
    assert max(len(row["package"] + row["version"]) for row in rows) > 35  # flightgear-data-models 1:2020.3.16+dfsg-1
    assert main(["objects"]) == 0
    lines = capsys.readouterr().out.splitlines()[:len(rows)]
    starts = set()
    for line, row in zip(lines, rows):
        cells = [(m.start(), m.group()) for m in re.finditer(r"\S+(?: \S+)*", line)]  # cells: two spaces apart
        assert [text for _, text in cells[:4]] == [row["name"], row["true_class"],
                                                  f"{row['registry']}:{row['package']} {row['version']}",
                                                  row["licence"]], line
        starts.add(tuple(at for at, _ in cells))
    assert len(starts) == 1, "\n".join(lines)


@pytest.mark.parametrize("args, said", [
    (["objects", "space_shuttle"], "error: name the action: strike-pose objects fetch space_shuttle (or objects check "
                                   "space_shuttle)\n"),
    (["objects", "space_shutle", "teapot"], "error: name the action: strike-pose objects fetch space_shuttle teapot "),
    (["objects", "fech", "teapot"], "error: unknown objects action 'fech'; did you mean 'fetch'? "),
    (["objects", "frob"], "error: unknown objects action 'frob'; the actions are fetch NAME... and check"),
])
def test_objects_without_its_action_says_what_to_type(capsys, args, said):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(said) and err.count("\n") == 1, err
