"""Tracking: linking faces across frames, zero-phase smoothing (less jitter, little lag)."""
from __future__ import annotations

import numpy as np
import pytest

from faceplate.errors import InputError
from faceplate.faces import align, track


def face_at(cx: float, cy: float, scale: float = 150.0, angle: float = 0.0) -> np.ndarray:
    a = np.deg2rad(angle)
    c, s = np.cos(a) * scale, np.sin(a) * scale
    m = np.array([[c, -s, 0.0], [s, c, 0.0]])
    pts = align.transform_points(align.TEMPLATE - 0.5, m) + [cx, cy]
    return np.hstack([pts, np.zeros((468, 1))])


def obs(frame: int, pts: np.ndarray) -> track.FaceObs:
    return track.FaceObs(frame=frame, box=track.points_box(pts), score=0.9, points=pts)


def test_iou_and_points_box():
    a = np.array([0.0, 0.0, 10.0, 10.0])
    assert track.iou(a, a) == 1.0
    assert track.iou(a, a + 20) == 0.0
    assert np.isclose(track.iou(a, np.array([5.0, 0.0, 15.0, 10.0])), 50 / 150)
    np.testing.assert_allclose(track.points_box(np.array([[1, 5], [3, 2]])), [1, 2, 3, 5])


def test_link_follows_two_faces_through_a_gap_and_crossing_order():
    frames = []
    for f in range(10):
        left, right = face_at(200 + 3 * f, 300), face_at(700 - 3 * f, 320)
        faces = [obs(f, right), obs(f, left)] if f % 2 else [obs(f, left), obs(f, right)]
        if f in (4, 5):
            faces = [obs(f, right)]  # the left face is missed for two frames
        frames.append(faces)
    tracks = track.link(frames, max_gap=3)
    assert sorted(tracks) == [0, 1]
    assert [o.frame for o in tracks[0]] == [0, 1, 2, 3, 6, 7, 8, 9]  # left face, gap 4-5
    assert len(tracks[1]) == 10
    assert all(o.box[0] < 400 for o in tracks[0]) and all(o.box[0] > 400 for o in tracks[1])


def test_link_starts_a_new_track_after_a_long_gap_or_a_jump():
    frames = [[obs(0, face_at(200, 200))], [obs(1, face_at(205, 200))], [obs(30, face_at(205, 200))],
              [obs(31, face_at(900, 200))]]
    tracks = track.link(frames, max_gap=12)
    assert [len(v) for v in tracks.values()] == [2, 1, 1]


def test_plausible_motion():
    a = face_at(300, 300)
    assert track.plausible(a, face_at(310, 305))
    assert not track.plausible(a, face_at(400, 300))  # moved 2/3 of a face in one frame
    assert not track.plausible(a, face_at(300, 300, scale=250))  # size jumped
    bad = a.copy()
    bad[0, 0] = np.nan
    assert not track.plausible(a, bad)


def test_smoothing_reduces_jitter_of_a_still_face():
    rng = np.random.default_rng(7)
    truth = np.stack([face_at(400, 300)] * 48)
    noisy = truth + rng.normal(0, 1.0, truth.shape) * [1, 1, 0]
    smooth = track.smooth_series(np.arange(48), noisy, window=9)
    before, after = track.jitter_rms(noisy, truth), track.jitter_rms(smooth, truth)
    assert after < 0.7 * before, (before, after)
    # frame-to-frame jitter (what the eye sees) drops even more
    assert np.abs(np.diff(smooth, axis=0)).mean() < 0.35 * np.abs(np.diff(noisy, axis=0)).mean()


def test_smoothing_has_little_lag_on_a_moving_face():
    rng = np.random.default_rng(8)
    t = np.arange(60)
    cx = 300 + 6.0 * t + 0.08 * t ** 2  # accelerating pan
    cy = 300 + 40 * np.sin(t / 9.0)  # bobbing
    truth = np.stack([face_at(x, y, angle=0.3 * i) for i, (x, y) in enumerate(zip(cx, cy))])
    noisy = truth + rng.normal(0, 0.8, truth.shape) * [1, 1, 0]
    smooth = track.smooth_series(t, noisy, window=9)
    err = (smooth - truth)[..., :2].mean(axis=1)  # mean landmark offset per frame = lag/bias
    assert np.abs(err).max() < 0.6
    assert abs(err[:, 0].mean()) < 0.1  # no systematic lag along the motion
    assert track.jitter_rms(smooth, truth) < 0.7 * track.jitter_rms(noisy, truth)
    # a causal filter of the same length would lag: compare with a trailing mean
    trailing = np.stack([noisy[max(0, i - 8): i + 1].mean(axis=0) for i in t])
    assert abs((trailing - truth)[..., 0].mean()) > 10 * abs(err[:, 0].mean())


def test_smoothing_does_not_cross_gaps_and_is_exact_on_quadratics():
    frames = np.array([0, 1, 2, 3, 4, 10, 11, 12, 13, 14])
    vals = np.where(frames < 10, 0.0, 100.0)[:, None] + (0.5 * frames ** 2)[:, None]
    out = track.smooth_series(frames, vals, window=7)
    np.testing.assert_allclose(out, vals, atol=1e-9)


def test_smooth_tracks_keeps_raw_points_and_window_1_is_identity():
    seq = [obs(f, face_at(300 + f, 300) + (f % 2)) for f in range(12)]
    tracks = {0: seq}
    track.smooth_tracks(tracks, window=5)
    assert all(o.raw_points is not None for o in seq)
    assert not np.allclose(seq[5].points, seq[5].raw_points)
    assert np.array_equal(track.smooth_series(np.arange(12), np.stack([o.raw_points for o in seq]), 1),
                          np.stack([o.raw_points for o in seq]))


def test_smoothing_rejects_bad_input():
    with pytest.raises(InputError, match="one value per frame"):
        track.smooth_series([0, 1], np.zeros((3, 2)))
    with pytest.raises(InputError, match="NaN"):
        track.smooth_series([0, 1, 2], np.array([0.0, np.nan, 1.0]))
    with pytest.raises(InputError, match="--smooth"):
        track.smooth_series([0, 1, 2], np.zeros(3), window=-3)


def test_plain_array_api_links_and_smooths():
    rng = np.random.default_rng(9)
    per_frame = {f: [face_at(700, 300) + rng.normal(0, 1, (468, 3)) * [1, 1, 0],
                     face_at(200 + f, 300) + rng.normal(0, 1, (468, 3)) * [1, 1, 0]] for f in range(20)}
    tracks = track.link_tracks(per_frame)
    assert len(tracks) == 2 and all(len(t) == 20 for t in tracks)
    assert tracks[0][0][:, 0].mean() < tracks[1][0][:, 0].mean()  # numbered left to right
    smooth = track.smooth_tracks(tracks, strength=4)
    truth = np.stack([face_at(700, 300)] * 20)
    raw = np.stack([tracks[1][f] for f in range(20)])
    assert track.jitter_rms(np.stack([smooth[1][f] for f in range(20)]), truth) < 0.7 * track.jitter_rms(raw, truth)
    assert track.window_for(0) == 1 and track.window_for(2.0) == 5
    with pytest.raises(InputError, match="smoothing"):
        track.window_for(-1)
