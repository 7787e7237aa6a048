"""Landmark masks in crop space: face (hull or components), eyes and mouth; soft edges.

All masks are float32 ``size``×``size`` in [0, 1], drawn anti-aliased with sub-pixel precision from
468 FaceMesh points in crop pixels (continuous coordinates, pixel ``i`` covers ``[i, i+1)``).

=============  ===========================================================================
method         face region
=============  ===========================================================================
``hull``       convex hull of the face oval (forehead to chin)
``components`` union of hulls of face parts (faceswap-style): the two sides of the face from
               the brows down, the lower face, brows+eyes; it follows the brow line on top
=============  ===========================================================================
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from faceplate.errors import InputError

from faceplate.faces.landmarks import FACE_OVAL, LEFT_EYE, RIGHT_EYE  # one home for the indices
from faceplate.faces.landmarks import LEFT_EYEBROW as LEFT_BROW, RIGHT_EYEBROW as RIGHT_BROW
from faceplate.faces.landmarks import MOUTH as LIPS

NOSE = (168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 98, 327, 64, 294, 129, 358)
#: eye and mouth regions are dilated by this fraction of the eye-corner distance (33 -> 263)
REGION_DILATE = 0.06
_SUB = 4  # fixed-point bits for cv2 drawing (1/16 px)
_SS = 4  # supersampling factor: coverage is exact to 1/16 of a pixel


def _fixed_hull(pts: np.ndarray) -> np.ndarray:
    """Convex hull in supersampled cv2 fixed-point coordinates (pixel centres at integers)."""
    import cv2

    hull = cv2.convexHull(np.asarray(pts, np.float32)).reshape(-1, 2).astype(np.float64)
    return np.round((hull * _SS - 0.5) * (1 << _SUB)).astype(np.int32)


def _draw_window(size: int, groups: list[np.ndarray], margin: int = 1) -> tuple[np.ndarray, int, int]:
    """Coverage of the union of the groups' hulls inside the window that holds them (``margin`` crop
    pixels around, clipped to the crop): (pixels, x0, y0). The same values as drawing the whole crop:
    the window is whole crop pixels, so the supersampled blocks and the polygon's fixed-point
    coordinates only shift by whole numbers."""
    import cv2

    hulls = [_fixed_hull(g) for g in groups]
    pts = np.concatenate(hulls)
    unit = _SS << _SUB  # one crop pixel in fixed point
    lo = np.floor(pts.min(axis=0) / unit).astype(int) - margin
    hi = np.ceil((pts.max(axis=0) + (1 << _SUB)) / unit).astype(int) + margin
    x0, y0 = (int(np.clip(v, 0, size)) for v in lo)
    x1, y1 = (int(np.clip(v, 0, size)) for v in hi)
    if x1 <= x0 or y1 <= y0:  # wholly outside the crop
        x0, y0, x1, y1 = 0, 0, size, size
    canvas = np.zeros(((y1 - y0) * _SS, (x1 - x0) * _SS), np.uint8)
    shift = np.array([x0, y0], np.int32) * unit
    for h in hulls:  # union: every hull writes 1
        cv2.fillConvexPoly(canvas, h - shift, 1, lineType=cv2.LINE_8, shift=_SUB)
    # box average of each _SS×_SS block (exact: multiples of 1/16 in float32), ~15× faster than numpy's mean
    return cv2.resize(canvas.astype(np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA), x0, y0


def _place(size: int, window: np.ndarray, x0: int, y0: int) -> np.ndarray:
    out = np.zeros((size, size), np.float32)
    out[y0:y0 + window.shape[0], x0:x0 + window.shape[1]] = window
    return out


def _draw(size: int, groups: list[np.ndarray]) -> np.ndarray:
    return _place(size, *_draw_window(size, groups))


def check_crop_points(points: np.ndarray, size: int) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != 468 or p.shape[1] < 2:
        raise InputError(f"mask landmarks: expected 468×2 points in crop pixels, found shape {p.shape}")
    if not np.isfinite(p[:, :2]).all():
        raise InputError("mask landmarks: expected finite coordinates, found NaN/Inf")
    if not isinstance(size, (int, np.integer)) or not 8 <= int(size) <= 8192:
        raise InputError(f"mask size: expected an integer in 8..8192, found {size!r}")
    return p[:, :2]


def _side_groups(p: np.ndarray) -> list[np.ndarray]:
    from faceplate.faces.align import TEMPLATE

    t = TEMPLATE
    brow_top = min(t[list(RIGHT_BROW), 1].min(), t[list(LEFT_BROW), 1].min())
    below_brow = [i for i in FACE_OVAL if t[i, 1] >= brow_top]
    mid_x = t[1, 0]
    right = [i for i in below_brow if t[i, 0] <= mid_x + 0.02]
    left = [i for i in below_brow if t[i, 0] >= mid_x - 0.02]
    lower = [i for i in FACE_OVAL if t[i, 1] >= t[1, 1]]
    ridge = [168, 6, 197, 195, 5, 4, 1]
    return [
        p[right + list(RIGHT_BROW) + ridge],
        p[left + list(LEFT_BROW) + ridge],
        p[lower + list(NOSE) + list(LIPS)],
        p[list(RIGHT_BROW) + list(RIGHT_EYE) + list(LEFT_BROW) + list(LEFT_EYE) + ridge],
    ]


def face_hull(points: np.ndarray, size: int) -> np.ndarray:
    """Convex hull of the face oval."""
    p = check_crop_points(points, size)
    return _draw(int(size), [p[list(FACE_OVAL)]])


def face_components(points: np.ndarray, size: int) -> np.ndarray:
    """Union of the hulls of the face parts (follows the brows on top, not the forehead)."""
    p = check_crop_points(points, size)
    return _draw(int(size), _side_groups(p))


def _dilated(groups: list[np.ndarray], p: np.ndarray, size: int) -> np.ndarray:
    px = REGION_DILATE * float(np.linalg.norm(p[263] - p[33]))
    if px < 0.5:
        return _draw(size, groups)
    # dilated inside a window with room for the dilation: the (exact) distances there are the whole
    # crop's (every covered pixel is inside, and a ring of uncovered ones surrounds it unless the crop
    # edge does), and outside it the dilated mask is 0
    window, x0, y0 = _draw_window(size, groups, margin=int(np.ceil(px)) + 2)
    return _place(size, soften(window, erode_px=-px, feather_px=0.0, exact=True), x0, y0)


def eyes_region(points: np.ndarray, size: int) -> np.ndarray:
    """Both eyes: hulls of the eye loops, dilated by ``REGION_DILATE`` × the eye-corner distance."""
    p = check_crop_points(points, size)
    return _dilated([p[list(RIGHT_EYE)], p[list(LEFT_EYE)]], p, int(size))


def mouth_region(points: np.ndarray, size: int) -> np.ndarray:
    """The mouth: hull of the outer lip loop, dilated like the eyes."""
    p = check_crop_points(points, size)
    return _dilated([p[list(LIPS)]], p, int(size))


#: face-mask methods by name
MASKS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "hull": face_hull,
    "components": face_components,
}
#: every named region (face methods plus eyes and mouth)
REGIONS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = dict(MASKS, eyes=eyes_region, mouth=mouth_region)


def landmark_masks(points: np.ndarray, size: int, method: str = "hull") -> dict[str, np.ndarray]:
    """``{"face", "eyes", "mouth"}`` float32 ``size``×``size`` masks from crop-space landmarks."""
    if method not in MASKS:
        raise InputError(f"--mask: expected one of {', '.join(MASKS)}, found {method!r}")
    return {"face": MASKS[method](points, size), "eyes": eyes_region(points, size), "mouth": mouth_region(points, size)}


def _exact(d: np.ndarray) -> np.ndarray:
    """OpenCV's precise L2 distances (pixel-centre distances, so square roots of whole numbers) made
    exact: its SIMD square roots can differ in the last bit with the buffer's alignment."""
    return np.sqrt(np.rint(np.square(d, dtype=np.float64))).astype(np.float32)


