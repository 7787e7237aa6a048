"""Pose on real FaceMesh landmarks (the shipped ONNX model on skimage's astronaut)."""
import cv2
import numpy as np
import pytest

from faceplate.curate import pose


def _mesh(img):
    from faceplate.faces.detect import FaceDetector
    from faceplate.faces.landmarks import Landmarker

    det = FaceDetector().detect(img)[0]
    return Landmarker().from_detection(img, det).points


def _pose3d(pts):
    """Rigid fit of the reference to FaceMesh's own x, y, z (z flipped: FaceMesh z grows away)."""
    y = np.column_stack([pts[pose.INDICES, 0], -pts[pose.INDICES, 1], -pts[pose.INDICES, 2]])
    y = y - y.mean(0)
    x = pose.POINTS3D - pose.POINTS3D.mean(0)
    u, _, vt = np.linalg.svd(y.T @ x)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    return pose.angles(u @ d @ vt)


@pytest.fixture(scope="module")
def meshes(face_assets, astronaut):
    img = np.ascontiguousarray(astronaut.srgb)
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 20.0, 1.0)  # +20°: counter-clockwise as displayed
    turned = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return _mesh(img), _mesh(np.ascontiguousarray(img[:, ::-1])), _mesh(turned)


def test_mirror_flips_yaw_and_roll(meshes):
    a, mirrored, _ = meshes
    ya, pa, ra = pose.head_pose(a)
    yb, pb, rb = pose.head_pose(mirrored)
    # FaceMesh is not exactly mirror-symmetric: a couple of degrees of landmark noise
    assert yb == pytest.approx(-ya, abs=3.0)
    assert abs(ra) > 2.0 and rb == pytest.approx(-ra, abs=2.0)
    assert pb == pytest.approx(pa, abs=3.0)


def test_image_rotation_is_roll(meshes):
    a, _, turned = meshes
    ya, pa, ra = pose.head_pose(a)
    yt, pt, rt = pose.head_pose(turned)
    assert rt - ra == pytest.approx(20.0, abs=2.5)
    assert yt == pytest.approx(ya, abs=4.0) and pt == pytest.approx(pa, abs=4.0)


def test_2d_estimate_agrees_with_facemesh_depth(meshes):
    for pts in meshes:
        assert np.allclose(pose.head_pose(pts), _pose3d(pts), atol=5.0)
