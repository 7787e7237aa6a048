"""FaceMesh landmarks: crop geometry (pure), then 468 points on the astronaut, tracking, rotation."""
from __future__ import annotations

import numpy as np
import pytest

from faceplate.errors import InputError
from faceplate.faces import landmarks as lm
from faceplate.faces.detect import FaceDetector, rotate_points_back
from faceplate.faces.landmarks import Landmarker, to_ibug68


# ----------------------------------------------------------------------------- pure functions
def test_index_lists_are_valid():
    for name in ("FACE_OVAL", "RIGHT_EYE", "LEFT_EYE", "MOUTH", "MOUTH_INNER", "RIGHT_EYEBROW", "LEFT_EYEBROW", "IBUG68"):
        idx = getattr(lm, name)
        assert len(set(idx)) == len(idx) and all(0 <= i < 468 for i in idx), name
    assert len(lm.IBUG68) == 68 and len(lm.FACE_OVAL) == 36


def test_region_matrix_maps_centre_and_axes():
    m = lm.region_matrix((100.0, 50.0), 96.0, np.pi / 2, size=192)
    def apply(p):
        return m[:, :2] @ np.asarray(p, float) + m[:, 2]
    np.testing.assert_allclose(apply((100, 50)), [96, 96])
    # crop x axis points along +y of the image (angle 90°), scale 2
    np.testing.assert_allclose(apply((100, 60)), [116, 96], atol=1e-12)
    np.testing.assert_allclose(apply((90, 50)), [96, 116], atol=1e-12)
    assert lm.eye_angle((0, 0), (0, 5)) == pytest.approx(np.pi / 2)
    with pytest.raises(InputError, match="positive side"):
        lm.region_matrix((0, 0), 0.0, 0.0)


def test_warp_crop_translation_is_exact():
    rng = np.random.default_rng(1)
    img = rng.random((300, 400, 3), dtype=np.float32)
    m = lm.region_matrix((150.0 + 96, 40.0 + 96), 192.0, 0.0, size=192)
    np.testing.assert_array_equal(lm.warp_crop(img, m, 192), img[40:232, 150:342])


def test_warp_crop_shrinks_without_aliasing():
    # a 1-px checkerboard shrunk 10x must come out flat grey (plain bilinear sampling would not)
    yy, xx = np.mgrid[0:2000, 0:2000]
    img = np.repeat(((xx + yy) % 2).astype(np.float32)[..., None], 3, axis=2)
    m = lm.region_matrix((1000.0, 1000.0), 1920.0, 0.3, size=192)
    crop = lm.warp_crop(img, m, 192)
    assert abs(float(crop[40:150, 40:150].mean()) - 0.5) < 0.02 and float(crop[40:150, 40:150].std()) < 0.05


def test_region_from_points_is_rotation_equivariant():
    rng = np.random.default_rng(2)
    pts = rng.normal(0, 30, (468, 2)) + [200, 150]
    pts[lm.RIGHT_EYE_OUTER], pts[lm.LEFT_EYE_OUTER] = [170, 140], [230, 140]
    c, side, ang = lm.region_from_points(pts)
    a = 0.4
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    c2, side2, ang2 = lm.region_from_points((pts - [200, 150]) @ rot.T + [200, 150])
    assert ang == pytest.approx(0.0) and ang2 == pytest.approx(a)
    assert side2 == pytest.approx(side)
    np.testing.assert_allclose(c2, rot @ (c - [200, 150]) + [200, 150], atol=1e-9)


def test_to_ibug68_shape_and_errors():
    pts = np.arange(468 * 3, dtype=float).reshape(468, 3)
    out = to_ibug68(pts)
    assert out.shape == (68, 2)
    np.testing.assert_array_equal(out[8], pts[152, :2])  # chin
    with pytest.raises(InputError, match=r"468×2 or 468×3.*\(68, 2\)"):
        to_ibug68(np.zeros((68, 2)))


# ------------------------------------------------------------------------------- real photos
@pytest.fixture(scope="module")
def astronaut_mesh(face_assets, astronaut):
    det = FaceDetector().detect(astronaut.srgb)[0]
    return det, Landmarker().from_detection(astronaut.srgb, det)


def test_468_landmarks_on_the_astronaut(astronaut_mesh):
    det, f = astronaut_mesh
    p = f.points
    assert p.shape == (468, 3) and np.all(np.isfinite(p)) and f.presence > 0.9
    x0, y0, x1, y1 = det.box
    pad = 0.2 * (x1 - x0)
    assert np.all((p[:, 0] > x0 - pad) & (p[:, 0] < x1 + pad) & (p[:, 1] > y0 - pad) & (p[:, 1] < y1 + pad))
    # subject's right eye on the image's left; inner corners between the outer ones
    assert p[lm.RIGHT_EYE_OUTER, 0] < p[lm.RIGHT_EYE_INNER, 0] < p[lm.NOSE_TIP, 0] < p[lm.LEFT_EYE_INNER, 0] < p[lm.LEFT_EYE_OUTER, 0]
    assert p[lm.MOUTH_RIGHT, 0] < p[lm.MOUTH_LEFT, 0]
    assert p[lm.FOREHEAD, 1] < p[lm.RIGHT_EYE_OUTER, 1] < p[lm.NOSE_TIP, 1] < p[lm.MOUTH_RIGHT, 1] < p[lm.CHIN, 1]
    # the mesh agrees with the detector's own eye keypoints (eye centres within a few px)
    eye_r = p[list(lm.RIGHT_EYE), :2].mean(0)
    eye_l = p[list(lm.LEFT_EYE), :2].mean(0)
    assert np.linalg.norm(eye_r - det.keypoints[0]) < 6 and np.linalg.norm(eye_l - det.keypoints[1]) < 6


