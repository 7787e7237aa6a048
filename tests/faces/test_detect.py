"""Face detection: pure decoding helpers on reference values, then BlazeFace on real photos."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceplate.errors import InputError
from faceplate.faces import detect
from faceplate.faces.detect import FaceDetector

# face-models.md, measured on astronaut.png with the TFLite models
SHORT_BOX = np.array([179, 81, 272, 174], float)
FULL_BOX = np.array([174, 70, 279, 175], float)


# ----------------------------------------------------------------------------- pure functions
def test_ssd_anchors_short_and_full_layouts():
    a = detect.ssd_anchors(128, detect.MODELS["short"].layers)
    assert a.shape == (896, 2)
    # 16×16 grid, 2 per cell, then 8×8 grid, 6 per cell
    np.testing.assert_array_equal(a[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_array_equal(a[1], a[0])
    np.testing.assert_array_equal(a[2], [1.5 / 16, 0.5 / 16])
    np.testing.assert_array_equal(a[32], [0.5 / 16, 1.5 / 16])
    np.testing.assert_array_equal(a[512:518], np.tile([0.5 / 8, 0.5 / 8], (6, 1)))
    np.testing.assert_array_equal(a[-1], [7.5 / 8, 7.5 / 8])
    f = detect.ssd_anchors(192, detect.MODELS["full"].layers)
    assert f.shape == (2304, 2)
    np.testing.assert_array_equal(f[48], [0.5 / 48, 1.5 / 48])


def test_decode_reference_values():
    raw = np.zeros((2, 16))
    raw[0, :4] = [12.8, -6.4, 25.6, 12.8]  # in 128-px input units
    raw[0, 4:6] = [-12.8, 0.0]
    raw[1, 2:4] = [64, 64]
    anchors = np.array([[0.5, 0.5], [0.25, 0.75]])
    boxes, kps = detect.decode(raw, anchors, 128)
    np.testing.assert_allclose(boxes[0], [0.5, 0.4, 0.7, 0.5])
    np.testing.assert_allclose(kps[0, 0], [0.4, 0.5])
    np.testing.assert_allclose(kps[0, 1:], np.tile([0.5, 0.5], (5, 1)))
    np.testing.assert_allclose(boxes[1], [0.0, 0.5, 0.5, 1.0])
    with pytest.raises(InputError, match=r"anchors of shape \(2, 2\)"):
        detect.decode(raw, anchors[:1], 128)


def test_sigmoid_scores_clip_extremes():
    s = detect.sigmoid_scores(np.array([0.0, 1e6, -1e6, np.log(3)]))
    np.testing.assert_allclose(s, [0.5, 1.0, 1 / (1 + np.exp(100)), 0.75])
    assert np.all(np.isfinite(s))


def test_weighted_nms_merges_overlaps_by_score():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], float)
    scores = np.array([0.6, 0.9, 0.7])
    kps = np.stack([np.full((6, 2), v) for v in (0.0, 10.0, 100.0)])
    out = detect.weighted_nms(boxes, scores, kps, 0.3)
    assert [round(s, 3) for _, s, _ in out] == [0.9, 0.7]
    np.testing.assert_allclose(out[0][0], (0.6 * boxes[0] + 0.9 * boxes[1]) / 1.5)
    np.testing.assert_allclose(out[0][2], np.full((6, 2), 6.0))
    np.testing.assert_allclose(out[1][0], boxes[2])
    assert detect.weighted_nms(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 6, 2))) == []


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_rotate_points_back_matches_numpy_rot90(k):
    h, w = 7, 11
    img = np.zeros((h, w))
    img[2, 8] = 1
    rot = np.rot90(img, k)
    r, c = np.argwhere(rot == 1)[0]
    back = detect.rotate_points_back(np.array([[c + 0.5, r + 0.5]]), k, h, w)
    np.testing.assert_allclose(back, [[8.5, 2.5]])


def test_tiles_cover_the_frame():
    ts = detect.tiles(1920, 1080, 960)
    cover = np.zeros((1080, 1920), bool)
    for x, y, w, h in ts:
        assert w <= 960 and h <= 960 and x >= 0 and y >= 0 and x + w <= 1920 and y + h <= 1080
        cover[y:y + h, x:x + w] = True
    assert cover.all()


def test_bad_proxy_and_settings(face_assets):
    d = FaceDetector("short")
    with pytest.raises(InputError, match=r"H×W×3.*\(64, 64\)"):
        d.detect(np.zeros((64, 64), np.float32))
    with pytest.raises(InputError, match="NaN"):
        d.detect(np.full((64, 64, 3), np.nan, np.float32))
    with pytest.raises(InputError, match="dtype uint8"):
        d.detect(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(InputError, match="auto, short, full.*'medium'"):
        FaceDetector("medium")
    with pytest.raises(InputError, match="score_threshold"):
        FaceDetector(score_threshold=1.5)
    with pytest.raises(InputError, match="work_size"):
        FaceDetector(work_size=10)


# ------------------------------------------------------------------------------- real photos
def test_astronaut_short_and_full_boxes_match_reference(face_assets, astronaut):
    (s,) = FaceDetector("short").detect(astronaut.srgb)
    (f,) = FaceDetector("full").detect(astronaut.srgb)
    assert np.abs(s.box - SHORT_BOX).max() < 3 and s.score > 0.88
    assert np.abs(f.box - FULL_BOX).max() < 3 and f.score > 0.9
    for d in (s, f):
        right, left, nose, mouth = d.keypoints[:4]
        assert right[0] < nose[0] < left[0]  # subject's right eye is on the image's left
        assert max(right[1], left[1]) < nose[1] < mouth[1]
        assert np.all((d.keypoints[:4] >= d.box[:2]) & (d.keypoints[:4] <= d.box[2:]))


def test_scene_linear_plate_through_proxy_finds_the_same_face(face_assets, astronaut):
    from faceplate.colour import ColourConfig

    proxy = ColourConfig().to_proxy(astronaut.acescg, astronaut.linear_space)
    a = FaceDetector().detect(proxy)
    b = FaceDetector().detect(astronaut.srgb)
    assert len(a) == len(b) == 1
    assert np.abs(a[0].box - b[0].box).max() < 1.0


def test_detection_is_deterministic(face_assets, astronaut):
    d = FaceDetector()
    a, b = d.detect(astronaut.srgb), d.detect(astronaut.srgb)
    assert np.array_equal(a[0].box, b[0].box) and np.array_equal(a[0].keypoints, b[0].keypoints)
    assert a[0].score == b[0].score


@pytest.mark.parametrize("size", [512, 1300])  # within the work size, and shrunk to it first
def test_passes_side_by_side_find_the_same_faces(face_assets, astronaut, size):
    from concurrent.futures import ThreadPoolExecutor

    frame = cv2.resize(np.concatenate([astronaut.srgb, astronaut.srgb[:, ::-1]], axis=1), (size, size // 2),
                       interpolation=cv2.INTER_AREA)
    d = FaceDetector()
    with ThreadPoolExecutor(3) as pool:
        a, b = d.detect(frame), d.detect(frame, pool)
    assert len(a) == len(b) == 2
    for x, y in zip(a, b):
        assert np.array_equal(x.box, y.box) and np.array_equal(x.keypoints, y.keypoints) and x.score == y.score


def test_two_faces_side_by_side(face_assets, astronaut):
    frame = np.concatenate([astronaut.srgb, astronaut.srgb[:, ::-1]], axis=1)
    dets = FaceDetector().detect(frame)
    assert len(dets) == 2
    xs = sorted((d.box[0] + d.box[2]) / 2 for d in dets)
    assert abs(xs[0] - 225) < 10 and abs(xs[1] - (1024 - 225)) < 10
    assert dets[0].score >= dets[1].score


def test_small_face_in_a_big_frame(face_assets, astronaut):
    frame = np.full((1024, 1024, 3), 0.3, np.float32)
    small = cv2.resize(np.asarray(astronaut.srgb), (200, 200), interpolation=cv2.INTER_AREA)
    frame[600:800, 300:500] = small
    dets = FaceDetector().detect(frame)
    assert len(dets) == 1
    expected = SHORT_BOX * 200 / 512 + [300, 600, 300, 600]
    # within 8 px of a 37 px face: the tiles' full-range boxes sit higher than the short-range box
    assert np.abs(dets[0].box - expected).max() < 8
    # the smallest face looked for: a 37 px face is not returned when 48 px is asked for
    assert FaceDetector().detect(frame, min_face=48) == [] and FaceDetector(min_face=48).detect(frame) == []
    with pytest.raises(InputError, match="min_face: expected a face size in pixels >= 0, found -1"):
        FaceDetector(min_face=-1)


def test_face_in_a_1080p_frame_is_found_at_plate_scale(face_assets, astronaut):
    # longer than work_size: shrunk once, face small in the letterbox -> tiles; boxes in plate px
    frame = np.full((1080, 1920, 3), 0.2, np.float32)
    frame[300:812, 700:1212] = astronaut.srgb
    dets = FaceDetector().detect(frame)
    assert len(dets) == 1 and dets[0].score > 0.75
    centre = (dets[0].box[:2] + dets[0].box[2:]) / 2
    ref = (SHORT_BOX[:2] + SHORT_BOX[2:] + FULL_BOX[:2] + FULL_BOX[2:]) / 4 + [700, 300]
    assert np.abs(centre - ref).max() < 8  # ~8% of the face: the two models frame a face differently
    assert 90 < dets[0].box[2] - dets[0].box[0] < 110
    assert np.abs(dets[0].keypoints[0] - (FaceDetector().detect(astronaut.srgb)[0].keypoints[0] + [700, 300])).max() < 4


@pytest.mark.parametrize("k", [1, 2])
def test_rotated_face_is_found_and_mapped_back(face_assets, astronaut, k):
    rot = np.ascontiguousarray(np.rot90(astronaut.srgb, k))
    dets = FaceDetector().detect(rot)
    assert len(dets) == 1
    # map the upright detection into the rotated frame and compare
    up = FaceDetector().detect(astronaut.srgb)[0]
    h, w = 512, 512
    fwd = {1: lambda p: np.stack([p[..., 1], w - p[..., 0]], -1), 2: lambda p: np.stack([w - p[..., 0], h - p[..., 1]], -1)}[k]
    eyes = fwd(up.keypoints[:2])
    assert np.abs(dets[0].keypoints[:2] - eyes).max() < 12
    c_up = fwd(((up.box[:2] + up.box[2:]) / 2)[None])[0]
    assert np.abs((dets[0].box[:2] + dets[0].box[2:]) / 2 - c_up).max() < 8


def test_noise_has_no_face(face_assets):
    noise = np.random.default_rng(0).random((360, 480, 3), dtype=np.float32)
    assert FaceDetector().detect(noise) == []
    assert FaceDetector().detect(np.zeros((100, 300, 3), np.float32)) == []


def test_tiles_are_as_large_as_the_smallest_face_allows():
    # a third of the frame, or larger while a face of min_face px still spans TILE_FACE_PX model px
    assert detect.tile_side(640, 32) == 384 and detect.tile_side(1024, 17) == 341
    assert detect.tile_side(300, 32) == 300 and detect.tile_side(640, 8) == 213
    assert len(detect.tiles(640, 360, detect.tile_side(640, 32), 0.75)) == 2
