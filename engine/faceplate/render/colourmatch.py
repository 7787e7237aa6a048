"""Colour matching of the new face to the plate, in linear light, weighted by the matte.

Every method takes ``src`` (the model's face) and ``ref`` (the plate under it), both float32 H×W×3
scene-linear in the plate's colour space ``space``, and ``weight`` (H×W in [0, 1], the matte), and
returns ``src`` matched (float32 H×W×3, not clipped, finite). Methods are chosen by name from
:data:`COLOUR_MATCH`:

=============  ============================================================
``none``       no change
``meanstd``    per-channel mean and standard deviation, linear RGB
``reinhard``   mean and standard deviation per axis in Oklab (perceptual)
``histogram``  per-channel weighted quantile (histogram) matching
=============  ============================================================
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np

from faceplate.colour.ocio import ColourConfig
from faceplate.errors import InputError

#: fewer matte pixels than this (sum of weights) and the match is skipped: statistics would be noise
MIN_WEIGHT = 16.0
_EPS = 1e-6


def _check(src: np.ndarray, ref: np.ndarray, weight: np.ndarray) -> None:
    if src.ndim != 3 or src.shape[2] != 3 or ref.shape != src.shape or weight.shape != src.shape[:2]:
        raise InputError(
            f"colour match: expected src H×W×3, ref of the same shape and weight H×W, found "
            f"{src.shape}, {ref.shape}, {weight.shape}")


def _wstats(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and std per channel of x (N×3) with weights w (N) — float64."""
    sw = w.sum()
    mean = (x * w[:, None]).sum(0) / sw
    var = (((x - mean) ** 2) * w[:, None]).sum(0) / sw
    return mean, np.sqrt(np.maximum(var, 0.0))


def _transfer_stats(src: np.ndarray, ref: np.ndarray, w: np.ndarray) -> np.ndarray:
    ms, ss = _wstats(src, w)
    mr, sr = _wstats(ref, w)
    scale = np.where(ss > _EPS, sr / np.maximum(ss, _EPS), 1.0)
    scale = np.clip(scale, 0.1, 10.0)  # a flat face must not explode
    return (src - ms) * scale + mr


def match_none(src, ref, weight, space, config):
    return np.asarray(src, np.float32).copy()


def match_meanstd(src, ref, weight, space, config):
    s = src.reshape(-1, 3).astype(np.float64)
    r = ref.reshape(-1, 3).astype(np.float64)
    out = _transfer_stats(s, r, weight.reshape(-1).astype(np.float64))
    return out.reshape(src.shape).astype(np.float32)


@lru_cache(maxsize=4)
def _acescg_to_xyz_d65() -> np.ndarray:
    """Row-vector matrix: ``xyz = rgb @ M`` (ACEScg -> CIE XYZ, adapted to D65 with CAT02)."""
    import colour

    cs = colour.RGB_COLOURSPACES["ACEScg"]
    d65 = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"]
    m = colour.RGB_to_XYZ(np.eye(3), cs, illuminant=d65, chromatic_adaptation_transform="CAT02")
    return np.asarray(m, np.float64)  # rows of eye -> rows of m: xyz = rgb @ m


@lru_cache(maxsize=4)
def _oklab_matrices() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ACEScg -> LMS, LMS' -> Lab) and inverses, row-vector form, from colour-science's Oklab constants."""
    from colour.models import oklab

    to_lms = _acescg_to_xyz_d65() @ np.asarray(oklab.MATRIX_1_XYZ_TO_LMS, np.float64).T
    to_lab = np.asarray(oklab.MATRIX_2_LMS_TO_LAB, np.float64).T
    return to_lms, to_lab, np.linalg.inv(to_lms), np.linalg.inv(to_lab)


def _mat3(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``x @ m`` for N×3 × 3×3, written out: no BLAS threads (slow under contention, order-dependent)."""
    return x[:, 0:1] * m[0] + x[:, 1:2] * m[1] + x[:, 2:3] * m[2]


