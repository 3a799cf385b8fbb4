"""Every mesh format loads, or is refused in one line that says what is wrong and what to do.

Each file is written here (by trimesh's exporters, or as a literal) and loaded through `load_mesh_file`, the one
path every mesh file takes: OBJ in any text encoding, glTF 2.0 and GLB (node transforms, several primitives,
textures in the GLB, in data URIs and in files next to the .gltf), PLY, STL, OFF and COLLADA; glTF 1.0, unknown
suffixes and missing reader packages are refused; AC3D and Panda3D files go to `strike_pose.assets.convert`.
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from strike_pose.assets import load_mesh
from strike_pose.assets.checks import check_obj_geometry, decode_text, text_encoding
from strike_pose.assets.formats import CONVERTED_SUFFIXES, FORMAT_LIST, MESH_SUFFIXES, mesh_suffix
from strike_pose.assets.reading import load_mesh_file
from strike_pose.errors import StrikePoseError, StrikePoseWarning

RED, GREEN, BLUE = (220, 20, 30), (20, 200, 40), (30, 40, 230)


def refusal(path, *words: str) -> str:
    """The one-line message `load_mesh_file(path)` refuses the file with; it names the file and holds `words`."""
    with pytest.raises(StrikePoseError) as err:
        load_mesh_file(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message, message
    for word in words:
        assert word in message, (word, message)
    return message


def loaded(path, **kwargs):
    """The mesh at `path`, loaded without any warning."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", StrikePoseWarning)
        return load_mesh_file(path, **kwargs)


def bbox_shape(mesh) -> np.ndarray:
    return mesh.positions.max(axis=0) - mesh.positions.min(axis=0)


def normalised(extents) -> np.ndarray:
    """The bounding-box sides of a mesh of `extents` after loading: the longest is 2."""
    extents = np.asarray(extents, dtype=float)
    return extents * 2 / extents.max()


def colour_at(mesh, uv) -> tuple[int, int, int]:
    """The texture's colour at texture coordinates `uv` (OpenGL convention: v = 0 at the bottom)."""
    h, w = mesh.texture.shape[:2]
    col = min(int(uv[0] * w), w - 1)
    row = min(int((1 - uv[1]) * h), h - 1)
    return tuple(int(c) for c in mesh.texture[row, col])


def close(colour, expected, tolerance=12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected))


