"""Bad input, tried systematically: every one ends as ONE line naming the file or the field and what to
do (exit code 2 from the command line), or is handled (used, with a one-line warning where something
is left out). Never a traceback, never a hang, never a half-written output file.

docs/BAD_INPUT.md lists every input tried here and what the program says.
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import trimesh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from strike_pose.assets import cover_crop, load_background, load_mesh
from strike_pose.assets.images import load_texture
from strike_pose.cli import main
from strike_pose.cli.pictures import _read_shot
from strike_pose.errors import StrikePoseError, StrikePoseWarning
from strike_pose.models.labels import resolve_class
from strike_pose.export import scene_from_record
from strike_pose.scene import MAX_ANGLE, MAX_DISTANCE, NEAR, POSE_FIELDS, Pose
from strike_pose.scenes import load_scene, scene_from_dict
from tests.cli_helpers import run_cli
from tests.test_scene import CUBE_OBJ, write_textured_cube

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def one_line(message: str) -> str:
    """A library error's message: one line, no traceback."""
    assert message and "\n" not in message and "\r" not in message, repr(message)
    assert "Traceback" not in message
    return message


def one_error_line(err: str, *words: str) -> str:
    """What the command line printed on stderr for bad input: exactly one line `error: ...`."""
    assert err.startswith("error: "), err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)
    return err


def cli_error(capsys, args, *words) -> str:
    assert main([str(a) for a in args]) == 2
    return one_error_line(capsys.readouterr().err, *words)


@pytest.fixture(scope="module")
def cube_dir(tmp_path_factory):
    """A folder with a small textured OBJ cube (cube.obj, cube.mtl, cube.png) and a background bg.png."""
    folder = tmp_path_factory.mktemp("cube")
    write_textured_cube(folder)
    Image.new("RGB", (64, 48), (10, 200, 10)).save(folder / "bg.png")
    return folder


# ================================================================================== scene TOML files

MINIMAL = 'name = "cube"\nmesh = "cube.obj"\ntrue_class = "school bus"\n'


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


TOML_CASES = [
    # wrong types
    ("name = 3\nmesh = 'cube.obj'\ntrue_class = 1\n", "name must be a string"),
    ("mesh = 3\ntrue_class = 1\n", "mesh must be a file path"),
    ("mesh = ['cube.obj']\ntrue_class = 1\n", "mesh must be a file path"),
    (MINIMAL.replace('"school bus"', "1.5"), "true_class must be an ImageNet label or index"),
    (MINIMAL.replace('"school bus"', "[779]"), "true_class must be an ImageNet label or index"),
    (MINIMAL + "texture = 1\n", "texture must be a file path"),
    (MINIMAL + "texture = ''\n", "texture must be a file path"),
    (MINIMAL + "background = false\n", "background must be a file path"),
    (MINIMAL + "camera = 3\n", "camera must be a table"),
    (MINIMAL + "[pose]\nyaw = '30'\n", "pose.yaw must be a finite number"),
    (MINIMAL + "[pose]\nyaw = true\n", "pose.yaw must be a finite number"),
    (MINIMAL + "[pose]\nyaw = 1979-05-27\n", "pose.yaw must be a finite number"),
    (MINIMAL + "[pose.yaw]\ndegrees = 30\n", "pose.yaw must be a finite number"),
    (MINIMAL + "[light]\ndirection = 'up'\n", "light.direction must be three numbers"),
    (MINIMAL + "[light]\ndirection = [0, 1]\n", "light.direction must be three numbers"),
    # missing fields
    ("", "no 'mesh' field"),
    ("mesh = 'cube.obj'\n", "no 'true_class' field"),
    ("true_class = 1\n", "no 'mesh' field"),
    # unknown keys
    (MINIMAL.replace("name", "nmae"), "unknown field 'nmae'"),
    (MINIMAL + "[light]\ncolour = 1\n", "unknown field light.colour"),
    (MINIMAL + "[pose]\nw = 1\n", "unknown field pose.w"),
    (MINIMAL + "[lens]\nfov = 1\n", "unknown field 'lens'"),
    # huge numbers
    (MINIMAL + "[camera]\nfov_y = 1e300\n", "camera.fov_y must be between 1 and 170"),
    (MINIMAL + "[light]\nambient = 99999999999999999999999999999999\n", "light.ambient must be between 0 and 10"),
    (MINIMAL + "[pose]\nx = 1e308\n", "pose x is 1e+308, too far to draw"),
    (MINIMAL + "[pose]\nz = -1e300\n", "pose z is -1e+300, too far to draw"),
    (MINIMAL + "[pose]\nyaw = " + "9" * 400 + "\n", "pose.yaw must be a finite number"),
    (MINIMAL + "[pose]\nyaw = " + "9" * 5000 + "\n", "has a value that cannot be read"),
    (MINIMAL.replace('"school bus"', "99999999999999999999"), "true_class index 99999999999999999999 is out of range"),
    # NaN and infinities
    (MINIMAL + "[pose]\nyaw = nan\n", "pose.yaw must be a finite number, got nan"),
    (MINIMAL + "[pose]\nz = -inf\n", "pose.z must be a finite number, got -inf"),
    (MINIMAL + "[camera]\nfov_y = inf\n", "camera.fov_y must be a finite number"),
    (MINIMAL + "[light]\nambient = nan\n", "light.ambient must be a finite number"),
    (MINIMAL + "[light]\ndirection = [nan, 0, 1]\n", "light.direction must be a finite number"),
    (MINIMAL + "[light]\ndirection = [0, 0, 0]\n", "light.direction must not be zero"),
    # angles far outside a turn, and a pose behind the camera
    (MINIMAL + "[pose]\nyaw = 1e20\n", "far outside a turn"),
    (MINIMAL + "[pose]\nroll = -9223372036854775808\n", "far outside a turn"),
    (MINIMAL + "[pose]\nz = 3\n", "pose z must be below -0.1"),
    # true classes
    (MINIMAL.replace('"school bus"', '"school buss"'), "did you mean 'school bus'"),
    (MINIMAL.replace('"school bus"', "1000"), "true_class index 1000 is out of range"),
    (MINIMAL.replace('"school bus"', '"-1"'), "true_class index -1 is out of range"),
    (MINIMAL.replace('"school bus"', '""'), "true_class is empty"),
    (MINIMAL.replace('"school bus"', '"²"'), "'²' is not an ImageNet class"),
    # files the scene names
    (MINIMAL.replace("cube.obj", "missing.obj"), "mesh file not found"),
    (MINIMAL.replace("cube.obj", "."), "is a folder"),
    (MINIMAL.replace("cube.obj", "a\\nb.obj"), "mesh file not found"),
    (MINIMAL.replace("cube.obj", "a\\u0000b.obj"), "mesh file not found"),
    (MINIMAL.replace("cube.obj", "~no_such_user_here/x.obj"), "mesh file not found"),
    (MINIMAL.replace("cube.obj", "x" * 5000 + ".obj"), "cannot be used (File name too long)"),
    (MINIMAL.replace("cube.obj", "procedural:moon"), "unknown procedural object 'moon'"),
    (MINIMAL + "texture = 'nope.png'\n", "texture file not found"),
    (MINIMAL + "background = 'cube.obj'\n", "background"),
    # not TOML
    ('{"mesh": "cube.obj"}', "is not valid TOML"),
    ("mesh = \n", "is not valid TOML"),
    ("a = " + "[" * 3000 + "]" * 3000 + "\n", "nests too deeply"),
    ("mesh = 'cube.obj'\nmesh = 'cube.obj'\n", "is not valid TOML"),
    (b"\xff\xfe\x00 garbage", "is not UTF-8 text (byte 0 is b'\\xff')"),
    (MINIMAL.encode("utf-16"), "is not UTF-8 text"),
    (b'name = "caf\xe9"\n' + MINIMAL[13:].encode(), "is not UTF-8 text"),
    (b"\xef\xbb\xbf" + MINIMAL.encode(), "is not valid TOML"),
    (b"mesh = 'cube.obj'\x00\n", "is not valid TOML"),
]