def _to_oklab(rgb_acescg: np.ndarray) -> np.ndarray:
    """N×3 ACEScg -> Oklab (Ottosson 2020; cube root keeps the sign of negative values)."""
    to_lms, to_lab, _, _ = _oklab_matrices()
    return _mat3(np.cbrt(_mat3(rgb_acescg, to_lms)), to_lab)


def _from_oklab(lab: np.ndarray) -> np.ndarray:
    _, _, from_lms, from_lab = _oklab_matrices()
    return _mat3(_mat3(lab, from_lab) ** 3, from_lms)


def match_reinhard(src, ref, weight, space, config):
    """Reinhard et al. 2001 statistics transfer, in Oklab (a perceptual space) instead of lαβ."""
    w = weight.reshape(-1).astype(np.float64)
    keep = w > 0
    s = config.convert(src.reshape(-1, 1, 3), space, "ACEScg").reshape(-1, 3).astype(np.float64)
    r = config.convert(ref.reshape(-1, 1, 3)[keep], space, "ACEScg").reshape(-1, 3).astype(np.float64)
    s_lab = _to_oklab(s)
    ms, ss = _wstats(s_lab[keep], w[keep])
    mr, sr = _wstats(_to_oklab(r), w[keep])
    scale = np.clip(np.where(ss > _EPS, sr / np.maximum(ss, _EPS), 1.0), 0.1, 10.0)
    out = _from_oklab((s_lab - ms) * scale + mr).astype(np.float32)
    return config.convert(out.reshape(-1, 1, 3), "ACEScg", space).reshape(src.shape)


def _wquantiles(x: np.ndarray, w: np.ndarray, q: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    cdf = np.cumsum(ws)
    cdf = (cdf - 0.5 * ws) / cdf[-1]
    return np.interp(q, cdf, xs)


def match_histogram(src, ref, weight, space, config):
    s = src.reshape(-1, 3).astype(np.float64)
    r = ref.reshape(-1, 3).astype(np.float64)
    w = weight.reshape(-1).astype(np.float64)
    keep = w > 0
    q = np.linspace(0.0, 1.0, 257)
    out = np.empty_like(s)
    for c in range(3):
        sq = _wquantiles(s[keep, c], w[keep], q)
        rq = _wquantiles(r[keep, c], w[keep], q)
        sq = np.maximum.accumulate(sq + q * 1e-12)  # strictly increasing for interp
        out[:, c] = np.interp(s[:, c], sq, rq)
    return out.reshape(src.shape).astype(np.float32)


ColourMatch = Callable[[np.ndarray, np.ndarray, np.ndarray, str, ColourConfig], np.ndarray]

COLOUR_MATCH: dict[str, ColourMatch] = {
    "none": match_none,
    "meanstd": match_meanstd,
    "reinhard": match_reinhard,
    "histogram": match_histogram,
}


def colour_match(src: np.ndarray, ref: np.ndarray, weight: np.ndarray, method: str, space: str,
                 config: ColourConfig, amount: float = 1.0) -> np.ndarray:
    """Match ``src`` to ``ref`` inside ``weight`` with ``method``; see the module docstring."""
    try:
        fn = COLOUR_MATCH[method]
    except KeyError:
        raise InputError(f"--colour-match: expected one of {', '.join(COLOUR_MATCH)}, found {method!r}") from None
    src = np.asarray(src, np.float32)
    ref = np.asarray(ref, np.float32)
    weight = np.clip(np.nan_to_num(np.asarray(weight, np.float32)), 0.0, 1.0)
    _check(src, ref, weight)
    if method == "none" or amount <= 0.0 or float(weight.sum(dtype=np.float64)) < MIN_WEIGHT:
        return src.copy()
    out = fn(src, ref, weight, space, config)
    if amount < 1.0:
        out = src + np.float32(amount) * (out - src)
    return np.nan_to_num(out, nan=0.0, posinf=65504.0, neginf=-65504.0).astype(np.float32)
