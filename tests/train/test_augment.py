"""Seeded augmentation: determinism, linear-light jitter, geometry shared by target and masks."""
from __future__ import annotations

import numpy as np
import pytest

from faceplate.colour.encoding import decode_transfer, encode_transfer
from faceplate.train.augment import AugmentSettings, augment, jitter_linear, random_warp_maps

from train_fixtures import draw_face


@pytest.fixture()
def face():
    return draw_face(64, np.random.default_rng(0), (0.6, 0.45, 0.4))


def test_same_seed_same_sample(face):
    s = AugmentSettings()
    a = augment(*face, np.random.default_rng([1, 7]), s)
    b = augment(*face, np.random.default_rng([1, 7]), s)
    c = augment(*face, np.random.default_rng([1, 8]), s)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    for x in a:
        assert x.dtype == np.float32 and x.shape == (64, 64, 3) and 0 <= x.min() and x.max() <= 1


@pytest.mark.parametrize("transfer", ["acescct", "srgb", "linear"])
def test_jitter_is_in_linear_light(transfer):
    lin = np.full((4, 4, 3), 0.05, np.float32) * np.array([1.0, 2.0, 3.0], np.float32)
    code = encode_transfer(lin, transfer)
    out = jitter_linear(code, transfer, 1.0, np.array([1.0, 1.1, 0.9]))
    np.testing.assert_allclose(decode_transfer(out, transfer), lin * 2 * np.array([1.0, 1.1, 0.9]), rtol=1e-4)


def test_similarity_applies_to_target_and_masks(face):
    code, masks = face
    # masks stacked as the image: same geometry means target == transformed copy of the input image
    s = AugmentSettings(exposure=0, colour=0, warp=False, rotation=20, shift=0.1)
    inp, tgt, tm = augment(code, masks, np.random.default_rng(3), s)
    np.testing.assert_array_equal(inp, tgt)  # no warp: input is the target
    inp2, tgt2, tm2 = augment(masks, masks, np.random.default_rng(3), s)
    np.testing.assert_allclose(tm, np.clip(tgt2, 0, 1), atol=1e-6)
    assert not np.allclose(tgt, code)


def test_random_warp_is_smooth_and_keeps_border():
    mx, my = random_warp_maps(64, np.random.default_rng(0), 0.025)
    base = np.arange(64, dtype=np.float32)
    assert np.abs(mx[0] - base).max() < 1e-3 and np.abs(my[:, 0] - base).max() < 1e-3
    assert np.abs(mx - base[None, :]).max() > 0.5  # it does move the inside
    assert np.abs(np.diff(mx, axis=1)).max() < 2.0  # smooth: no tearing
