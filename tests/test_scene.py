"""Loading scenes and meshes: good files load normalised; bad ones fail with one clear message."""

from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from strike_pose import StrikePoseError, load_scene
from strike_pose.assets import load_mesh

CUBE_OBJ = """mtllib cube.mtl
usemtl painted
v -1 -1 -1
v 3 -1 -1
v 3 1 -1
v -1 1 -1
v -1 -1 1
v 3 -1 1
v 3 1 1
v -1 1 1
vt 0 0
vt 1 0
vt 1 1
vt 0 1
f 1/1 4/4 3/3 2/2
f 5/1 6/2 7/3 8/4
f 1/1 2/2 6/3 5/4
f 4/1 8/2 7/3 3/4
f 1/1 5/2 8/3 4/4
f 2/1 3/2 7/3 6/4
"""


def write_textured_cube(folder: Path) -> Path:
    (folder / "cube.obj").write_text(CUBE_OBJ)
    (folder / "cube.mtl").write_text("newmtl painted\nKd 1 1 1\nmap_Kd cube.png\n")
    Image.new("RGB", (50, 30), (200, 30, 40)).save(folder / "cube.png")
    return folder / "cube.obj"


def write_scene(folder: Path, text: str) -> Path:
    path = folder / "scene.toml"
    path.write_text(text)
    return path


GOOD_SCENE = """
name = "cube"
mesh = "cube.obj"
background = "bg.png"
true_class = "school bus"
[camera]
fov_y = 20
[light]
ambient = 0.4
direction = [0, 1, 1]
[pose]
yaw = 15
z = -9
"""


@pytest.fixture
def cube_folder(tmp_path):
    write_textured_cube(tmp_path)
    Image.new("RGB", (64, 48), (10, 200, 10)).save(tmp_path / "bg.png")
    return tmp_path