def png(colour, size=(16, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


# ============================================================================================ OBJ text

def textured_triangle_obj(material: str, comment: str = "") -> str:
    return (f"# {comment}\nmtllib m.mtl\nusemtl {material}\nv 0 0 0\nv 4 0 0\nv 0 2 0\n"
            "vt 0.2 0.2\nvt 0.8 0.2\nvt 0.2 0.8\nf 1/1 2/2 3/3\n")


def write_obj(folder: Path, encoding: str, material: str = "café", texture: str = "tëxture.png",
              comment: str = "made in Köln", bom: bytes = b"") -> Path:
    """m.obj and m.mtl in `encoding` (with `bom` before each), naming `material` and the texture `texture`."""
    (folder / "m.obj").write_bytes(bom + textured_triangle_obj(material, comment).encode(encoding))
    mtl = f"# {comment}\nnewmtl {material}\nKd 1 1 1\nmap_Kd {texture}\n"
    (folder / "m.mtl").write_bytes(bom + mtl.encode(encoding))
    (folder / texture).write_bytes(png(RED))
    return folder / "m.obj"


@pytest.mark.parametrize("encoding, bom", [
    ("utf-16", b""),  # Python writes the BOM of the machine's byte order
    ("utf-16-le", b"\xff\xfe"),
    ("utf-16-be", b"\xfe\xff"),
    ("utf-8", b"\xef\xbb\xbf"),
    ("utf-32", b""),
])
def test_an_obj_with_a_bom_loads_with_its_material_and_texture(tmp_path, encoding, bom):
    mesh = loaded(write_obj(tmp_path, encoding, bom=bom))
    assert mesh.triangle_count == 1
    assert np.allclose(bbox_shape(mesh), [2, 1, 0])
    assert close(colour_at(mesh, mesh.uvs[0]), RED)  # the MTL was read, its material matched and its texture found


@pytest.mark.parametrize("encoding, material, comment", [
    ("cp1252", "café’s", "made in Köln"),  # ’ is 0x92 in cp1252, a control character in latin-1
    ("latin-1", "café", "made in Köln"),
    ("cp1251", "краска", "сделано в Москве"),  # decoded as cp1252 on both sides: the names still match
])
def test_an_obj_in_a_legacy_code_page_loads_with_its_material_and_texture(tmp_path, encoding, material, comment):
    mesh = loaded(write_obj(tmp_path, encoding, material=material, texture="tex.png", comment=comment))
    assert close(colour_at(mesh, mesh.uvs[0]), RED)


def test_a_texture_named_in_a_code_page_is_found_by_its_utf8_name_or_its_bytes(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    loaded_a = loaded(write_obj(tmp_path / "a", "cp1252", texture="tëx.png"))  # saved under its UTF-8 name
    path = write_obj(tmp_path / "b", "cp1252", texture="tëx.png")
    os.rename(tmp_path / "b" / "tëx.png", tmp_path / "b" / os.fsdecode("tëx.png".encode("cp1252")))  # its raw bytes
    loaded_b = loaded(path)
    assert close(colour_at(loaded_a, loaded_a.uvs[0]), RED) and close(colour_at(loaded_b, loaded_b.uvs[0]), RED)


def test_an_obj_with_two_textured_materials_keeps_both_colours(tmp_path):
    (tmp_path / "two.mtl").write_text("newmtl red\nmap_Kd red.png\nnewmtl blue\nmap_Kd blue.png\n")
    (tmp_path / "red.png").write_bytes(png(RED))
    (tmp_path / "blue.png").write_bytes(png(BLUE))
    path = tmp_path / "two.obj"
    path.write_text("mtllib two.mtl\nv -2 0 0\nv -1 0 0\nv -2 1 0\nv 1 0 0\nv 2 0 0\nv 1 1 0\n"
                    "vt 0.3 0.3\nvt 0.7 0.3\nvt 0.3 0.7\nusemtl red\nf 1/1 2/2 3/3\nusemtl blue\nf 4/1 5/2 6/3\n")
    mesh = loaded(path)
    assert mesh.triangle_count == 2
    assert_both_colours(mesh)


def test_an_obj_in_utf16_without_a_bom_loads(tmp_path):
    path = tmp_path / "m.obj"
    path.write_bytes("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 3\nf 1 2 3\nf 1 2 4\n".encode("utf-16-le"))
    with pytest.warns(StrikePoseWarning, match="no texture coordinates"):
        mesh = load_mesh_file(path)
    assert mesh.triangle_count == 2 and np.allclose(bbox_shape(mesh), normalised([1, 1, 3]))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "cp1252"])
def test_broken_geometry_is_found_in_any_encoding(tmp_path, encoding):
    path = tmp_path / "broken.obj"
    path.write_bytes("# é\nv 0 0 0\nv 1 0\nv 0 1 0\nf 1 2 3\n".encode(encoding))
    with pytest.raises(StrikePoseError, match=r"line 3: a vertex needs three numbers \(x y z\), got 'v 1 0'"):
        check_obj_geometry(path)
    refusal(path, "line 3: a vertex needs three numbers")


@pytest.mark.parametrize("raw, prefer, expected", [
    (b"v 1 2 3\n", None, "utf-8"),
    ("é".encode(), None, "utf-8"),
    (b"\xef\xbb\xbfv", None, "utf-8-sig"),
    ("v 1 2 3\n".encode("utf-16"), None, "utf-16"),
    ("v 1 2 3\n".encode("utf-32"), None, "utf-32"),
    ("v 1 2 3\n".encode("utf-16-be"), None, "utf-16-be"),
    ("café’".encode("cp1252"), None, "cp1252"),
    ("café".encode("latin-1"), "latin-1", "latin-1"),  # the OBJ's code page, for its MTL
    (b"caf\x81", None, None),  # not cp1252 either: charset-normalizer's guess (or latin-1)
])
def test_text_encodings(raw, prefer, expected):
    encoding = text_encoding(raw, prefer)
    if expected is not None:
        assert encoding == expected
    text, used = decode_text(raw, prefer)
    assert used == encoding
    text.decode("utf-8")  # always valid UTF-8, never a BOM
    assert not text.startswith(b"\xef\xbb\xbf")


# ====================================================================================== glTF and GLB

def textured_box(extents, colour, uv_low=0.3, uv_high=0.7) -> trimesh.Trimesh:
    """A box whose texture is one colour; its UVs stay inside [uv_low, uv_high] (no bleeding from neighbours)."""
    box = trimesh.creation.box(extents=extents)
    uv = np.random.default_rng(0).uniform(uv_low, uv_high, (len(box.vertices), 2))
    box.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.new("RGB", (16, 16), colour))
    return box


