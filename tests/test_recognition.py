"""The bundled scenes are recognised: the bar that makes every fooling pose meaningful."""

import pytest

YAWS = range(0, 360, 30)


@pytest.mark.parametrize("name", ["school_bus", "soccer_ball", "traffic_light"])
def test_default_scene_is_recognised(name, renderer, classifier):
    from strike_pose import load_scene

    scene = load_scene(name)
    probs = classifier.probabilities(renderer.render(scene, scene.pose, size=classifier.input_size))
    assert probs.argmax() == scene.true_class, f"start pose top-1 is {classifier.top(probs, 1)}"
    assert probs[scene.true_class] >= 0.7

    pose = scene.pose
    images = [renderer.render(scene, (yaw, 10, 0, pose.x, pose.y, pose.z), size=classifier.input_size)
              for yaw in YAWS]
    import numpy as np

    top1 = classifier.probabilities(np.stack(images)).argmax(axis=1)
    hits = int((top1 == scene.true_class).sum())
    assert hits >= 10, f"true class top-1 in {hits} of 12 views"