@pytest.mark.parametrize("content, words", TOML_CASES, ids=[f"toml{i}" for i in range(len(TOML_CASES))])
def test_bad_scene_files_name_the_file_and_the_field(cube_dir, content, words):
    path = write(cube_dir, "scene.toml", content)
    with pytest.raises(StrikePoseError) as err:
        load_scene(path)
    message = one_line(str(err.value))
    assert words in message and str(path) in message


def test_a_huge_scene_file_is_refused_without_reading_it(tmp_path):
    path = write(tmp_path, "huge.toml", MINIMAL + ("# " + "x" * 98 + "\n") * 30_000)  # 3 MB of comments
    start = time.monotonic()
    with pytest.raises(StrikePoseError, match="MB, too large for a scene") as err:
        load_scene(path)
    assert time.monotonic() - start < 1
    one_line(str(err.value))


@pytest.mark.parametrize("content, check", [
    (MINIMAL + "[pose]\nyaw = 720\npitch = -3600\n", lambda s: s.pose.yaw == 720 and s.pose.pitch == -3600),
    (MINIMAL + "[light]\ndirection = [1e308, 1e308, 1e308]\n",
     lambda s: np.allclose(s.light.unit_direction(), 3 ** -0.5)),
    (MINIMAL + "[pose]\nz = -1e9\n", lambda s: s.pose.z == -1e9),
    (MINIMAL.replace('"school bus"', '" School_Bus "'), lambda s: s.true_class == 779),
    (MINIMAL.replace('"school bus"', '"+779"'), lambda s: s.true_class == 779),
])
def test_odd_but_meaningful_scene_values_are_used(cube_dir, content, check):
    assert check(load_scene(write(cube_dir, "odd.toml", content)))


NUMBERS = {("camera", "fov_y"): (1, 170), ("light", "ambient"): (0, 10), ("light", "diffuse"): (0, 10),
           ("light", "specular"): (0, 10), ("light", "shininess"): (1, 1000),
           **{("pose", k): (-MAX_ANGLE, MAX_ANGLE) for k in ("yaw", "pitch", "roll")},
           ("pose", "x"): (-MAX_DISTANCE, MAX_DISTANCE), ("pose", "y"): (-MAX_DISTANCE, MAX_DISTANCE),
           ("pose", "z"): (-MAX_DISTANCE, -NEAR)}


