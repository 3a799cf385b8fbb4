"""Experiments: config validation, a small run of every kind, resume after a killed driver, the Ray
backend (a real head started here) with the same rows as the local one and a killed worker, and the
report in a real headless browser."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from strike_pose.errors import StrikePoseError
from strike_pose.experiments import load_experiment, run_experiment
from strike_pose.experiments.config import parse_experiment

SMALL = """
name = "small"
seed = 3
[[landscape]]
name = "poses"
scenes = ["school_bus"]
poses = 96
[[sensitivity]]
name = "nudges"
scenes = ["school_bus"]
starts = 1
trials = 3
[[attack]]
name = "attacks"
scenes = ["school_bus"]
starts = 1
methods = ["random"]
targets = "frequent:1"
from = "poses"
budget_seconds = 1.0
steps = 3
[[transfer]]
name = "transfer"
source = "poses"
models = ["efficientnet_lite0", "efficientnet_lite2"]
"""


def write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, words", [
    ("[[landscape]]\nname = 'a'\nposes = 'many'", "landscape 'a'.poses must be a whole number"),
    ("[[landscape]]\nname = 'a'\nposez = 3", "unknown field landscape[0].posez"),
    ("[[landscape]]\nname = 'a'\nscenes = ['schoolbus']", "unknown scene 'schoolbus'"),
    ("[[landscape]]\nname = 'a'\nz = [-5, 3]", "in front of the camera"),
    ("[[landscape]]\nname = 'a'\ngrid = {axes = ['yaw', 'x']}", "two of yaw, pitch, roll"),
    ("[[attack]]\nname = 'a'\nmethods = ['gradient']", "unknown method 'gradient'"),
    ("[[attack]]\nname = 'a'\ntargets = 'frequent:3'", "needs from = the name of a [[landscape]]"),
    ("[[attack]]\nname = 'a'\ntargets = ['no such class']", "not an ImageNet class"),
    ("[[transfer]]\nname = 't'\nsource = 'nothing'", "source must name a [[landscape]] or [[attack]]"),
    ("[[landscape]]\nname = 'a'\n[[sensitivity]]\nname = 'a'", "two studies are named 'a'"),
    ("seed = 1", "no study"),
    ("[[landscapes]]\nname = 'a'", "unknown field 'landscapes'"),
    ("[[attack]]\nname = 'a'\nbudget_seconds = 0", "attack 'a'.budget_seconds must be at least 0.1, got 0"),
    ("[[landscape]]\nname = '../up'", "cannot name the folder of its rows"),
])
def test_config_errors_name_the_field(text, words):
    import tomllib

    with pytest.raises(StrikePoseError, match=None) as info:
        parse_experiment(tomllib.loads(text))
    assert words in str(info.value)


def test_bundled_experiments_are_valid():
    for name in ("quick", "paper"):
        experiment = load_experiment(name)
        assert experiment.studies and experiment.sha256


def test_cli_reports_a_bad_config_on_one_line(tmp_path, capsys):
    from strike_pose.cli import main

    bad = write(tmp_path, "[[landscape]]\nname = 'a'\nposes = -1\n")
    assert main(["experiment", str(bad), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "poses must be at least 1" in err and not (tmp_path / "out").exists()


def test_a_bundled_name_is_not_shadowed_by_a_folder_of_that_name(tmp_path, monkeypatch):
    from strike_pose.experiments.config import EXPERIMENTS_DIR, experiment_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "quick").mkdir()  # what `experiment quick --out quick` leaves, before `... --resume`
    assert experiment_path("quick") == EXPERIMENTS_DIR / "quick.toml"
    with pytest.raises(StrikePoseError, match="is a folder"):
        experiment_path("./quick")


def test_ray_missing_is_one_line_before_anything_is_written(tmp_path, monkeypatch, capsys):
    from strike_pose.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as without Ray
    config = write(tmp_path, "[[landscape]]\nname = 'a'\nposes = 8\n")
    assert main(["experiment", str(config), "--out", str(tmp_path / "out"), "--backend", "ray"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "needs Ray" in err and "make cluster" in err, err
    assert not (tmp_path / "out").exists()


def test_an_unreachable_cluster_is_one_line_within_seconds(tmp_path):
    pytest.importorskip("ray")
    with socket.socket() as s:  # a loopback port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = write(tmp_path, "[[landscape]]\nname = 'a'\nposes = 8\n")
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "strike_pose", "experiment", str(config), "--out",
                           str(tmp_path / "out"), "--backend", "ray", "--address", f"127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and time.monotonic() - began < 60, done.stderr[-2000:]
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr[-2000:]
    assert f"127.0.0.1:{port}" in done.stderr and not (tmp_path / "out").exists()


def test_an_interrupted_run_says_how_to_resume(tmp_path, monkeypatch, capsys):
    import strike_pose.experiments.backends as backends
    from strike_pose.cli import main

    def interrupted(items, workers=None):
        raise KeyboardInterrupt
        yield

    monkeypatch.setattr(backends, "run_local", interrupted)
    config = write(tmp_path, "[[landscape]]\nname = 'a'\nposes = 8\n")
    out = tmp_path / "out"
    assert main(["experiment", str(config), "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"experiment {config} --out {out} --resume" in err, err


def test_scene_files_keep_every_key_a_plain_file_name(tmp_path, monkeypatch):
    from strike_pose.experiments.plan import plan

    scene = tmp_path / "box.toml"
    scene.write_text((Path(__file__).resolve().parent.parent / "scenes" / "school_bus.toml").read_text())
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "box.toml").write_text(scene.read_text())
    monkeypatch.chdir(tmp_path)
    scenes = f"scenes = ['{scene}', 'sub/box.toml', 'school_bus']"
    experiment = parse_experiment(__import__("tomllib").loads(
        f"[[landscape]]\nname = 'l'\nposes = 8\n{scenes}\n[[sensitivity]]\nname = 's'\nstarts = 1\n{scenes}\n"
        f"[[attack]]\nname = 'a'\nstarts = 1\nmethods = ['random']\n{scenes}\n"))
    for study in experiment.studies:
        keys = [item.key for item in plan(experiment, study, lambda name: [])]
        assert keys and all(Path(k).name == k and "/" not in k for k in keys), keys
        assert len({k.split("-")[0] for k in keys}) == 3 and len(set(keys)) == len(keys)  # one name per scene
    assert any(k.startswith("school_bus-") for k in keys)  # a bundled scene's keys are as before


def test_scenes_given_as_paths_are_stored_summarised_and_reported(tmp_path, monkeypatch):
    from strike_pose.experiments.store import ResultStore

    bus = (Path(__file__).resolve().parent.parent / "scenes" / "school_bus.toml").read_text()
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "sub").mkdir(parents=True)
    (elsewhere / "box.toml").write_text(bus)
    (elsewhere / "sub" / "box.toml").write_text(bus)
    monkeypatch.chdir(elsewhere)
    config = write(tmp_path, f"name = 'p'\n[[landscape]]\nname = 'poses'\nposes = 8\n"
                             f"scenes = ['{elsewhere / 'box.toml'}', 'sub/box.toml']\n")
    out = tmp_path / "out"
    summary = run_experiment(config, out, progress=False)
    files = sorted(p for p in tmp_path.rglob("*.parquet"))
    assert files and all(p.parent == out / "rows" / "poses" for p in files), files
    assert len(ResultStore(out).rows("poses")) == 16 and summary["studies"][0]["rows"] == 16
    table = summary["studies"][0]["table"]
    assert sorted(r["scene"] for r in table) == sorted([str(elsewhere / "box.toml"), "sub/box.toml"])
    assert all(r["poses"] == 8 for r in table)
    report = (out / "report.html").read_text()
    assert str(elsewhere / "box.toml") in report and "sub/box.toml" in report
    assert len(list((out / "plots").glob("poses-*-maps.png"))) == 2
    assert not list(elsewhere.rglob("*.parquet")) and not list(elsewhere.rglob("*.png"))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small")
    config = write(folder, SMALL)
    summary = run_experiment(config, folder / "out", progress=False)
    return config, folder / "out", summary


def test_every_kind_gives_rows_a_summary_and_a_report(small_run):
    _, out, summary = small_run
    kinds = {s["kind"]: s for s in summary["studies"]}
    assert kinds["landscape"]["rows"] == 96
    landscape = kinds["landscape"]["table"][0]
    assert 0 <= landscape["ci95"][0] <= landscape["misclassified"] <= landscape["ci95"][1] <= 1
    assert kinds["sensitivity"]["rows"] == 6 * 3
    assert all("median_bisected_flip" in r for r in kinds["sensitivity"]["table"])
    assert kinds["attack"]["rows"] == 1 and kinds["attack"]["targets"][0]["index"] != 779
    transfer = kinds["transfer"]["table"]
    assert transfer and all(r["source_model"] != r["model"] for r in transfer)
    assert (out / "report.html").is_file() and json.loads((out / "summary.json").read_text())["experiment"] == "small"
    assert list((out / "plots").glob("*.png")) and list((out / "shots").glob("*.png"))


def test_resume_recomputes_nothing_and_a_new_run_refuses_the_folder(small_run):
    config, out, _ = small_run
    parts = sorted((out / "rows").rglob("*.parquet"))
    before = {p: p.stat().st_mtime_ns for p in parts}
    run_experiment(config, out, resume=True, progress=False)
    assert {p: p.stat().st_mtime_ns for p in sorted((out / "rows").rglob("*.parquet"))} == before
    with pytest.raises(StrikePoseError, match="--resume"):
        run_experiment(config, out, progress=False)


def test_a_killed_driver_resumes_without_losing_or_repeating_rows(tmp_path):
    config = write(tmp_path, "name = 'k'\n[[landscape]]\nname = 'poses'\nscenes = ['school_bus']\nposes = 640\n")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "strike_pose", "experiment", str(config), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list((out / "rows").rglob("*.parquet"))) < 3:
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = {p: p.stat().st_mtime_ns for p in (out / "rows").rglob("*.parquet")}
    assert 3 <= len(kept) < 10 and not list(out.rglob("*.tmp"))
    summary = run_experiment(config, out, resume=True, progress=False)
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())
    from strike_pose.experiments.store import ResultStore

    rows = ResultStore(out).rows("poses")
    assert len(rows) == 640 and sorted(r["index"] for r in rows) == list(range(640))
    assert summary["studies"][0]["rows"] == 640


def _sensitivity_item(seed: int, trials: int, protocol: str = "centre"):
    """One start's item; the seeds of the tests below were chosen for their starts under the paper's bounds."""
    import tomllib

    from strike_pose.experiments.plan import plan

    experiment = parse_experiment(tomllib.loads(
        f"seed = {seed}\n[[sensitivity]]\nname = 's'\nscenes = ['school_bus']\nstarts = 1\ntrials = {trials}\n"
        f"protocol = '{protocol}'\n"))
    return plan(experiment, experiment.studies[0], lambda name: [])[0]


def _start_and_signs(rows: list[dict]):
    """The start pose (every parameter's start_value) and, per parameter, the row carrying the bisected
    flip with the sign of its resample's change."""
    from strike_pose.rotations import POSE_AXES, wrap_degrees

    start = [next(r["start_value"] for r in rows if r["parameter"] == a) for a in POSE_AXES]
    carriers = {}
    for r in rows:
        if r["bisected_flip"] is not None:
            assert r["parameter"] not in carriers, "two rows carry one parameter's bisected flip"
            delta = r["value"] - r["start_value"]
            change = wrap_degrees(delta) if r["parameter"] in POSE_AXES[:3] else delta
            carriers[r["parameter"]] = (r, 1.0 if change > 0 else -1.0)
    return start, carriers


def test_sensitivity_bisection_finds_a_known_boundary_to_its_step_in_few_batched_rounds():
    """A stand-in classifier with known boundaries (no renders): the bisected flip is the first point one
    step past the nearer boundary, for an angle across the wrap, a translation and either side."""
    import numpy as np

    from strike_pose.experiments.kinds import sensitivity
    from strike_pose.experiments.kinds.sensitivity import SPAN_STEPS
    from strike_pose.experiments.work import Worker
    from strike_pose.render.transforms import frustum_half_extent
    from strike_pose.rotations import wrap_degrees

    item = _sensitivity_item(seed=10, trials=30)  # the start's yaw is 158.5: its boundary at +37.3 lies past 180
    worker = Worker()
    scene = worker.scene("school_bus")
    true = scene.true_class
    calls, start = [], []

    def classify(scene_, model, poses):
        poses = np.asarray(poses, float)
        assert np.all((poses[:, :3] >= -180) & (poses[:, :3] < 180)), "angles are wrapped"
        if not start:
            start.append(poses[0].copy())
        d = poses - start[0]
        yaw = wrap_degrees(d[:, 0])
        flipped = ((yaw > 37.3) & (yaw < 120)) | (yaw < -61.7) | (d[:, 3] > 0.2) | (d[:, 5] < -0.9)
        calls.append(len(poses))
        probs = np.full((len(poses), 1000), 1e-4)
        probs[np.arange(len(poses)), np.where(flipped, (true + 1) % 1000, true)] = 0.9
        return probs

    worker.classify = classify
    rows = sensitivity.work(worker, item)
    assert len(rows) == 6 * 30 and calls[0] == 1 and calls[1] == 6 * 30  # the start, then every resample
    rounds = calls[2:]
    assert 0 < len(rounds) <= 10 and all(n <= 12 for n in rounds), rounds
    first, carriers = _start_and_signs(rows)
    assert first == [float(v) for v in start[0]] and first[0] + 37.3 > 180
    tx, _ = frustum_half_extent(scene.camera.fov_y)
    expected = {"yaw": (37.3, 1.0, 0.5), "x": (0.2, 1.0, 2 * 0.8 * -first[5] * tx / SPAN_STEPS),
                "z": (0.9, -1.0, (item.payload["z"][1] - item.payload["z"][0]) / SPAN_STEPS)}
    assert set(carriers) == set(expected)  # pitch, roll and y never flip: no row carries a bisected flip
    for parameter, (boundary, sign, step) in expected.items():
        row, got_sign = carriers[parameter]
        assert got_sign == sign and row["flipped"] and row["bisection_step"] == pytest.approx(step)
        assert boundary <= row["bisected_flip"] < boundary + step + 1e-9, (parameter, row["bisected_flip"])
        assert row["bisected_flip"] <= min(r["change"] for r in rows if r["parameter"] == parameter and r["flipped"])


def test_sensitivity_bisected_flips_are_boundaries_of_the_real_classifier():
    """Real renders and model: per parameter that flipped, one row carries the bisected flip, never above
    the sampled smallest flip; the pose there is misclassified and the pose one step nearer the start is
    classified correctly, each rendered and classified alone."""
    import numpy as np

    from strike_pose.experiments.kinds.sensitivity import ANGLE_STEP, summarise
    from strike_pose.experiments.work import Worker
    from strike_pose.rotations import POSE_AXES
    from strike_pose.rotations import wrap_degrees

    item = _sensitivity_item(seed=2, trials=20)  # on this seed yaw, pitch, roll and y flip
    worker = Worker()
    rows = worker.run(item)
    assert len(rows) == 6 * 20
    start, carriers = _start_and_signs(rows)
    flipped = {r["parameter"] for r in rows if r["flipped"]}
    assert set(carriers) == flipped and flipped & {"yaw", "pitch", "roll"}, flipped
    scene = worker.scene("school_bus")
    for parameter, (row, sign) in carriers.items():
        k = POSE_AXES.index(parameter)
        sampled = min(r["change"] for r in rows if r["parameter"] == parameter and r["flipped"])
        step = row["bisection_step"]
        assert 0 < row["bisected_flip"] <= sampled and (step == ANGLE_STEP if k < 3 else 0 < step < 0.1), row

        def verdict(distance):
            pose = np.array(start)
            pose[k] = start[k] + sign * distance
            if k < 3:
                pose[k] = wrap_degrees(pose[k])
            return int(np.argmax(worker.classify(scene, item.payload["model"], [pose])[0])) == scene.true_class

        assert not verdict(row["bisected_flip"]), (parameter, row["bisected_flip"])
        assert verdict(max(0.0, row["bisected_flip"] - step)), (parameter, row["bisected_flip"], step)
    table = {r["parameter"]: r for r in summarise(rows, str)["table"]}
    for parameter in flipped:  # one start: the medians are that start's sampled and bisected flips
        assert table[parameter]["median_bisected_flip"] == carriers[parameter][0]["bisected_flip"]
        assert table[parameter]["median_bisected_flip"] <= table[parameter]["median_smallest_flip"]


def test_sensitivity_summary_and_report_read_rows_written_before_the_bisected_flip(tmp_path):
    """Item files with and without the bisected columns (and one where every value of them is None) in one
    study: the summary and the report's table read them all."""
    from strike_pose.experiments.kinds.sensitivity import PAPER, report, summarise
    from strike_pose.experiments.store import ResultStore
    from strike_pose.experiments.work import Item

    def rows(start, flips, bisected=None, columns=True):
        out = []
        for i, change in enumerate([5.0, 20.0, 40.0]):
            r = {"study": "s", "item": f"i{start}", "scene": "school_bus", "model": "m", "start": start,
                 "parameter": "pitch", "start_value": 0.0, "value": change, "change": change, "true_prob": 0.5,
                 "top1": 1, "flipped": change in flips}
            if columns:
                r |= {"bisected_flip": bisected if i == 1 else None, "bisection_step": 0.5 if i == 1 else None}
            out.append(r)
        return out

    store = ResultStore(tmp_path)
    for start, written in enumerate([rows(0, {20.0}, columns=False), rows(1, {20.0, 40.0}, bisected=12.5),
                                     rows(2, set(), columns=True)]):
        store.write(Item("s", "sensitivity", f"i{start}"), written)
    read = store.rows("s")
    assert len(read) == 9 and store.table("s").num_rows == 9
    (entry,) = summarise(read, str)["table"]
    assert entry["starts"] == 3 and entry["median_smallest_flip"] == 20.0 and entry["median_bisected_flip"] == 12.5
    (old,) = summarise(rows(0, {20.0}, columns=False), str)["table"]
    assert old["median_smallest_flip"] == 20.0 and old["median_bisected_flip"] is None
    (tmp_path / "plots").mkdir()
    html = report(tmp_path, types.SimpleNamespace(name="s", protocol="whole"), read,
                  {"paper": PAPER, "table": [entry, {**old, "parameter": "roll"}]})
    assert "median smallest flip, bisected" in html and "12.5" in html and "81% / 9.2" in html


# ------------------------------------------------------------------------------------------- Ray

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


HEADS: dict[str, int] = {}


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A real Ray head on this machine (`ray start --head --block`), stopped by stopping that command:
    `ray stop` would also stop every other Ray instance running here."""
    ray_cli = Path(sys.executable).parent / "ray"
    if not ray_cli.is_file():
        pytest.skip("ray is not installed (pip install ray)")
    port = _free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    log = open(tmp_path_factory.mktemp("ray") / "head.log", "w+")
    head = subprocess.Popen([str(ray_cli), "start", "--head", f"--port={port}", "--num-cpus=2",
                             "--include-dashboard=false", "--disable-usage-stats", "--block"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:  # the head is up once its GCS port accepts connections
            assert head.poll() is None, log.seek(0) or log.read()
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "the Ray head did not start within 180 s"
            time.sleep(0.5)
        address = f"127.0.0.1:{port}"
        HEADS[address] = head.pid  # the processes it starts are the only ones a test may kill
        yield address
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # --block stops the head's processes on SIGTERM
        try:  # a graceful stop can take half a minute; the whole group (the head's own session) is ours
            head.wait(timeout=8)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        log.close()


RAY_CONFIG = "name = 'r'\nseed = 5\n[[landscape]]\nname = 'poses'\nscenes = ['school_bus']\nposes = 192\n"


def run_on_ray(config: Path, out: Path, address: str, workers: int = 2) -> subprocess.Popen:
    """The experiment on the Ray cluster, driven by the CLI in its own process (as a user runs it):
    Ray's threads and libraries stay out of this test process, which renders with OpenGL."""
    return subprocess.Popen([sys.executable, "-m", "strike_pose", "experiment", str(config), "--out", str(out),
                             "--backend", "ray", "--address", address, "--workers", str(workers)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_ray_cluster_gives_the_same_rows_as_the_local_backend(tmp_path, ray_head):
    from strike_pose.experiments.store import ResultStore

    config = write(tmp_path, RAY_CONFIG)
    driver = run_on_ray(config, tmp_path / "ray", ray_head, workers=3)  # more workers than the head's 2 CPUs
    run_experiment(config, tmp_path / "local", progress=False)
    out, err = driver.communicate(timeout=600)
    assert driver.returncode == 0, err[-3000:]
    local, remote = ResultStore(tmp_path / "local").rows("poses"), ResultStore(tmp_path / "ray").rows("poses")
    assert len(local) == len(remote) == 192
    for a, b in zip(local, remote):
        assert {k: a[k] for k in ("index", "yaw", "pitch", "roll", "x", "y", "z", "top1")} == \
               {k: b[k] for k in ("index", "yaw", "pitch", "roll", "x", "y", "z", "top1")}
        assert abs(a["true_prob"] - b["true_prob"]) < 1e-3


def test_a_killed_ray_worker_is_replaced_and_its_item_run_again(tmp_path, ray_head):
    from strike_pose.experiments.store import ResultStore

    config = write(tmp_path, RAY_CONFIG.replace("192", "640"))
    out = tmp_path / "out"
    driver = run_on_ray(config, out, ray_head)
    deadline = time.monotonic() + 240
    while len(list((out / "rows").rglob("*.parquet"))) < 2:
        assert time.monotonic() < deadline and driver.poll() is None, driver.communicate()[1][-3000:]
        time.sleep(0.1)
    killed = _kill_one_worker(HEADS[ray_head])
    _, err = driver.communicate(timeout=600)
    assert killed and driver.returncode == 0, err[-3000:]
    rows = ResultStore(out).rows("poses")
    assert sorted(r["index"] for r in rows) == list(range(640))


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])  # the parent
        except (OSError, IndexError, ValueError):
            return False
    return False


def _kill_one_worker(head: int) -> bool:
    """SIGKILL one Ray actor process running our Worker (found by its process title) started by the head
    process `head`: never a process of another Ray instance on this machine."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if cmdline.startswith("ray::Worker") and _descends_from(int(pid), head):
            os.kill(int(pid), signal.SIGKILL)
            return True
    return False


# --------------------------------------------------------------------------------------- report

@pytest.mark.parametrize("study", ["grid = {axes = ['yaw', 'pitch'], steps = 16}", "poses = 256"])
def test_the_landscape_maps_fill_their_cells_and_keep_their_labels_apart(study):
    import tomllib

    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from strike_pose.experiments.kinds.landscape import _maps, landscape_poses
    from strike_pose.rotations import POSE_AXES

    experiment = parse_experiment(tomllib.loads(f"[[landscape]]\nname = 'l'\n{study}\n"))
    landscape = experiment.studies[0]
    poses = landscape_poses(experiment, landscape, "school_bus")
    rows = [{**dict(zip(POSE_AXES, map(float, pose))), "true_prob": 0.5} for pose in poses]
    fig = _maps(plt, rows, "school_bus", landscape.grid_axes)
    panels = [ax for ax in fig.axes if ax.get_xlabel().endswith("(deg)")]
    cells = [np.ma.filled((ax.collections or ax.images)[0].get_array(), np.nan).ravel().astype(float)
             for ax in panels]
    if landscape.grid_axes:  # one map over the grid's own two angles, one cell per grid point, none empty
        assert len(panels) == 1 and cells[0].size == 16 * 16 and not np.isnan(cells[0]).any()
    else:  # random poses: bins wide enough that few are empty
        assert len(panels) == 2 and all(np.isnan(c).mean() < 0.15 for c in cells), [np.isnan(c).mean() for c in cells]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for left, right in zip(panels, panels[1:]):
        assert not right.yaxis.label.get_window_extent(renderer).overlaps(left.get_tightbbox(renderer))
    plt.close(fig)


def test_the_report_renders_with_its_images_in_a_headless_browser(small_run, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    _, out, _ = small_run
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000"]
    url = (out / "report.html").resolve().as_uri()
    dom = subprocess.run([browser, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    marker = dom.stdout.split('data-images="', 1)[1].split('"', 1)[0]
    loaded, total = map(int, marker.split("/"))
    assert total >= 4 and loaded == total, marker
    shot = out / "report-screenshot.png"
    done = subprocess.run([browser, *flags, "--window-size=1200,1600", f"--screenshot={shot}", url],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and shot.stat().st_size > 10_000


# ------------------------------------------------------------------------------ kinds and protocol

def test_a_new_kind_is_one_module(tmp_path, monkeypatch):
    """A kind registered here (as a module of strike_pose/experiments/kinds/ registers its own) is read
    from the file, planned, worked, summarised, reported and printed, with nothing else changed."""
    from dataclasses import dataclass

    from strike_pose.cli import main
    from strike_pose.fields import integer
    from strike_pose.experiments.registry import KINDS, StudyKind
    from strike_pose.experiments.work import Item

    @dataclass(frozen=True)
    class Settings:
        repeats: int = 1

    def plan(experiment, study, rows_of):
        return [Item(study.name, "census", f"{scene}-{i}", {"scene": scene, "i": i})
                for scene in study.scenes for i in range(study.repeats)]

    def work(worker, item):
        return [{"scene": item.payload["scene"], "i": item.payload["i"],
                 "true_class": worker.scene(item.payload["scene"]).true_class}]

    def summarise(rows, label_of):
        return {"table": [{"scene": s, "items": sum(r["scene"] == s for r in rows)}
                          for s in sorted({r["scene"] for r in rows})]}

    kind = StudyKind("census", phase=0, fields=frozenset({"repeats"}),
                     parse=lambda table, where: Settings(integer(table.get("repeats", 1), f"{where}.repeats", 1)),
                     plan=plan, work=work, summarise=summarise, paper="nothing to compare",
                     report=lambda root, study, rows, entry: f"<p>census of {len(rows)} items</p>")
    monkeypatch.setitem(KINDS, "census", kind)
    with pytest.raises(StrikePoseError, match="census 'c'.repeats must be at least 1"):
        parse_experiment({"census": [{"name": "c", "repeats": 0}]})
    config = write(tmp_path, "name = 'n'\n[[census]]\nname = 'c'\n"
                             "scenes = ['school_bus', 'traffic_light']\nrepeats = 2\n")
    assert main(["experiment", str(config), "--out", str(tmp_path / "out")]) == 0
    (entry,) = json.loads((tmp_path / "out" / "summary.json").read_text())["studies"]
    assert entry["kind"] == "census" and entry["rows"] == 4 and entry["paper"] == "nothing to compare"
    assert entry["table"] == [{"scene": "school_bus", "items": 2}, {"scene": "traffic_light", "items": 2}]
    assert "census of 4 items" in (tmp_path / "out" / "report.html").read_text()


def _landscape_experiment(protocol: str, poses: int = 200, z: str = "[-20.0, -5.0]"):
    import tomllib

    return parse_experiment(tomllib.loads(f"[[landscape]]\nname = 'l'\nposes = {poses}\nz = {z}\n"
                                          + (f"protocol = '{protocol}'\n" if protocol else "")))


def test_landscape_poses_show_the_whole_object_unless_the_paper_s_bounds_are_asked_for():
    import numpy as np

    from strike_pose.experiments.kinds.landscape import landscape_poses
    from strike_pose.experiments.protocol import shows_whole
    from strike_pose.scenes import load_scene

    bus = load_scene("school_bus")
    default, whole, centre = (_landscape_experiment(p) for p in ("", "whole", "centre"))
    assert default.studies[0].protocol == "whole"
    kept = landscape_poses(whole, whole.studies[0], "school_bus")
    drawn = landscape_poses(centre, centre.studies[0], "school_bus")
    assert kept.shape == drawn.shape == (200, 6)
    assert all(shows_whole(bus, pose) for pose in kept)
    cut = sum(not shows_whole(bus, pose) for pose in drawn)
    assert 0.3 * 200 < cut < 0.9 * 200, cut  # the paper's bounds often cut the bus off
    assert np.array_equal(kept, landscape_poses(whole, whole.studies[0], "school_bus"))  # the same every run
    whole_of_drawn = [pose for pose in drawn if shows_whole(bus, pose)]  # the same draws, the cut-off ones left out
    assert np.array_equal(kept[:len(whole_of_drawn)], whole_of_drawn)


def test_an_unknown_protocol_is_refused_naming_the_field():
    import tomllib

    for kind in ("landscape", "sensitivity", "attack"):
        with pytest.raises(StrikePoseError, match=f"{kind} 'a'.protocol must be \"whole\" .* or \"centre\""):
            parse_experiment(tomllib.loads(f"[[{kind}]]\nname = 'a'\nprotocol = 'center'\n"))
    with pytest.raises(StrikePoseError, match="unknown field transfer"):
        parse_experiment(tomllib.loads("[[landscape]]\nname = 'l'\n[[transfer]]\nname = 't'\nsource = 'l'\n"
                                       "protocol = 'whole'\n"))


def test_bounds_that_cannot_hold_the_whole_object_are_refused_before_anything_is_written(tmp_path, capsys):
    from strike_pose.cli import main

    config = write(tmp_path, "[[landscape]]\nname = 'near'\nposes = 8\nz = [-1.5, -1.0]\n")
    assert main(["experiment", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "show the whole object" in err and "protocol = \"centre\"" in err, err
    assert "landscape 'near'" in err and "z = [-1.5, -1.0]" in err and not (tmp_path / "out").exists()


def test_attack_starts_follow_the_protocol():
    import tomllib

    from strike_pose.experiments.plan import plan
    from strike_pose.experiments.protocol import shows_whole
    from strike_pose.scenes import load_scene

    bus = load_scene("school_bus")
    for protocol in ("whole", "centre"):
        experiment = parse_experiment(tomllib.loads(f"[[attack]]\nname = 'a'\nstarts = 12\nmethods = ['random']\n"
                                                    f"protocol = '{protocol}'\n"))
        items = plan(experiment, experiment.studies[0], lambda name: [])
        assert len(items) == 12 and all(i.payload["protocol"] == protocol for i in items)
        whole = [shows_whole(bus, i.payload["start"]) for i in items]
        assert all(whole) if protocol == "whole" else not all(whole)


def test_every_summary_table_and_report_section_says_its_protocol(small_run):
    _, out, summary = small_run
    for study in summary["studies"]:
        assert study["protocol"] == "whole", study["name"]  # the transfer's is its source's
        assert study["table"] and all(r["protocol"] == "whole" for r in study["table"]), study["name"]
    report = (out / "report.html").read_text()
    assert report.count("Poses: the whole object in view (protocol = &quot;whole&quot;)") == len(summary["studies"])


def test_a_transfer_study_reads_the_fooling_poses_only_with_the_models_it_lists():
    """models = ["detector:yolov3_tiny"] over a landscape of two classifiers: every item is the
    detector's (the classifiers were not asked to re-classify each other's poses)."""
    import tomllib

    from strike_pose.experiments.plan import plan

    experiment = parse_experiment(tomllib.loads(
        "[[landscape]]\nname = 'poses'\nmodels = ['efficientnet_lite0', 'efficientnet_lite2']\n"
        "[[transfer]]\nname = 'detector'\nsource = 'poses'\nmodels = ['detector:yolov3_tiny']\n"))
    rows = [{"item": "a", "index": i, "scene": "school_bus", "light": "scene", "model": model, "top1": 555,
             "top1_prob": 0.9, "correct": False, "yaw": 0.0, "pitch": 0.0, "roll": 0.0, "x": 0.0, "y": 0.0, "z": -8.0}
            for i in range(3) for model in ("efficientnet_lite0", "efficientnet_lite2")]
    items = plan(experiment, experiment.study("detector"), lambda name: rows)
    assert items and {i.payload["model"] for i in items} == {"detector:yolov3_tiny"}
    assert sum(len(i.payload["sources"]) for i in items) == 6


def test_the_printed_summary_says_why_a_figure_has_no_value(tmp_path, monkeypatch, capsys):
    """A parameter no start flipped has no smallest flip: the summary says so rather than printing None."""
    import strike_pose.experiments as experiments
    from strike_pose.cli import main

    summary = {"experiment": "x", "files": {"report": "r.html", "summary": "s.json"}, "studies": [
        {"name": "nudges", "kind": "sensitivity", "rows": 16, "table": [
            {"scene": "school_bus", "model": "efficientnet_lite0", "parameter": "z", "starts": 4,
             "failure_rate": 0.0, "median_smallest_flip": None, "median_bisected_flip": None},
            {"scene": "school_bus", "model": "efficientnet_lite0", "parameter": "yaw", "starts": 4,
             "failure_rate": 0.5, "median_smallest_flip": 12.5, "median_bisected_flip": 10.0}]}]}
    monkeypatch.setattr(experiments, "run_experiment", lambda *a, **k: summary)
    assert main(["experiment", "quick", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "None" not in out, out
    assert "median_smallest_flip none (no start's resamples of it flipped the label)" in out, out
    assert "median_smallest_flip 12.5" in out