def two_box_scene() -> trimesh.Scene:
    """A red unit cube at the origin and a blue box of 1 x 2 x 0.5 beside it (node b)."""
    scene = trimesh.Scene()
    scene.add_geometry(textured_box([1, 1, 1], RED), geom_name="a", node_name="a")
    scene.add_geometry(textured_box([1, 2, 0.5], BLUE), geom_name="b", node_name="b",
                       transform=trimesh.transformations.translation_matrix([3, 0, 0]))
    return scene


def write_gltf(folder: Path, scene: trimesh.Scene, name="model.gltf", edit=None, embed=False) -> Path:
    """`scene` as a .gltf (buffers in .bin files next to it, or in data URIs), its JSON changed by `edit`."""
    files = trimesh.exchange.gltf.export_gltf(scene, embed_buffers=embed)
    document = json.loads(files.pop("model.gltf"))
    for file_name, data in files.items():
        (folder / file_name).write_bytes(data)
    if edit is not None:
        edit(document)
    (folder / name).write_text(json.dumps(document))
    return folder / name


def parts(mesh):
    """(vertex indices of the red cube, of the blue box): the cube lies at x < 0 after centring."""
    return np.flatnonzero(mesh.positions[:, 0] < 0), np.flatnonzero(mesh.positions[:, 0] > 0)


def assert_both_colours(mesh):
    red, blue = parts(mesh)
    assert len(red) and len(blue)
    assert all(close(colour_at(mesh, mesh.uvs[i]), RED) for i in red), [colour_at(mesh, mesh.uvs[i]) for i in red]
    assert all(close(colour_at(mesh, mesh.uvs[i]), BLUE) for i in blue), [colour_at(mesh, mesh.uvs[i]) for i in blue]


def other_part(kind: str) -> trimesh.Trimesh:
    """A unit cube at x = 3 coloured blue by `kind` (or not coloured at all)."""
    box = trimesh.creation.box()
    box.apply_translation([3, 0, 0])
    if kind == "material":
        box.visual = trimesh.visual.TextureVisuals(material=trimesh.visual.material.PBRMaterial(
            baseColorFactor=[*BLUE, 255]))
    elif kind == "vertex colours":
        box.visual.vertex_colors = [*BLUE, 255]
    elif kind == "face colours":
        box.visual.face_colors = [*BLUE, 255]
    return box