@FUZZ
@given(where=st.sampled_from(sorted(NUMBERS)),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**400, 10**400)))
def test_any_number_in_a_scene_file_loads_or_names_the_field(cube_dir, where, value):
    table, key = where
    path = write(cube_dir, "numbers.toml", f"{MINIMAL}[{table}]\n{key} = {value!r}\n")
    lo, hi = NUMBERS[where]
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    good = math.isfinite(number) and lo <= number <= hi and not (key == "z" and number >= -NEAR)
    try:
        scene = load_scene(path)
    except StrikePoseError as exc:
        message = one_line(str(exc))
        assert not good, message
        assert str(path) in message and key in message and table in message
    else:
        assert good, value
        assert getattr(getattr(scene, table), key) == number


SCENE_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40), st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=4),
    st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=6), st.integers(), max_size=3),
)
GOOD_FIELDS = {"name": "cube", "mesh": "cube.obj", "true_class": "school bus",
               "camera": {"fov_y": 20.0}, "light": {"ambient": 0.4, "direction": [0, 1, 1]}, "pose": {"yaw": 15.0}}
FIELD_PATHS = ["name", "mesh", "texture", "background", "true_class", "camera", "light", "pose", "unknown",
               "camera.fov_y", "camera.zoom", "light.ambient", "light.diffuse", "light.direction", "light.specular",
               "light.shininess", *(f"pose.{k}" for k in POSE_FIELDS), "pose.w"]


@FUZZ
@given(field=st.sampled_from(FIELD_PATHS), value=SCENE_VALUES)
def test_any_value_in_any_scene_field_loads_or_names_the_field(cube_dir, field, value):
    data = copy.deepcopy(GOOD_FIELDS)
    *tables, key = field.split(".")
    target = data
    for table in tables:
        target = target[table]
    target[key] = value
    try:
        scene = scene_from_dict(data, cube_dir)
    except StrikePoseError as exc:
        message = one_line(str(exc))
        assert key in message or (field == "true_class" and "class" in message), (field, message)
    else:
        assert all(math.isfinite(v) for v in scene.pose.as_tuple())
        assert 1 <= scene.camera.fov_y <= 170 and np.isfinite(scene.light.unit_direction()).all()


@FEW
@given(content=st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_any_bytes_as_a_scene_file_load_or_name_the_file(cube_dir, content):
    path = write(cube_dir, "fuzz.toml", content)
    try:
        load_scene(path)
    except StrikePoseError as exc:
        assert str(path) in one_line(str(exc))


# ================================================================================================ poses

@pytest.mark.parametrize("text, words", [
    ("nan,0,0,0,0,-8", "pose yaw must be a finite number, got nan"),
    ("0,0,0,0,0,inf", "pose z must be a finite number, got inf"),
    ("-inf,0,0,0,0,-8", "pose yaw must be a finite number"),
    ("1e400,0,0,0,0,-8", "pose yaw must be a finite number, got inf"),
    ("1,2,3,4,5", "six comma-separated numbers"),
    ("1,2,3,4,5,6,7", "six comma-separated numbers"),
    ("a,b,c,d,e,f", "takes numbers"),
    ("", "six comma-separated numbers"),
    (" ", "six comma-separated numbers"),
    ("0x10,0,0,0,0,-8", "takes numbers"),
    ("1e20,0,0,0,0,-8", "far outside a turn"),
    ("0,0,0,0,0,8", "pose z must be below -0.1"),
    ("0,0,0,1e13,0,-8", "too far to draw"),
    ("1,2,3,4,5,-8\n7", "takes numbers"),
])
def test_bad_pose_strings(text, words):
    with pytest.raises(StrikePoseError) as err:
        Pose.parse(text)
    assert words in one_line(str(err.value))


POSE_NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**20, 10**20))


def pose_is_valid(values) -> bool:
    if len(values) != 6 or not all(math.isfinite(v) for v in values):
        return False
    angles, position = values[:3], values[3:]
    return (all(abs(a) <= MAX_ANGLE for a in angles) and all(abs(p) <= MAX_DISTANCE for p in position)
            and values[5] < -NEAR)


@FUZZ
@given(st.lists(POSE_NUMBERS, max_size=8))
def test_any_list_of_numbers_as_a_pose_string(values):
    text = ",".join(repr(float(v)) for v in values)
    numbers = [float(v) for v in values]
    try:
        pose = Pose.parse(text)
    except StrikePoseError as exc:
        one_line(str(exc))
        assert not pose_is_valid(numbers), text
    else:
        assert pose_is_valid(numbers) and pose.as_tuple() == tuple(numbers)


@FUZZ
@given(st.text(max_size=60))
def test_any_text_as_a_pose_string(text):
    try:
        pose = Pose.parse(text)
    except StrikePoseError as exc:
        one_line(str(exc))
    else:
        assert pose_is_valid(pose.as_tuple())


@FUZZ
@given(st.one_of(
    st.dictionaries(st.sampled_from([*POSE_FIELDS, "w", ""]), st.one_of(POSE_NUMBERS, st.text(max_size=3), st.none()),
                    max_size=7),
    st.lists(st.one_of(POSE_NUMBERS, st.text(max_size=3), st.lists(st.integers(), max_size=2)), max_size=7),
    st.none(), st.text(max_size=10), POSE_NUMBERS,
))
def test_any_value_as_a_pose_record(value):
    """What a shot's `pose` field may hold after editing: a Pose or one line."""
    try:
        pose = Pose.of(value)
    except StrikePoseError as exc:
        one_line(str(exc))
    else:
        assert pose_is_valid(pose.as_tuple())


# ================================================================================ OBJ, MTL, glTF, GLB

