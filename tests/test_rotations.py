import math

import numpy as np
import pytest
import torch

from strike_pose.rotations import (POSE_AXES, axis_angle_matrix, euler_from_matrix, quaternion_matrix, rotation,
                                   rotation_angle, rotation_axis, rotation_between, rotation_matrix, turned_towards,
                                   unwrap_degrees, wrap_degrees)


def matrix(yaw, pitch, roll):
    return rotation_matrix((yaw, pitch, roll))


def test_pose_axes_name_the_six_numbers_of_a_pose():
    from strike_pose.scene import Pose

    assert POSE_AXES == ("yaw", "pitch", "roll", "x", "y", "z")
    assert tuple(Pose().as_dict()) == POSE_AXES


def test_numpy_and_torch_give_the_same_matrix():
    angles = (37.0, -12.0, 71.0)
    r_np = rotation(*(np.float64(a) for a in angles))
    r_torch = rotation(*(torch.tensor(a, dtype=torch.float64) for a in angles))
    assert isinstance(r_np, np.ndarray) and isinstance(r_torch, torch.Tensor)
    assert np.allclose(r_np, r_torch.numpy(), atol=1e-15)
    assert np.allclose(rotation(*angles), r_np)  # plain floats too


def test_random_round_trips_reproduce_the_matrix_and_the_angles():
    rng = np.random.default_rng(1)
    for yaw, pitch, roll in rng.uniform(-180, 180, (200, 3)):
        r = matrix(yaw, pitch, roll)
        angles = euler_from_matrix(r)
        assert np.allclose(matrix(*angles), r, atol=1e-9)
        assert -90 <= angles[1] <= 90 and all(-180 <= a < 180 for a in angles)
        near = euler_from_matrix(r, near=(yaw, pitch, roll))  # the other solution when pitch is beyond 90
        assert np.allclose(matrix(*near), r, atol=1e-9)
        assert [wrap_degrees(a - b) for a, b in zip(near, (yaw, pitch, roll))] == pytest.approx([0, 0, 0], abs=1e-6)


def test_uniform_random_rotations_round_trip():
    rng = np.random.default_rng(2)
    for q in rng.normal(size=(100, 4)):
        r = quaternion_matrix(q / np.linalg.norm(q))
        assert np.allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.allclose(matrix(*euler_from_matrix(r)), r, atol=1e-9)


@pytest.mark.parametrize("pitch", [90.0, -90.0])
@pytest.mark.parametrize("yaw, roll", [(0, 0), (20, 0), (20, 35), (-150, 100), (170, -170)])
def test_gimbal_lock_round_trips_the_matrix(yaw, pitch, roll):
    r = matrix(yaw, pitch, roll)
    angles = euler_from_matrix(r)
    assert angles[1] == pytest.approx(pitch) and angles[2] == 0.0  # only yaw -/+ roll is defined
    assert np.allclose(matrix(*angles), r, atol=1e-7)
    assert np.allclose(matrix(*euler_from_matrix(r, near=(yaw, pitch, roll))), r, atol=1e-7)


@pytest.mark.parametrize("pitch", [90.0, -90.0])
def test_gimbal_lock_of_a_composed_matrix(pitch):
    """A matrix made by composing rotations (as a drag does) has rounding noise where the lock makes
    yaw and roll unreadable from the usual entries."""
    r = axis_angle_matrix([0, 1, 0], 33.0) @ matrix(0, pitch, 0) @ axis_angle_matrix([0, 0, 1], -21.0)
    angles = euler_from_matrix(r)
    assert abs(angles[1]) == pytest.approx(90)
    assert np.allclose(matrix(*angles), r, atol=1e-7)


def test_wrap_and_unwrap():
    assert wrap_degrees(180.0) == -180.0 and wrap_degrees(-180.0) == -180.0
    assert wrap_degrees(190.0) == pytest.approx(-170.0) and wrap_degrees(-370.0) == pytest.approx(-10.0)
    assert np.allclose(wrap_degrees(np.array([540.0, 45.0])), [-180.0, 45.0])
    assert np.allclose(unwrap_degrees([10.0, -170.0], [370.0, 170.0]), [370.0, 190.0])


def test_geodesic_angle_axis_and_turn():
    a = np.array([10.0, 20.0, 30.0, 0, 0, -8])
    step = axis_angle_matrix([1.0, 2.0, -0.5], 40.0)
    b = np.array([*euler_from_matrix(step @ rotation_matrix(a)), 0, 0, -8])
    assert rotation_angle(a, b) == pytest.approx(40.0)
    axis = rotation_axis(a, b)
    assert np.linalg.norm(axis) == pytest.approx(2 * math.sin(math.radians(40)))
    assert np.allclose(axis / np.linalg.norm(axis), np.array([1.0, 2.0, -0.5]) / np.linalg.norm([1.0, 2.0, -0.5]))
    half = turned_towards(a, b, 20.0)
    assert rotation_angle(a, euler_from_matrix(half)) == pytest.approx(20.0)
    assert rotation_angle(euler_from_matrix(half), b) == pytest.approx(20.0)
    assert turned_towards(a, a, 5.0) is None
    assert turned_towards(a, [*euler_from_matrix(axis_angle_matrix([0, 1, 0], 180) @ rotation_matrix(a))], 5.0) is None


def test_rotation_between_vectors():
    a, b = np.array([0.0, 0.0, 1.0]), np.array([0.6, 0.0, 0.8])
    assert np.allclose(rotation_between(a, b) @ a, b)
    assert np.allclose(rotation_between(a, a), np.eye(3))
