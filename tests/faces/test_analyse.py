"""Pass 1's pieces: the window of a followed face converted to the proxy."""
import numpy as np
import pytest

from faceplate.faces import landmarks as lm
from faceplate.faces.analyse import MESH_MARGIN, mesh_window, region


def _face(angle_deg: float) -> np.ndarray:
    """468 points of a face-shaped cloud (eye corners level before turning) around (300, 200)."""
    rng = np.random.default_rng(1)
    pts = np.column_stack([rng.uniform(-40, 40, 468), rng.uniform(-55, 50, 468)])
    pts[lm.RIGHT_EYE_OUTER], pts[lm.LEFT_EYE_OUTER] = [-30, -10], [30, -10]
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return pts @ rot.T + [300, 200]


@pytest.mark.parametrize("angle", [0.0, 17.0, 45.0, -80.0])
def test_the_window_holds_the_square_facemesh_reads(angle):
    pts = _face(angle)
    centre, side, ang = lm.region_from_points(pts)
    c, half = mesh_window(pts)
    m = lm.region_matrix(centre, side, ang)
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
    square = np.array([[0, 0, 1], [lm.CROP_SIZE, 0, 1], [0, lm.CROP_SIZE, 1], [lm.CROP_SIZE, lm.CROP_SIZE, 1]]) @ inv.T
    assert np.all(np.abs(square - c) <= half - MESH_MARGIN + 1e-6)  # inside, with the margin to spare
    assert np.any(np.abs(square - c) >= half - MESH_MARGIN - 1e-6)  # and no larger than it


def test_following_in_the_window_reads_the_same_pixels(face_assets, astronaut):
    """FaceMesh on the window's pixels finds what it finds on the whole proxy (to float rounding: the
    offset region moves the sampling positions in their last bits)."""
    from faceplate.faces.detect import FaceDetector

    proxy = np.ascontiguousarray(astronaut.srgb)
    det = FaceDetector().detect(proxy)[0]
    mesh = lm.Landmarker()
    prev = mesh.from_detection(proxy, det, refine=True).points
    whole = mesh.from_points(proxy, prev)
    centre, half = mesh_window(prev)
    sub, (rx, ry), k = region(proxy, centre, half, float(np.ptp(prev[:, 0])))
    assert k == 1.0 and sub.shape[0] * sub.shape[1] < 0.5 * proxy.shape[0] * proxy.shape[1]
    part = mesh.from_points(np.ascontiguousarray(sub), prev - [rx, ry, 0.0])
    np.testing.assert_allclose(part.points + [rx, ry, 0.0], whole.points, atol=2e-3)
    assert abs(part.presence - whole.presence) < 1e-5