TRIANGLE = "v 0 0 0\nv 1 0 0\nv 0 1 0\n"
UV_TRIANGLE = TRIANGLE + "vt 0 0\nvt 1 0\nvt 0 1\n"


def glb(document: dict) -> bytes:
    """A GLB container holding only a JSON chunk."""
    text = json.dumps(document).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<I4s", len(text), b"JSON") + text
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


NO_MESH = {"asset": {"version": "2.0"}, "scenes": [{"nodes": [0]}], "scene": 0, "nodes": [{"name": "empty"}]}


def _good_glb() -> bytes:
    return trimesh.creation.icosphere(subdivisions=1).export(file_type="glb")


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _point_cloud_glb() -> bytes:
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.PointCloud(np.random.default_rng(0).random((10, 3))))
    return scene.export(file_type="glb")


MESH_CASES = [
    ("half.obj", CUBE_OBJ[:len(CUBE_OBJ) // 3], "has no triangles"),
    ("missing_vertex.obj", TRIANGLE + "f 1 2 9\n", "could not be read (IndexError"),
    ("negative_index.obj", TRIANGLE + "f -1 -2 -9\n", "could not be read (IndexError"),
    ("zero_index.obj", TRIANGLE + "f 0 1 2\n", "has no triangles"),
    ("no_faces.obj", TRIANGLE, "has no triangles"),
    ("empty.obj", "", "has no triangles"),
    ("letters.obj", "v a b c\n" + TRIANGLE + "f 1 2 3\n", "a vertex needs three numbers"),
    ("nan.obj", "v nan 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "NaN or infinite"),
    ("point.obj", "v 1 1 1\nv 1 1 1\nv 1 1 1\nf 1 2 3\n", "all vertices coincide"),
    ("huge.obj", "v 0 0 0\nv 1e308 0 0\nv -1e308 1 0\nf 1 2 3\n", "too large to handle"),
    ("random.obj", bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8)),
     "is not an OBJ file (it is binary, not text)"),
    ("picture.obj", lambda: _png_bytes(), "is not an OBJ file (it is a PNG image); an OBJ mesh is text"),
    ("mesh.obj", lambda: _good_glb(), "is not an OBJ file (it is a GLB (binary glTF) file)"),
    ("garbage.glb", bytes(np.random.default_rng(2).integers(0, 256, 1000, dtype=np.uint8)), "incorrect header"),
    ("header_only.glb", b"glTF\x02\x00\x00\x00" + bytes(30), "could not be read"),
    ("truncated.glb", lambda: _good_glb()[:300], "could not be read"),
    ("broken.gltf", '{"asset": {"version": "2.0"}, "meshes": [', "could not be read"),
    ("bad_accessor.gltf", json.dumps({"asset": {"version": "2.0"}, "meshes": [
        {"primitives": [{"attributes": {"POSITION": 5}}]}]}), "could not be read"),
    ("no_mesh.glb", glb(NO_MESH), "has no triangles"),
    ("no_mesh.gltf", json.dumps(NO_MESH), "has no triangles"),
    ("points.glb", _point_cloud_glb, "has no triangles"),
    ("mesh.xyz", TRIANGLE, "could not be read"),
    ("mesh", CUBE_OBJ, "could not be read"),
    ("car.fbx", CUBE_OBJ, "'.fbx' files are not a mesh format read here; give one of: OBJ, glTF 2.0"),
    ("old.gltf", json.dumps({"asset": {"version": "1.0"}, "meshes": {}}), "is glTF 1.0"),
    ("utf16.obj", ("v 0 0\n" + TRIANGLE).encode("utf-16"), "line 1: a vertex needs three numbers"),
]


@pytest.mark.parametrize("name, content, words", MESH_CASES, ids=[c[0] for c in MESH_CASES])
def test_broken_mesh_files_name_the_file(tmp_path, name, content, words):
    path = write(tmp_path, name, content() if callable(content) else content)
    with pytest.raises(StrikePoseError) as err:
        load_mesh(str(path))
    message = one_line(str(err.value))
    assert words in message and str(path) in message


@pytest.mark.parametrize("path, words", [
    ("nowhere/mesh.obj", "mesh file not found"),
    (".", "is a folder"),
    ("x" * 5000 + ".obj", "cannot be used"),
])
def test_mesh_paths_that_are_not_files(tmp_path, path, words):
    with pytest.raises(StrikePoseError) as err:
        load_mesh(str(tmp_path / path))
    assert words in one_line(str(err.value))


def test_a_mesh_without_uvs_renders_untextured_with_a_warning(tmp_path):
    path = write(tmp_path, "plain.obj", TRIANGLE + "v 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n")
    with pytest.warns(StrikePoseWarning, match="has no texture coordinates") as caught:
        mesh = load_mesh(str(path))
    assert str(path) in str(caught[0].message) and "\n" not in str(caught[0].message)
    assert mesh.triangle_count == 4 and np.all(mesh.uvs == 0)


def test_a_texture_given_to_a_mesh_without_uvs_also_warns(tmp_path, cube_dir):
    path = write(tmp_path, "plain.obj", TRIANGLE + "f 1 2 3\n")
    with pytest.warns(StrikePoseWarning, match="renders untextured"):
        mesh = load_mesh(str(path), texture=str(cube_dir / "cube.png"))
    assert mesh.triangle_count == 1


def test_non_utf8_bytes_in_an_obj_are_skipped(tmp_path):
    path = write(tmp_path, "latin1.obj", b"# caf\xe9 \xff\xfe\n" + UV_TRIANGLE.encode() + b"f 1/1 2/2 3/3\n")
    assert load_mesh(str(path)).triangle_count == 1


def _png_bytes(size=(8, 8), mode="RGB") -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new(mode, size, (200, 30, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("mtl, extra, words", [
    (None, {}, "unable to load materials from: m.mtl"),
    ("newmtl x\nmap_Kd gone.png\n", {}, "failed to load image (FileNotFoundError: gone.png)"),
    ("newmtl x\nmap_Kd t.png\n", {"t.png": b"not an image"}, "failed to load image (UnidentifiedImageError"),
    ("newmtl x\nmap_Kd t.png\n", {"t.png": lambda: _png_bytes((64, 64))[:60]},
     "its materials (OSError: image file is truncated)"),
    ("newmtl x\nmap_Kd t.png\n", {"t.png": lambda: png_header(20000, 20000)}, "DecompressionBombError"),
])
def test_an_obj_whose_material_or_texture_is_broken_loads_with_a_warning(tmp_path, mtl, extra, words):
    if mtl is not None:
        write(tmp_path, "m.mtl", mtl)
    for name, content in extra.items():
        write(tmp_path, name, content() if callable(content) else content)
    path = write(tmp_path, "m.obj", "mtllib m.mtl\nusemtl x\n" + UV_TRIANGLE + "f 1/1 2/2 3/3\n")
    with pytest.warns(StrikePoseWarning) as caught:
        mesh = load_mesh(str(path))
    messages = [one_line(str(w.message)) for w in caught if issubclass(w.category, StrikePoseWarning)]
    assert any(words in m and str(path) in m for m in messages), messages
    assert mesh.triangle_count == 1


@pytest.mark.slow
def test_two_million_triangles_load_in_reasonable_time(tmp_path):
    n = 1001  # a grid of n x n vertices: 2 (n - 1)^2 = 2,000,000 triangles, about 57 MB of OBJ
    i, j = np.divmod(np.arange(n * n), n)
    q = (np.arange(n - 1)[:, None] * n + np.arange(n - 1)[None, :]).ravel() + 1
    faces = np.concatenate([np.stack([q, q + n, q + 1], 1), np.stack([q + 1, q + n, q + n + 1], 1)])
    path = tmp_path / "big.obj"
    with open(path, "w") as handle:
        handle.write("".join(map("v {} {} {}\n".format, i.tolist(), j.tolist(), ((i * j) % 7).tolist())))
        handle.write("".join(map("f {} {} {}\n".format, *faces.T.tolist())))
    start = time.monotonic()
    with pytest.warns(StrikePoseWarning, match="no texture coordinates"):
        mesh = load_mesh(str(path))
    assert mesh.triangle_count == 2_000_000
    assert time.monotonic() - start < 90


# ============================================================================= textures and backgrounds

def png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels (its data is a few bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b""))


def _jpeg_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


IMAGE_CASES = [
    ("text.png", b"not an image", "is not a readable image (UnidentifiedImageError"),
    ("zero.png", b"", "is not a readable image"),
    ("truncated.png", lambda: _png_bytes((64, 64))[:60], "is not a readable image"),
    ("truncated.jpg", lambda: _jpeg_bytes()[:2000], "is not a readable image (OSError: image file is truncated"),
    ("bomb.png", lambda: png_header(20000, 20000), "is too large an image (400 megapixels); scale it down"),
    ("big.png", lambda: png_header(14000, 14000), "is too large an image (196 megapixels); scale it down"),
    ("mesh.obj", CUBE_OBJ, "is not a readable image"),
]


@pytest.mark.parametrize("what", ["texture", "background"])
@pytest.mark.parametrize("name, content, words", IMAGE_CASES, ids=[c[0] for c in IMAGE_CASES])
def test_bad_images_name_the_file(tmp_path, what, name, content, words):
    path = write(tmp_path, name, content() if callable(content) else content)
    load = load_texture if what == "texture" else load_background
    with pytest.raises(StrikePoseError) as err:
        load(str(path))
    message = one_line(str(err.value))
    assert message.startswith(f"{what} {path}") and words in message


@pytest.mark.parametrize("what", ["texture", "background"])
def test_missing_images_and_folders(tmp_path, what):
    load = load_texture if what == "texture" else load_background
    for path, words in [(tmp_path / "nope.png", f"{what} file not found"), (tmp_path, "is a folder")]:
        with pytest.raises(StrikePoseError) as err:
            load(str(path))
        assert words in one_line(str(err.value))


def _grey16(path):
    Image.fromarray(np.full((8, 8), 32896, np.uint16)).save(path)  # 32896 / 257 = 128


MODES = [
    ("grey16.png", _grey16, (128, 128, 128)),
    ("grey.png", lambda p: Image.new("L", (8, 8), 77).save(p), (77, 77, 77)),
    ("rgba.png", lambda p: Image.new("RGBA", (8, 8), (255, 0, 0, 0)).save(p), (124, 116, 104)),
    ("rgba_opaque.png", lambda p: Image.new("RGBA", (8, 8), (255, 0, 0, 255)).save(p), (255, 0, 0)),
    ("la.png", lambda p: Image.new("LA", (8, 8), (50, 255)).save(p), (50, 50, 50)),
    ("palette.png", lambda p: Image.new("P", (8, 8), 0).save(p), (0, 0, 0)),
    ("bilevel.png", lambda p: Image.new("1", (8, 8), 1).save(p), (255, 255, 255)),
    ("cmyk.jpg", lambda p: Image.new("CMYK", (8, 8), (0, 0, 0, 0)).save(p), None),
    ("float.tiff", lambda p: Image.new("F", (8, 8), 0.5).save(p), (128, 128, 128)),
    ("thin.png", lambda p: Image.new("RGB", (1, 5000), (9, 8, 7)).save(p), (9, 8, 7)),
]


@pytest.mark.parametrize("name, make, rgb", MODES, ids=[m[0] for m in MODES])
def test_image_modes_are_used_as_8_bit_rgb(tmp_path, name, make, rgb):
    path = tmp_path / name
    make(path)
    texture = load_texture(path)
    background = load_background(str(path))
    assert texture.dtype == np.uint8 and texture.shape[2] == 3
    assert background.mode == "RGB"
    covered = cover_crop(background, 224, 224)
    assert covered.shape == (224, 224, 3)
    if rgb is not None:
        assert tuple(texture[0, 0]) == rgb and tuple(covered[100, 100]) == rgb


def test_a_very_thin_background_is_cropped_without_a_huge_intermediate():
    image = Image.new("RGB", (1, 100_000), (5, 6, 7))
    start = time.monotonic()
    assert cover_crop(image, 224, 224).shape == (224, 224, 3)  # covering it whole would be 224 x 22.4M pixels
    assert time.monotonic() - start < 1


# ============================================================================== models and class names

@FUZZ
@given(st.one_of(st.text(max_size=40), st.integers(-10**40, 10**40), st.floats(allow_nan=True), st.none(),
                 st.booleans(), st.lists(st.integers(), max_size=2)))
def test_any_class_value_resolves_or_says_what_is_wrong(value):
    try:
        index = resolve_class(value, where="true_class")
    except StrikePoseError as exc:
        assert "true_class" in one_line(str(exc))
    else:
        assert isinstance(index, int) and 0 <= index < 1000


@pytest.mark.parametrize("args, words", [
    (["classify", "--model", "nonet"], "unknown model 'nonet'"),
    (["classify", "--model", "torchvision:nonet"], "unknown torchvision model"),
    (["classify", "--model", ""], "--model is empty"),
    (["classify", "--scene", "traffic_light", "--true-class", "school buss"], "did you mean 'school bus'"),
    (["classify", "--scene", "traffic_light", "--true-class", "1000"], "index 1000 is out of range"),
    (["classify", "--scene", "traffic_light", "--true-class", "-1"], "index -1 is out of range"),
    (["classify", "--scene", "traffic_light", "--true-class", "²"], "is not an ImageNet class"),
    (["classify", "--true-class", " "], "--true-class is empty"),
    (["grad", "--scene", "traffic_light", "--target", "nothing at all"],
     "--target 'nothing at all' is not an ImageNet"),
    (["grad", "--scene", "traffic_light", "--target", "5000"], "--target index 5000 is out of range"),
    (["grad", "--target="], "--target is empty"),
    (["grad", "--scene", "traffic_light", "--target", "Bus"], "did you mean 'school bus', "),
    (["classify", "--scene", "traffic_light", "--true-class", "buss"], "did you mean 'school bus', "),
    (["classify", "--scene", "no_such_scene"], "unknown scene 'no_such_scene'"),
    (["classify", "--scene", "school_bux"], "did you mean 'school_bus'"),
])
def test_unknown_names_on_the_command_line(capsys, args, words):
    cli_error(capsys, args, words)


@pytest.mark.parametrize("pose, words", [
    ("nan,0,0,0,0,-8", "pose yaw must be a finite number, got nan"),
    ("-nan,0,0,0,0,-8", "pose yaw must be a finite number, got nan"),
    ("-inf,0,0,0,0,-8", "pose yaw must be a finite number, got -inf"),
    ("0,0,0,0,0,inf", "pose z must be a finite number, got inf"),
    ("1,2,3,4,5", "six comma-separated numbers"),
    ("a,b,c,d,e,f", "--pose takes numbers"),
    ("", "--pose is empty"),
    ("1e30,0,0,0,0,-8", "far outside a turn"),
    ("-inf", "six comma-separated numbers"),
])
def test_bad_poses_on_the_command_line_leave_no_file(tmp_path, capsys, pose, words):
    out = tmp_path / "out"
    cli_error(capsys, ["render", "--scene", "traffic_light", "--pose", pose, "--out", out / "x.png"], words)
    assert not out.exists() or list(out.iterdir()) == []


# ================================================================================== exported shots

@pytest.fixture(scope="module")
def shot_dir(cube_dir, tmp_path_factory):
    """A folder with a cube scene file and a shot of it (as `search` writes them)."""
    folder = tmp_path_factory.mktemp("shots")
    scene_file = write(folder, "cube.toml", MINIMAL.replace("cube.obj", str(cube_dir / "cube.obj")))
    scene = load_scene(scene_file)
    record = {"scene": scene.describe(), "pose": {"yaw": 20.0, "pitch": 5.0, "roll": 0.0, "x": 0.0, "y": 0.0,
                                                   "z": -8.0}, "model": "efficientnet_lite0"}
    write(folder, "good.json", json.dumps(record))
    return folder


def _edit(record: dict, field: str, value) -> dict:
    record = copy.deepcopy(record)
    *tables, key = field.split(".")
    target = record
    for table in tables:
        target = target[table]
    if value is _REMOVE:
        target.pop(key, None)
    else:
        target[key] = value
    return record


_REMOVE = object()

SHOT_EDITS = [
    ("pose.yaw", float("nan"), "pose yaw must be a finite number, got nan"),
    ("pose.z", float("inf"), "pose z must be a finite number"),
    ("pose.z", _REMOVE, "the shot's pose has no 'z'"),
    ("pose.w", 1, "unknown pose field 'w'"),
    ("pose.yaw", "30", "pose yaw must be a finite number, got '30'"),
    ("pose", [1, 2, 3, 4, 5], "a pose is six numbers"),
    ("pose", "30,10,0,0,0,-8", "a pose is six numbers"),
    ("pose", None, "a pose is six numbers"),
    ("scene", _REMOVE, "the shot has no 'scene' field"),
    ("scene", [1], "the shot's 'scene' must be an object"),
    ("scene.path", 5, "the shot's scene.path must be a string"),
    ("scene.path", "/no/such/scene.toml", "the shot's scene file /no/such/scene.toml is missing"),
    ("scene.path", "/tmp", "is a folder"),
    ("scene.path", "/tmp/a\nb.toml", "the shot's scene file /tmp/a\\nb.toml is missing"),
    ("scene.path", _REMOVE, "neither 'path' nor 'mesh'"),
    ("scene.sha256", 5, "the shot's scene.sha256 must be a string"),
    ("scene.overrides", "x", "overrides are a table"),
    ("scene.overrides", {"mesh": "x.obj"}, "a scene's 'mesh' cannot be replaced"),
    ("scene.overrides", {"texture": 5}, "texture must be a file path"),
    ("scene.overrides", {"true_class": "nope nope"}, "true_class 'nope nope' is not an ImageNet class"),
    ("scene.light", "bright", "scene.light must be a table"),
    ("scene.light.ambient", float("nan"), "scene.light.ambient must be a finite number"),
    ("scene.camera.fov_y", 0, "scene.camera.fov_y must be between 1 and 170"),
    ("model", 5, "the shot's 'model' must be a model name"),
    ("model", "", "the shot's 'model' must be a model name"),
]


@pytest.mark.parametrize("field, value, words", SHOT_EDITS, ids=[f"{e[0]}-{i}" for i, e in enumerate(SHOT_EDITS)])
def test_edited_shot_fields_are_named(shot_dir, field, value, words):
    record = _edit(json.loads((shot_dir / "good.json").read_text()), field, value)
    with pytest.raises(StrikePoseError) as err:
        scene_from_record(record)
        Pose.of(record["pose"])
    assert words in one_line(str(err.value))


SHOT_VALUES = st.one_of(SCENE_VALUES, st.just(_REMOVE))
SHOT_FIELDS = ["scene", "pose", "model", "scene.path", "scene.sha256", "scene.mesh", "scene.texture",
               "scene.background", "scene.true_class", "scene.overrides", "scene.light", "scene.camera",
               "scene.light.direction", "scene.camera.fov_y", *(f"pose.{k}" for k in POSE_FIELDS)]


@FUZZ
@given(field=st.sampled_from(SHOT_FIELDS), value=SHOT_VALUES)
def test_any_edit_of_a_shot_reproduces_or_names_the_field(shot_dir, field, value):
    record = _edit(json.loads((shot_dir / "good.json").read_text()), field, value)
    try:
        scene = scene_from_record(record)
        pose = Pose.of(record["pose"])
    except StrikePoseError as exc:
        one_line(str(exc))
    else:
        assert pose_is_valid(pose.as_tuple()) and scene.mesh is not None


@FEW
@given(content=st.one_of(st.text(max_size=200), st.binary(max_size=200),
                         st.recursive(st.none() | st.booleans() | st.floats(allow_nan=True) | st.text(max_size=5),
                                      lambda inner: st.lists(inner, max_size=3)
                                      | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                                      max_leaves=10).map(json.dumps)))
def test_any_bytes_as_a_shot_file(shot_dir, content):
    path = write(shot_dir, "fuzz.json", content)
    try:
        record = _read_shot(str(path))
    except StrikePoseError as exc:
        assert str(path) in one_line(str(exc))
    else:
        assert isinstance(record, dict) and "pose" in record


@pytest.mark.parametrize("content, words", [
    (lambda good: good[:len(good) // 2], "is not a JSON shot"),
    (lambda good: "", "is not a JSON shot"),
    (lambda good: b"\xff\xfe" + good.encode(), "is not a JSON shot ('utf-8' codec can't decode"),
    (lambda good: "[" * 100_000 + "]" * 100_000, "is not a JSON shot (maximum recursion depth"),
    (lambda good: good.replace('"yaw": 20.0', '"yaw": NaN'), "pose yaw must be a finite number, got nan"),
    (lambda good: good.replace('"yaw": 20.0', '"yaw": 1e999'), "pose yaw must be a finite number, got inf"),
    (lambda good: good.replace('"yaw": 20.0', '"yaw": ' + "9" * 5000), "is not a JSON shot (Exceeds the limit"),
    (lambda good: "[1, 2]", "has no 'pose'"),
])
def test_broken_shot_files_on_the_command_line(shot_dir, tmp_path, capsys, content, words):
    shot = write(tmp_path, "shot.json", content((shot_dir / "good.json").read_text()))
    err = cli_error(capsys, ["classify", "--from", shot], words)
    assert str(shot) in err


def test_a_shot_whose_scene_vanished_or_broke(shot_dir, tmp_path, capsys):
    scene = write(tmp_path, "scene.toml", (shot_dir / "cube.toml").read_text())
    record = json.loads((shot_dir / "good.json").read_text())
    record["scene"]["path"] = str(scene)
    shot = write(tmp_path, "shot.json", json.dumps(record))
    scene.write_text("mesh = = 1\n")
    cli_error(capsys, ["classify", "--from", shot], f"shot {shot}: scene file {scene} is not valid TOML")
    scene.unlink()
    cli_error(capsys, ["classify", "--from", shot], f"the shot's scene file {scene} is missing; restore it")


def test_a_shot_whose_scene_changed_is_reproduced_with_a_warning(shot_dir, tmp_path, capsys):
    scene = write(tmp_path, "scene.toml", (shot_dir / "cube.toml").read_text() + "# edited\n")
    record = json.loads((shot_dir / "good.json").read_text())
    record["scene"]["path"] = str(scene)
    shot = write(tmp_path, "shot.json", json.dumps(record))
    with pytest.warns(StrikePoseWarning) as caught:  # the one warning channel: printed `warning: ...` by Python
        assert main(["classify", "--from", str(shot), "--top", "1", "--json"]) == 0
    assert [str(w.message) for w in caught] == [
        f"scene file {scene} changed since the shot was taken; results may differ"]
    assert capsys.readouterr().err == ""


# ================================================================== the command line: no partial files

@pytest.mark.parametrize("option, make, words", [
    ("--texture", lambda d: write(d, "bomb.png", png_header(20000, 20000)), "too large an image"),
    ("--texture", lambda d: write(d, "zero.png", b""), "is not a readable image"),
    ("--background", lambda d: write(d, "text.png", b"hello"), "is not a readable image"),
    ("--background", lambda d: d, "is a folder"),
    ("--mesh", lambda d: write(d, "half.obj", CUBE_OBJ[:100]), "a vertex needs three numbers"),
    ("--mesh", lambda d: write(d, "x.glb", b"glTF junk"), "could not be read"),
    ("--scene", lambda d: write(d, "s.toml", b"\xff\xfe"), "is not UTF-8 text"),
    ("--texture", lambda d: "procedural:road", "a texture is an image file"),
])
def test_bad_files_on_the_command_line_leave_no_output(tmp_path, capsys, option, make, words):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    bad = make(inputs)
    cli_error(capsys, ["render", option, bad, "--out", out / "x.png"], words, str(bad))
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.parametrize("option", ["--texture", "--background", "--mesh", "--scene", "--from"])
def test_devices_and_pipes_are_refused_without_reading_them(tmp_path, capsys, option):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # opening it to read would wait for a writer for ever
    for bad in ("/dev/zero", fifo):
        args = (["classify", "--from", bad] if option == "--from"
                else ["render", option, bad, "--out", tmp_path / "x.png"])
        cli_error(capsys, args, f"{bad} is not a regular file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


@pytest.mark.parametrize("args", [["classify", "--from", "x" * 5000 + ".json"],
                                  ["render", "--scene", "x" * 5000 + ".toml", "--out", "{tmp}/x.png"],
                                  ["render", "--mesh", "x" * 5000 + ".obj", "--out", "{tmp}/x.png"]])
def test_a_file_name_too_long_for_the_file_system(tmp_path, capsys, args):
    err = cli_error(capsys, [a.replace("{tmp}", str(tmp_path)) for a in args], "cannot be used (File name too long)")
    assert len(err) < 1100  # the long name is shortened in the middle


def test_a_search_with_bad_input_writes_nothing(tmp_path, capsys):
    out = tmp_path / "shots"
    cli_error(capsys, ["search", "--scene", "traffic_light", "--target", "nothing at all", "--steps", "1",
                       "--out", out], "--target")
    assert not out.exists() or list(out.iterdir()) == []


def test_a_real_process_prints_one_line_and_exits_2(tmp_path):
    bomb = write(tmp_path, "bomb.png", png_header(20000, 20000))
    shot = write(tmp_path, "shot.json", '{"scene": {"path": "/gone.toml"}, "pose": [0, 0, 0, 0, 0')
    for args, words in [(["render", "--texture", bomb, "--out", tmp_path / "out" / "x.png"], "too large an image"),
                        (["classify", "--from", shot, "--pose", "-nan,0,0,0,0,-8"], "--from re-renders"),
                        (["classify", "--from", shot], "is not a JSON shot")]:
        proc = run_cli(*args)
        assert proc.returncode == 2, proc.stderr
        one_error_line(proc.stderr, words)
    assert sorted(p.name for p in tmp_path.iterdir()) in (["bomb.png", "shot.json"], ["bomb.png", "out", "shot.json"])
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_a_real_process_renders_a_mesh_without_uvs_with_one_warning_line(tmp_path):
    mesh = write(tmp_path, "plain.obj", TRIANGLE + "v 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n")
    proc = run_cli("render", "--mesh", mesh, "--size", "32", "--out", tmp_path / "plain.png")
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "has no texture coordinates" in warnings[0] and str(mesh) in warnings[0]
    assert "Traceback" not in proc.stderr and "UserWarning" not in proc.stderr
    assert Image.open(tmp_path / "plain.png").size == (32, 32)