@pytest.mark.parametrize("kind", ["material", "vertex colours", "face colours", "nothing"])
def test_a_textured_part_and_a_part_coloured_otherwise_keep_their_colours(tmp_path, kind):
    """trimesh drops every texture when a textured glTF part meets vertex colours, and shows a material's colour
    differently in an atlas: each part must look as it does alone."""
    import warnings

    scene = trimesh.Scene()
    scene.add_geometry(textured_box([1, 1, 1], RED), geom_name="a")
    scene.add_geometry(other_part(kind), geom_name="b")
    (tmp_path / "both.glb").write_bytes(scene.export(file_type="glb"))
    (tmp_path / "alone.glb").write_bytes(trimesh.Scene(other_part(kind)).export(file_type="glb"))
    both = loaded(tmp_path / "both.glb")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StrikePoseWarning)  # a part coloured by its material alone has no UVs
        alone = load_mesh_file(tmp_path / "alone.glb")
    red, blue = parts(both)
    assert {colour_at(both, both.uvs[i]) for i in red} == {RED}
    assert {colour_at(both, both.uvs[i]) for i in blue} == {colour_at(alone, uv) for uv in alone.uvs}
    assert {colour_at(alone, uv) for uv in alone.uvs} == ({(180, 180, 180)} if kind == "nothing" else {BLUE})


def test_a_gltf_node_translation_rotation_and_scale_are_applied(tmp_path):
    def trs(document):
        node = document["nodes"][1]
        node.pop("matrix", None)
        # a quarter turn about z (the 1 x 2 box becomes 2 x 1), three times as deep, 4 along x
        node.update(translation=[4, 0, 0], rotation=[0, 0, 2 ** -0.5, 2 ** -0.5], scale=[1, 1, 3])

    mesh = loaded(write_gltf(tmp_path, two_box_scene(), edit=trs))
    # cube: x -0.5..0.5; box: x 3..5, y -0.5..0.5, z -0.75..0.75
    assert np.allclose(bbox_shape(mesh), normalised([5.5, 1, 1.5]), atol=1e-5)
    assert mesh.triangle_count == 24


def test_a_gltf_mesh_with_two_primitives_keeps_both_and_their_textures(tmp_path):
    def merge(document):  # mesh 0 holds both primitives; mesh 1 and its node go
        document["meshes"][0]["primitives"] += document["meshes"][1]["primitives"]
        document["meshes"] = document["meshes"][:1]
        document["nodes"] = [{"mesh": 0}]
        document["scenes"] = [{"nodes": [0]}]

    scene = trimesh.Scene()
    scene.add_geometry(textured_box([1, 1, 1], RED).apply_translation([-1, 0, 0]), geom_name="a")
    scene.add_geometry(textured_box([1, 1, 1], BLUE).apply_translation([1, 0, 0]), geom_name="b")
    mesh = loaded(write_gltf(tmp_path, scene, edit=merge))
    assert mesh.triangle_count == 24
    assert np.allclose(bbox_shape(mesh), normalised([3, 1, 1]), atol=1e-5)
    assert_both_colours(mesh)


def test_a_glb_with_two_textured_meshes_keeps_both_colours(tmp_path):
    path = tmp_path / "two.glb"
    path.write_bytes(two_box_scene().export(file_type="glb"))  # buffers and images inside the GLB
    mesh = loaded(path)
    assert mesh.triangle_count == 24
    assert np.allclose(bbox_shape(mesh), normalised([4, 2, 1]), atol=1e-5)
    assert_both_colours(mesh)


def test_a_gltf_with_its_textures_in_png_files_next_to_it(tmp_path):
    def external(document):
        for index, (image, colour) in enumerate(zip(document["images"], (RED, BLUE))):
            image.pop("bufferView")
            image.pop("mimeType", None)
            image["uri"] = f"texture {index}.png"
            (tmp_path / f"texture {index}.png").write_bytes(png(colour))

    path = write_gltf(tmp_path, two_box_scene(), edit=external)
    assert (tmp_path / "gltf_buffer_0.bin").is_file()  # the geometry is in .bin files next to it too
    assert_both_colours(loaded(path))


