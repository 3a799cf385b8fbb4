"""`map`: the classifier's verdict over two pose axes, as a picture and its grid."""

from __future__ import annotations

import argparse

from strike_pose.cli.common import (_add_model_options, _add_scene_options, _check_new_file, _number,
                                    classifier_from_args, load_scene_from_args, pose_from_args)
from strike_pose.errors import StrikePoseError, shown


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


def add_parsers(sub) -> None:
    """`map`."""
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
