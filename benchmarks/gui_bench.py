"""The visualizer's frame rate and prediction latency with live classification on, under Xvfb.

The real window runs on its own virtual display while a script turns the object a little every frame
(so every frame is new and the classifier never idles). Scenarios: live classification off (the UI
alone), live classification on, live classification + Grad-CAM, and the pose map computing beside live
classification (the object turns along the map's yaw axis, so the map keeps going), live detection
(the detector mode on beside live classification, the object turning; the detector's load is not
timed), and Optimize running (a targeted grad search that keeps going; the object moves every step).
Reports the UI frame rate (the window is capped at 60 fps; it passes its loop at that rate and draws a
frame only when something shown changed), the frames drawn a second, the slowest frames, the model's own
rate, the frame-to-prediction latency (from the frame being rendered to its probabilities being ready;
the UI shows them at its next frame), and the search's steps per second, and in the detector mode its
passes per second and the median time of its own forward pass. The machines these run on are shared:
compare rows of one run.

    python -m benchmarks.gui_bench [--seconds 15] [--scene school_bus] [--model efficientnet_lite0]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import replace

SCENARIOS = (("UI only (live off)", {"live": False, "gradcam": False}),
             ("live classification", {"live": True, "gradcam": False}),
             ("live + pose map computing", {"live": True, "gradcam": False, "map": True}),
             ("pose map, the object at rest", {"live": True, "gradcam": False, "map": True, "rest": True}),
             ("live + Grad-CAM", {"live": True, "gradcam": True}),
             ("live detection (detector mode + live classification)",
              {"live": True, "gradcam": False, "detector": True}),
             ("Optimize running (grad)", {"live": True, "gradcam": False}))
OPTIMIZE = 6  # the scenario index: the search moves the object; a hard target keeps it searching


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class BenchScript:
    """Runs once a frame inside the window: warm up, then each scenario for `seconds`."""

    def __init__(self, seconds: float, warmup: float = 4.0):
        self.seconds, self.warmup = seconds, warmup
        self.results: list[dict] = []
        self.session = self.window = None
        self.scenario = -1
        self.started = time.perf_counter()
        self._reset(self.started)

    def _reset(self, now: float, session=None) -> None:
        self.since = now
        self.frames: list[float] = []
        self.latencies: list[float] = []
        self.predictions = 0
        self.search_steps = 0
        self.detections = 0
        self.detector_forwards: list[float] = []
        self.last_detection = session.detection.result if session is not None else None
        self.last_step = None
        self.last_prediction = session.prediction if session is not None else None
        self.map_cells_at_start = self._map_cells(session)
        self.map_levels: dict[int, float] = {}  # map level -> seconds until every cell had it
        self.drawn_at_start = self.window.frames_drawn if self.window is not None else 0

    @staticmethod
    def _map_cells(session) -> int:
        if session is None:
            return 0
        _, pose_map, _ = session.map_view.snapshot()
        return 0 if pose_map is None else len(pose_map.records)

    @staticmethod
    def _apply(session, settings: dict) -> None:
        settings = dict(settings)
        settings.pop("rest", None)
        session.set_map(open=settings.pop("map", False))
        session.set_detector(settings.pop("detector", False))
        session.set_view(**settings)

    def _finish(self, now: float, name: str) -> None:
        span = self.frames[-1] - self.frames[0] if len(self.frames) > 1 else float("nan")
        intervals = [b - a for a, b in zip(self.frames, self.frames[1:])]
        self.results.append({
            "scenario": name,
            "ui_fps": (len(self.frames) - 1) / span,
            "drawn_fps": (self.window.frames_drawn - self.drawn_at_start) / span,
            "slowest_frame_ms": max(intervals) * 1000 if intervals else float("nan"),
            "p95_frame_ms": percentile(intervals, 0.95) * 1000,
            "model_per_s": self.predictions / span if self.predictions else 0.0,
            "latency_median_ms": statistics.median(self.latencies) * 1000 if self.latencies else float("nan"),
            "latency_p95_ms": percentile(self.latencies, 0.95) * 1000 if self.latencies else float("nan"),
            "search_steps_per_s": self.search_steps / span,
            "map_cells_per_s": (self._map_cells(self.session) - self.map_cells_at_start) / span,
            "map_coarse_s": self.map_levels.get(0, float("nan")),
            "map_10deg_s": self.map_levels.get(1, float("nan")),
            "detections_per_s": self.detections / span,
            "detector_forward_ms": statistics.median(self.detector_forwards) * 1000 if self.detector_forwards
            else float("nan"),
        })

    def __call__(self, window, now: float) -> None:
        session = self.session = window.session
        self.window = window
        if self.scenario == -1:  # warm-up: the model's first passes are slow
            if now - self.started > self.warmup and session.prediction is not None:
                self.scenario = 0
                session.set_view(help=False)
                self._apply(session, SCENARIOS[0][1])
                self._reset(now, session)
            return
        name, settings = SCENARIOS[self.scenario]
        if settings.get("detector") and not session.detection.ready:  # its load is not timed
            self._reset(now, session)
            return
        self.frames.append(now)
        if settings.get("map"):
            _, pose_map, _ = session.map_view.snapshot()
            for level in (0, 1):
                if pose_map is not None and level not in self.map_levels and (pose_map.level >= level).all():
                    self.map_levels[level] = now - self.since
        if settings.get("rest"):
            pass  # the map has the model whenever live classification has nothing new
        elif self.scenario == OPTIMIZE:
            if session.optimizer.step is not self.last_step:
                self.search_steps += 1
                self.last_step = session.optimizer.step
        else:
            pose = session.pose
            session.set_pose(replace(pose, yaw=pose.yaw + 1.0))  # a new frame every frame
        prediction = session.prediction
        if prediction is not self.last_prediction and prediction is not None and prediction.source == "live":
            self.predictions += 1
            self.latencies.append(prediction.latency)
        self.last_prediction = prediction
        detection = session.detection.result
        if detection is not self.last_detection and detection is not None and settings.get("detector"):
            self.detections += 1
            self.detector_forwards.append(detection.forward)
        self.last_detection = detection
        if now - self.since >= self.seconds * (3 if settings.get("rest") else 1):
            self._finish(now, name)
            self.scenario += 1
            if self.scenario == len(SCENARIOS):
                session.optimizer.stop()
                session.quit_requested = True
                return
            self._apply(session, SCENARIOS[self.scenario][1])
            self._reset(now, session)
            if self.scenario == OPTIMIZE:
                session.optimizer.settings.target = 1  # goldfish: far from a bus, so the search keeps going
                session.optimizer.settings.steps = 100000
                session.optimizer.begin()


def run_child(args: argparse.Namespace) -> int:
    from strike_pose.gui import run_gui
    from strike_pose.models import create_classifier
    from strike_pose.scenes import load_scene

    scene = load_scene(args.scene)
    classifier = create_classifier(args.model)
    script = BenchScript(args.seconds)
    rc = run_gui(scene, classifier, "/tmp/strike-pose-gui-bench", model_name=args.model, driver=script)
    from strike_pose.gui.live import live_torch_threads

    info = {"torch_threads": live_torch_threads(), "device": str(classifier.device),
            "input": classifier.input_size, "results": script.results}
    print("RESULT " + json.dumps(info), flush=True)
    return rc


def markdown(info: dict, args: argparse.Namespace) -> str:
    lines = [f"GUI benchmark: scene {args.scene}, model {args.model} (input {info['input']} px, "
             f"{info['device']}, live-analysis torch threads {info['torch_threads']}), {args.seconds:g} s per row, "
             f"{platform.processor() or platform.machine()}, window 1360x820 on Xvfb, UI capped at 60 fps",
             "",
             "| scenario | UI fps | frames drawn/s | p95 frame (ms) | slowest frame (ms) | live predictions/s "
             "| latency median (ms) "
             "| latency p95 (ms) | search steps/s | map cells/s | coarse map (s) | 10-degree map (s) | detections/s "
             "| detector pass (ms) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in info["results"]:
        def ms(value: float) -> str:
            return "-" if value != value else f"{value:.0f}"  # NaN: nothing measured

        def seconds(value: float) -> str:
            return "-" if value != value else f"{value:.1f}"

        lines.append(f"| {r['scenario']} | {r['ui_fps']:.1f} | {r['drawn_fps']:.1f} | {r['p95_frame_ms']:.0f} "
                     f"| {r['slowest_frame_ms']:.0f} | "
                     f"{r['model_per_s']:.1f} | {ms(r['latency_median_ms'])} | {ms(r['latency_p95_ms'])} | "
                     f"{r['search_steps_per_s']:.1f} | {r['map_cells_per_s']:.1f} | {seconds(r['map_coarse_s'])} "
                     f"| {seconds(r['map_10deg_s'])} | {r['detections_per_s']:.1f} | {ms(r['detector_forward_ms'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0, help="per scenario (default 15)")
    parser.add_argument("--scene", default="school_bus")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return run_child(args)
    from strike_pose.gui.xvfb import display_environment, virtual_display

    with virtual_display(1600, 1000) as display:
        command = [sys.executable, "-m", "benchmarks.gui_bench", *(argv if argv is not None else sys.argv[1:]),
                   "--child"]
        done = subprocess.run(command, env=display_environment(display), capture_output=True, text=True)
    results = [line[len("RESULT "):] for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not results:
        sys.stderr.write(done.stdout + done.stderr)
        return done.returncode or 1
    print(markdown(json.loads(results[-1]), args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
