import numpy as np
import pytest

from faceplate.curate import measures
from faceplate.curate.measures import measure_faceset
from faceplate.errors import InputError


def test_blurred_copy_scores_lower_sharpness(faceset_factory):
    fs = faceset_factory("blur", [dict(frame=1, texture=0), dict(frame=2, texture=0, blur=1.2),
                                  dict(frame=3, texture=0, blur=2.5), dict(frame=4, texture=1), dict(frame=5, texture=1, blur=1.2)])
    s = measure_faceset(fs).column("sharpness")
    assert s[0] > 3 * s[1] > 0 and s[1] > s[2]
    assert s[3] > 3 * s[4]


def test_sharpness_is_linear_light_and_exposure_independent():
    rng = np.random.default_rng(1)
    lum = rng.uniform(0.05, 0.5, (48, 48)).astype(np.float32)
    region = np.ones((48, 48), bool)
    a = measures.sharpness(lum, region)
    assert measures.sharpness(lum * 4.0, region) == pytest.approx(a, rel=1e-4)
    # The same picture measured on display code values instead of linear light scores differently.
    code = np.where(lum <= 0.0031308, 12.92 * lum, 1.055 * lum ** (1 / 2.4) - 0.055).astype(np.float32)
    assert abs(measures.sharpness(code, region) - a) > 0.05 * a
    with pytest.raises(InputError, match="same shape"):
        measures.sharpness(lum, region[:10])
    bad = lum.copy()
    bad[3, 3] = np.inf
    with pytest.raises(InputError, match="NaN/Inf"):
        measures.sharpness(bad, region)


def test_exposure_dark_and_clipped(faceset_factory):
    fs = faceset_factory("expo", [dict(frame=1), dict(frame=3, gain=0.002), dict(frame=5, gain=6.0)])
    rows = measure_faceset(fs).rows
    assert rows[0]["dark_fraction"] < 0.1 and rows[0]["clipped_fraction"] < 0.05
    assert rows[1]["dark_fraction"] > 0.95
    assert rows[2]["clipped_fraction"] > 0.5


def test_exposure_scene_linear_plateau(faceset_factory):
    # In a scene-linear plate, clipped highlights are a plateau at the highest value, not values >= 1.
    tex = np.full((64, 64, 3), 0.3, np.float32)
    tex += np.random.default_rng(2).uniform(-0.05, 0.05, tex.shape).astype(np.float32)
    tex[20:44, 20:44] = 0.9
    fs = faceset_factory("lin", [dict(frame=1, texture=tex), dict(frame=2, texture=1)], space="ACEScg")
    sm = measure_faceset(fs)
    assert sm.summary["plate_display_referred"] is False
    assert 0.15 < sm.rows[0]["clipped_fraction"] < 0.4
    assert sm.rows[1]["clipped_fraction"] < 0.05


def test_duplicates_found(faceset_factory):
    faces = [dict(frame=f, texture=0, yaw=0.3 * f) for f in (1, 2, 3, 4)]  # a static stretch
    faces += [dict(frame=10 + k, texture=k) for k in (1, 2, 3, 4)]
    faces += [dict(frame=20, texture=0, source="other.####.exr")]  # same picture, another shot
    sm = measure_faceset(faceset_factory("dups", faces))
    clusters = sm.column("dup_cluster")
    assert len(set(clusters[:4])) == 1 and clusters[8] == clusters[0]
    assert sm.rows[0]["dup_count"] == 5
    assert len(set(clusters[4:8])) == 4 and clusters[0] not in clusters[4:8]
    assert sm.summary["duplicate_clusters"] == 1 and sm.summary["faces_in_duplicate_clusters"] == 5


def test_duplicate_clusters_threshold():
    rng = np.random.default_rng(3)
    base = rng.normal(size=256)
    thumbs = np.stack([base, base + rng.normal(0, 0.05, 256), rng.normal(size=256)])
    thumbs = thumbs / np.linalg.norm(thumbs, axis=1, keepdims=True)
    assert list(measures.duplicate_clusters(thumbs, [0, 1, 2], 0.1)) == [0, 0, 1]
    assert list(measures.duplicate_clusters(thumbs, [0, 1, 2], 0.0)) == [0, 1, 2]
    # only the latest `window` clusters are compared: face 1 no longer sees face 0's cluster
    assert list(measures.duplicate_clusters(thumbs, [0, 2, 1], 0.1, window=1)) == [0, 2, 1]
    with pytest.raises(InputError, match="dedupe"):
        measures.duplicate_clusters(thumbs, [0, 1, 2], 2.0)


def test_jitter_size_and_confidence(faceset_factory):
    faces = [dict(frame=f, score=0.9) for f in range(1, 6)]
    faces[2] = dict(frame=3, jitter_px=3.0, score=0.4)
    sm = measure_faceset(faceset_factory("jit", faces + [dict(frame=7, scale=1.0)]))
    jit = sm.column("jitter")
    assert np.isnan(jit[0]) and np.isnan(jit[4]) and np.isnan(jit[5])  # no neighbour on one side
    assert jit[2] > 0.5 and jit[1] > 0.2 and jit[3] > 0.2  # the noisy frame and its neighbours
    assert sm.rows[2]["score"] == pytest.approx(0.4)
    # size in plate pixels follows the plate scale, not the crop size
    assert sm.rows[5]["size_px"] == pytest.approx(sm.rows[0]["size_px"] / 2, rel=0.02)
    assert sm.rows[0]["crop_scale"] == pytest.approx(0.75 * 64 / sm.rows[0]["size_px"], rel=0.02)


def test_colour_summary(faceset_factory):
    sm = measure_faceset(faceset_factory("col", [dict(frame=1), dict(frame=2, gain=3.0)]))
    s = sm.summary
    assert s["plate_colour_space"] == "sRGB Encoded Rec.709 (sRGB)" and s["plate_display_referred"] is True
    lo, hi = s["linear_range"]
    assert lo < 0.05 and 2.0 < hi < 4.0  # gain 3 on a display picture whose white is ~1
    assert s["linear_space"] == "ACEScg"


def test_unknown_measure_column(faceset_factory):
    sm = measure_faceset(faceset_factory("col", [dict(frame=1)]))
    with pytest.raises(InputError, match="sharpness"):
        sm.column("beauty")


def test_stills_have_no_jitter_and_own_source(faceset_factory):
    # extract labels a set of stills with all the files; each face's own file is in extra["file"]
    label = "/p/obama.jpg,/p/obama2.jpg,/p/obama3.jpg"
    faces = [dict(frame=i, source=label, file=f"/p/{n}", yaw=15.0 * i, texture=i)
             for i, n in enumerate(["obama.jpg", "obama2.jpg", "obama3.jpg"])]
    rows = measure_faceset(faceset_factory("stills", faces)).rows
    assert [r["jitter"] for r in rows] == [None, None, None]
    assert [r["source"] for r in rows] == ["/p/obama.jpg", "/p/obama2.jpg", "/p/obama3.jpg"]


def test_jitter_follows_the_frame_step(faceset_factory):
    faces = [dict(frame=f, source="shot.####.exr") for f in (1001, 1003, 1005, 1007)]
    jit = measure_faceset(faceset_factory("step", faces)).column("jitter")
    assert np.isnan(jit[0]) and np.isnan(jit[3])
    assert jit[1] == pytest.approx(0.0, abs=1e-6) and jit[2] == pytest.approx(0.0, abs=1e-6)
