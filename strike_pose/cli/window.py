"""`gui` and `run`: the desktop visualizer, and the main job (the window, else the headless demo)."""

from __future__ import annotations

import argparse
import sys

from strike_pose.cli.common import (_add_model_options, _add_scene_options, _print_prediction, classifier_from_args,
                                    load_scene_from_args, pose_from_args)


def cmd_gui(args: argparse.Namespace) -> int:
    """The desktop visualizer; with no display it says what to do and exits 2."""
    from strike_pose.gui import require_display, run_gui

    require_display()
    scene = load_scene_from_args(args)
    clf = classifier_from_args(args)
    return run_gui(scene, clf, args.out, model_name=clf.name, pose=pose_from_args(args, scene))


def cmd_run(args: argparse.Namespace) -> int:
    """The main job: the GUI where a display is, else a headless render + classify into out/."""
    from strike_pose.export import check_writable, export_shot, shot_record, shot_stem
    from strike_pose.gui import WindowUnavailable, display_available, run_gui
    from strike_pose.models.classify import classify_scene

    check_writable(args.out)
    scene = load_scene_from_args(args)
    pose = pose_from_args(args, scene)
    clf = classifier_from_args(args)
    if not args.headless and display_available():
        try:
            return run_gui(scene, clf, args.out, model_name=clf.name, pose=pose)
        except WindowUnavailable as exc:
            print(f"note: {exc}; running the headless demo instead", file=sys.stderr)
    shot = classify_scene(scene, pose, clf)
    record = shot_record(scene, pose, clf, shot.probs)  # the sidecar every export writes
    files = export_shot(args.out, shot_stem(scene.name, shot.probs), shot.image, record)
    _print_prediction(record)
    print(f"wrote {files['image']} and {files['json']}")
    return 0


def add_parsers(sub) -> None:
    """`gui` and `run`."""
    p = sub.add_parser("gui", help="the desktop visualizer (needs a display)")
    _add_scene_options(p)
    _add_model_options(p)
    p.add_argument("--out", "--export-dir", dest="out", default="out", metavar="DIR",
                   help="where captures are written (default out/)")
    p.set_defaults(func=cmd_gui)

    p = sub.add_parser("run", help="the main job: the GUI on a display, else a headless demo into out/")
    _add_scene_options(p)
    _add_model_options(p)
    p.add_argument("--out", "--out-dir", dest="out", default="out", metavar="DIR",
                   help="where the headless demo writes (default out/)")
    p.add_argument("--headless", action="store_true", help="never open a window")
    p.set_defaults(func=cmd_run)
