"""The window draws a frame only when something shown changed: at rest it passes its loop but draws
only every IDLE_REDRAW seconds, and a change (a pose, a key) is drawn at the next pass. Runs the real
window under Xvfb with a script inside it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from strike_pose.gui.app import IDLE_REDRAW, INPUT_SETTLE
from strike_pose.gui.xvfb import display_environment

pytestmark = pytest.mark.gui

SCRIPT = textwrap.dedent("""
    import json, sys, time
    from dataclasses import replace
    from strike_pose.gui import run_gui
    from strike_pose.models import create_classifier
    from strike_pose.scenes import load_scene

    class Script:
        def __init__(self):
            self.phase, self.since, self.last_drawn = "warm", None, 0
            self.rest, self.moving, self.drawn_at = [], [], []
        def __call__(self, window, now):
            s = window.session
            drew = window.frames_drawn != self.last_drawn
            self.last_drawn = window.frames_drawn
            if self.since is None:
                self.since = now
            if self.phase == "warm":  # the first prediction in, then nothing changes for a while
                if s.prediction is not None and now - self.since > 2.0:
                    self.phase, self.since = "settle", now
            elif self.phase == "settle":
                if now - self.since > 1.0:
                    self.phase, self.since = "rest", now
            elif self.phase == "rest":
                self.rest.append(drew)
                if drew:
                    self.drawn_at.append(now)
                if now - self.since > 2.0:
                    self.phase, self.since = "moving", now
                    s.set_pose(replace(s.pose, yaw=s.pose.yaw + 1.0))
            elif self.phase == "moving":
                self.moving.append(drew)  # the pass after each change
                s.set_pose(replace(s.pose, yaw=s.pose.yaw + 1.0))
                if now - self.since > 1.0:
                    print("RESULT " + json.dumps({"rest": self.rest, "moving": self.moving,
                                                  "drawn_at": self.drawn_at}), flush=True)
                    s.quit_requested = True

    scene = load_scene("school_bus")
    sys.exit(run_gui(scene, create_classifier("efficientnet_lite0"), sys.argv[1], driver=Script()))
""")


def test_the_window_draws_only_what_changed(display, tmp_path):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "shots")], env=display_environment(display),
                          capture_output=True, text=True, timeout=240)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-2000:] + done.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    rest, moving, drawn_at = result["rest"], result["moving"], result["drawn_at"]
    assert len(rest) > 20, "the loop hardly ran"
    # at rest (no input since well over INPUT_SETTLE, nothing new shown) it draws only every IDLE_REDRAW
    assert INPUT_SETTLE < 1.0
    gaps = [b - a for a, b in zip(drawn_at, drawn_at[1:])]
    assert gaps and min(gaps) >= IDLE_REDRAW * 0.95, gaps
    assert sum(rest) < len(rest) / 2, f"drew {sum(rest)} of {len(rest)} passes at rest"
    # every change is drawn at the next pass
    assert moving and all(moving[1:]), f"{moving.count(False)} of {len(moving)} changes were not drawn"
