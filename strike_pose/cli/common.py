"""What every command group shares: the scene, model, pose and detector options and their readers, the
argument types that say in one line what an option takes, and JSON printing."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from strike_pose.errors import StrikePoseError, shown


def _add_scene_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scene (a bundled name or .toml path, or files)")
    group.add_argument("--scene", help="bundled scene name or scene .toml path (default: school_bus)")
    group.add_argument("--mesh", help="a mesh file instead of --scene (OBJ, glTF/GLB, PLY, STL, OFF, COLLADA, AC3D, "
                       "Panda3D EGG/BAM)")
    group.add_argument("--texture", help="an image that replaces the mesh's (or the scene's) texture")
    group.add_argument("--background", help="a background image (replaces the scene's)")
    group.add_argument("--true-class", help="ImageNet label or index of the object (replaces the scene's)")
    parser.add_argument("--pose", help="YAW,PITCH,ROLL,X,Y,Z in degrees and scene units "
                        "(default: the scene's start pose)")


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="classifier name (default: efficientnet_lite0); "
                        "see `strike-pose models`")
    parser.add_argument("--weights", help="a weights file for torchvision:NAME or timm:NAME models")
    parser.add_argument("--device", help="torch device (default: cuda when available, else cpu)")


def _add_detector_options(parser: argparse.ArgumentParser) -> None:
    from strike_pose.models.coco import CONF_THRESHOLD, NMS_THRESHOLD

    parser.add_argument("--detector", default=None,
                        help="detector name (default: yolov3_tiny); see `strike-pose models`")
    parser.add_argument("--conf-threshold", type=_number("--conf-threshold", float, "a number between 0 and 1",
                                                         lambda v: 0 < v < 1), default=CONF_THRESHOLD,
                        help=f"the least score of a detection (default {CONF_THRESHOLD})")
    parser.add_argument("--nms-threshold", type=_number("--nms-threshold", float, "a number between 0 and 1",
                                                        lambda v: 0 < v < 1), default=NMS_THRESHOLD,
                        help=f"boxes of a class overlapping more than this are one (default {NMS_THRESHOLD})")
    if not any(a.dest == "device" for a in parser._actions):
        parser.add_argument("--device", help="torch device (default: cuda when available, else cpu)")


def load_scene_from_args(args: argparse.Namespace, needs_class: bool = True):
    """The scene of --scene (with --texture, --background, --true-class replacing its own) or of --mesh."""
    from strike_pose.scenes import load_scene, scene_from_files

    if args.mesh:
        if args.scene:
            raise StrikePoseError("give either --scene or --mesh, not both")
        if needs_class and not args.true_class:
            raise StrikePoseError("--mesh needs --true-class LABEL here (the ImageNet class the object shows); "
                                  "`strike-pose classes WORD` finds labels")
        scene = scene_from_files(args.mesh, args.texture, args.background, args.true_class)
    else:
        scene = load_scene(args.scene or "school_bus", {"texture": args.texture, "background": args.background,
                                                          "true_class": args.true_class})
    if needs_class and scene.true_class is None:
        raise StrikePoseError("--mesh needs --true-class LABEL here (the ImageNet class the object shows); "
                              "`strike-pose classes WORD` finds labels")
    return scene


def pose_from_args(args: argparse.Namespace, scene):
    from strike_pose.scene import Pose

    return Pose.parse(args.pose) if args.pose else scene.pose


def classifier_from_args(args: argparse.Namespace):
    from strike_pose.models import DEFAULT_MODEL, create_classifier

    return create_classifier(args.model or DEFAULT_MODEL, weights=args.weights, device=args.device)


def detector_from_args(args: argparse.Namespace):
    from strike_pose.models.detector import create_detector
    from strike_pose.models.weights import DEFAULT_DETECTOR

    return create_detector(args.detector or DEFAULT_DETECTOR, device=args.device,
                           conf_threshold=args.conf_threshold, nms_threshold=args.nms_threshold)


def _target_from_args(args: argparse.Namespace) -> int | None:
    from strike_pose.models.labels import resolve_class

    return resolve_class(args.target, where="--target") if args.target else None


def _check_new_file(path: str, suffix: str) -> Path:
    from strike_pose.export import check_writable

    out = Path(path)
    if out.suffix.lower() != suffix:
        raise StrikePoseError(f"{path} should end in {suffix}")
    if out.exists():
        raise StrikePoseError(f"{out} already exists; choose another name (nothing is overwritten)")
    check_writable(out.parent if str(out.parent) else Path("."))
    return out


def _choice(option: str, names: tuple[str, ...]):
    """An argparse type: a value of `names`, else one error line listing them."""
    def check(text: str) -> str:
        if text not in names:
            raise StrikePoseError(f"{option} takes one of {', '.join(names)}, got {shown(text)}")
        return text

    return check


def _number(option: str, kind: type, what: str, ok):
    """An argparse type: a finite number of `kind` for which ok(value) holds, else one error line saying
    what `option` takes (argparse's own message would come with a usage screen)."""
    def check(text: str):
        try:
            value = kind(text)
            good = (kind is int or math.isfinite(value)) and ok(value)
        except ValueError:  # not a number of this kind (or an integer of more digits than Python reads)
            good = False
        if not good:
            raise StrikePoseError(f"{option} takes {what}, got {shown(text)}")
        return value

    return check


def _print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _print_prediction(record: dict) -> None:
    true = record["true_class"]
    if true is None:  # a mesh classified without --true-class
        print(f"model {record['model']}")
    else:
        print(f"model {record['model']}   true class {true['label']!r} p={true['prob']:.3f}")
    for i, row in enumerate(record["top"], 1):
        bar = "#" * round(row["prob"] * 30)
        print(f"{i:>2}. {row['label'][:28]:<28} {row['prob']:6.3f} {bar}")
