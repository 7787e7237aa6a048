"""Hard-cut detection, who-is-who over tracks (dedupe, split, join, persons) and identity
descriptors, on pictures and observations built in code."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceplate.errors import InputError
from faceplate.faces import people, shots
from faceplate.faces import track as trk


# ------------------------------------------------------------------------------------- cuts
def _moves(lin: np.ndarray) -> list[np.ndarray]:
    """A pan, a slow zoom, a roll, an exposure drift with noise: none of them is a cut."""
    rng = np.random.default_rng(0)
    h, w = lin.shape[:2]
    zoom = cv2.resize(lin[10:h - 10, 10:w - 10], (w, h), interpolation=cv2.INTER_LINEAR)
    roll = cv2.warpAffine(lin, cv2.getRotationMatrix2D((w / 2, h / 2), 3, 1.0), (w, h), borderMode=cv2.BORDER_REFLECT)
    noisy = lin * 0.7 + rng.normal(0, 0.01, lin.shape).astype(np.float32)
    return [np.roll(lin, 12, axis=1), zoom, roll, noisy]


def test_motion_is_not_a_cut_and_another_picture_is(astronaut, hopper):
    a = np.asarray(astronaut.acescg)
    sig = shots.signature(a)
    for moved in _moves(a):
        assert not shots.is_cut(sig, shots.signature(moved))
    assert shots.is_cut(sig, shots.signature(np.asarray(hopper.acescg)))
    assert shots.is_cut(shots.signature(np.asarray(hopper.acescg)), sig)
    assert not shots.is_cut(None, sig)
    # the same picture much brighter (a flash or an exposure change) is still the same shot
    assert not shots.is_cut(sig, shots.signature(a * 8.0))


def test_signature_checks_and_tolerates_bad_pixels():
    with pytest.raises(InputError, match="expected an H×W×3 frame, found shape"):
        shots.signature(np.zeros((4, 4)))
    px = np.full((36, 64, 3), 0.2, np.float32)
    px[0, 0] = [np.nan, np.inf, -np.inf]
    s = shots.signature(px)
    assert np.isfinite(s.luma).all() and np.isfinite(s.thumb).all()


def test_shot_of_numbers_shots_from_the_cuts():
    assert shots.shot_of([1, 2, 3, 4, 5, 6], [3, 6]) == {1: 0, 2: 0, 3: 1, 4: 1, 5: 1, 6: 2}
    assert shots.shot_of([10, 20], []) == {10: 0, 20: 0}


# ----------------------------------------------------------------------------------- people
def _face(frame: int, x: float, emb=None, age: int = 0, presence: float = 0.9, shot: int = 0) -> trk.FaceObs:
    """A square 100 px face at x (468 points spread over its box)."""
    rng = np.random.default_rng(frame * 1000 + int(x))
    pts = np.column_stack([x + rng.random(468) * 100, 50 + rng.random(468) * 100, np.zeros(468)])
    pts[0, :2], pts[1, :2] = (x, 50), (x + 100, 150)
    return trk.FaceObs(frame, trk.points_box(pts), 0.9, pts, presence, source="detect", shot=shot,
                       embedding=None if emb is None else np.asarray(emb, np.float64), age=age)


E_A, E_B = np.zeros(128), np.full(128, 0.1)  # 1.13 apart: two people


def test_dedupe_keeps_the_longest_followed_of_faces_on_one_face():
    old, drifted, other = _face(1, 100, age=20), _face(1, 104, age=3, presence=0.99), _face(1, 400)
    assert people.dedupe_frame([drifted, old, other]) == [old, other]
    assert people.dedupe_frame([]) == []


def test_link_shots_never_crosses_a_cut():
    frames = [[_face(f, 100 + f)] for f in range(1, 7)]
    tracks = people.link_shots(frames, shots.shot_of(range(1, 7), [4]), max_gap=12)
    assert [[o.frame for o in t] for t in tracks.values()] == [[1, 2, 3], [4, 5, 6]]
    assert [t[0].shot for t in tracks.values()] == [0, 1]


def test_split_where_the_identity_changes_and_join_pieces_of_one_person():
    seq = [_face(f, 100, E_A if f < 4 else E_B) for f in range(1, 7)]
    split = people.split_by_identity({0: seq})
    assert [[o.frame for o in t] for t in split.values()] == [[1, 2, 3], [4, 5, 6]]
    # one person lost for two frames and found again: joined; another person beside: not joined
    a1 = [_face(f, 100, E_A) for f in (1, 2, 3)]
    a2 = [_face(f, 300, E_A + 0.01) for f in (6, 7)]
    b = [_face(f, 600, E_B) for f in (1, 2, 3, 4, 5, 6, 7)]
    joined = people.merge_fragments({0: a1, 1: b, 2: a2})
    assert sorted([o.frame for o in t] for t in joined.values()) == [[1, 2, 3, 4, 5, 6, 7], [1, 2, 3, 6, 7]]
    # pieces in different shots stay apart (a cut)
    c1, c2 = [_face(1, 100, E_A, shot=0)], [_face(2, 100, E_A, shot=1)]
    assert len(people.merge_fragments({0: c1, 1: c2})) == 2


def test_persons_over_tracks():
    t = {0: [_face(1, 100, E_A)], 1: [_face(1, 400, E_B)], 2: [_face(5, 100, E_A + 0.02, shot=1)],
         3: [_face(5, 400)], 4: [_face(1, 700, E_A + 0.01)]}
    who = people.persons(t)
    assert who[0] == who[2] != who[1]
    assert who[3] not in (who[0], who[1])  # no descriptor: its own person
    assert who[4] != who[0]  # same frame as track 0: cannot be the same person
    assert all(o.person == who[k] for k, seq in t.items() for o in seq)


# --------------------------------------------------------------------------------- identity
def test_identity_tells_the_astronaut_from_grace_hopper(face_assets, astronaut, hopper):
    from faceplate.faces.detect import FaceDetector
    from faceplate.faces.identity import SAME_PERSON, Embedder, clusters, distance, leader_clusters
    from faceplate.faces.landmarks import Landmarker

    det, mesh, emb = FaceDetector(), Landmarker(), Embedder.load()

    def describe(img):
        img = np.ascontiguousarray(img)
        return emb.embed(img, mesh.from_detection(img, det.detect(img)[0], refine=True).points)

    a = describe(astronaut.srgb)
    a_small = describe(cv2.resize(np.asarray(astronaut.srgb)[:, ::-1], (256, 256), interpolation=cv2.INTER_AREA))
    h = describe(hopper.srgb)
    assert a.shape == (128,) and np.isfinite(a).all()
    assert distance(a, a_small) < 0.4 < SAME_PERSON < distance(a, h)
    assert clusters([a, h, a_small]) == [0, 1, 0] == leader_clusters([a, h, a_small])
    assert emb.info()["model"] == "dlib_face_recognition_resnet_model_v1" and len(emb.info()["sha256"]) == 64
    with pytest.raises(InputError, match="468"):
        emb.embed(astronaut.srgb, np.zeros((10, 2)))
    with pytest.raises(InputError, match="finite"):
        emb.embed(astronaut.srgb, np.full((468, 3), np.nan))
