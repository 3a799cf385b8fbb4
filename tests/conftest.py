"""Shared fixtures: one renderer, one classifier and the bundled scenes, built once per session."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

from strike_pose.render.gl import load_llvm_users_first

load_llvm_users_first()  # before any GL context: see strike_pose.render.gl

# Fetched objects live in a cache of their own for the tests (tests/test_objects.py fetches into its
# own): the user's fetched objects neither change what the tests see nor are touched by them. The
# detector's weights are the user's (`make test` fetches them first: `strike-pose models fetch`).
if not os.environ.get("STRIKE_POSE_MODELS"):
    from strike_pose.models.weights import models_dir

    os.environ["STRIKE_POSE_MODELS"] = str(models_dir())
os.environ["STRIKE_POSE_CACHE"] = tempfile.mkdtemp(prefix="strike-pose-test-cache-")
atexit.register(shutil.rmtree, os.environ["STRIKE_POSE_CACHE"], True)


@pytest.fixture(scope="module")
def display():
    """A virtual X display of its own (Xvfb) for a module's window tests; xdotool drives it."""
    from strike_pose.gui.xvfb import virtual_display, xvfb_missing

    why = xvfb_missing() or (None if shutil.which("xdotool") else "xdotool is not installed (apt-get install xdotool)")
    if why:
        pytest.skip(why)
    with virtual_display(1600, 1000) as name:
        yield name


@pytest.fixture(scope="session")
def renderer():
    from strike_pose.render import default_renderer

    return default_renderer()


@pytest.fixture(scope="session")
def classifier():
    from strike_pose import create_classifier

    return create_classifier("efficientnet_lite0")


@pytest.fixture(scope="session")
def bus():
    from strike_pose import load_scene

    return load_scene("school_bus")


@pytest.fixture(scope="session")
def ball():
    from strike_pose import load_scene

    return load_scene("soccer_ball")


@pytest.fixture(scope="session")
def small_classifier():
    """A stand-in for the real model where the search's logic is what a test checks, not the model: a
    real Classifier (the same preprocessing, logits, gradients and labels) around a small seeded CNN at
    64 pixels, so the renders, the twin and the model each cost a fraction of EfficientNet's."""
    import torch

    from strike_pose.models.classifier import Classifier, Preprocessing

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 5, stride=2), torch.nn.ReLU(), torch.nn.Conv2d(8, 16, 5, stride=2), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 1000))
    return Classifier("small-test-cnn", net, Preprocessing(64, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
                      torch.device("cpu"))
