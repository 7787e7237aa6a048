"""Seeded augmentation of one training face (numpy + OpenCV, runs in data-loader workers).

Order, for a crop ``code`` (H×W×3 float32 code values in [0, 1], crop encoding with transfer
``transfer``) and its ``masks`` (H×W×3 face/eyes/mouth):

0. optionally (``expression_prob`` > 0 and the face's landmarks given), a synthesized expression
   (:mod:`faceplate.train.expression`): the same smooth warp applied to face and masks, making a new
   sample of the identity that input and target share;
1. exposure and colour jitter **in linear light**: decode with the encoding's transfer, scale by
   ``2**stops`` and a per-channel gain, re-encode, clip to [0, 1];
2. horizontal flip (p = 0.5), applied to face and masks;
3. random similarity (rotation, scale, shift), applied to face and masks — it defines the target;
4. the book's random warp: a smooth random displacement (5×5 control grid, smooth interpolation)
   applied to the *input* only; the network learns to undo it. With ``warp_local`` its face-wide
   affine part (shift, scale, rotation, shear over the target's face mask) is removed first, so the
   input places the face exactly where the target does and only deforms it locally. A full warp moves
   the whole face by ~0.8 px and scales it by ~4 % at random, the network cannot tell that from a real
   move, and models trained so followed a sub-pixel move of the face in the crop by 0.6 (vertical) and
   a small scale or rotation hardly at all (docs/quality.md).

Resampling (3, 4 and the synthesized expression) is bicubic: a bilinear resample at a random sub-pixel
offset removes ~45 % of the face's detail finer than 1 px, every target came out that much softer, and
the models learned the softness (docs/quality.md: +0.5 dB on the oracle from this alone).

Every random number comes from the ``numpy.random.Generator`` passed in, so a sample is a pure
function of its seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from faceplate.colour.encoding import decode_transfer, encode_transfer


@dataclass(frozen=True)
class AugmentSettings:
    transfer: str = "acescct"
    exposure: float = 0.5  # stops, ± range
    colour: float = 0.05  # per-channel gain, ± range
    flip: bool = True
    rotation: float = 10.0  # degrees, ± range
    scale: float = 0.05  # ± fraction
    shift: float = 0.05  # ± fraction of the size
    warp: bool = True
    warp_strength: float = 0.025  # std of control-point offsets, fraction of the size
    warp_local: bool = False  # remove the warp's face-wide affine part (see 4. above)
    expression_prob: float = 0.0  # share of samples given a synthesized expression (needs landmarks)
    expression_strength: float = 1.0  # scale of its amplitudes
    expression_match: float = 0.0  # share of those that copy a target face's expression (given one)


_LUT_SIZE = 16385


def jitter_linear(code: np.ndarray, transfer: str, stops: float, gains: np.ndarray) -> np.ndarray:
    """Exposure/colour change applied in linear light; returns code values clipped to [0, 1].

    Per channel, code -> decode -> × ``2**stops · gain`` -> encode, evaluated exactly on a dense
    1-D table over [0, 1] and interpolated (the crop's code values are in [0, 1]): several times
    faster than transforming every pixel, same result to ~1e-6.
    """
    xs = np.linspace(0.0, 1.0, _LUT_SIZE)
    lin = decode_transfer(xs, transfer).astype(np.float64)
    k = (2.0 ** stops) * np.asarray(gains, np.float64).reshape(3, 1)
    tables = np.clip(encode_transfer(lin[None, :] * k, transfer), 0.0, 1.0).astype(np.float32)  # 3×N
    pos = np.clip(code, 0.0, 1.0).astype(np.float32) * np.float32(_LUT_SIZE - 1)
    i0 = np.minimum(pos.astype(np.int32), _LUT_SIZE - 2)
    frac = pos - i0
    flat = i0 + (np.arange(3, dtype=np.int32) * _LUT_SIZE)  # channel c reads table c
    t = tables.reshape(-1)
    return (t[flat] * (1 - frac) + t[flat + 1] * frac).astype(np.float32)


def similarity_matrix(size: int, angle_deg: float, scale: float, shift_xy: tuple[float, float]) -> np.ndarray:
    """2×3 matrix: rotate/scale about the centre, then shift (pixels)."""
    import cv2

    c = (size - 1) / 2.0
    m = cv2.getRotationMatrix2D((c, c), angle_deg, scale)
    m[:, 2] += np.asarray(shift_xy, dtype=np.float64)
    return m


def _smooth_weights(size: int, nodes: int) -> np.ndarray:
    """(size, nodes) interpolation weights: smoothstep between evenly spaced nodes (C1, exact at nodes)."""
    u = np.arange(size, dtype=np.float64) / (size - 1) * (nodes - 1)
    i0 = np.minimum(np.floor(u).astype(int), nodes - 2)
    f = u - i0
    s = f * f * (3 - 2 * f)
    w = np.zeros((size, nodes))
    w[np.arange(size), i0] = 1 - s
    w[np.arange(size), i0 + 1] = s
    return w


def random_warp_maps(size: int, rng: np.random.Generator, strength: float,
                     weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(map_x, map_y) float32 size×size for ``cv2.remap``: identity plus a smooth random offset.

    Offsets are drawn on a 5×5 control grid (std ``strength × size`` px, border nodes fixed) and
    interpolated smoothly, so the border stays where it is and nothing tears. With ``weight``
    (size×size, ≥ 0, e.g. the face mask) the offset's affine part, fitted by weighted least squares,
    is subtracted: what is left moves the face locally but not as a whole (the border then moves by
    that affine part's opposite, about a pixel). The same random numbers are drawn either way.
    """
    off = rng.normal(0.0, strength * size, size=(2, 5, 5))
    off[:, [0, -1], :] = 0.0
    off[:, :, [0, -1]] = 0.0
    w = _smooth_weights(size, 5)
    dx, dy = w @ off[0] @ w.T, w @ off[1] @ w.T
    wt = None if weight is None else np.clip(np.nan_to_num(np.asarray(weight, np.float64)), 0.0, None).reshape(-1)
    if wt is not None and wt.sum() > 1e-6:  # (a resampled mask may overshoot below 0: clipped)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / max(size - 1, 1) - 0.5
        basis = np.stack([np.ones(size * size), xx.ravel(), yy.ravel()], axis=1)
        normal = basis.T @ (basis * wt[:, None]) + 1e-9 * np.eye(3)
        coef = np.linalg.solve(normal, (basis * wt[:, None]).T @ np.stack([dx.ravel(), dy.ravel()], 1))
        dx = dx - (basis @ coef[:, 0]).reshape(size, size)
        dy = dy - (basis @ coef[:, 1]).reshape(size, size)
    base = np.arange(size, dtype=np.float64)
    return (base[None, :] + dx).astype(np.float32), (base[:, None] + dy).astype(np.float32)


def augment(code: np.ndarray, masks: np.ndarray, rng: np.random.Generator,
            s: AugmentSettings, landmarks: np.ndarray | None = None,
            target: Mapping[str, float] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (input H×W×3, target H×W×3, target masks H×W×3), float32, all in [0, 1].

    ``landmarks`` (468×2 crop pixels of ``code``) enable the synthesized expression; without them,
    or with ``s.expression_prob == 0``, no random number is spent on it (samples stay as they were).
    A synthesized expression copies ``target``'s expression measures (another face's,
    :func:`faceplate.train.expression.match_expression`) with probability ``s.expression_match``
    when a target is given, and is drawn at random otherwise.
    """
    import cv2

    if s.expression_prob > 0 and landmarks is not None and rng.random() < s.expression_prob:
        from faceplate.train.expression import draw_expression, match_expression, synthesize

        if target is not None and s.expression_match > 0 and rng.random() < s.expression_match:
            expr = match_expression(landmarks, target)
        else:
            expr = draw_expression(rng, s.expression_strength)
        code, masks, _ = synthesize(code, masks, landmarks, expr, s.transfer)
    size = code.shape[0]
    stops = rng.uniform(-s.exposure, s.exposure)
    gains = 1.0 + rng.uniform(-s.colour, s.colour, size=3)
    flip = s.flip and rng.random() < 0.5
    angle = rng.uniform(-s.rotation, s.rotation)
    scale = 1.0 + rng.uniform(-s.scale, s.scale)
    shift = rng.uniform(-s.shift, s.shift, size=2) * size
    if s.exposure > 0 or s.colour > 0:
        code = jitter_linear(code, s.transfer, stops, gains)
    if flip:
        code, masks = code[:, ::-1], masks[:, ::-1]
    m = similarity_matrix(size, angle, scale, (float(shift[0]), float(shift[1])))
    target = cv2.warpAffine(np.ascontiguousarray(code), m, (size, size), flags=cv2.INTER_CUBIC,
                            borderMode=cv2.BORDER_REPLICATE)
    tmasks = cv2.warpAffine(np.ascontiguousarray(masks), m, (size, size), flags=cv2.INTER_CUBIC,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if s.warp:
        mx, my = random_warp_maps(size, rng, s.warp_strength, tmasks[..., 0] if s.warp_local else None)
        inp = cv2.remap(target, mx, my, interpolation=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    else:
        inp = target.copy()
    return (np.clip(inp, 0, 1).astype(np.float32), np.clip(target, 0, 1).astype(np.float32),
            np.clip(tmasks, 0, 1).astype(np.float32))
