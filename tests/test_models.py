"""The classifier registry: offline weights load; anything else fails at once with a way out."""

import numpy as np
import pytest

from strike_pose import StrikePoseError, create_classifier
from strike_pose.models import list_models
from strike_pose.models.labels import imagenet_labels, resolve_class


def test_labels_and_lookup():
    labels = imagenet_labels()
    assert len(labels) == 1000 and labels[779] == "school bus" and labels[805] == "soccer ball"
    assert resolve_class("School Bus") == 779 and resolve_class("805") == 805 and resolve_class(920) == 920
    with pytest.raises(StrikePoseError, match="did you mean"):
        resolve_class("scool bus")


def test_default_classifier_gives_probabilities(classifier):
    probs = classifier.probabilities(np.full((224, 224, 3), 128, np.uint8))
    assert probs.shape == (1000,) and np.isclose(probs.sum(), 1.0, atol=1e-4)
    batch = classifier.probabilities(np.zeros((3, 224, 224, 3), np.uint8))
    assert batch.shape == (3, 1000)


def test_other_sizes_are_resized(classifier):
    assert classifier.probabilities(np.zeros((300, 300, 3), np.uint8)).shape == (1000,)


def test_lite2_loads_offline_at_260():
    clf = create_classifier("efficientnet_lite2")
    assert clf.input_size == 260


def test_models_list_reports_weights():
    rows = {row["name"]: row["weights"] for row in list_models()}
    assert rows["efficientnet_lite0"] is True


@pytest.mark.parametrize("name, words", [
    ("no_such_model", "unknown model"),
    ("torchvision:no_such_net", "unknown torchvision model"),
    ("timm:no_such_net", "unknown timm model"),
])
def test_unknown_models(name, words):
    with pytest.raises(StrikePoseError, match=words):
        create_classifier(name)


@pytest.mark.parametrize("name, words", [
    ("resnet", "unknown model 'resnet'; did you mean torchvision:resnet50, "),
    ("inception_v3", "did you mean torchvision:inception_v3, "),
    ("efficientnet_lite", "did you mean efficientnet_lite2, efficientnet_lite1, "),
    ("torchvision:resnt50", "unknown torchvision model 'resnt50'; did you mean torchvision:resnet50, "),
    ("timm:resnt50", "unknown timm model 'resnt50'; did you mean timm:resnet50, "),
])
def test_an_unknown_model_suggests_the_close_names_of_every_library(name, words):
    with pytest.raises(StrikePoseError) as err:
        create_classifier(name)
    assert words in str(err.value) and str(err.value).count("\n") == 0


def test_missing_downloadable_weights_fail_at_once_with_a_way_out(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    for name in ("torchvision:resnet18", "timm:resnet18"):
        with pytest.raises(StrikePoseError) as err:
            create_classifier(name)
        assert "--weights" in str(err.value)


def test_weights_file_for_torchvision(tmp_path):
    import torch
    import torchvision

    path = tmp_path / "w.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    clf = create_classifier("torchvision:resnet18", weights=str(path))
    assert clf.input_size == 224
    assert clf.probabilities(np.zeros((224, 224, 3), np.uint8)).shape == (1000,)
