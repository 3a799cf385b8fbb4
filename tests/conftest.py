"""Shared fixtures: one renderer, one classifier and the bundled scenes, built once per session."""

from __future__ import annotations

import pytest

from strike_pose.render.gl import load_llvm_users_first

load_llvm_users_first()  # before any GL context: see strike_pose.render.gl


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
