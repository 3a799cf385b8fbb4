"""The wheel that `pip install .` builds works on its own, away from the checkout.

The wheel is built from a copy of the project (a build writes build/ into the tree it builds), and
installed without its dependencies into a fresh virtual environment in a temporary folder. The
dependencies come from the environment that runs the tests: its site-packages is put on the new
environment's path as a plain entry, so its .pth files, the editable install of a checkout among
them, are not read. Every command then runs from another temporary folder, without PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "out", "build", "dist", "__pycache__", "*.egg-info",
                                     ".pytest_cache")
DATA = ("strike_pose/render/shaders/mesh.vert", "strike_pose/render/shaders/mesh.frag",
        "strike_pose/scenes/school_bus.toml", "strike_pose/experiments/configs/quick.toml")


def _check(cmd: list, **kwargs) -> str:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=NOT_SOURCES)
    _check([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp / "dist", src],
           cwd=src)
    (found,) = (tmp / "dist").glob("strike_pose-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """(the strike-pose command of a fresh environment holding the wheel, a folder to run it in, its env)"""
    tmp = tmp_path_factory.mktemp("installed")
    env_dir = tmp / "env"
    _check([sys.executable, "-m", "venv", "--without-pip", env_dir])
    python = env_dir / "bin" / "python"
    site = Path(_check([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (site / "dependencies.pth").write_text("".join(f"{path}\n" for path in ours))
    _check([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    assert ROOT not in elsewhere.parents and ROOT not in env_dir.parents
    package = Path(_check([python, "-c", "import strike_pose; print(strike_pose.__file__)"], cwd=elsewhere,
                          env=env).strip())
    assert env_dir in package.parents, f"strike_pose came from {package}, not from the installed wheel"
    return env_dir / "bin" / "strike-pose", elsewhere, env


def test_the_wheel_holds_the_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(DATA) <= names, f"missing from the wheel: {sorted(set(DATA) - names)}"


def test_installed_wheel_runs_the_main_job_and_a_search(installed):
    command, cwd, env = installed
    listed = _check([command, "scenes"], cwd=cwd, env=env)
    assert all(name in listed for name in ("school_bus", "soccer_ball", "traffic_light")), listed

    out = _check([command, "run", "--headless"], cwd=cwd, env=env)
    assert "true class 'school bus'" in out, out
    assert (cwd / "out" / "school_bus-as-school_bus.png").is_file()

    done = subprocess.run([str(command), "search", "--scene", "school_bus", "--steps", "3", "--budget-seconds", "20",
                           "--json", "--out", "shots"], capture_output=True, text=True, cwd=cwd, env=env)
    assert done.returncode in (0, 1), done.stderr  # 0: fooled, 1: not fooled in 3 steps
    result = json.loads(done.stdout)
    assert result["success"] == (done.returncode == 0), result
    if result["success"]:
        sidecar = json.loads((cwd / result["files"]["json"]).read_text())
        assert command.parent.parent in Path(sidecar["scene"]["path"]).parents, sidecar["scene"]


def test_installed_wheel_finds_its_experiment_configs(installed):
    command, cwd, env = installed
    done = subprocess.run([str(command), "experiment", "no_such_config", "--out", "x"], capture_output=True,
                          text=True, cwd=cwd, env=env)
    assert done.returncode == 2 and "quick" in done.stderr, done.stderr  # the bundled names are listed
    assert not (cwd / "x").exists()


@pytest.mark.long
def test_installed_wheel_runs_experiment_quick(installed):
    command, cwd, env = installed
    _check([command, "experiment", "quick", "--out", "quick"], cwd=cwd, env=env)
    assert (cwd / "quick" / "report.html").is_file() and (cwd / "quick" / "summary.json").is_file()
