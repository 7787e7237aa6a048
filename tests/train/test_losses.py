"""SSIM / MS-SSIM against scikit-image reference values, and the named training losses."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from faceplate.errors import InputError
from faceplate.train.losses import LOSS_NAMES, SwapLoss, ms_ssim, pixel_weights, ssim


def _pair(seed: int, size: int = 48, noise: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([np.sin(6 * x + c) * np.cos(4 * y) * 0.4 + 0.5 for c in range(3)], axis=-1)
    other = np.clip(base + rng.normal(0, noise, base.shape), 0, 1)
    return base.astype(np.float64), other.astype(np.float64)


def _skimage(a: np.ndarray, b: np.ndarray) -> float:
    return structural_similarity(a, b, data_range=1.0, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)


@pytest.mark.parametrize("seed,noise", [(0, 0.02), (1, 0.1), (2, 0.3)])
def test_ssim_matches_skimage(seed, noise):
    a, b = _pair(seed, noise=noise)
    ref = _skimage(a, b)
    t = lambda x: torch.from_numpy(x.transpose(2, 0, 1)[None]).double()  # noqa: E731
    got = float(ssim(t(a), t(b)).item())
    assert abs(got - ref) < 1e-6, (got, ref)


def test_ssim_batch_and_float32():
    pairs = [_pair(s, noise=0.05 * (s + 1)) for s in range(3)]
    x = torch.tensor(np.stack([p[0].transpose(2, 0, 1) for p in pairs]), dtype=torch.float32)
    y = torch.tensor(np.stack([p[1].transpose(2, 0, 1) for p in pairs]), dtype=torch.float32)
    got = ssim(x, y).numpy()
    ref = np.array([_skimage(a, b) for a, b in pairs])
    np.testing.assert_allclose(got, ref, atol=2e-5)
    assert got[0] > got[1] > got[2]


def test_ms_ssim_properties():
    a, b = _pair(3, size=180, noise=0.05)
    t = lambda x: torch.from_numpy(x.transpose(2, 0, 1)[None]).double()  # noqa: E731
    assert float(ms_ssim(t(a), t(a))) == pytest.approx(1.0, abs=1e-9)
    # one scale is SSIM itself
    assert float(ms_ssim(t(a), t(b), scales=1)) == pytest.approx(_skimage(a, b), abs=1e-6)
    # five scales fit 180 px (11 * 2**4 = 176); more noise, lower score
    _, c = _pair(3, size=180, noise=0.2)
    assert 0 < float(ms_ssim(t(a), t(c))) < float(ms_ssim(t(a), t(b))) < 1
    with pytest.raises(InputError, match="scales"):
        ms_ssim(t(a)[..., :64, :64], t(b)[..., :64, :64], scales=5)


def test_ssim_rejects_bad_shapes():
    with pytest.raises(InputError, match=r"\(N, C, H, W\)"):
        ssim(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 31))
    with pytest.raises(InputError, match="at least 11"):
        ssim(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))


def test_swap_loss_terms_and_eye_weight():
    torch.manual_seed(0)
    target = torch.rand(2, 3, 32, 32)
    masks = torch.zeros(2, 3, 32, 32)
    masks[:, 0, 4:28, 4:28] = 1
    masks[:, 1, 10:14, 8:24] = 1  # eyes
    pred = target.clone()
    pred[:, :, 10:14, 8:24] += 0.2  # an error only in the eyes
    fn = SwapLoss({n: 1.0 for n in LOSS_NAMES}, eyes_mouth_weight=0.0)
    total0, parts0 = fn(pred, masks[:, :1], target, masks)
    assert set(parts0) == set(LOSS_NAMES)
    assert parts0["mask"].item() == pytest.approx(0.0, abs=1e-7)
    _, parts3 = SwapLoss({"l1": 1.0}, eyes_mouth_weight=3.0)(pred, masks[:, :1], target, masks)
    assert parts3["l1"].item() > parts0["l1"].item() * 2  # eyes weighted up
    # errors outside the face mask do not count
    pred2 = target.clone()
    pred2[:, :, :3, :] = 1 - pred2[:, :, :3, :]
    _, parts = SwapLoss({"l1": 1.0, "mse": 1.0})(pred2, masks[:, :1], target, masks)
    assert parts["l1"].item() == 0.0 and parts["mse"].item() == 0.0
    w = pixel_weights(masks, 2.0)
    assert w.shape == (2, 1, 32, 32) and w.max().item() == 3.0
    with pytest.raises(InputError, match="unknown"):
        SwapLoss({"perceptual": 1.0})


def test_edge_loss_sees_softness_that_pixels_barely_see():
    import torch.nn.functional as F

    from faceplate.train.losses import LOSSES

    torch.manual_seed(1)
    target = (torch.rand(2, 3, 32, 32) > 0.5).float() * 0.6 + 0.2  # sharp texture
    masks = torch.zeros(2, 3, 32, 32)
    masks[:, 0, 2:30, 2:30] = 1
    w = pixel_weights(masks, 0.0)
    soft = F.avg_pool2d(F.pad(target, (1, 1, 1, 1), mode="replicate"), 3, 1)
    offset = target + 0.05  # a small flat error: no change of gradients
    edge, l1 = LOSSES["edge"], LOSSES["l1"]
    assert edge(target, target, w, None, masks).item() == 0.0
    assert edge(offset, target, w, None, masks).item() == pytest.approx(0.0, abs=1e-6)
    assert l1(offset, target, w, None, masks).item() == pytest.approx(0.05, abs=1e-6)
    assert edge(soft, target, w, None, masks).item() > l1(soft, target, w, None, masks).item() > 0.1
    # differences that cross the edge of the weights do not count
    out = target.clone()
    out[:, :, :2, :] = 0
    assert edge(out, target, w, None, masks).item() == 0.0
