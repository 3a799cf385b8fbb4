"""The pose map: its grid (shared with the landscape study), its coarse-to-fine refinement, what it stores,
its picture and files, the command line, and cancelling; real renders and the real model where it counts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from strike_pose.analysis.mapdraw import label_colour, map_image, map_legend, save_map
from strike_pose.analysis.mapbuild import MapBuilder, compute_map
from strike_pose.analysis.posemap import WRAPPED, MapSpec, PoseMap, axis_range, cell_centres, grid_poses
from strike_pose.rotations import wrap_degrees

TRUE = 779  # school bus
WRONG = (500, 600)


def fake_probs(poses: np.ndarray) -> np.ndarray:
    """A stand-in model: 600 near yaw +-180, 500 in a patch, the school bus elsewhere."""
    probs = np.full((len(poses), 1000), 1e-4)
    for row, (yaw, pitch, roll, x, y, _) in zip(probs, poses):
        label = 600 if abs(yaw) > 150 else 500 if 20 < yaw < 95 and pitch > 10 else TRUE
        row[label] = 0.9
        row[TRUE] += 0.05
    return probs / probs.sum(axis=1, keepdims=True)


def build(scene, spec, probs_of=fake_probs, batch=50) -> PoseMap:
    builder = MapBuilder(scene, spec)
    while not builder.done:
        cells, poses = builder.next_batch(batch)
        builder.record(cells, probs_of(poses))
    return builder.result()


def replay(m: PoseMap, below: int) -> np.ndarray:
    """The finest top-1 grid from the records of the levels below `below` only (the map as it stood then)."""
    top1 = np.full(m.shape, -1)
    for r in sorted(m.records[m.records["level"] < below], key=lambda r: r["level"]):
        k = m.spec.levels[r["level"]]
        top1[r["i"] * k:(r["i"] + 1) * k, r["j"] * k:(r["j"] + 1) * k] = r["top1"]
    return top1


def assert_refined_only_at_changes(m: PoseMap) -> None:
    """Each finer level computes exactly the cells whose verdict, as the coarser levels left it, differs from
    one of its four neighbours (yaw and roll wrap)."""
    for level in range(m.spec.full_levels, len(m.spec.levels)):
        k = m.spec.levels[level]
        key = replay(m, level)[::k, ::k]
        na, nb = key.shape
        expected = set()
        for i in range(na):
            for j in range(nb):
                for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                    ii, jj = i + di, j + dj
                    if m.axes[0] in WRAPPED:
                        ii %= na
                    if m.axes[1] in WRAPPED:
                        jj %= nb
                    if 0 <= ii < na and 0 <= jj < nb and key[ii, jj] != key[i, j]:
                        expected.add((i, j))
        rows = m.records[m.records["level"] == level]
        got = set(zip(rows["i"].tolist(), rows["j"].tolist()))
        assert got == expected and len(got) == len(rows), (level, len(got), len(expected))


def assert_finest_holds_smallest_cover(m: PoseMap) -> None:
    for r in m.records:
        k = m.spec.levels[r["level"]]
        region = np.s_[r["i"] * k:(r["i"] + 1) * k, r["j"] * k:(r["j"] + 1) * k]
        assert (m.level[region] >= r["level"]).all()
        mine = m.level[region] == r["level"]
        assert (m.top1[region][mine] == r["top1"]).all() and np.allclose(m.true_prob[region][mine], r["true_prob"])
        assert np.allclose(m.margin[region][mine], r["margin"])


# ------------------------------------------------------------------------------------ the grid

def test_the_grid_is_cell_centres_over_each_axis_s_range(bus):
    poses = grid_poses((1, 2, 3, 0.1, 0.2, -8), ("yaw", "pitch"), (12, 6))
    assert poses.shape == (72, 6)
    assert np.allclose(np.unique(poses[:, 0]), np.arange(-165, 180, 30))
    assert np.allclose(np.unique(poses[:, 1]), np.arange(-75, 90, 30))
    assert np.allclose(poses[:, 2:], [3, 0.1, 0.2, -8])
    assert np.allclose(poses[:6, 0], -165) and np.allclose(poses[:6, 1], np.arange(-75, 90, 30))  # a-major
    lo, hi = axis_range("x", bus.pose.as_tuple(), bus.camera.fov_y)
    xy = grid_poses(bus.pose.as_tuple(), ("x", "y"), (12, 12), fov_y=bus.camera.fov_y)
    from strike_pose.render.transforms import frustum_half_extent

    tx, ty = frustum_half_extent(bus.camera.fov_y)
    assert np.isclose(hi, -bus.pose.z * tx) and np.isclose(lo, -hi)
    assert (np.abs(xy[:, 3]) < -bus.pose.z * tx).all() and (np.abs(xy[:, 4]) < -bus.pose.z * ty).all()
    assert np.allclose(xy[:, :3], bus.pose.as_tuple()[:3]) and np.allclose(xy[:, 5], bus.pose.z)


def test_the_landscape_grid_is_the_map_s_grid(monkeypatch):
    import tomllib

    import strike_pose.analysis.posemap as posemap
    from strike_pose.experiments.config import parse_experiment
    from strike_pose.experiments.kinds.landscape import landscape_poses
    from strike_pose.scenes import load_scene

    calls = []
    real = posemap.grid_poses
    monkeypatch.setattr(posemap, "grid_poses", lambda *a, **k: calls.append(a) or real(*a, **k))
    study = "[[landscape]]\nname = 'l'\ngrid = {axes = ['pitch', 'roll'], steps = 8}\n"
    experiment = parse_experiment(tomllib.loads(study))
    poses = landscape_poses(experiment, experiment.studies[0], "school_bus")
    assert len(calls) == 1
    z = load_scene("school_bus").pose.z
    assert np.array_equal(poses, real((0, 0, 0, 0, 0, z), ("pitch", "roll"), (8, 8)))
    assert np.allclose(np.unique(poses[:, 1]), cell_centres(-90, 90, 8))
    assert np.allclose(np.unique(poses[:, 2]), cell_centres(-180, 180, 8))
    # a map whose coarsest level has that shape plans the same poses
    spec = MapSpec(axes=("pitch", "roll"), pose=(0, 0, 0, 0, 0, z), resolution=22.5, coarse=(22.5,))
    scene = load_scene("school_bus")
    builder = MapBuilder(scene, spec)
    cells, planned = builder.next_batch(1000)
    assert len(cells) == 8 * 16  # pitch spans 180 degrees, roll 360
    assert {tuple(p) for p in planned} == {tuple(p) for p in real(spec.pose, spec.axes, (8, 16))}


def test_the_spec_snaps_the_resolution_and_refuses_what_it_cannot_map():
    assert MapSpec(resolution=2.5).levels == (12, 4, 2, 1) and MapSpec(resolution=2.5).full_levels == 2
    assert MapSpec(resolution=7).finest == 6 and MapSpec(resolution=7).levels == (5, 1)
    assert MapSpec(resolution=30).levels == (1,)
    assert MapSpec(axes="x,y").axes == ("x", "y")
    for bad in ({"axes": ("yaw", "x")}, {"axes": ("pitch", "yaw")}, {"resolution": 0}, {"resolution": 31},
                {"resolution": float("nan")}, {"coarse": (25,)}, {"refine": "nope"}, {"pose": (0, 0, 0, 0, 0, 1)}):
        with pytest.raises(Exception) as info:
            MapSpec(**bad)
        assert type(info.value).__name__ == "StrikePoseError", bad


# ------------------------------------------------------------------------- levels, with a stand-in model

@pytest.mark.parametrize("refine", ["label", "correct"])
def test_finer_levels_are_computed_only_where_neighbours_disagree(bus, refine):
    spec = MapSpec(pose=bus.pose.as_tuple(), resolution=2.5, refine=refine)
    m = build(bus, spec)
    assert m.complete and m.computed.all() and m.shape == (144, 72)
    counts = [int((m.records["level"] == level).sum()) for level in range(4)]
    assert counts[:2] == [12 * 6, 36 * 18]
    assert 0 < counts[2] < 72 * 36 / 4 and 0 < counts[3] < 144 * 72 / 8, counts  # a few cells along the changes
    if refine == "label":
        assert_refined_only_at_changes(m)
    assert_finest_holds_smallest_cover(m)
    # the stand-in's boundary at |yaw| = 150 is resolved to 2.5 degrees on both sides
    column = [m.cell_at(v, 0.0)[0] for v in (148.75, 151.25)]
    assert m.level[column[0], 36] == 3 and m.level[column[1], 36] == 3
    assert m.top1[column[0], 36] == TRUE and m.top1[column[1], 36] == 600


def test_the_builder_hands_out_a_level_at_a_time_nearest_first(bus):
    spec = MapSpec(pose=(100, 40, 0, 0, 0, -8), resolution=10)
    builder = MapBuilder(bus, spec)
    cells, poses = builder.next_batch(5)
    assert cells.shape == (5, 3) and (cells[:, 0] == 0).all() and builder.planned == 72
    assert np.allclose(poses[0, :2], (105, 45))  # the cell under the pose first
    rest, _ = builder.next_batch(1000)
    assert len(rest) == 67
    assert builder.next_batch(10)[0].shape == (0, 3)  # the level is out: nothing until it is recorded
    with pytest.raises(ValueError):
        builder.record(np.array([[1, 0, 0]]), fake_probs(poses[:1]))
    builder.record(cells, fake_probs(poses))
    with pytest.raises(ValueError):
        builder.record(cells, fake_probs(poses))  # recorded already
    assert builder.level == 0 and builder.result().computed.sum() == 5 * 9
    builder.record(rest, fake_probs(grid_poses(spec.pose, spec.axes, (12, 6), cells=rest[:, 1:])))
    assert builder.level == 1 and builder.planned == 72 + 648


# --------------------------------------------------------------------------------- the map's answers

@pytest.fixture(scope="module")
def fake_map(bus):
    return build(bus, MapSpec(pose=(-175, 0, 0, 0, 0, bus.pose.z), resolution=5))


def test_cells_poses_and_the_nearest_fooling_cell_wrap(fake_map):
    m = fake_map
    assert m.cell_at(-180, -90) == (0, 0) and m.cell_at(179.9, 90) == (71, 35)
    assert m.cell_at(185, 0) == m.cell_at(-175, 0) and m.cell_at(0, 91) is None
    assert np.allclose(m.pose_of(m.cell_at(12, 33)), (12.5, 32.5, 0, 0, 0, -8))
    for level in range(len(m.spec.levels)):
        r = m.records[m.records["level"] == level][0]
        pose = m.pose_of((level, r["i"], r["j"]))
        assert m.cell_at(pose[0], pose[1]) is not None
    near = m.nearest_fooling()  # at yaw -175, in the stand-in's 600 region: distance of its nearest centre
    assert near.top1 == 600 and np.isclose(near.distance, 5) and near.label == "hook"
    far = m.nearest_fooling((0, 0, 0, 0, 0, -8))
    wrong = [(wrap_degrees(m.pose_of((r["level"], r["i"], r["j"]))[0]), m.pose_of((r["level"], r["i"], r["j"]))[1])
             for r in m.records if r["top1"] != TRUE]
    assert np.isclose(far.distance, min(np.hypot(a, b) for a, b in wrong))
    assert np.isclose(far.distance, np.hypot(*far.pose[:2]))


def test_share_legend_and_picture(fake_map):
    m = fake_map
    yaw, pitch = np.meshgrid(*m.values, indexing="ij")
    truth = (np.abs(yaw) > 150) | ((yaw > 20) & (yaw < 95) & (pitch > 10))
    assert abs(m.misclassified_share() - truth.mean()) < 0.02
    legend = map_legend(m, 5)
    assert [e.index for e in legend] == [600, 500] and legend[0].share > legend[1].share
    image = map_image(m, scale=2, cursor=False)
    assert image.shape == (36 * 2, 72 * 2, 3) and image.dtype == np.uint8
    i, j = m.cell_at(170, 0)
    assert tuple(image[(35 - j) * 2, i * 2]) == label_colour(600)
    i, j = m.cell_at(0, -60)
    assert len(set(image[(35 - j) * 2, i * 2])) <= 3 and image[(35 - j) * 2, i * 2].min() > 100  # the grey ramp
    with_cursor = map_image(m, scale=2)
    assert (with_cursor != image).any() and tuple(with_cursor[(35 - 18) * 2 + 1, 1 * 2 + 1]) == (255, 255, 255)


def test_save_writes_the_picture_and_the_grid_and_never_overwrites(fake_map, tmp_path):
    png, npz = save_map(fake_map, tmp_path / "m.png")
    assert png.is_file() and npz == tmp_path / "m.npz" and npz.is_file()
    assert Image.open(png).size[0] > 400
    back = PoseMap.load(npz)
    for name in ("true_prob", "top1", "top1_prob", "margin", "level", "records"):
        assert np.array_equal(getattr(back, name), getattr(fake_map, name), equal_nan=name != "records"), name
    assert back.spec == fake_map.spec and back.true_class == TRUE and back.complete
    with pytest.raises(Exception, match="exists"):
        save_map(fake_map, tmp_path / "m.png")


# ---------------------------------------------------------------------- real renders, the real model

@pytest.fixture(scope="module")
def bus_map(bus, classifier, renderer):
    """What `strike-pose map --resolution 15` computes: 30-degree cells, then 15 where the label changes."""
    return compute_map(bus, classifier, MapSpec(pose=bus.pose.as_tuple(), resolution=15), renderer=renderer)


def test_every_level_s_cells_are_the_model_s_verdict_on_one_render(bus_map, bus, classifier, renderer):
    m = bus_map
    assert m.complete and m.computed.all() and len(m.spec.levels) == 2
    assert 0 < (m.records["level"] == 1).sum() < 24 * 12
    rng = np.random.default_rng(0)
    for level in range(len(m.spec.levels)):
        rows = m.records[m.records["level"] == level]
        for r in rng.choice(rows, size=min(4, len(rows)), replace=False):
            probs = classifier.probabilities(renderer.render(bus, m.pose_of((level, r["i"], r["j"])),
                                                             size=classifier.input_size))
            assert int(np.argmax(probs)) == r["top1"]
            assert abs(probs[TRUE] - r["true_prob"]) < 2e-3
    assert_refined_only_at_changes(m)
    assert_finest_holds_smallest_cover(m)


def test_cancel_stops_at_once_and_drops_the_batch_under_way(bus, classifier, renderer):
    calls = []

    class Counting:
        name, input_size = classifier.name, classifier.input_size

        def probabilities(self, images):
            calls.append(len(images))
            return classifier.probabilities(images)

    m = compute_map(bus, Counting(), MapSpec(pose=bus.pose.as_tuple(), resolution=15), renderer=renderer,
                    batch=32, cancel=lambda: len(calls) >= 3)
    assert calls == [16, 16, 16] and len(m.records) == 32 and not m.complete  # the second batch was dropped
    calls.clear()
    seen = []
    m = compute_map(bus, Counting(), MapSpec(pose=bus.pose.as_tuple(), resolution=15), renderer=renderer,
                    batch=16, cancel=lambda: bool(seen), progress=lambda done, planned: seen.append((done, planned)))
    assert calls == [16] and seen == [(16, 72)] and len(m.records) == 16


def test_the_cli_writes_the_map_compute_map_computes(bus, classifier, renderer, tmp_path, capsys):
    from strike_pose.cli import main

    out = tmp_path / "bus-map.png"
    assert main(["map", "--scene", "school_bus", "--axes", "pitch,roll", "--resolution", "30", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    expected = compute_map(bus, classifier, MapSpec(("pitch", "roll"), bus.pose.as_tuple(), 30), renderer=renderer)
    assert f"misclassified: {expected.misclassified_share():.1%} of the pitch x roll map" in printed
    near = expected.nearest_fooling()
    assert f"nearest fooling cell: {near.distance:.3g} deg from the pose" in printed and repr(near.label) in printed
    assert f"wrote {out} and {out.with_suffix('.npz')}" in printed
    assert Image.open(out).format == "PNG"
    written = PoseMap.load(out.with_suffix(".npz"))
    assert written.spec == expected.spec and written.model == "efficientnet_lite0" and written.complete
    assert np.array_equal(written.top1, expected.top1) and np.array_equal(written.level, expected.level)
    assert np.allclose(written.true_prob, expected.true_prob, atol=1e-5)
    assert np.allclose(written.margin, expected.margin, atol=1e-5)
    assert np.array_equal(written.records[["level", "i", "j", "top1"]], expected.records[["level", "i", "j", "top1"]])


@pytest.mark.parametrize("args, words", [
    (["--axes", "yaw,x"], "--axes takes one of yaw,pitch"),
    (["--axes", "pitch,yaw"], "--axes takes one of"),
    (["--resolution", "0"], "--resolution takes degrees from 0.1 to 30"),
    (["--resolution", "31"], "--resolution takes degrees"),
    (["--resolution", "nan"], "--resolution takes degrees"),
    (["--resolution", "-5"], "--resolution takes degrees"),
])
def test_map_bad_input_is_one_line_and_exit_2(args, words, tmp_path, capsys):
    from strike_pose.cli import main

    out = tmp_path / "m.png"
    assert main(["map", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_map_refuses_to_overwrite_either_file(tmp_path, capsys):
    from strike_pose.cli import main

    (tmp_path / "m.npz").write_bytes(b"keep")
    assert main(["map", "--out", str(tmp_path / "m.png")]) == 2
    assert main(["map", "--out", str(tmp_path / "m.jpg")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert "m.npz already exists" in err[0] and "should end in .png" in err[1]
    assert (tmp_path / "m.npz").read_bytes() == b"keep" and sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]
