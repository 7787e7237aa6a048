"""Swap-quality metrics on real faces (the astronaut and Grace Hopper) and on sequences built in code."""
import cv2
import numpy as np
import pytest

from faceplate.colour import ColourConfig
from faceplate.quality import metrics

SPACE = "ACEScg"


def _mesh(img_srgb):
    from faceplate.faces.detect import FaceDetector
    from faceplate.faces.landmarks import Landmarker

    det = FaceDetector().detect(img_srgb)[0]
    return Landmarker().from_detection(img_srgb, det).points[:, :2]


@pytest.fixture(scope="module")
def faces(face_assets, astronaut, hopper):
    return {"astronaut": _mesh(np.ascontiguousarray(astronaut.srgb)),
            "hopper": _mesh(np.ascontiguousarray(hopper.srgb))}


def test_expression_sees_the_smile(faces):
    """The astronaut smiles with her mouth open, Grace Hopper's mouth is closed: the measures say so."""
    a, h = metrics.expression(faces["astronaut"]), metrics.expression(faces["hopper"])
    assert a["mouth_open"] > 0.1 > h["mouth_open"]
    assert a["mouth_width"] > h["mouth_width"] and a["smile"] > h["smile"]
    assert 0.05 < a["eye_open"] < 0.4 and 0.05 < h["eye_open"] < 0.4
    assert metrics.expression_error(faces["astronaut"], faces["astronaut"]) == 0.0
    assert metrics.expression_error(faces["astronaut"], faces["hopper"]) > 0.05


def test_expression_and_pose_ignore_scale_shift_and_roll(faces):
    p = faces["astronaut"]
    c, s = np.cos(0.3), np.sin(0.3)
    moved = (p @ np.array([[c, -s], [s, c]]).T) * 1.7 + (40.0, -12.0)
    assert metrics.expression_error(moved, p) < 1e-9
    assert np.all(metrics.pose_error(p * 1.7 + (40.0, -12.0), p) < 1e-6)  # scale and shift: no pose change
    err = metrics.pose_error(moved, p)
    # an in-plane turn is roll (yaw and pitch move a little: Euler angles of a turned, not frontal, head)
    assert err[2] == pytest.approx(np.degrees(0.3), abs=2.0) and err[0] < 3.0 and err[1] < 3.0


def test_look_finds_the_face_and_identity_tells_people_apart(face_assets, astronaut, hopper, faces):
    """Landmarks found on the linear image from seed points; the descriptor is nearer the same person."""
    from faceplate.faces.identity import Embedder
    from faceplate.faces.landmarks import Landmarker

    cfg, lm, emb = ColourConfig(), Landmarker(), Embedder.load()
    a = metrics.look(np.ascontiguousarray(astronaut.acescg), faces["astronaut"] + 3.0, SPACE, cfg, lm, emb)
    flipped = np.ascontiguousarray(astronaut.acescg[:, ::-1])  # the same person, mirrored
    a_flip = metrics.look(flipped, _mesh(np.ascontiguousarray(astronaut.srgb[:, ::-1])), SPACE, cfg, lm, emb)
    h = metrics.look(np.ascontiguousarray(hopper.acescg), faces["hopper"], SPACE, cfg, lm, emb)
    assert a.presence > 0.5 and h.presence > 0.5
    assert np.sqrt(((a.points - faces["astronaut"]) ** 2).sum(1)).mean() < 3.0  # back on the face
    assert metrics.cosine(a.embedding, a_flip.embedding) > metrics.cosine(a.embedding, h.embedding) + 0.03
    assert np.linalg.norm(a.embedding - a_flip.embedding) < 0.6 < np.linalg.norm(a.embedding - h.embedding)


def test_follow_slope_is_the_regression_on_the_reference():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 12)[:, None, None, None]
    base = rng.random((1, 32, 32, 3)).astype(np.float32)
    ref = (base + 0.2 * t * cv2.GaussianBlur(base[0], (0, 0), 3)[None]).astype(np.float32)
    mask = np.ones((32, 32), bool)
    assert metrics.follow_slope(ref, ref, mask) == pytest.approx(1.0)
    assert metrics.follow_slope(0.5 * ref, ref, mask) == pytest.approx(0.5, abs=1e-5)
    constant = np.repeat(base, 12, axis=0)
    assert metrics.follow_slope(constant, ref, mask) == 0.0
    # grain is not a change to follow: white noise on the output barely moves the slope
    noisy = ref + rng.normal(0, 0.02, ref.shape).astype(np.float32)
    assert metrics.follow_slope(noisy, ref, mask) == pytest.approx(1.0, abs=0.1)


