"""`render`, `classify` and `grad`: one picture of a scene at a pose, its classes, its loss and gradient."""

from __future__ import annotations

import argparse
import json
import sys

from strike_pose.cli.common import (_add_model_options, _add_scene_options, _check_new_file, _choice, _print_json,
                                    _print_prediction, _target_from_args, classifier_from_args, load_scene_from_args,
                                    pose_from_args)
from strike_pose.errors import StrikePoseError, warn
from strike_pose.search import LOSSES  # names only: no torch, no GL


MSAA_SAMPLES = (0, 2, 4, 8, 16)  # --msaa: 0 is off; a driver draws at most its GL_MAX_SAMPLES


def _msaa_choices() -> str:
    return f"0 (off), {', '.join(map(str, MSAA_SAMPLES[1:-1]))} or {MSAA_SAMPLES[-1]}"


def cmd_render(args: argparse.Namespace) -> int:
    from strike_pose.export import write_png
    from strike_pose.render import default_renderer, warn_if_out_of_view

    if args.msaa not in MSAA_SAMPLES:
        raise StrikePoseError(f"--msaa takes {_msaa_choices()} samples, got {args.msaa}")
    out = _check_new_file(args.out, ".png")
    scene = load_scene_from_args(args, needs_class=False)
    pose = pose_from_args(args, scene)
    renderer = default_renderer()
    if args.msaa > renderer.max_samples:
        warn(f"--msaa {args.msaa}: this OpenGL driver draws at most {renderer.max_samples} samples per pixel, so "
             f"the picture has {renderer.max_samples}" if renderer.max_samples else
             f"--msaa {args.msaa}: this OpenGL driver has no multisampling, so the picture is not antialiased")
    warn_if_out_of_view(scene, pose, size=args.size, renderer=renderer)
    image = renderer.render(scene, pose, size=args.size, msaa=args.msaa)
    write_png(out, image)
    print(f"wrote {out} ({args.size}x{args.size}, pose {','.join(f'{v:g}' for v in pose.as_tuple())})",
          file=sys.stderr)
    return 0


def _read_shot(path: str) -> dict:
    from strike_pose.errors import existing_file

    shot = existing_file(path, "shot", "give a shot's .json file (written by `strike-pose search` or the visualizer)")
    try:
        record = json.loads(shot.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StrikePoseError(f"cannot read shot file {path} ({exc.strerror or exc}); check its permissions") from None
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, nested too deeply, a too-long number
        raise StrikePoseError(f"{path} is not a JSON shot ({exc}); give a JSON written by `strike-pose search` "
                              "or the GUI") from None
    if not isinstance(record, dict) or "pose" not in record:
        raise StrikePoseError(f"{path} has no 'pose'; give a JSON written by `strike-pose search` or the GUI")
    return record


def cmd_classify(args: argparse.Namespace) -> int:
    from strike_pose.models.classify import classify_scene
    from strike_pose.export import scene_from_record
    from strike_pose.scene import Pose

    if not 1 <= args.top <= 1000:
        raise StrikePoseError(f"--top takes 1 to 1000 classes, got {args.top}")
    if args.from_shot:
        if args.scene or args.mesh or args.pose:
            raise StrikePoseError("--from re-renders a shot as it was taken; leave out --scene, --mesh and --pose")
        shot = _read_shot(args.from_shot)
        try:
            scene = scene_from_record(shot)
            pose = Pose.of(shot["pose"])
        except StrikePoseError as exc:
            raise StrikePoseError(f"shot {args.from_shot}: {exc}") from None
        args.model = args.model or shot.get("model")
    else:
        scene = load_scene_from_args(args, needs_class=False)  # without a class: the top classes only
        pose = pose_from_args(args, scene)
    clf = classifier_from_args(args)
    record = classify_scene(scene, pose, clf, top=args.top).record
    if args.json:
        _print_json(record)
    else:
        _print_prediction(record)
    return 0


def cmd_grad(args: argparse.Namespace) -> int:
    import numpy as np

    from strike_pose.render import default_renderer
    from strike_pose.render.diff import twin_gradients
    from strike_pose.scene import POSE_FIELDS
    from strike_pose.search.objective import Objective

    scene = load_scene_from_args(args)
    pose = pose_from_args(args, scene)
    clf = classifier_from_args(args)
    objective = Objective(clf, scene.true_class, _target_from_args(args), loss=args.loss)
    twin = twin_gradients(scene, np.array(pose.as_tuple())[None], objective.image_losses, size=clf.input_size,
                          renderer=default_renderer(), device=clf.device)
    loss, grad = float(twin.losses[0]), twin.pose_grads[0]
    kind = {"margin": ("true logit - best other logit", "best other logit - target logit"),
            "logp": ("log p(true class)", "-log p(target)")}[args.loss]
    record = {"model": clf.name, "loss": loss,
              "objective": f"untargeted: {kind[0]}" if objective.target is None else f"targeted: {kind[1]}",
              "gradient": dict(zip(POSE_FIELDS, map(float, grad))), "pose": pose.as_dict()}
    if args.json:
        _print_json(record)
    else:
        print(f"loss {loss:.4f} ({record['objective']})")
        for name, value in record["gradient"].items():
            print(f"  d loss / d {name:<5} {value:+.5f}")
    return 0


def add_parsers(sub) -> None:
    """`render`, `classify` and `grad`."""
    p = sub.add_parser("render", help="render a scene at a pose to a PNG")
    _add_scene_options(p)
    p.add_argument("--size", type=int, default=224, help="image side in pixels (default 224)")
    p.add_argument("--msaa", type=int, default=0, help=f"multisample antialiasing: {_msaa_choices()} samples "
                   "(default 0; the OpenGL driver may draw fewer, which is said)")
    p.add_argument("--out", required=True, help="the PNG to write (never overwritten)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("classify", help="render a scene at a pose and classify it")
    _add_scene_options(p)
    _add_model_options(p)
    p.add_argument("--top", type=int, default=5, help="how many classes to show (default 5)")
    p.add_argument("--from", dest="from_shot", metavar="SHOT.json",
                   help="re-render and classify an exported shot (scene, pose, light, model)")
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("grad", help="the search loss at a pose and its gradient w.r.t. the pose")
    _add_scene_options(p)
    _add_model_options(p)
    p.add_argument("--target", help="target ImageNet label or index (default: untargeted)")
    p.add_argument("--loss", default="margin", type=_choice("--loss", LOSSES), choices=LOSSES, metavar="LOSS",
                   help="the search's loss, one of %(choices)s (default margin)")
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    p.set_defaults(func=cmd_grad)
