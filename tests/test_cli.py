"""The command line: its JSON contract, and one-line errors with exit code 2 and no partial files."""

import json
import subprocess
import sys

import pytest
from PIL import Image

from strike_pose.cli import main


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "strike_pose", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


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
    assert {"name": "efficientnet_lite0", "weights": True} in json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("args, words", [
    (["classify", "--scene", "nowhere"], "unknown scene"),
    (["classify", "--pose", "1,2,nan,0,0,-8"], "pose"),
    (["classify", "--pose", "1,2"], "six"),
    (["classify", "--model", "nonet"], "unknown model"),
    (["classify", "--mesh", "missing.obj", "--true-class", "school bus"], "mesh file not found"),
    (["classify", "--mesh", "missing.obj"], "--true-class"),
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
    assert main(["run", "--headless", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "school_bus-as-school_bus.json").read_text())
    assert len(record["top"]) == 5 and (tmp_path / "school_bus-as-school_bus.png").is_file()
    assert main(["run", "--headless", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "school_bus-as-school_bus-2.png").is_file(), "a second run must not overwrite the first"
