"""Colour matching in linear light inside the matte, chosen by name; blend helpers."""
from __future__ import annotations

import numpy as np
import pytest

from faceplate.colour import ColourConfig
from faceplate.errors import InputError
from faceplate.render.blend import clean_matte, comp_over_plate, floor_mask
from faceplate.render.colourmatch import COLOUR_MATCH, _to_oklab, colour_match

CFG = ColourConfig()


def pair(seed=0):
    rng = np.random.default_rng(seed)
    src = rng.gamma(2.0, 0.05, (48, 48, 3)).astype(np.float32)
    ref = (rng.gamma(2.0, 0.08, (48, 48, 3)) * [1.4, 1.0, 0.7] + 0.02).astype(np.float32)
    w = np.zeros((48, 48), np.float32)
    w[8:40, 8:40] = 1.0
    return src, ref, w


def wmean(x, w):
    return (x * w[..., None]).sum((0, 1)) / w.sum()


def wstd(x, w):
    m = wmean(x, w)
    return np.sqrt((((x - m) ** 2) * w[..., None]).sum((0, 1)) / w.sum())


def test_meanstd_matches_the_reference_statistics_inside_the_matte():
    src, ref, w = pair()
    out = colour_match(src, ref, w, "meanstd", "ACEScg", CFG)
    np.testing.assert_allclose(wmean(out, w), wmean(ref, w), rtol=1e-4)
    np.testing.assert_allclose(wstd(out, w), wstd(ref, w), rtol=1e-3)
    assert out.dtype == np.float32 and out.shape == src.shape


def test_reinhard_matches_in_oklab():
    src, ref, w = pair(1)
    out = colour_match(src, ref, w, "reinhard", "ACEScg", CFG)
    lab = lambda x: _to_oklab(CFG.convert(x.reshape(-1, 1, 3), "ACEScg", "ACEScg").reshape(-1, 3).astype(np.float64))
    sel = w.reshape(-1) > 0
    np.testing.assert_allclose(lab(out)[sel].mean(0), lab(ref)[sel].mean(0), atol=2e-3)
    assert np.isfinite(out).all()


def test_oklab_agrees_with_colour_science():
    import colour

    from faceplate.render.colourmatch import _acescg_to_xyz_d65, _from_oklab

    rgb = np.array([[0.18, 0.18, 0.18], [1.0, 0.2, 0.05], [4.0, 3.0, 2.0], [-0.01, 0.1, 0.3]])
    ref = colour.XYZ_to_Oklab(rgb @ _acescg_to_xyz_d65())
    np.testing.assert_allclose(_to_oklab(rgb), ref, atol=1e-6)
    np.testing.assert_allclose(_from_oklab(_to_oklab(rgb)), rgb, atol=1e-9)


def test_histogram_matches_quantiles():
    src, ref, w = pair(2)
    out = colour_match(src, ref, w, "histogram", "ACEScg", CFG)
    sel = w > 0
    for c in range(3):
        q = [0.1, 0.5, 0.9]
        np.testing.assert_allclose(np.quantile(out[sel][:, c], q), np.quantile(ref[sel][:, c], q), rtol=0.05)


@pytest.mark.parametrize("method", sorted(COLOUR_MATCH))
def test_every_method_is_finite_deterministic_and_respects_amount(method):
    src, ref, w = pair(3)
    src[0, 0] = [50.0, -0.1, 0.0]  # HDR and negative outside the matte
    a = colour_match(src, ref, w, method, "ACEScg", CFG)
    b = colour_match(src, ref, w, method, "ACEScg", CFG)
    assert np.isfinite(a).all() and np.array_equal(a, b)
    zero = colour_match(src, ref, w, method, "ACEScg", CFG, amount=0.0)
    assert np.array_equal(zero, src)


def test_tiny_matte_leaves_the_face_alone_and_bad_names_are_listed():
    src, ref, w = pair()
    w[:] = 0
    w[0, 0] = 1
    assert np.array_equal(colour_match(src, ref, w, "meanstd", "ACEScg", CFG), src)
    with pytest.raises(InputError, match="expected one of none, meanstd, reinhard, histogram, found 'lab'"):
        colour_match(src, ref, w, "lab", "ACEScg", CFG)
    with pytest.raises(InputError, match=r"expected src H×W×3"):
        colour_match(src[..., :2], ref, w, "meanstd", "ACEScg", CFG)


def test_blend_helpers_keep_outside_pixels_exact():
    plate = np.array([[[-0.0, 1e4, -3.0], [0.5, 0.5, 0.5]]], np.float32)
    swap = np.array([[[0.0, 0.0, 0.0], [0.2, 0.2, 0.2]]], np.float32)
    alpha = np.array([[0.0, 0.5]], np.float32)
    out = comp_over_plate(plate, swap, alpha)
    assert out[0, 0].view(np.uint32).tolist() == plate[0, 0].view(np.uint32).tolist()
    np.testing.assert_allclose(out[0, 1], 0.45)
    np.testing.assert_allclose(floor_mask(np.array([0.04, 0.525, 1.0, np.nan]), 0.05), [0.0, 0.5, 1.0, 0.0], atol=1e-6)
    assert clean_matte(np.array([1e-5, 0.5, 2.0]))[0] == 0.0


def test_erode_sides_moves_one_edge_at_a_time():
    from faceplate.render.blend import erode_sides

    m = np.zeros((40, 40), np.float32)
    m[10:30, 10:30] = 1.0
    def edges(x):
        ys, xs = np.nonzero(x > 0.5)
        return ys.min(), ys.max(), xs.min(), xs.max()

    assert edges(erode_sides(m, 3, 0, 0, 0)) == (13, 29, 10, 29)
    assert edges(erode_sides(m, 0, 2, 0, 0)) == (10, 27, 10, 29)
    assert edges(erode_sides(m, 0, 0, 4, -5)) == (10, 29, 14, 34)
    assert edges(erode_sides(m, -2, 0, 0, 0)) == (8, 29, 10, 29)
    assert np.array_equal(erode_sides(m, 0, 0, 0, 0), m)
