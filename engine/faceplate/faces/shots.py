"""Hard cuts: where a sequence jumps from one shot to another, found without landmarks.

Each frame gets a small :class:`Signature` of its scene-linear pixels (exposure-normalised log
values): a 128×72 luminance thumbnail and a 16×9 colour one. A cut is a frame that neither matches
the previous one once moved back by the shift phase correlation finds (:data:`MOVED_CUT`) nor looks
like it in place (:data:`THUMB_CUT`): a pan, a slow zoom, noise or an exposure drift keeps one of the
two small, a cut makes both large. Extract treats each shot separately (no following, linking or smoothing across a cut).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from faceplate.errors import InputError

#: median difference (stops) of the luminance thumbnails once the second is moved back by the shift
#: phase correlation finds: a pan, an 8% zoom or a 3° roll stays under 0.5, a new shot is 2-4
MOVED_CUT = 1.0
#: colour thumbnail distance (median absolute difference of exposure-normalised log2 values, stops)
THUMB_CUT = 0.6
_RANGE = (-6.0, 4.0)  # stops around the frame's median


@dataclass(frozen=True)
class Signature:
    luma: np.ndarray  # 72×128 float64 log2 luminance, median-normalised
    thumb: np.ndarray  # 9×16×3 float64 log2, median-normalised


def signature(rgb: np.ndarray) -> Signature:
    """Signature of a scene-linear H×W×3 frame (any size; a reduced copy is cheapest)."""
    import cv2

    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1 or a.shape[1] < 1:
        raise InputError(f"cut detection: expected an H×W×3 frame, found shape {a.shape}")
    small = cv2.resize(np.ascontiguousarray(a, np.float32), (128, 72), interpolation=cv2.INTER_AREA)
    small = np.nan_to_num(small, nan=0.0, posinf=0.0, neginf=0.0)
    logv = np.log2(np.maximum(small, 2.0 ** -12))
    logv -= float(np.median(logv.mean(axis=2)))  # exposure-normalised
    logv = np.clip(logv, *_RANGE)
    thumb = cv2.resize(logv, (16, 9), interpolation=cv2.INTER_AREA).astype(np.float64)
    return Signature(logv.mean(axis=2).astype(np.float64), thumb)


def distances(a: Signature, b: Signature) -> tuple[float, float]:
    """(luminance difference after motion compensation, colour thumbnail distance), both in stops."""
    import cv2

    h, w = a.luma.shape
    win = cv2.createHanningWindow((w, h), cv2.CV_64F)
    (dx, dy), _ = cv2.phaseCorrelate(a.luma, b.luma, win)
    moved = cv2.warpAffine(a.luma, np.float64([[1, 0, dx], [0, 1, dy]]), (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=np.nan)
    ok = np.isfinite(moved)
    diff = float(np.median(np.abs(moved[ok] - b.luma[ok]))) if ok.mean() > 0.3 else float(_RANGE[1] - _RANGE[0])
    return diff, float(np.median(np.abs(a.thumb - b.thumb)))


def is_cut(prev: Signature | None, cur: Signature) -> bool:
    """Whether ``cur`` starts a new shot after ``prev`` (None: the first frame, not a cut)."""
    if prev is None:
        return False
    # the colour thumbnails first: when they agree it is no cut, without the phase correlation
    if float(np.median(np.abs(prev.thumb - cur.thumb))) <= THUMB_CUT:
        return False
    moved, thumb = distances(prev, cur)
    return moved > MOVED_CUT and thumb > THUMB_CUT


def shot_of(frames: Sequence[int], cuts: Sequence[int]) -> dict[int, int]:
    """Shot index (0, 1, …) of each frame, given the frames that start a new shot."""
    starts = sorted(int(c) for c in cuts)
    out, k = {}, 0
    for f in sorted(int(f) for f in frames):
        while k < len(starts) and f >= starts[k]:
            k += 1
        out[f] = k
    return out
