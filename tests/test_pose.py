import math

import numpy as np
import pytest
import torch

from strike_pose import Pose, StrikePoseError
from strike_pose.render.transforms import model_matrix, projection
from strike_pose.rotations import rotation


def deg(v):
    return torch.tensor(float(v), dtype=torch.float64)


def test_rotation_is_orthonormal_with_unit_determinant():
    r = rotation(deg(37), deg(-12), deg(71)).numpy()
    assert np.allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert math.isclose(np.linalg.det(r), 1.0, abs_tol=1e-12)


def test_rotation_order_is_yaw_pitch_roll():
    def single(axis, angle):
        c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        return {"y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
                "x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
                "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]

    expected = single("y", 20) @ single("x", 30) @ single("z", 40)
    assert np.allclose(rotation(deg(20), deg(30), deg(40)).numpy(), expected)


def test_yaw_turns_about_the_vertical_axis():
    # Yaw 90 turns the object's +x (the bus's front) to -z, away from the camera.
    r = rotation(deg(90), deg(0), deg(0)).numpy()
    assert np.allclose(r @ [1, 0, 0], [0, 0, -1], atol=1e-12)
    assert np.allclose(r @ [0, 1, 0], [0, 1, 0], atol=1e-12)


def test_model_matrix_places_the_centre_at_xyz():
    m = model_matrix(Pose(10, 20, 30, 0.5, -0.25, -7))
    assert np.allclose(m @ [0, 0, 0, 1], [0.5, -0.25, -7, 1])


def test_projection_maps_the_fov_edge_to_ndc_one():
    p = projection(16.426, 1.0, 0.1, 1000.0)
    z = -8.0
    y = -z * math.tan(math.radians(16.426 / 2))
    clip = p @ [0, y, z, 1]
    assert math.isclose(clip[1] / clip[3], 1.0, rel_tol=1e-9)


def test_pose_parse_and_of():
    assert Pose.parse("1, 2, 3, 0.1, 0.2, -9").as_tuple() == (1, 2, 3, 0.1, 0.2, -9)
    assert Pose.of([1, 2, 3, 0, 0, -5]) == Pose(1, 2, 3, 0, 0, -5)
    assert Pose.of({"yaw": 5}).yaw == 5


@pytest.mark.parametrize("text", ["1,2,3", "1,2,3,4,5,x", "nan,0,0,0,0,-8", "0,0,0,0,0,inf", "0,0,0,0,0,1"])
def test_bad_poses_are_refused_with_a_message(text):
    with pytest.raises(StrikePoseError) as err:
        Pose.parse(text)
    assert "pose" in str(err.value)
