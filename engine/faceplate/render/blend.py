"""Mattes and compositing, in plate pixels.

Conventions: colour is float32 H×W×3 scene-linear in the plate's colour space (never clipped);
mattes are float32 H×W in [0, 1]. "Outside the matte" means matte == 0 exactly: there the swap
element is exactly 0 (RGB and alpha) and the comp is the plate, bit for bit (no arithmetic is
done on those pixels, so HDR values, negatives and -0.0 survive).
"""
from __future__ import annotations

import numpy as np

from faceplate.errors import InputError

#: matte values below this are set to exactly 0 (feather tails would otherwise touch the whole region)
MATTE_EPS = 1.0 / 4096.0


def floor_mask(mask: np.ndarray, floor: float) -> np.ndarray:
    """Learned mask (…, in [0, 1]) with values below ``floor`` mapped to 0 and the rest rescaled to [0, 1].

    Small fluctuations of a learned mask around 0 are what makes a matte shimmer; this removes them.
    """
    m = np.clip(np.nan_to_num(np.asarray(mask, np.float32)), 0.0, 1.0)
    if floor <= 0.0:
        return m
    return np.clip((m - np.float32(floor)) / np.float32(1.0 - floor), 0.0, 1.0)


def combine_mattes(learned: np.ndarray, landmark: np.ndarray, mode: str) -> np.ndarray:
    """The crop matte: ``both`` = learned ∩ landmark (minimum), ``learned`` or ``landmark`` alone."""
    if mode == "both":
        return np.minimum(learned, landmark).astype(np.float32)
    if mode == "learned":
        return np.asarray(learned, np.float32)
    if mode == "landmark":
        return np.asarray(landmark, np.float32)
    raise InputError(f"--matte: expected one of both, learned, landmark, found {mode!r}")


def clean_matte(matte: np.ndarray) -> np.ndarray:
    """Clip to [0, 1], NaN -> 0, and snap values below :data:`MATTE_EPS` to exactly 0."""
    m = np.clip(np.nan_to_num(np.asarray(matte, np.float32), nan=0.0), 0.0, 1.0)
    m[m < MATTE_EPS] = 0.0
    return m


def over(fg_premult: np.ndarray, fg_alpha: np.ndarray, bg_premult: np.ndarray, bg_alpha: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray]:
    """Porter–Duff *over* of two premultiplied elements (used when several faces overlap)."""
    k = (1.0 - fg_alpha)[..., None]
    return fg_premult + bg_premult * k, fg_alpha + bg_alpha * (1.0 - fg_alpha)


def comp_over_plate(plate_rgb: np.ndarray, swap_premult: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The plate with the swap element merged over it; pixels where ``alpha == 0`` are copied untouched."""
    if plate_rgb.shape != swap_premult.shape or alpha.shape != plate_rgb.shape[:2]:
        raise InputError(f"comp: expected plate H×W×3, swap of the same shape and alpha H×W, found "
                         f"{plate_rgb.shape}, {swap_premult.shape}, {alpha.shape}")
    out = plate_rgb.copy()
    inside = alpha > 0
    if inside.any():
        a = alpha[inside][:, None]
        out[inside] = plate_rgb[inside] * (1.0 - a) + swap_premult[inside]
    return out


def comp_alpha(plate_alpha: np.ndarray | None, alpha: np.ndarray) -> np.ndarray:
    """Comp alpha: the plate's (1 where it has none), with the face merged over where ``alpha > 0``."""
    if plate_alpha is None:
        return np.ones(alpha.shape, np.float32)
    out = plate_alpha.astype(np.float32, copy=True)
    inside = alpha > 0
    out[inside] = alpha[inside] + plate_alpha[inside] * (1.0 - alpha[inside])
    return out


def erode_sides(matte: np.ndarray, top: float, bottom: float, left: float, right: float) -> np.ndarray:
    """Move each edge of a crop-space matte (H×W in [0, 1]) inwards by its amount in pixels (outwards
    when negative), one side at a time: the matte is intersected with (or, growing, united with) a copy
    of itself shifted away from that side. Fractional amounts resample linearly; nothing else changes.
    """
    import cv2

    m = np.asarray(matte, np.float32)
    h, w = m.shape
    for amount, (dx, dy) in ((top, (0.0, 1.0)), (bottom, (0.0, -1.0)), (left, (1.0, 0.0)), (right, (-1.0, 0.0))):
        if amount == 0:
            continue
        a = float(amount)
        shift = np.array([[1.0, 0.0, dx * abs(a)], [0.0, 1.0, dy * abs(a)]], np.float64)
        if a < 0:
            shift[:, 2] *= -1.0
        moved = cv2.warpAffine(m, shift, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=0.0)
        m = np.minimum(m, moved) if a > 0 else np.maximum(m, moved)
    return m