def test_a_gltf_with_everything_in_data_uris(tmp_path):
    def data_uris(document):
        for image, colour in zip(document["images"], (RED, BLUE)):
            image.pop("bufferView")
            image["uri"] = "data:image/png;base64," + base64.b64encode(png(colour)).decode()

    path = write_gltf(tmp_path, two_box_scene(), edit=data_uris, embed=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.gltf"]
    document = json.loads(path.read_text())
    assert all(buffer["uri"].startswith("data:") for buffer in document["buffers"])
    assert_both_colours(loaded(path))


def test_a_gltf_whose_texture_file_is_missing_loads_with_a_warning(tmp_path):
    def missing(document):
        document["images"] = [{"uri": "gone.png"} for _ in document["images"]]

    path = write_gltf(tmp_path, two_box_scene(), edit=missing)
    with pytest.warns(StrikePoseWarning) as caught:
        mesh = load_mesh_file(path)
    assert mesh.triangle_count == 24
    messages = [str(w.message) for w in caught]
    assert any("left out: unable to load image" in m and "gone.png" in m and str(path) in m for m in messages), messages


def test_a_gltf_whose_buffer_file_is_missing_is_refused(tmp_path):
    path = write_gltf(tmp_path, two_box_scene())
    (tmp_path / "gltf_buffer_0.bin").unlink()
    refusal(path, "could not be read (FileNotFoundError: gltf_buffer_0.bin)", "valid glTF 2.0 (.gltf) file")


def test_a_gltf_2_without_its_asset_field_still_loads(tmp_path):
    mesh = loaded(write_gltf(tmp_path, two_box_scene(), edit=lambda document: document.pop("asset")))
    assert mesh.triangle_count == 24


# ========================================================================================== glTF 1.0

GLTF_1 = {"asset": {"version": "1.0"}, "meshes": {"box": {"primitives": [{"attributes": {"POSITION": "pos"}}]}},
          "accessors": {"pos": {"bufferView": "view", "count": 3}}, "scene": "main", "scenes": {"main": {"nodes": []}}}


def glb_1(document: dict) -> bytes:
    """A binary glTF 1.0 (KHR_binary_glTF): header version 1, then the JSON."""
    content = json.dumps(document).encode()
    return struct.pack("<4sIII", b"glTF", 1, 20 + len(content), len(content)) + struct.pack("<I", 0) + content


def glb_2(document: dict) -> bytes:
    """A GLB 2 container holding only `document` as its JSON chunk."""
    content = json.dumps(document).encode()
    content += b" " * (-len(content) % 4)
    return struct.pack("<4sII", b"glTF", 2, 20 + len(content)) + struct.pack("<I4s", len(content), b"JSON") + content


@pytest.mark.parametrize("name, content, reason", [
    ("old.gltf", json.dumps(GLTF_1), "its asset.version is '1.0'"),
    ("old_no_asset.gltf", json.dumps({k: v for k, v in GLTF_1.items() if k != "asset"}),
     "it has no 'asset' field, as only glTF 1.0 files may"),
    ("old_bom.gltf", b"\xef\xbb\xbf" + json.dumps({**GLTF_1, "asset": {"version": "1.1"}}).encode(),
     "its asset.version is '1.1'"),
    ("old.glb", glb_1(GLTF_1), "its GLB header says version 1"),
    ("old_json.glb", None, "its asset.version is '1.0'"),  # a GLB 2 container holding a glTF 1.0 document
])
def test_gltf_1_is_refused_with_how_to_convert_it(tmp_path, name, content, reason):
    path = tmp_path / name
    if content is None:
        content = glb_2(GLTF_1)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    message = refusal(path, f"is glTF 1.0 ({reason}), which is not read here; convert it to glTF 2.0",
                      f"gltf-pipeline -i {name} -o")
    assert message == (f"mesh {path} is glTF 1.0 ({reason}), which is not read here; convert it to glTF 2.0, e.g. "
                       f"with the gltf-pipeline tool: npx gltf-pipeline -i {name} -o {path.stem}-2.0{path.suffix} "
                       "(Blender imports only glTF 2.0)")


# ============================================================================================ PLY, STL, OFF

BOX = [4, 2, 1]


@pytest.mark.parametrize("name, export", [
    ("box.ply", lambda m: m.export(file_type="ply")),
    ("ascii.ply", lambda m: m.export(file_type="ply", encoding="ascii")),
    ("box.stl", lambda m: m.export(file_type="stl")),
    ("ascii.stl", lambda m: m.export(file_type="stl_ascii")),
    ("box.off", lambda m: m.export(file_type="off")),
    ("UPPER.STL", lambda m: m.export(file_type="stl")),
])
def test_ply_stl_and_off_load_with_their_shape(tmp_path, name, export):
    box = trimesh.creation.box(extents=BOX)
    box.apply_translation([10, -3, 7])  # centred on loading
    data = export(box)
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    with pytest.warns(StrikePoseWarning, match="has no texture coordinates"):
        mesh = load_mesh_file(path)
    assert mesh.triangle_count == 12
    assert np.allclose(bbox_shape(mesh), normalised(BOX), atol=1e-5)
    assert np.allclose(mesh.positions.min(axis=0), -normalised(BOX) / 2, atol=1e-5)
    assert len(mesh.positions) in (8, 36)  # STL stores three corners per triangle


def test_a_ply_with_face_colours_renders_in_its_colour(tmp_path):
    box = trimesh.creation.box(extents=BOX)
    box.visual.face_colors = [*GREEN, 255]
    path = tmp_path / "green.ply"
    path.write_bytes(box.export(file_type="ply"))
    mesh = loaded(path)
    assert mesh.triangle_count == 12
    assert all(close(colour_at(mesh, uv), GREEN, 2) for uv in mesh.uvs)


# ============================================================================================== COLLADA

COLLADA = """<?xml version="1.0" encoding="utf-8"?>
<COLLADA xmlns="http://www.collada.org/2005/11/COLLADASchema" version="1.4.1">
  <asset><up_axis>Y_UP</up_axis></asset>
  <library_images><image id="img"><init_from>red.png</init_from></image></library_images>
  <library_effects><effect id="fx"><profile_COMMON>
    <newparam sid="surface"><surface type="2D"><init_from>img</init_from></surface></newparam>
    <newparam sid="sampler"><sampler2D><source>surface</source></sampler2D></newparam>
    <technique sid="common"><lambert>
      <diffuse><texture texture="sampler" texcoord="UV0"/></diffuse>
    </lambert></technique>
  </profile_COMMON></effect></library_effects>
  <library_materials><material id="mat"><instance_effect url="#fx"/></material></library_materials>
  <library_geometries><geometry id="quad"><mesh>
    <source id="pos"><float_array id="pos-array" count="12">0 0 0 4 0 0 4 2 0 0 2 0</float_array>
      <technique_common><accessor source="#pos-array" count="4" stride="3">
        <param name="X" type="float"/><param name="Y" type="float"/><param name="Z" type="float"/>
      </accessor></technique_common></source>
    <source id="uv"><float_array id="uv-array" count="8">0.2 0.2 0.8 0.2 0.8 0.8 0.2 0.8</float_array>
      <technique_common><accessor source="#uv-array" count="4" stride="2">
        <param name="S" type="float"/><param name="T" type="float"/>
      </accessor></technique_common></source>
    <vertices id="verts"><input semantic="POSITION" source="#pos"/></vertices>
    <triangles material="painted" count="2">
      <input semantic="VERTEX" source="#verts" offset="0"/>
      <input semantic="TEXCOORD" source="#uv" offset="1" set="0"/>
      <p>0 0 1 1 2 2 0 0 2 2 3 3</p>
    </triangles>
  </mesh></geometry></library_geometries>
  <library_visual_scenes><visual_scene id="scene"><node id="node">
    <scale>1 1 3</scale>
    <instance_geometry url="#quad"><bind_material><technique_common>
      <instance_material symbol="painted" target="#mat">
        <bind_vertex_input semantic="UV0" input_semantic="TEXCOORD" input_set="0"/>
      </instance_material>
    </technique_common></bind_material></instance_geometry>
  </node></visual_scene></library_visual_scenes>
  <scene><instance_visual_scene url="#scene"/></scene>
</COLLADA>
"""


def test_a_collada_file_loads_with_its_texture(tmp_path):
    (tmp_path / "red.png").write_bytes(png(RED))
    path = tmp_path / "quad.dae"
    path.write_text(COLLADA)
    mesh = loaded(path)
    assert mesh.triangle_count == 2 and np.allclose(bbox_shape(mesh), [2, 1, 0])
    assert all(close(colour_at(mesh, uv), RED) for uv in mesh.uvs)


def test_a_collada_file_exported_by_trimesh_loads_with_its_shape(tmp_path):
    path = tmp_path / "box.dae"
    path.write_bytes(trimesh.creation.box(extents=BOX).export(file_type="dae"))
    with pytest.warns(StrikePoseWarning, match="has no texture coordinates"):  # the box has no UVs
        mesh = load_mesh_file(path)
    assert mesh.triangle_count == 12 and np.allclose(bbox_shape(mesh), normalised(BOX), atol=1e-5)


# ==================================================================================== missing readers

def cube_file(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_bytes(trimesh.creation.box().export(file_type="dae") if name.endswith(".dae") else b"x")
    return path


@pytest.mark.parametrize("name, module, package, kind", [
    ("box.dae", "collada", "pycollada", "COLLADA (.dae)"),
    ("box.ac", "assimp_py", "assimp-py", "AC3D (.ac)"),
    ("box.acc", "assimp_py", "assimp-py", "AC3D (.acc)"),
    ("box.egg", "panda3d.core", "panda3d", "Panda3D (.egg)"),
    ("box.egg.pz", "panda3d.core", "panda3d", "Panda3D (.egg.pz)"),
    ("box.bam", "panda3d.core", "panda3d", "Panda3D (.bam)"),
    ("box.bam.pz", "panda3d.core", "panda3d", "Panda3D (.bam.pz)"),
    ("box.ac3d", "assimp_py", "assimp-py", "AC3D (.ac3d)"),
])
def test_a_missing_reader_package_says_how_to_install_it(tmp_path, monkeypatch, name, module, package, kind):
    path = cube_file(tmp_path, name)
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails as if it were not installed
    message = refusal(path)
    assert message == (f"mesh {path}: reading {kind} files needs the {package} package; "
                       f"install it with pip install {package}")
    assert "could not be read" not in message and "valid" not in message


def test_trimesh_without_pycollada_says_how_to_install_it(tmp_path, monkeypatch):
    """trimesh, imported where pycollada was missing, keeps a stand-in that raises a bare ImportError."""
    from trimesh.exceptions import ExceptionWrapper
    from trimesh.exchange import load as trimesh_load

    monkeypatch.setitem(trimesh_load.mesh_loaders, "dae",
                        ExceptionWrapper(ImportError("missing `pip install pycollada`")))
    path = cube_file(tmp_path, "box.dae")
    refusal(path, "reading COLLADA (.dae) files needs the pycollada package; install it with pip install pycollada")


def test_a_package_missing_while_reading_is_named(tmp_path, monkeypatch):
    from trimesh.exchange import load as trimesh_load

    def needs_scipy(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'scipy'", name="scipy")

    monkeypatch.setitem(trimesh_load.mesh_loaders, "ply", needs_scipy)
    path = tmp_path / "box.ply"
    path.write_bytes(trimesh.creation.box().export(file_type="ply"))
    refusal(path, "reading PLY (.ply) files needs the scipy package; install it with pip install scipy")


def test_a_broken_collada_file_is_called_broken(tmp_path):
    path = tmp_path / "broken.dae"
    path.write_text("<COLLADA><library_geometries>")
    message = refusal(path, "could not be read", "valid COLLADA (.dae) file")
    assert "pip install" not in message


# ==================================================================================== unknown suffixes

@pytest.mark.parametrize("name", ["car.fbx", "car.3ds", "car.blend", "notes.txt", "car.3mf", "car.pz", "car"])
def test_an_unknown_suffix_is_refused_with_the_formats_that_load(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    message = refusal(path,
                      "files are not a mesh format read here" if "." in name else "it has no suffix to tell its format",
                      f"give one of: {FORMAT_LIST} (convert other formats to one of these, e.g. with Blender)")
    if "." in name:
        assert f"'{path.suffix}' files are not a mesh format read here" in message


def test_every_listed_format_is_named_in_the_list():
    assert set(MESH_SUFFIXES) == {".obj", ".gltf", ".glb", ".ply", ".stl", ".off", ".dae", ".ac", ".acc", ".ac3d",
                                  ".egg", ".egg.pz", ".bam", ".bam.pz"}
    from strike_pose.assets import convert

    assert set(CONVERTED_SUFFIXES) == set(convert.CONVERTED_SUFFIXES)  # every suffix convert reads reaches it
    for suffix in MESH_SUFFIXES:
        assert suffix in FORMAT_LIST or suffix[1:].upper() in FORMAT_LIST
    assert mesh_suffix("a/B.EGG.PZ") == ".egg.pz" and mesh_suffix("x.pz") == "" and mesh_suffix("x.Obj") == ".obj"


# ============================================================================ formats read by convert

def fake_convert(monkeypatch, read_converted) -> list:
    """Puts a stand-in strike_pose.assets.convert in place; returns the list of paths it was given."""
    calls = []

    def recording(path):
        calls.append(Path(path))
        return read_converted(path)

    module = types.ModuleType("strike_pose.assets.convert")
    module.read_converted = recording
    monkeypatch.setitem(sys.modules, "strike_pose.assets.convert", module)
    return calls


@pytest.mark.parametrize("name", ["plane.ac", "car.acc", "hut.ac3d", "bench.egg", "teapot.egg.pz", "panda.bam",
                                  "panda.bam.pz", "SHIP.AC"])
def test_ac3d_and_panda3d_files_go_to_read_converted(tmp_path, monkeypatch, name):
    calls = fake_convert(monkeypatch, lambda path: textured_box(BOX, GREEN))
    path = tmp_path / name
    path.write_bytes(b"not read here")
    mesh = load_mesh(str(path))  # the public entry point
    assert calls == [path]
    assert mesh.triangle_count == 12 and np.allclose(bbox_shape(mesh), normalised(BOX), atol=1e-5)
    assert close(colour_at(mesh, mesh.uvs[0]), GREEN)


def test_read_converted_refusals_and_failures_stay_one_line(tmp_path, monkeypatch):
    path = tmp_path / "plane.ac"
    path.write_bytes(b"AC3Db\n")

    def refuses(path):
        raise StrikePoseError(f"mesh {path} has no objects; export it again")

    fake_convert(monkeypatch, refuses)
    assert refusal(path) == f"mesh {path} has no objects; export it again"

    def fails(path):
        raise ValueError("bad header")

    fake_convert(monkeypatch, fails)
    refusal(path, "could not be read (ValueError: bad header); check that it is a valid AC3D (.ac) file")

    def needs_a_package(path):
        raise ModuleNotFoundError("No module named 'assimp_py'", name="assimp_py")

    fake_convert(monkeypatch, needs_a_package)
    assert refusal(path) == (f"mesh {path}: reading AC3D (.ac) files needs the assimp-py package; install it with "
                             "pip install assimp-py")