def soften(mask: np.ndarray, erode_px: float = 0.0, feather_px: float = 0.0, scale: float = 1.0,
           exact: bool = False) -> np.ndarray:
    """Erode (positive) or dilate (negative) ``mask``'s edge and feather it, in plate pixels.

    ``scale`` converts plate pixels to mask pixels (the crop scale, ``align.matrix_scale(M)``). The
    edge is the 0.5 level of ``mask``; after eroding by ``e`` the mask ramps from 0 at the new edge to
    1 at ``feather`` further inside (smoothstep), so the result never extends past the eroded edge.
    With both 0 the mask is returned clipped to [0, 1]. Output float32 in [0, 1]. ``exact``: the
    distances exactly rounded (the same bits whatever the buffer; small masks: a little slower).
    """
    import cv2

    m = np.asarray(mask, dtype=np.float32)
    if m.ndim != 2 or min(m.shape) < 1:
        raise InputError(f"soften mask: expected an H×W mask, found shape {m.shape}")
    if not np.isfinite(m).all():
        raise InputError("soften mask: expected finite values, found NaN/Inf")
    for name, v in (("erode", erode_px), ("feather", feather_px), ("scale", scale)):
        if not np.isfinite(v):
            raise InputError(f"soften {name}: expected a finite number, found {v!r}")
    if feather_px < 0:
        raise InputError(f"soften feather: expected >= 0 plate pixels, found {feather_px}")
    if scale <= 0:
        raise InputError(f"soften scale: expected > 0 (mask pixels per plate pixel), found {scale}")
    if erode_px == 0 and feather_px == 0:
        return np.clip(m, 0.0, 1.0)
    e, f = erode_px * scale, feather_px * scale
    inside = (m >= 0.5).astype(np.uint8)
    d_in = cv2.distanceTransform(inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) if inside.any() else np.zeros(m.shape, np.float32)
    d_out = cv2.distanceTransform(1 - inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) if (1 - inside).any() \
        else np.full(m.shape, np.float32(0))
    if exact:
        d_in, d_out = _exact(d_in), _exact(d_out)
    if not inside.any():
        d_out = np.full(m.shape, np.float32(1e6))
    if inside.all():
        d_in = np.full(m.shape, np.float32(1e6))
    sd = np.where(inside > 0, d_in - 0.5, 0.5 - d_out).astype(np.float32)  # signed distance to the edge
    if f <= 0:
        return np.clip(sd - e + 0.5, 0.0, 1.0).astype(np.float32)  # 1-px anti-aliased edge
    x = np.clip((sd - e) / f, 0.0, 1.0)
    return (x * x * (3.0 - 2.0 * x)).astype(np.float32)