def _face_crop(img, pts, size=64):
    lo, hi = pts.min(0), pts.max(0)
    c, half = (lo + hi) / 2, 0.6 * float((hi - lo).max())
    m = np.array([[size / (2 * half), 0, size / 2 - c[0] * size / (2 * half)],
                  [0, size / (2 * half), size / 2 - c[1] * size / (2 * half)]])
    return cv2.warpAffine(np.ascontiguousarray(img, np.float32), m, (size, size), flags=cv2.INTER_CUBIC)


def _moving(crop, shifts, levels):
    """The crop moved by sub-pixel (dx, dy) and offset by a level per frame: T×S×S×3."""
    out = []
    for (dx, dy), lv in zip(shifts, levels):
        m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
        out.append(cv2.warpAffine(crop, m, crop.shape[1::-1], flags=cv2.INTER_CUBIC,
                                  borderMode=cv2.BORDER_REFLECT101) + lv)
    return np.stack(out).astype(np.float32)


def test_follow_motion_credits_a_face_that_moves_with_the_plate(faces, astronaut, hopper):
    """The astronaut's face jitters by fractions of a pixel in its crop and brightens; Grace Hopper's
    face doing exactly the same is a perfect swap, yet the plain follow figure gives it well under 1
    (its pixels change by her gradients, not the astronaut's): the motion-aware figure gives it ~1,
    and the ceiling says what the plain figure can reach."""
    rng = np.random.default_rng(3)
    a = _face_crop(astronaut.srgb, faces["astronaut"])
    h = _face_crop(hopper.srgb, faces["hopper"])
    shifts = np.cumsum(rng.normal(0, 0.15, (16, 2)), axis=0)
    levels = 0.01 * np.sin(np.linspace(0, 3, 16))[:, None, None, None] * np.ones((1, 1, 1, 3))
    mask = np.zeros((64, 64), bool)
    mask[12:52, 12:52] = True
    plate = _moving(a, shifts, levels)
    ideal = _moving(h, shifts, levels)
    plain = metrics.follow_slope(ideal, plate, mask)
    motion, ceiling = metrics.follow_motion(ideal, plate, mask)
    assert motion > 0.9 and plain < 0.8 and ceiling == pytest.approx(plain, abs=0.1)
    self_motion, self_ceiling = metrics.follow_motion(plate, plate, mask)  # the plate itself: all of it
    assert self_motion > 0.9 and self_ceiling > 0.9
    still = np.repeat(h[None], 16, axis=0)  # a constant face follows nothing
    assert metrics.follow_motion(still, plate, mask)[0] == pytest.approx(0.0, abs=1e-6)
    lazy = _moving(h, 0.5 * shifts, levels)  # moves half as far, brightens fully
    lazy_motion = metrics.follow_motion(lazy, plate, mask)[0]
    assert 0.3 < lazy_motion < motion - 0.1, lazy_motion


def test_flicker_is_zero_for_smooth_change_and_high_for_pops():
    rng = np.random.default_rng(1)
    base = rng.random((1, 24, 24, 3)).astype(np.float32)
    t = np.arange(10, dtype=np.float32)[:, None, None, None]
    smooth = base + 0.01 * t  # exposure drift: linear in time
    pops = smooth + (np.arange(10) % 2)[:, None, None, None].astype(np.float32) * 0.05
    mask = np.ones((24, 24), bool)
    assert metrics.temporal_flicker(smooth, mask) < 1e-5
    assert metrics.temporal_flicker(pops, mask) > 0.1


def test_sharpness_ratio_drops_for_a_blurred_face(astronaut):
    img = np.ascontiguousarray(astronaut.acescg)
    core = np.zeros(img.shape[:2], bool)
    core[60:220, 150:300] = True
    plate = metrics.log_energy(img, core)
    soft = metrics.log_energy(cv2.GaussianBlur(img, (0, 0), 2.0), core)
    assert metrics.log_energy(img, core) / plate == 1.0
    assert soft / plate < 0.5
