"""Checks of mesh files before a reader sees them: OBJ and MTL text decoded whatever its encoding (UTF-8
with or without BOM, UTF-16 or UTF-32 with BOM, UTF-16 without one, legacy single-byte code pages), an OBJ
whose geometry is broken (a vertex with fewer than three numbers, a face with fewer than three indices)
refused naming the line, a file that is not text refused as what it is, and a glTF 1.0 file refused."""

from __future__ import annotations

import codecs
import json
import os
import re
import struct
from pathlib import Path


from strike_pose.errors import StrikePoseError, shown

# ------------------------------------------------------------------------------------- OBJ and MTL text

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),  # before UTF-16 LE: same start
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
LEGACY_ENCODING = "cp1252"  # the code page of most exporters that do not write UTF-8
_SAMPLE = 65536  # bytes looked at to tell UTF-16 without a BOM, or to guess another encoding


def text_encoding(raw: bytes, prefer: str | None = None) -> str:
    """The encoding of the text in `raw`: the one its BOM names (UTF-8, UTF-16, UTF-32); UTF-16 without a BOM
    when every other byte is zero; UTF-8 when it decodes; else `prefer` or cp1252 when the whole text decodes
    with it, else charset-normalizer's guess, else latin-1 (which decodes anything).

    OBJ and MTL keywords and numbers are ASCII, so only names and comments depend on the choice; a single-byte
    code page keeps names from the OBJ and its MTL equal as long as both are decoded with the same one."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            return codec
    sample = raw[:min(len(raw), _SAMPLE) // 2 * 2]
    half = len(sample) // 2
    if half >= 4:
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if odd > 0.4 * half and even < 0.05 * half:
            return "utf-16-le"
        if even > 0.4 * half and odd < 0.05 * half:
            return "utf-16-be"
    for codec in ("utf-8", prefer, LEGACY_ENCODING):
        if codec:
            try:
                raw.decode(codec)
                return codec
            except (UnicodeDecodeError, LookupError):
                pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(raw[:_SAMPLE]).best()
        if best is not None and best.encoding:
            codecs.lookup(best.encoding)
            return best.encoding
    except Exception:  # not installed, or a guess Python cannot decode with
        pass
    return "latin-1"


def decode_text(raw: bytes, prefer: str | None = None) -> tuple[bytes, str]:
    """(the text of `raw` as UTF-8 without a BOM, the encoding it was read with); see `text_encoding`."""
    encoding = text_encoding(raw, prefer)
    if encoding == "utf-8":
        return raw, encoding
    return raw.decode(encoding, errors="replace").encode("utf-8"), encoding


def _single_byte(encoding: str) -> bool:
    return not encoding.replace("_", "-").lower().startswith("utf")


# Files that are given an .obj suffix by mistake, by their first bytes (a picture saved over the mesh's name).
_NOT_OBJ = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
            (b"glTF", "a GLB (binary glTF) file"), (b"PK\x03\x04", "a zip archive"), (b"\x1f\x8b", "a gzip file"),
            (b"%PDF", "a PDF document"))
_BINARY = re.compile(rb"[\x00-\x08\x0e-\x19\x1b-\x1f]")  # control characters no text file holds


def read_obj_text(path: Path) -> tuple[bytes, str]:
    """The text of an OBJ file as UTF-8 and the encoding it was written in (see `text_encoding`); a
    StrikePoseError when the file is not text at all (an image or other binary file named .obj)."""
    try:
        raw = path.read_bytes()
    except MemoryError:
        raise StrikePoseError(f"mesh {path} is too large to load into memory; simplify the mesh") from None
    except OSError as exc:
        raise StrikePoseError(f"mesh {path} could not be read ({exc.strerror or exc}); check the file") from None
    text, encoding = decode_text(raw)
    kind = next((what for magic, what in _NOT_OBJ if raw.startswith(magic)), None)
    if kind is not None or _BINARY.search(text, 0, _SAMPLE):
        raise StrikePoseError(f"mesh {path} is not an OBJ file "
                              f"({f'it is {kind}' if kind else 'it is binary, not text'}); "
                              "an OBJ mesh is text (v and f lines): give the mesh's own file")
    return text, encoding


def obj_resolver(path: Path, encoding: str):
    """A trimesh resolver for the files an OBJ names: an MTL is handed on decoded to UTF-8 (in the OBJ's code page
    when it has no BOM and is not UTF-8, so material names match); a file name that is not found as decoded is
    also looked for as its bytes in the file, and as those bytes read as UTF-8, cp1252 and latin-1 (a texture
    named in a legacy code page, unpacked with its name in another)."""
    from trimesh.resolvers import FilePathResolver

    class ObjResolver(FilePathResolver):
        def __init__(self) -> None:
            super().__init__(str(path))
            self.encoding = encoding  # of the text the next name comes from: the OBJ, then its MTL

        def _other_names(self, name: str) -> list[str]:
            if name.isascii() or not _single_byte(self.encoding):
                return []
            try:
                raw = name.encode(self.encoding)
            except (UnicodeEncodeError, LookupError):
                return []
            names = [os.fsdecode(raw)]
            for codec in ("utf-8", LEGACY_ENCODING, "latin-1"):
                try:
                    names.append(raw.decode(codec))
                except UnicodeDecodeError:
                    pass
            return [other for other in dict.fromkeys(names) if other != name]

        def get(self, name: str) -> bytes:
            try:
                data = super().get(name)
            except FileNotFoundError as missing:
                for other in self._other_names(name):
                    try:
                        data = super().get(other)
                        break
                    except (OSError, ValueError):
                        continue
                else:
                    raise missing from None
            if name.strip().lower().endswith(".mtl"):
                legacy = self.encoding if _single_byte(self.encoding) else None
                data, self.encoding = decode_text(data, prefer=legacy)
            return data

    return ObjResolver()


_NUMBER = rb"(?:[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?i:nan|inf(?:inity)?))"
_INDEX = rb"[-+]?\d+(?:/[-+]?\d*){0,2}"  # 7, 7/3, 7//5, 7/3/5, -1
_GAP, _END = rb"[ \t]+", rb"[ \t]*(?:#[^\n]*)?\r?$"
_BROKEN_OBJ_LINES = (
    # a `v` line that is not x y z followed by optional numbers (w, or a colour)
    (re.compile(rb"^[ \t]*v(?=[ \t\r]|$)(?!(?:" + _GAP + _NUMBER + rb"){3,}" + _END + rb")[^\n]*", re.MULTILINE),
     "a vertex needs three numbers (x y z)"),
    # an `f` line with fewer than three vertex indices
    (re.compile(rb"^[ \t]*f(?=[ \t\r]|$)(?!(?:" + _GAP + _INDEX + rb"){3,}" + _END + rb")[^\n]*", re.MULTILINE),
     "a face needs at least three vertex indices"),
)


def check_obj_geometry(path: Path, text: bytes | None = None) -> None:
    """A StrikePoseError naming the file and the line of the first vertex with fewer than three numbers or
    face with fewer than three indices: trimesh would drop or misread such lines and render what is left.
    `text` is the file's text as UTF-8 (read and decoded from `path` when not given, in any encoding).
    Lines continued with a backslash are joined first, as trimesh does."""
    raw = read_obj_text(path)[0] if text is None else text
    continuation = re.compile(rb"\\\r?\n")
    joined_text = continuation.sub(b"", raw)
    found = [(m.start(), m, what) for pattern, what in _BROKEN_OBJ_LINES if (m := pattern.search(joined_text))]
    if not found:
        return
    at, match, what = min(found, key=lambda f: f[0])
    for joined in continuation.finditer(raw):  # from the joined text back to the file's own lines
        if joined.start() > at:
            break
        at += len(joined.group())
    line = raw.count(b"\n", 0, at) + 1
    shown = match.group().decode("utf-8", "replace").strip()
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise StrikePoseError(f"mesh {path}, line {line}: {what}, got {shown!r}; repair the file "
                          "(or export the mesh again)")


# ---------------------------------------------------------------------------------------------- glTF

_BINARY_GLTF_1 = {"asset": {"version": "1.0"}}  # what a GLB whose header says version 1 holds


def _gltf_document(path: Path, suffix: str) -> dict | None:
    """The JSON of a .gltf file or of a GLB's JSON chunk (_BINARY_GLTF_1 for a binary glTF 1.0, whose chunks are
    not those of glTF 2.0); None when it cannot be read here (trimesh then says what is wrong)."""
    try:
        with open(path, "rb") as handle:
            if suffix == ".glb":
                head = handle.read(20)
                if len(head) < 12 or head[:4] != b"glTF":
                    return None
                if struct.unpack_from("<I", head, 4)[0] == 1:
                    return _BINARY_GLTF_1
                if len(head) < 20 or head[16:20] != b"JSON":
                    return None
                text = handle.read(struct.unpack_from("<I", head, 12)[0])
            else:
                text = handle.read()
        document = json.loads(text.decode("utf-8-sig"))
    except ValueError as exc:  # not UTF-8, or not JSON: trimesh would blame a missing file
        where = "its JSON chunk" if suffix == ".glb" else "it"
        raise StrikePoseError(f"mesh {path} could not be read: {where} is not JSON text ({exc}); check that it is "
                              "a valid glTF 2.0 file (or export it again)") from None
    except (OSError, RecursionError, MemoryError):
        return None
    return document if isinstance(document, dict) else None


_GLTF_COLLECTIONS = ("meshes", "nodes", "accessors", "bufferViews", "buffers", "materials", "scenes")


def check_gltf_version(path: Path, suffix: str) -> None:
    """A StrikePoseError for a glTF 1.0 file (trimesh reads glTF 2.0 only): one whose asset.version is below 2,
    or one without an `asset` whose collections are objects (glTF 1.0 keys them by name; 2.0 lists them)."""
    document = _gltf_document(path, suffix)
    if document is None:
        return
    asset = document.get("asset")
    if document is _BINARY_GLTF_1:
        reason = "its GLB header says version 1"
    elif isinstance(asset, dict) and "version" in asset:
        major = re.match(r"\s*(\d+)", str(asset["version"]))
        if not major or int(major.group(1)) >= 2:
            return
        reason = f"its asset.version is {shown(asset['version'], 20)}"
    elif asset is None:
        if any(isinstance(document.get(key), list) for key in _GLTF_COLLECTIONS):
            return  # glTF 2.0 that lacks its asset: trimesh reads it
        reason = "it has no 'asset' field, as only glTF 1.0 files may"
    else:
        return
    raise StrikePoseError(f"mesh {path} is glTF 1.0 ({reason}), which is not read here; convert it to glTF 2.0, "
                          f"e.g. with the gltf-pipeline tool: npx gltf-pipeline -i {path.name} -o "
                          f"{path.stem}-2.0{path.suffix} (Blender imports only glTF 2.0)")
