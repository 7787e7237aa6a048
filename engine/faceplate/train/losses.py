"""Training losses, chosen by name with weights: masked L1/MSE, SSIM, MS-SSIM, edge, mask loss.

SSIM follows Wang et al. 2004 as implemented by ``skimage.metrics.structural_similarity`` with
``gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1``: an 11-tap Gaussian
window, K1 = 0.01, K2 = 0.03, mean over the "valid" region (borders of 5 px excluded). MS-SSIM
follows Wang et al. 2003 (5 scales, weights 0.0448 … 0.1333), using fewer scales when the image
is too small for five (each scale must keep at least the 11 px window).

``edge`` is the masked L1 of the images' forward differences (x and y), weighted like L1 (a pair of
pixels counts with the smaller of its two weights).

Shapes: images ``(N, C, H, W)`` float in [0, 1]; masks ``(N, 3, H, W)`` channels face, eyes, mouth.
"""
from __future__ import annotations

import functools
from typing import Callable

import torch
import torch.nn.functional as F

from faceplate.errors import InputError

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_K1, _K2 = 0.01, 0.03
WINDOW, SIGMA = 11, 1.5


def _check(x: torch.Tensor, y: torch.Tensor, what: str) -> None:
    if x.ndim != 4 or x.shape != y.shape:
        raise InputError(f"{what}: expected two (N, C, H, W) tensors of the same shape, found "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    if min(x.shape[-2:]) < WINDOW:
        raise InputError(f"{what}: expected images of at least {WINDOW}x{WINDOW}, found {tuple(x.shape[-2:])}")


@functools.lru_cache(maxsize=16)
def _gauss_1d(size: int, sigma: float, device: str, dtype: torch.dtype) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).to(device=device, dtype=dtype)


def _filter(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filter, per channel."""
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _ssim_cs(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image (N,) mean SSIM and mean contrast-structure term."""
    g = _gauss_1d(WINDOW, SIGMA, str(x.device), x.dtype)
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    mu_x, mu_y = _filter(x, g), _filter(y, g)
    sxx = _filter(x * x, g) - mu_x ** 2
    syy = _filter(y * y, g) - mu_y ** 2
    sxy = _filter(x * y, g) - mu_x * mu_y
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    s = ((2 * mu_x * mu_y + c1) / (mu_x ** 2 + mu_y ** 2 + c1)) * cs
    return s.flatten(1).mean(1), cs.flatten(1).mean(1)


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM per image, shape (N,). Computed in float32 whatever the input dtype."""
    _check(x, y, "ssim")
    return _ssim_cs(x.float(), y.float(), data_range)[0]


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, scales: int | None = None) -> torch.Tensor:
    """Multi-scale SSIM per image, shape (N,); ``scales`` defaults to as many (≤ 5) as the size allows."""
    _check(x, y, "ms_ssim")
    x, y = x.float(), y.float()
    fit = 1
    while fit < 5 and min(x.shape[-2:]) // (2 ** fit) >= WINDOW:
        fit += 1
    n = fit if scales is None else scales
    if not 1 <= n <= fit:
        raise InputError(f"ms_ssim: {scales} scales need images of at least {WINDOW * 2 ** (scales - 1)} px, "
                         f"found {tuple(x.shape[-2:])}")
    w = torch.tensor(MS_SSIM_WEIGHTS[:n], dtype=x.dtype, device=x.device)
    w = w / w.sum()
    vals = []
    for i in range(n):
        s, cs = _ssim_cs(x, y, data_range)
        if i < n - 1:
            vals.append(torch.relu(cs))
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        else:
            vals.append(torch.relu(s))
    stack = torch.stack(vals, dim=0)  # (n, N)
    return torch.prod(stack ** w.view(-1, 1), dim=0)


def pixel_weights(masks: torch.Tensor, eyes_mouth_weight: float) -> torch.Tensor:
    """(N, 1, H, W) weights: face mask plus extra weight on eyes and mouth."""
    face, eyes, mouth = masks[:, 0:1], masks[:, 1:2], masks[:, 2:3]
    return face + eyes_mouth_weight * torch.maximum(eyes, mouth)


def _l1(pred, target, w, pred_mask, masks):
    return (w * (pred - target).abs()).sum() / (w.sum() * pred.shape[1]).clamp_min(1e-6)


def _mse(pred, target, w, pred_mask, masks):
    return (w * (pred - target) ** 2).sum() / (w.sum() * pred.shape[1]).clamp_min(1e-6)


def _ssim_loss(pred, target, w, pred_mask, masks):
    face = masks[:, 0:1]
    return 1.0 - ssim(pred * face, target * face).mean()


def _ms_ssim_loss(pred, target, w, pred_mask, masks):
    face = masks[:, 0:1]
    return 1.0 - ms_ssim(pred * face, target * face).mean()


def _grads(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along x (N, C, H, W-1) and y (N, C, H-1, W)."""
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def _edge(pred, target, w, pred_mask, masks):
    """Weighted L1 of the image gradients (forward differences): penalises a soft face, whose edges
    are weaker than the target's, where L1/MSE on the pixels barely notice it."""
    (px, py), (tx, ty) = _grads(pred), _grads(target)
    wx = torch.minimum(w[..., :, 1:], w[..., :, :-1])
    wy = torch.minimum(w[..., 1:, :], w[..., :-1, :])
    num = (wx * (px - tx).abs()).sum() + (wy * (py - ty).abs()).sum()
    return num / ((wx.sum() + wy.sum()) * pred.shape[1]).clamp_min(1e-6)


def _mask_loss(pred, target, w, pred_mask, masks):
    return F.mse_loss(pred_mask, masks[:, 0:1])


#: name -> loss(pred, target, pixel_weights, pred_mask, masks) -> scalar
LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "l1": _l1,
    "mse": _mse,
    "ssim": _ssim_loss,
    "ms_ssim": _ms_ssim_loss,
    "edge": _edge,
    "mask": _mask_loss,
}
LOSS_NAMES = tuple(LOSSES)


class SwapLoss(torch.nn.Module):
    """Weighted sum of named losses for one identity's reconstruction.

    ``forward(pred (N,3,H,W), pred_mask (N,1,H,W), target (N,3,H,W), masks (N,3,H,W))`` ->
    (total, {name: value}); everything is computed in float32.
    """

    def __init__(self, weights: dict[str, float], eyes_mouth_weight: float = 3.0) -> None:
        super().__init__()
        unknown = [k for k in weights if k not in LOSSES]
        if unknown:
            raise InputError(f"losses: unknown name(s) {unknown}; expected names from {', '.join(LOSS_NAMES)}")
        self.weights = dict(weights)
        self.eyes_mouth_weight = float(eyes_mouth_weight)

    def forward(self, pred, pred_mask, target, masks):
        pred, pred_mask, target, masks = pred.float(), pred_mask.float(), target.float(), masks.float()
        w = pixel_weights(masks, self.eyes_mouth_weight)
        parts = {name: LOSSES[name](pred, target, w, pred_mask, masks) for name in self.weights}
        total = sum(self.weights[n] * v for n, v in parts.items())
        return total, parts