def test_ibug68_mirror_pairs_on_a_frontal_face(astronaut_mesh):
    _, f = astronaut_mesh
    ib = to_ibug68(f.points)
    nose_x = ib[30, 0]
    for a, b in ((0, 16), (4, 12), (36, 45), (39, 42), (17, 26), (48, 54), (31, 35)):
        assert ib[a, 0] < nose_x < ib[b, 0], (a, b)
    assert ib[8, 1] > ib[57, 1] > ib[51, 1] > ib[33, 1] > ib[27, 1]


def test_tracking_from_previous_points(astronaut, astronaut_mesh):
    _, f = astronaut_mesh
    lmk = Landmarker()
    g = lmk.from_points(astronaut.srgb, f.points)
    assert g.presence > 0.9
    assert np.median(np.abs(g.points[:, :2] - f.points[:, :2])) < 1.0
    # a shifted frame: the crop follows and the landmarks shift with it
    shifted = np.zeros_like(astronaut.srgb)
    shifted[:, 12:] = astronaut.srgb[:, :-12]
    h = lmk.from_points(shifted, f.points)
    assert np.median(h.points[:, 0] - f.points[:, 0]) == pytest.approx(12, abs=1.0)


def test_rotated_face_landmarks_map_back(astronaut, astronaut_mesh):
    _, f = astronaut_mesh
    rot = np.ascontiguousarray(np.rot90(astronaut.srgb, 1))
    det = FaceDetector().detect(rot)[0]
    g = Landmarker().from_detection(rot, det)
    back = rotate_points_back(g.points[:, :2], 1, 512, 512)
    # the detector's eye keypoints level the crop only roughly on a turned face ...
    assert g.presence > 0.9 and np.median(np.linalg.norm(back - f.points[:, :2], axis=1)) < 5
    # ... one tracking step (crop levelled by the mesh's own eye corners) brings it in line
    g2 = Landmarker().from_points(rot, g.points)
    back2 = rotate_points_back(g2.points[:, :2], 1, 512, 512)
    assert np.median(np.linalg.norm(back2 - f.points[:, :2], axis=1)) < 2


def test_no_face_low_presence_and_bad_input(face_assets):
    lmk = Landmarker()
    noise = np.random.default_rng(0).random((256, 256, 3), dtype=np.float32)
    assert lmk.run_region(noise, (128, 128), 150.0, 0.0).presence < 0.5
    with pytest.raises(InputError, match="prev_points.*468"):
        lmk.from_points(noise, np.zeros((10, 3)))
    with pytest.raises(InputError, match="H×W×3"):
        lmk.run_region(noise[..., 0], (128, 128), 150.0, 0.0)
    bad = noise.copy()
    bad[128, 128] = np.nan
    with pytest.raises(InputError, match="NaN.*face crop"):
        lmk.run_region(bad, (128, 128), 150.0, 0.0)
    with pytest.raises(InputError, match="detection"):
        lmk.from_detection(noise, type("D", (), {"box": np.zeros(3), "keypoints": np.zeros((6, 2))})())


def test_same_bits_whatever_the_thread_count(face_assets, astronaut):
    out = []
    for threads in (1, 2):
        det = FaceDetector(threads=threads).detect(astronaut.srgb)[0]
        out.append((det.box, Landmarker(threads=threads).from_detection(astronaut.srgb, det).points))
    assert np.array_equal(out[0][0], out[1][0]) and np.array_equal(out[0][1], out[1][1])


def test_second_pass_from_its_own_points_fixes_off_eye_keypoints(face_assets, astronaut):
    """A face rolled by 30° whose detection says the eyes are level (keypoints off, as on rolled faces):
    the first FaceMesh pass sees a rotated crop; the second, from the first pass's points, is level
    and lands nearer the truth (the upright landmarks rotated)."""
    import cv2

    from faceplate.faces.detect import Detection, FaceDetector

    det = FaceDetector().detect(astronaut.srgb)[0]
    mesh = Landmarker()
    upright = mesh.from_detection(astronaut.srgb, det, refine=True).points[:, :2]
    rot = cv2.getRotationMatrix2D((256.0, 256.0), 30, 1.0)  # pixel-centre convention
    rolled = cv2.warpAffine(np.asarray(astronaut.srgb), rot, (512, 512), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT)
    truth = (upright - 0.5) @ rot[:, :2].T + rot[:, 2] + 0.5
    c = truth.mean(axis=0)
    half = float(det.box[2] - det.box[0]) / 2
    kp = np.array([[c[0] - 30, c[1] - 20], [c[0] + 30, c[1] - 20], c, [c[0], c[1] + 30], c, c])  # level eyes: wrong
    off = Detection(np.array([c[0] - half, c[1] - half, c[0] + half, c[1] + half]), 0.9, kp)
    iod = np.linalg.norm(truth[263] - truth[33])
    one = np.linalg.norm(mesh.from_detection(rolled, off).points[:, :2] - truth, axis=1) / iod
    two = np.linalg.norm(mesh.from_detection(rolled, off, refine=True).points[:, :2] - truth, axis=1) / iod
    assert np.median(two) < np.median(one) and np.median(two) < 0.03, (np.median(one), np.median(two))
