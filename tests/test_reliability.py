"""Reliability: nothing found is lost (unwritable folders, a failed export, Ctrl+C), exports are atomic
across processes, broken numbers are rejected, and the light commands start without the model stack."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from strike_pose.cli import main

STRIKE = [sys.executable, "-m", "strike_pose"]


def one_error_line(err: str, *words: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err


# ------------------------------------------------------------------------ where the work goes

@pytest.mark.parametrize("command", [
    ["render", "--out", "{blocked}/sub/x.png"],
    ["run", "--out", "{blocked}/sub"],
    ["search", "--method", "random", "--steps", "2", "--out", "{blocked}/sub"],
    ["experiment", "quick", "--out", "{blocked}/sub"],
])
def test_an_unwritable_destination_is_refused_before_any_work(command, tmp_path, capsys):
    blocked = tmp_path / "a-file"  # a file where a folder must be: no user, root included, can write there
    blocked.write_text("keep")
    started = time.perf_counter()
    assert main([arg.replace("{blocked}", str(blocked)) for arg in command]) == 2
    one_error_line(capsys.readouterr().err, str(blocked))
    assert time.perf_counter() - started < 5, "the destination is checked before the work"
    assert blocked.read_text() == "keep" and list(tmp_path.iterdir()) == [blocked]


def test_a_failed_export_prints_the_pose_and_probabilities(monkeypatch, tmp_path, capsys):
    import strike_pose.export as export
    from strike_pose.errors import StrikePoseError

    def disk_full(*args, **kwargs):
        raise StrikePoseError(f"could not write {tmp_path}/x.png (No space left on device); free some space "
                              "or choose another folder")

    monkeypatch.setattr(export, "export_shot", disk_full)
    code = main(["search", "--pose", "75,25,0,0,0,-8", "--method", "random", "--first", "--steps", "60",
                 "--seed", "1", "--out", str(tmp_path / "shots")])
    out, err = capsys.readouterr()
    assert code == 2
    assert "pose " in out and "top-5 " in out, out
    last_line = err.rstrip("\n").replace("\r", "\n").split("\n")[-1]  # after the progress bar
    assert last_line.startswith("error: the shot could not be written") and "No space left" in last_line
    assert not (tmp_path / "shots").exists()


@pytest.mark.parametrize("args, words", [
    (["render", "--msaa", "3", "--out", "{tmp}/x.png"], "--msaa"),
    (["classify", "--from", "{tmp}"], "is a folder"),
    (["classify", "--top", "-3"], "--top takes 1 to 1000"),
])
def test_more_bad_arguments_are_one_line(args, words, tmp_path, capsys):
    assert main([a.replace("{tmp}", str(tmp_path)) for a in args]) == 2
    one_error_line(capsys.readouterr().err, words)
    assert list(tmp_path.iterdir()) == []


def test_a_pose_out_of_view_is_classified_with_a_warning():
    from strike_pose.errors import StrikePoseWarning

    with pytest.warns(StrikePoseWarning, match="the object is beyond the far plane at pose 75,25,0,0,0,-1e"):
        assert main(["classify", "--pose", "75,25,0,0,0,-1e9"]) == 0
    with pytest.warns(StrikePoseWarning, match="the object is not in view at pose 0,0,0,50,0,-8"):
        assert main(["classify", "--pose", "0,0,0,50,0,-8"]) == 0


# ------------------------------------------------------------------------------ interrupting

def _wait_for(stream_text: list[str], needle: str, proc, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while needle not in "".join(stream_text):
        assert proc.poll() is None, "".join(stream_text)
        assert time.monotonic() < deadline, "".join(stream_text)
        time.sleep(0.1)


def test_ctrl_c_during_a_search_reports_the_best_pose_so_far(tmp_path):
    proc = subprocess.Popen([*STRIKE, "search", "--method", "random", "--target", "ping-pong ball", "--steps",
                             "100000", "--seed", "3", "--out", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(iter(lambda: proc.stderr.read(1), "")), daemon=True)
    reader.start()
    _wait_for(err, "top-1", proc, 240)  # the progress bar shows a step's prediction: the search is under way
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    reader.join(5)
    out = proc.stdout.read()
    err_text = "".join(err)
    assert proc.returncode == 130, err_text
    assert "Traceback" not in err_text and "interrupted: the best of" in err_text
    assert "no fooling pose found" in out and "target p=" in out
    pose_line = next(line for line in out.splitlines() if line.startswith("pose "))
    assert len(pose_line.split()[1].split(",")) == 6
    assert "strike-pose render --pose=" in out  # how to keep its picture


def test_ctrl_c_during_start_up_is_one_line():
    proc = subprocess.Popen([*STRIKE, "classify"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)  # inside the imports of torch and the model
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the command finished before the signal")
    # 130, or killed by the signal (-2) when it lands as the interpreter exits: a shell shows 130 for both
    assert proc.returncode in (130, -signal.SIGINT) and err.strip() == "error: interrupted", (proc.returncode, err)


# --------------------------------------------------------------------------------- exporting

EXPORTER = textwrap.dedent("""
    import sys
    import numpy as np
    from strike_pose.export import export_shot
    folder, tag = sys.argv[1], sys.argv[2]
    for i in range(25):
        image = np.full((8, 8, 3), i, np.uint8)
        export_shot(folder, "bus-as-plow", image, {"writer": tag, "i": i})
