"""The command line: `strike-pose COMMAND ...` (also `python -m strike_pose`).

Every mistake a user can make ends as one line `error: ...` on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from strike_pose.errors import StrikePoseError

EXIT_USAGE = 2


# --------------------------------------------------------------------------------- shared options

def _add_scene_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scene (a bundled name or .toml path, or files)")
    group.add_argument("--scene", help="bundled scene name or scene .toml path (default: school_bus)")
    group.add_argument("--mesh", help="an OBJ, glTF or GLB file instead of --scene")
    group.add_argument("--texture", help="an image that replaces the mesh's texture")
    group.add_argument("--background", help="a background image (with --mesh)")
    group.add_argument("--true-class", help="ImageNet label or index of the object (with --mesh)")
    parser.add_argument("--pose", help="YAW,PITCH,ROLL,X,Y,Z in degrees and scene units "
                        "(default: the scene's start pose)")


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="classifier name (default: efficientnet_lite0); "
                        "see `strike-pose models`")
    parser.add_argument("--weights", help="a weights file for torchvision:NAME or timm:NAME models")
    parser.add_argument("--device", help="torch device (default: cuda when available, else cpu)")


def load_scene_from_args(args: argparse.Namespace):
    from strike_pose.scene import load_scene, scene_from_files

    if args.mesh:
        if args.scene:
            raise StrikePoseError("give either --scene or --mesh, not both")
        return scene_from_files(args.mesh, args.texture, args.background, args.true_class)
    if args.texture or args.background or args.true_class:
        raise StrikePoseError("--texture, --background and --true-class go with --mesh; edit the scene file instead")
    return load_scene(args.scene or "school_bus")


def pose_from_args(args: argparse.Namespace, scene):
    from strike_pose.scene import Pose

    return Pose.parse(args.pose) if args.pose else scene.pose


def classifier_from_args(args: argparse.Namespace):
    from strike_pose.models import DEFAULT_MODEL, create_classifier

    return create_classifier(args.model or DEFAULT_MODEL, weights=args.weights, device=args.device)


def _check_new_file(path: str, suffix: str) -> Path:
    out = Path(path)
    if out.suffix.lower() != suffix:
        raise StrikePoseError(f"{path} should end in {suffix}")
    if out.exists():
        raise StrikePoseError(f"{out} already exists; choose another name (nothing is overwritten)")
    return out


def _print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


# --------------------------------------------------------------------------------------- commands

def cmd_render(args: argparse.Namespace) -> int:
    from strike_pose.export import write_png
    from strike_pose.render import default_renderer

    out = _check_new_file(args.out, ".png")
    scene = load_scene_from_args(args)
    pose = pose_from_args(args, scene)
    image = default_renderer().render(scene, pose, size=args.size, msaa=args.msaa)
    write_png(out, image)
    print(f"wrote {out} ({args.size}x{args.size}, pose {','.join(f'{v:g}' for v in pose.as_tuple())})",
          file=sys.stderr)
    return 0


def classify_scene(scene, pose, clf, top: int = 5) -> dict:
    """Render at the classifier's input size and classify: the record `classify --json` prints."""
    from strike_pose.render import default_renderer

    image = default_renderer().render(scene, pose, size=clf.input_size)
    probs = clf.probabilities(image)
    return {**clf.describe(probs, scene.true_class, k=top), "pose": pose.as_dict()}, image


def _print_prediction(record: dict) -> None:
    true = record["true_class"]
    print(f"model {record['model']}   true class {true['label']!r} p={true['prob']:.3f}")
    for i, row in enumerate(record["top"], 1):
        bar = "#" * round(row["prob"] * 30)
        print(f"{i:>2}. {row['label'][:28]:<28} {row['prob']:6.3f} {bar}")


def cmd_classify(args: argparse.Namespace) -> int:
    scene = load_scene_from_args(args)
    pose = pose_from_args(args, scene)
    clf = classifier_from_args(args)
    record, _ = classify_scene(scene, pose, clf, top=args.top)
    if args.json:
        _print_json(record)
    else:
        _print_prediction(record)
    return 0


def cmd_scenes(args: argparse.Namespace) -> int:
    from strike_pose.scene import SCENES_DIR, bundled_scenes

    for name in bundled_scenes():
        print(f"{name:<16} {SCENES_DIR / (name + '.toml')}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from strike_pose.models import list_models

    rows = list_models()
    if args.json:
        _print_json(rows)
        return 0
    for row in rows:
        print(f"{row['name']:<22} weights {'present' if row['weights'] else 'missing'}")
    print("torchvision:NAME, timm:NAME   weights from the local cache or --weights FILE")
    return 0


def cmd_classes(args: argparse.Namespace) -> int:
    from strike_pose.models.labels import imagenet_labels

    needle = (args.filter or "").lower()
    for i, label in enumerate(imagenet_labels()):
        if needle in label.lower():
            print(f"{i:>4} {label}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """The main job: the GUI where a display is, else a headless render + classify into out/."""
    from strike_pose.export import export_shot

    scene = load_scene_from_args(args)
    pose = pose_from_args(args, scene)
    clf = classifier_from_args(args)
    record, image = classify_scene(scene, pose, clf)
    files = export_shot(args.out_dir, f"{scene.name}", image, {**record, "scene": scene.describe()})
    _print_prediction(record)
    print(f"wrote {files['image']} and {files['json']}")
    return 0


# ------------------------------------------------------------------------------------------ main

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strike-pose",
        description="Find the poses of familiar 3D objects that fool image classifiers.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("render", help="render a scene at a pose to a PNG")
    _add_scene_options(p)
    p.add_argument("--size", type=int, default=224, help="image side in pixels (default 224)")
    p.add_argument("--msaa", type=int, default=0, help="multisample antialiasing samples (0, 2, 4)")
    p.add_argument("--out", required=True, help="the PNG to write (never overwritten)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("classify", help="render a scene at a pose and classify it")
    _add_scene_options(p)
    _add_model_options(p)
    p.add_argument("--top", type=int, default=5, help="how many classes to show (default 5)")
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("scenes", help="list the bundled scenes")
    p.set_defaults(func=cmd_scenes)

    p = sub.add_parser("models", help="list the classifiers and whether their weights are present")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("classes", help="list the ImageNet classes (index and label)")
    p.add_argument("filter", nargs="?", help="only labels containing this text")
    p.set_defaults(func=cmd_classes)

    p = sub.add_parser("run", help="the main job: the GUI on a display, else a headless demo into out/")
    _add_scene_options(p)
    _add_model_options(p)
    p.add_argument("--out-dir", default="out", help="where the headless demo writes (default out/)")
    p.add_argument("--headless", action="store_true", help="never open a window")
    p.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except StrikePoseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