def test_obj_with_quads_and_mtl_texture_is_triangulated_normalised_and_textured(cube_folder):
    mesh = load_mesh(str(cube_folder / "cube.obj"))
    assert mesh.faces.shape == (12, 3)
    extent = mesh.positions.max(0) - mesh.positions.min(0)
    assert np.isclose(extent.max(), 2.0) and np.allclose(mesh.positions.max(0), -mesh.positions.min(0))
    assert np.allclose(np.linalg.norm(mesh.normals, axis=1), 1.0, atol=1e-5)
    h, w = mesh.texture.shape[:2]
    assert (h & (h - 1)) == 0 and (w & (w - 1)) == 0, "texture sides are powers of two"
    assert tuple(mesh.texture[h // 2, w // 2]) == (200, 30, 40)


def test_glb_loads(tmp_path):
    tm = trimesh.creation.icosphere(subdivisions=2)
    tm.export(tmp_path / "ball.glb")
    mesh = load_mesh(str(tmp_path / "ball.glb"))
    assert mesh.triangle_count == len(tm.faces)
    assert np.isclose((mesh.positions.max(0) - mesh.positions.min(0)).max(), 2.0)


def test_scene_file_loads_with_relative_paths(cube_folder):
    scene = load_scene(write_scene(cube_folder, GOOD_SCENE))
    assert scene.name == "cube" and scene.true_class == 779
    assert scene.camera.fov_y == 20 and scene.light.ambient == 0.4 and scene.light.diffuse == 0.7
    assert scene.pose.yaw == 15 and scene.pose.z == -9
    assert scene.background.size == (64, 48)
    assert len(scene.source["sha256"]) == 64


def test_bundled_scenes_load():
    for name in ("school_bus", "soccer_ball"):
        scene = load_scene(name)
        assert scene.mesh.triangle_count > 100
        assert scene.background is not None


@pytest.mark.parametrize(
    "change, words",
    [
        (("fov_y = 20", "fov_y = 'wide'"), "camera.fov_y"),
        (("fov_y = 20", "fov_y = 500"), "camera.fov_y"),
        (("fov_y = 20", "fov = 20"), "camera.fov"),
        (("yaw = 15", "yaw = nan"), "pose.yaw"),
        (("z = -9", "z = 3"), "pose z"),
        (("ambient = 0.4", "ambient = -1"), "light.ambient"),
        (("direction = [0, 1, 1]", "direction = [0, 0, 0]"), "light.direction"),
        (('true_class = "school bus"', 'true_class = "school buss"'), "school bus"),
        (('true_class = "school bus"', "true_class = 1000"), "out of range"),
        (('name = "cube"', 'nmae = "cube"'), "nmae"),
        (('mesh = "cube.obj"', 'mesh = "missing.obj"'), "mesh file not found"),
        (('background = "bg.png"', 'background = "cube.obj"'), "not a readable image"),
        (('background = "bg.png"', 'background = "procedural:moon"'), "procedural background"),
    ],
)
def test_bad_scene_fields_are_named(cube_folder, change, words):
    text = GOOD_SCENE.replace(*change)
    assert text != GOOD_SCENE
    with pytest.raises(StrikePoseError) as err:
        load_scene(write_scene(cube_folder, text))
    assert words in str(err.value)
    assert "\n" not in str(err.value)


def test_invalid_toml_is_reported(cube_folder):
    with pytest.raises(StrikePoseError, match="not valid TOML"):
        load_scene(write_scene(cube_folder, "mesh = \n"))


def test_missing_texture_override(cube_folder):
    text = GOOD_SCENE.replace('background = "bg.png"', 'background = "bg.png"\ntexture = "nope.png"')
    with pytest.raises(StrikePoseError, match="texture file not found"):
        load_scene(write_scene(cube_folder, text))


@pytest.mark.parametrize("content", ["this is not a mesh\n", "v 0 0 0\nv 1 1 1\n",
                                     "v nan 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"])
def test_broken_meshes_fail_clearly(tmp_path, content):
    path = tmp_path / "broken.obj"
    path.write_text(content)
    with pytest.raises(StrikePoseError) as err:
        load_mesh(str(path))
    assert "broken.obj" in str(err.value)


def test_unknown_scene_name_lists_the_bundled_ones():
    with pytest.raises(StrikePoseError, match="school_bus"):
        load_scene("no_such_scene")


# A vertex with two numbers (line 3) and a face with two indices (line 6): trimesh would read what is
# left and render it, warning only about the missing texture coordinates.
SHORT_VERTEX_OBJ = "v 0 0 0\nv 1 0 0\nv 0 1\nv 0 0 1\nf 1 2 3\nf 1 2\nf 1 3 4\n"
SHORT_FACE_OBJ = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2\nf 1 3 4\n"


@pytest.mark.parametrize("content, line, words", [
    (SHORT_VERTEX_OBJ, 3, "a vertex needs three numbers"),
    (SHORT_FACE_OBJ, 6, "a face needs at least three vertex indices"),
    ("v 0 0 0\nv 1 0 \\\n\nv 0 1 0\nf 1 2 3\n", 2, "a vertex needs three numbers"),  # a continued line
    ("v 0 0 0\r\nv 1 0 0\r\nv 0 1 0\r\nf 1\r\n", 4, "a face needs"),
], ids=["short vertex", "short face", "continued line", "CRLF"])
def test_an_obj_with_a_short_vertex_or_face_names_the_file_and_line(tmp_path, content, line, words):
    path = tmp_path / "short.obj"
    path.write_text(content)
    with pytest.raises(StrikePoseError) as err:
        load_mesh(str(path))
    assert f"{path}, line {line}: {words}" in str(err.value)


def test_an_obj_with_a_short_vertex_is_one_error_line_and_no_picture(tmp_path, capsys):
    from strike_pose.cli import main

    path = tmp_path / "short.obj"
    path.write_text(SHORT_VERTEX_OBJ)
    out = tmp_path / "x.png"
    assert main(["render", "--mesh", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and f"{path}, line 3" in err, err
    assert not out.exists() and not list(tmp_path.glob("*.png")) and not list(tmp_path.glob(".*"))


def test_an_obj_without_texture_coordinates_still_loads_with_a_warning(tmp_path):
    path = tmp_path / "plain.obj"
    path.write_text("# no uvs\nv 0 0 0\nv 1 0 0\nv 0 1 0 1.0\nv  0\t0  1\nvn 0 0 1\nf 1//1 2//1 3//1\nf -4 -3 -1\n")
    with pytest.warns(UserWarning, match="no texture coordinates"):
        mesh = load_mesh(str(path))
    assert mesh.triangle_count == 2


# The original strike-with-a-pose app's starting pose for its Jeep (its settings.py), with its camera 2 units
# behind the origin (its CAMERA_DISTANCE): z = -3.8 there is z = -5.8 here.
ORIGINAL_APP_SCENE = """
mesh = "cube.obj"
true_class = "jeep"
[camera]
fov_y = 16.426
z = 2.0
[light]
ambient = 0
diffuse = 1
direction = [0, 0.7071, 0.7071]
[pose]
yaw = 178.5066
pitch = -4.6715
roll = 12.8242
x = -0.109
y = -0.2109
z = -3.8
"""


def test_a_scene_says_where_its_camera_sits_and_loads_in_this_project_s_convention(cube_folder, renderer):
    theirs = load_scene(write_scene(cube_folder, ORIGINAL_APP_SCENE))
    assert theirs.pose.z == pytest.approx(-5.8) and theirs.pose.yaw == 178.5066 and theirs.pose.x == -0.109
    assert theirs.camera.fov_y == 16.426 and theirs.describe()["camera"] == {"fov_y": 16.426}  # sidecars: ours
    (cube_folder / "ours.toml").write_text(ORIGINAL_APP_SCENE.replace("z = 2.0\n", "").replace("z = -3.8", "z = -5.8"))
    ours = load_scene(cube_folder / "ours.toml")
    assert ours.pose == theirs.pose
    assert np.array_equal(renderer.render(theirs, theirs.pose, size=64), renderer.render(ours, ours.pose, size=64))
    no_pose_z = load_scene(write_scene(cube_folder, ORIGINAL_APP_SCENE.replace("z = -3.8\n", "")))
    assert no_pose_z.pose.z == -10.0  # the default z = -8, as seen from the file's camera


@pytest.mark.parametrize("change, words", [
    (("z = 2.0", "z = '2'"), "camera.z must be a finite number, got '2'"),
    (("z = 2.0", "z = nan"), "camera.z must be a finite number, got nan"),
    (("z = 2.0", "z = 1e300"), "camera.z must be between"),
    (("z = 2.0", "zoom = 2.0"), "unknown field camera.zoom; the fields of [camera] are fov_y, z"),
    (("z = -3.8", "z = 1.95"), "pose z must be below -0.1 (the object must be in front of the camera, which looks "
                               "down -z), got -0.05 (the file's pose.z = 1.95 with its camera at [camera] z = 2)"),
])
def test_a_bad_camera_z_is_named(cube_folder, change, words):
    with pytest.raises(StrikePoseError) as err:
        load_scene(write_scene(cube_folder, ORIGINAL_APP_SCENE.replace(*change)))
    assert words in str(err.value) and "\n" not in str(err.value)


def test_a_scene_without_a_name_is_named_after_its_file(cube_folder):
    from strike_pose.export import shot_stem

    jeep = cube_folder / "jeep.toml"
    jeep.write_text(GOOD_SCENE.replace('name = "cube"\n', ""))
    scene = load_scene(jeep)
    assert scene.name == "jeep" and scene.describe()["name"] == "jeep"
    probs = np.zeros(1000)
    probs[609] = 1.0  # 'jeep'
    assert shot_stem(scene.name, probs) == "jeep-as-jeep"
    assert load_scene(write_scene(cube_folder, GOOD_SCENE)).name == "cube"  # a name of its own is kept