""")


def test_two_processes_exporting_into_one_folder_lose_and_replace_nothing(tmp_path):
    script = tmp_path / "exporter.py"
    script.write_text(EXPORTER)
    shots = tmp_path / "shots"
    procs = [subprocess.Popen([sys.executable, str(script), str(shots), tag], stderr=subprocess.PIPE, text=True)
             for tag in ("a", "b")]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
    sidecars = sorted(shots.glob("*.json"))
    assert len(sidecars) == 50 and len(list(shots.glob("*.png"))) == 50
    assert not [p for p in shots.iterdir() if p.name.startswith(".")], "no temporary file is left"
    seen = set()
    for sidecar in sidecars:
        record = json.loads(sidecar.read_text())
        assert (shots / record["image"]).is_file() and record["image"] == sidecar.stem + ".png"
        seen.add((record["writer"], record["i"]))
    assert len(seen) == 50


def test_an_export_never_replaces_a_file_and_leaves_nothing_half_written(tmp_path, monkeypatch):
    from strike_pose.errors import StrikePoseError
    from strike_pose.export import export_shot, write_png

    (tmp_path / "bus.png").write_bytes(b"precious")
    files = export_shot(tmp_path, "bus", np.zeros((4, 4, 3), np.uint8), {})
    assert Path(files["image"]).name == "bus-2.png" and (tmp_path / "bus.png").read_bytes() == b"precious"

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "link", no_space)
    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(StrikePoseError, match="No space left on device"):
        write_png(tmp_path / "new.png", np.zeros((4, 4, 3), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bus-2.json", "bus-2.png", "bus.png"]


# ------------------------------------------------------------------------------ broken numbers

class Flaky:
    """The real classifier, but every other batch of logits comes back as NaN."""

    def __init__(self, classifier):
        self._real, self._calls = classifier, {}

    def __getattr__(self, name):
        return getattr(self._real, name)

    def _maybe_nan(self, kind, logits):
        self._calls[kind] = self._calls.get(kind, 0) + 1
        return logits * float("nan") if self._calls[kind] % 2 else logits

    def logits(self, batch):
        return self._maybe_nan("opengl", self._real.logits(batch))

    def image_logits(self, images):
        return self._maybe_nan("twin", self._real.image_logits(images))


@pytest.mark.parametrize("method", ["grad", "random", "fd"])
def test_nan_losses_and_gradients_are_rejected_and_the_search_goes_on(method, bus, small_classifier):
    from strike_pose.search import search

    steps = list(search(bus, Flaky(small_classifier), method=method, radius=30, steps=8, seed=0))
    assert len(steps) == 8
    last = steps[-1]
    assert last.rejected > 0
    assert last.lowest is not None and np.isfinite(last.lowest.loss)
    for found in (last.first, last.closest):
        assert found is None or np.all(np.isfinite(found.probs))


# ------------------------------------------------------------------------------ starting light

def test_the_light_commands_do_not_load_the_model_stack():
    code = ("import sys\nfrom strike_pose.cli import main\n"
            "for argv in (['scenes'], ['models'], ['classes', 'bus'], ['--version']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "heavy = [m for m in ('torch', 'moderngl', 'timm', 'torchvision', 'trimesh') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "school_bus" in proc.stdout and "school bus" in proc.stdout


# ------------------------------------------------------------------------------------- faults

def test_no_egl_gives_one_line_with_the_packages_to_install(tmp_path):
    env = {**os.environ, "__EGL_VENDOR_LIBRARY_FILENAMES": str(tmp_path / "no-vendor.json")}  # EGL finds no driver
    out = tmp_path / "x.png"
    proc = subprocess.run([*STRIKE, "render", "--out", str(out)], capture_output=True, text=True, env=env,
                          timeout=180)
    assert proc.returncode == 2
    one_error_line(proc.stderr, "OpenGL", "apt-get install")
    assert not out.exists()


@pytest.mark.parametrize("device, words", [("cuda", "--device cpu"), ("gpu", "unknown device")])
def test_a_device_that_is_not_there_is_one_line(device, words, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["classify", "--device", device]) == 2
    one_error_line(capsys.readouterr().err, words)


def test_running_out_of_gpu_memory_is_one_line(classifier, monkeypatch, capsys):
    import torch

    def out_of_memory(x):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(classifier, "model", out_of_memory)
    from strike_pose.errors import StrikePoseError

    with pytest.raises(StrikePoseError, match="ran out of memory.*--device cpu"):
        classifier.probabilities(np.zeros((224, 224, 3), np.uint8))


# ------------------------------------------------------------------------------- installing

def test_the_project_file_installs_without_setuptools_warnings(tmp_path):
    """The project's metadata, applied by the installed setuptools as `pip install` does, with every
    warning an error: a deprecated form (the license as a table) would print a screenful on install."""
    import tomllib
    import warnings

    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    root = Path(__file__).resolve().parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert isinstance(project["license"], str)  # an SPDX expression (PEP 639) ...
    assert not any(c.startswith("License ::") for c in project.get("classifiers", []))  # ... and no classifier
    cwd = os.getcwd()
    os.chdir(root)  # the configuration's paths (README, packages) are relative to the project folder
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            dist = apply_configuration(Distribution(), root / "pyproject.toml")
    finally:
        os.chdir(cwd)
    assert dist.metadata.license_expression == "MIT"
