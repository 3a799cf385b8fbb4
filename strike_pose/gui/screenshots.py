"""Screenshots of the visualizer for the README: idle, the detector mode, what the model sees (with the
help), during Optimize, after success, Grad-CAM.

    python -m strike_pose.gui.screenshots OUTDIR [--scene school_bus] [--model efficientnet_lite0]

Runs the real window (real GL, real model) on its own Xvfb display, driven by a script that runs
inside the window's frame loop, and saves the window as the user sees it. Captures taken on the way
go to OUTDIR/captures. Exit code 0 when every screenshot was taken and the search succeeded.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

SHOTS = ("idle", "detector", "model-view", "optimizing", "success", "gradcam")
DOCS_SHOTS = ("idle", "detector", "optimizing", "success")  # the README's copies (make screenshots)


class ScreenshotScript:
    """Runs once a frame inside the window: waits for each state, then saves the window."""

    def __init__(self, out_dir: Path, time_limit: float = 240.0):
        self.out_dir = out_dir
        self.phase = "idle"
        self.since = time.perf_counter()
        self.deadline = self.since + time_limit
        self.saved: list[str] = []
        self.failed: str | None = None

    def _save(self, window, name: str) -> None:
        path = self.out_dir / f"{name}.png"
        Image.fromarray(window.read_window()).save(path)
        self.saved.append(str(path))
        print(f"saved {path}", flush=True)

    def _next(self, phase: str, now: float) -> None:
        self.phase, self.since = phase, now

    def _live_prediction_ready(self, session, now: float, settle: float) -> bool:
        prediction = session.prediction
        return (prediction is not None and prediction.source == "live" and prediction.frame_id == session.frame_id
                and now - self.since > settle)

    def __call__(self, window, now: float) -> None:
        session = window.session
        if now > self.deadline:
            self.failed = f"timed out in phase {self.phase!r}"
            session.quit_requested = True
            return
        if self.phase == "idle" and self._live_prediction_ready(session, now, 2.0):
            self._save(window, "idle")
            session.set_detector(True)
            self._next("detector", now)
        elif self.phase == "detector":  # its boxes of this very view, with the smooth display and a live prediction
            result = session.detection.result
            ready = result is not None and result.frame_id == session.frame_id
            if session.detection.error is not None:
                print(f"no detector screenshot: {session.detection.error}", flush=True)
            elif not (ready and self._live_prediction_ready(session, now, 1.5)):
                return
            else:
                self._save(window, "detector")
            session.set_detector(False)
            session.set_view(model_view=True, help=True)
            self._next("model_view", now)
        elif self.phase == "model_view" and now - self.since > 1.0:
            self._save(window, "model-view")  # what the model sees, and the key table
            session.set_view(model_view=False, help=False)
            session.optimizer.settings.steps = 40  # the screenshots need a search that ends, not its best pose
            session.optimizer.begin()
            self._next("optimizing", now)
        elif self.phase == "optimizing":
            step = session.optimizer.step
            found = step is not None and step.closest is not None
            if session.searching and step is not None and (found and step.index >= 15 or step.index >= 60):
                self._save(window, "optimizing")
                self._next("wait_end", now)
            elif not session.searching and now - self.since > 1.0:
                self._next("wait_end", now)
        elif self.phase == "wait_end" and not session.searching and not session.optimizer.runner.busy:
            if not (session.optimizer.result is not None and session.optimizer.result.success):
                self.failed = f"the search did not succeed: {session.status}"
                self._save(window, "failed")
                session.quit_requested = True
                return
            self._next("success", now)
        elif self.phase == "success" and self._live_prediction_ready(session, now, 1.0):
            self._save(window, "success")
            session.set_view(gradcam=True)
            self._next("gradcam", now)
        elif self.phase == "gradcam":
            prediction = session.prediction
            if prediction is not None and prediction.heatmap is not None and now - self.since > 1.0:
                self._save(window, "gradcam")
                self._next("done", now)
                session.quit_requested = True


def run_child(args: argparse.Namespace) -> int:
    from strike_pose.gui import run_gui
    from strike_pose.models import create_classifier
    from strike_pose.scenes import load_scene

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scene = load_scene(args.scene)
    classifier = create_classifier(args.model)
    script = ScreenshotScript(out_dir)
    rc = run_gui(scene, classifier, out_dir / "captures", model_name=args.model, driver=script,
                 size=(args.width, args.height))
    if script.failed:
        print(f"error: {script.failed}", file=sys.stderr)
        return 1
    return rc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m strike_pose.gui.screenshots", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", metavar="OUTDIR")
    parser.add_argument("--scene", default="school_bus")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--width", type=int, default=1360)
    parser.add_argument("--height", type=int, default=820)
    parser.add_argument("--docs", metavar="DIR", help="also write the README's copies (3/4 size, 192 colours) here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # already on a display
    args = parser.parse_args(argv)
    if args.child:
        return run_child(args)
    from strike_pose.gui.xvfb import display_environment, virtual_display

    with virtual_display(args.width, args.height) as display:
        command = [sys.executable, "-m", "strike_pose.gui.screenshots", *(argv if argv is not None else sys.argv[1:]),
                   "--child"]
        rc = subprocess.run(command, env=display_environment(display)).returncode
    if rc == 0 and args.docs:
        for name in DOCS_SHOTS:
            if not (Path(args.out_dir) / f"{name}.png").is_file():
                continue  # the detector's, when its weights are not fetched
            write_docs_copy(Path(args.out_dir) / f"{name}.png", Path(args.docs) / f"gui-{name}.png")
    return rc


def write_docs_copy(source: Path, target: Path) -> None:
    """A small copy for the README: 3/4 size, 192 colours."""
    from PIL import Image

    image = Image.open(source).convert("RGB")
    image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)
    target.parent.mkdir(parents=True, exist_ok=True)
    image.quantize(192).save(target, optimize=True)
    print(f"saved {target}")


if __name__ == "__main__":
    sys.exit(main())
