import numpy as np
import pytest

from curate_fixtures import crop_transform, project
from faceplate.curate import pose
from faceplate.curate.measures import measure_faceset
from faceplate.errors import InputError


@pytest.mark.parametrize("yaw", [-50.0, -30.0, -12.0, 0.0, 12.0, 30.0, 50.0])
def test_yaw_sign_and_magnitude(yaw):
    y, p, r = pose.head_pose(project(yaw, 0.0, 0.0))
    assert abs(y - yaw) < 4.0, (yaw, y)
    assert abs(p) < 4.0 and abs(r) < 3.0


@pytest.mark.parametrize("ypr", [(25.0, 15.0, 10.0), (-35.0, -20.0, -15.0), (10.0, 30.0, 0.0), (0.0, -25.0, 20.0)])
def test_combined_pose(ypr):
    got = pose.head_pose(project(*ypr))
    assert np.allclose(got, ypr, atol=4.5), (ypr, got)


def test_rotation_angles_roundtrip():
    for ypr in [(10.0, -20.0, 30.0), (-60.0, 40.0, -5.0), (0.0, 0.0, 0.0)]:
        assert np.allclose(pose.angles(pose.rotation(*ypr)), ypr, atol=1e-9)


def test_nose_direction_convention():
    r = pose.rotation(30.0, 20.0, 0.0)
    nose = r @ np.array([0.0, 0.0, 1.0])
    assert nose[0] > 0  # yaw > 0: nose towards image right
    assert nose[1] > 0  # pitch > 0: nose up (y up in camera coordinates)


def test_crop_landmarks_give_plate_roll():
    plate = project(0.0, 0.0, 20.0)
    m = crop_transform(plate, angle_deg=20.0)  # clockwise in the image: levels the eyes in the crop
    crop = plate @ m[:, :2].T + m[:, 2]
    assert abs(pose.head_pose(crop)[2]) < 3.0  # level in the crop
    back = pose.to_plate(crop, m)
    assert np.allclose(back, plate, atol=1e-6)
    assert abs(pose.head_pose(back)[2] - 20.0) < 3.0


def test_turned_face_in_a_faceset(faceset_factory):
    fs = faceset_factory("turned", [dict(frame=1, yaw=0.0), dict(frame=2, yaw=35.0, angle=7.0), dict(frame=3, yaw=-35.0)])
    rows = measure_faceset(fs).rows
    assert abs(rows[0]["yaw"]) < 4.0
    assert 31.0 < rows[1]["yaw"] < 39.0
    assert -39.0 < rows[2]["yaw"] < -31.0


def test_bad_landmarks_refused():
    with pytest.raises(InputError, match="468"):
        pose.head_pose(np.zeros((68, 2)))
    pts = project(0, 0, 0)
    pts[1, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        pose.head_pose(pts)
    with pytest.raises(InputError, match="degenerate"):
        pose.head_pose(np.zeros((468, 2)))
    with pytest.raises(InputError, match="invertible"):
        pose.to_plate(pts, np.zeros((2, 3)))
