"""The public Python names: the README's Python section runs as written, and every name is what it should
be whatever was imported or used before it (each order in a fresh interpreter)."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from itertools import permutations
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# One step of using the API: a name read from the package, or a subpackage imported.
STEPS = {
    "render_image": "strike_pose.render_image",
    "render_differentiable": "strike_pose.render_differentiable",
    "create_classifier": "strike_pose.create_classifier",
    "load_scene": "strike_pose.load_scene",
    "export_shot": "strike_pose.export_shot",
    "import search": "import strike_pose.search",
    "import render.diff": "import strike_pose.render.diff",
}
# The names each one must be (module where it is defined, its name), checked after every step.
EXPECTED = {
    "render_image": ("strike_pose.render", "render_image"),
    "render_differentiable": ("strike_pose.render.diff", "render_differentiable"),
    "create_classifier": ("strike_pose.models", "create_classifier"),
    "load_scene": ("strike_pose.scenes", "load_scene"),
    "export_shot": ("strike_pose.export", "export_shot"),
}

# Runs each order of steps given in argv and prints what was wrong. After each step it checks every name
# used so far, and that strike_pose.render and strike_pose.search (where bound) are the subpackages.
# Before each order but the first, every strike_pose module is dropped from sys.modules, so that the
# package is imported afresh (torch and the GL library, which bind no strike_pose name, stay loaded:
# that keeps many orders cheap); test_in_fresh_interpreters runs some orders each in a new process too.
CHECKER = """
import json, sys, types
orders, expected = json.loads(sys.argv[1]), json.loads(sys.argv[2])
problems = []
for n, steps in enumerate(orders):
    if n:
        for module in [m for m in sys.modules if m == "strike_pose" or m.startswith("strike_pose.")]:
            del sys.modules[module]
    import strike_pose
    used = []
    for name, code in steps:
        exec(code if code.startswith("import") else "_ = " + code)
        used.append(name)
        for seen in used:
            if seen in expected:
                value = getattr(strike_pose, seen)
                module, function = expected[seen]
                if not (isinstance(value, types.FunctionType) and value.__name__ == function
                        and value.__module__ == module):
                    problems.append(f"after {used}: strike_pose.{seen} is {value!r}")
        for sub in ("render", "search"):
            value = vars(strike_pose).get(sub)
            if value is not None and not isinstance(value, types.ModuleType):
                problems.append(f"after {used}: strike_pose.{sub} is {value!r}, not the subpackage")
    for sub in ("render", "search", "models"):
        if getattr(strike_pose, sub) is not sys.modules.get("strike_pose." + sub):
            problems.append(f"after {used}: strike_pose.{sub} is {getattr(strike_pose, sub)!r}")
print(json.dumps(problems))
"""

# Importing strike_pose.render.diff (also through strike_pose.search) bound the subpackage over the lazily
# exported picture function. In new processes: all the steps forward and backward, and the orders of the
# README's first lines (the search imported, or the twin used, before the picture function).
FRESH = [list(STEPS), list(reversed(STEPS)), ["import search", "render_image"],
         ["render_differentiable", "render_image"]]
PAIRS = [list(pair) for pair in permutations(STEPS, 2)]  # every 2-step order of every step
SHUFFLED = [random.Random(seed).sample(list(STEPS), len(STEPS)) for seed in range(12)]


def check_orders(orders: list[list[str]]) -> list[str]:
    steps = [[[name, STEPS[name]] for name in order] for order in orders]
    done = run_python(CHECKER, json.dumps(steps), json.dumps(EXPECTED))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def readme_python() -> str:
    """The ```python block under the README's "## Python" heading."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "the README's Python section has no ```python block"
    return blocks[0]


def run_python(code: str, *args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter (the package is installed, so any `cwd` works)."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


def test_the_readme_python_section_up_to_the_search_runs_as_written(tmp_path):
    """Its lines before the search (load, render, classify, export, the twin's gradient): quick."""
    code = readme_python().split("\n# The nearest clear fool", 1)[0]
    assert "strike_pose.render(" not in code, "strike_pose.render is the subpackage; the picture is render_image"
    done = run_python(code + "\nassert poses.grad is not None and poses.grad.shape == (2, 6)\n", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "shots" / "bus-by-hand.png").is_file() and (tmp_path / "shots" / "bus-by-hand.json").is_file()


@pytest.mark.long
def test_the_readme_python_section_runs_as_written(tmp_path):
    """All of it, the two searches too (150 steps: a few minutes on a laptop's CPU); `make test-long`
    (the searches themselves are tested in test_search.py, the lines before them above)."""
    done = run_python(readme_python(), cwd=tmp_path, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "shots" / "bus-by-hand.png").is_file() and (tmp_path / "shots" / "bus-by-hand.json").is_file()


@pytest.mark.parametrize("order", FRESH, ids=[" then ".join(o) for o in FRESH])
def test_in_fresh_interpreters_every_public_name_is_what_it_should_be(order):
    assert check_orders([order]) == []


def test_in_every_two_step_order_and_some_whole_orders_every_public_name_is_what_it_should_be():
    assert check_orders(PAIRS + SHUFFLED) == []


def test_the_package_lists_its_names_and_says_what_is_missing():
    done = run_python("import strike_pose\n"
                      "assert {'render_image', 'render_differentiable', 'render', 'search'} <= set(dir(strike_pose))\n"
                      "assert 'render' not in strike_pose.__all__\n"
                      "try:\n    strike_pose.nothing_here\nexcept AttributeError as e:\n    print(e)\n")
    assert done.returncode == 0, done.stderr
    assert "no attribute 'nothing_here'" in done.stdout
