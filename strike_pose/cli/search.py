"""`search`: a pose that fools the classifier (or the detector), and what is printed of it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from strike_pose.cli.common import (_add_detector_options, _add_model_options, _add_scene_options, _choice, _number,
                                    _print_json, _target_from_args, classifier_from_args, detector_from_args,
                                    load_scene_from_args, pose_from_args)
from strike_pose.errors import StrikePoseError
from strike_pose.search import DEFAULT_MIN_MARGIN, DEFAULT_STEPS, LOSSES, METHODS, OBJECTIVES  # names only


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
        raise StrikePoseError("the detector's objective has one loss, margin (in logits of its scores); "
                              "leave out --loss")
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


def add_parsers(sub) -> None:
    """`search`."""
    p = sub.add_parser("search", help="search for a pose that fools the classifier (or the detector)",
                       description="Search for a pose that fools the classifier (or, with --objective "
                       "detector-miss or detector-class, the object detector); on success write the "
                       "shot of the fooling pose closest to the start (PNG + JSON sidecar) into --out. "
                       "Exit code 0: fooled; 1: no fooling pose found within the steps or time; 2: bad input; "
                       "130: interrupted (Ctrl+C), the best pose so far printed.")
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
                                        lambda v: v > 0),
                   help="learning rate for grad and fd: degrees for the angles and the "
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
