"""Synthesized expressions: a smile, an open mouth, a blink or a small head turn made from one face.

A face set of B that holds one photo shows one expression; the model then never sees B smile and
the swap keeps B's neutral mouth where the plate smiles. This module makes new samples of the same
face from its own pixels by moving landmark groups and warping the crop smoothly:

=========  ===================================================================================
smile      mouth corners out and up (lip points near a corner follow it, cheeks follow by the warp)
open       lower lip and jaw down (most at the chin's centre line, none at the corners), upper lip a
           little up; the opening is filled with a dark, slightly red interior (in linear light)
blink      upper eyelids down onto the lower lids (the lid skin is stretched down over the eye)
turn       yaw/pitch: the face's middle slides sideways/up-down against its fixed outline, the nose most
=========  ===================================================================================

Displacements are in eye distances (outer eye corners 33 → 263) along the face's own axes, so they
do not depend on the crop size. The dense warp is a thin-plate spline through the moved control
landmarks (evaluated as a *backward* map at their new positions, so a gap that opens is filled
from the lip line, not torn), anchored at zero on a ring outside the face outline and faded to
exactly zero beyond it (a chin that drops may cross the crop's lower edge, as it would on the plate); image, masks and mouth interior all go through
the same ``cv2.remap`` (float32). Amplitudes come from the caller's ``numpy.random.Generator``
(:func:`draw_expression`), so a synthesized sample is a pure function of its seed; or they copy
another face's expression (:func:`match_expression`: a face of the shot, so B smiles as A smiles).

Coordinates: landmarks are crop pixels with pixel ``i`` covering ``[i, i+1)`` (as in face sets);
OpenCV's maps are pixel-centre indices (``x - 0.5``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceplate.colour.encoding import decode_transfer, encode_transfer
from faceplate.errors import InputError
from faceplate.faces.landmarks import FACE_OVAL, LEFT_EYE, LEFT_EYEBROW, MOUTH, MOUTH_INNER, RIGHT_EYE, RIGHT_EYEBROW

NOSE = (168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 98, 327, 64, 294, 129, 358)
UPPER_LIP = (409, 270, 269, 267, 0, 37, 39, 40, 185, 415, 310, 311, 312, 13, 82, 81, 80, 191)
LOWER_LIP = (146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402, 318, 324)
#: inner lips as (upper, lower) pairs from the subject's right corner (78) to the left one (308)
INNER_PAIRS = ((191, 95), (80, 88), (81, 178), (82, 87), (13, 14), (312, 317), (311, 402), (310, 318), (415, 324))
INNER_CORNERS = (78, 308)
#: per eye: outer corner, inner corner, upper lid and lower lid from the outer corner inwards
EYES = ((33, 133, (246, 161, 160, 159, 158, 157, 173), (7, 163, 144, 145, 153, 154, 155)),
        (263, 362, (466, 388, 387, 386, 385, 384, 398), (249, 390, 373, 374, 380, 381, 382)))
#: landmarks that steer the smooth warp (few enough that the spline's solve stays small and
#: single-threaded); the others are carried along by it. The inner lips steer it through their
#: midline (see :func:`expression_maps`); eyelids move by their own local warp (:func:`blink_map`).
CONTROLS = tuple(dict.fromkeys(FACE_OVAL[::2] + MOUTH + INNER_CORNERS + (33, 133, 159, 145, 263, 362, 386, 374)
                               + (70, 105, 107, 300, 334, 336) + (168, 197, 4, 1, 98, 327)))

#: largest displacements at amplitude 1, in eye distances
SMILE_OUT, SMILE_UP, SMILE_REACH = 0.10, 0.07, 0.16  # corners outward / up; Gaussian reach of the pull
OPEN_DROP, OPEN_UPPER, OPEN_CHIN = 0.20, 0.12, 0.6  # lower-lip drop; upper-lip rise and chin drop as fractions of it
BLINK_CLOSE, BLINK_SKIN = 0.92, 0.17  # fraction of the lid gap closed; height of the lid skin that stretches
TURN_SHIFT = 0.09  # shift of the face's middle for a full yaw/pitch turn
#: anchor ring and fade, as multiples of the face outline's elliptical radius
RING, FADE_IN, FADE_OUT = 1.5, 1.35, 1.6
#: the mouth's interior in linear light, relative to the lips' luminance (dark, slightly red)
INTERIOR = np.array([0.16, 0.07, 0.06])
LUMA = np.array([0.2722287168, 0.6740817658, 0.0536895174])  # ACEScg (AP1) luminance weights
GRID = 40  # the spline is evaluated on at most GRID × GRID points and resized (it is smooth)


@dataclass(frozen=True)
class Expression:
    """Amplitudes: ``smile``, ``open``, ``blink`` in [0, 1]; ``yaw``, ``pitch`` in [-1, 1]
    (+yaw: the face's middle moves towards image right; +pitch: up)."""

    smile: float = 0.0
    open: float = 0.0
    blink: float = 0.0
    yaw: float = 0.0
    pitch: float = 0.0

    def any(self) -> bool:
        return any(abs(v) > 1e-6 for v in (self.smile, self.open, self.blink, self.yaw, self.pitch))


#: the named expressions shown in previews
SHOWCASE = {
    "neutral": Expression(),
    "smile": Expression(smile=1.0),
    "open mouth": Expression(open=1.0),
    "smile + open": Expression(smile=0.8, open=0.6),
    "blink": Expression(blink=1.0),
    "nose to image left": Expression(yaw=-1.0),
    "nose to image right": Expression(yaw=1.0),
    "look up": Expression(pitch=1.0),
}


def draw_expression(rng: np.random.Generator, strength: float = 1.0) -> Expression:
    """A random expression: each of smile (p 0.5), open (0.4), blink (0.25) and a turn (0.5) on its
    own, at least one of them; amplitudes uniform in [0.3, 1] (turns ±[0.3, 1]) × ``strength``."""
    u = rng.random(11)  # always eleven draws: the stream after this call does not depend on the outcome
    on = u[:4] < np.array([0.5, 0.4, 0.25, 0.5])
    if not on.any():
        on[min(3, int(u[4] * 4))] = True
    amp = (0.3 + 0.7 * u[5:9]) * strength
    sign = 1.0 if u[9] < 0.5 else -1.0
    turn_yaw = u[10] < 0.6  # a turn is mostly sideways
    return Expression(
        smile=float(amp[0]) if on[0] else 0.0,
        open=float(amp[1]) if on[1] else 0.0,
        blink=float(amp[2]) if on[2] else 0.0,
        yaw=float(sign * amp[3]) if on[3] and turn_yaw else 0.0,
        pitch=float(sign * amp[3] * 0.7) if on[3] and not turn_yaw else 0.0,
    )


#: the mouth measures (:func:`faceplate.curate.expression.measures`) a matched smile and opening fit
MOUTH_MEASURES = ("mouth_open", "mouth_width", "smile")
#: amplitude grid of the fit (smile × open), steps of 0.05
_FIT_GRID = np.linspace(0.0, 1.0, 21)


def match_expression(points, target) -> Expression:
    """The expression that gives the face ``points`` (468×2) the expression measures ``target``
    (a mapping with :data:`faceplate.curate.expression.MEASURE_NAMES`: another face's, usually one of
    the shot's), within the amplitudes' range [0, 1]; no turn.

    The mouth measures move (very nearly) linearly with the smile and open amplitudes, so both are
    fitted at once by least squares over a 0.05 grid from this face's own responses to a full smile
    and a full opening (:func:`displacements`): a target wider, higher or more open than the face
    gets the smile and opening that come nearest, a target within the face's own mouth gets none.
    The blink closes a fraction ``blink × BLINK_CLOSE`` of the lid gap, so it is the eye-opening
    ratio's, clipped and rounded to the same steps. Used to give B the expressions the shot shows (``--expression-match``).
    """
    from faceplate.curate.expression import measures

    p = np.asarray(points, np.float64)[:, :2]

    def mouth(expr: Expression) -> np.ndarray:
        m = measures(p + displacements(p, expr))
        return np.array([m[k] for k in MOUTH_MEASURES])

    base = measures(p)
    m0 = np.array([base[k] for k in MOUTH_MEASURES])
    d_smile, d_open = mouth(Expression(smile=1.0)) - m0, mouth(Expression(open=1.0)) - m0
    want = np.array([float(target[k]) for k in MOUTH_MEASURES])
    s, o = np.meshgrid(_FIT_GRID, _FIT_GRID, indexing="ij")
    err = np.sum((m0 + s[..., None] * d_smile + o[..., None] * d_open - want) ** 2, axis=-1)
    i = np.unravel_index(int(np.argmin(err)), err.shape)
    eye = base["eye_open"]
    blink = float(np.clip((1.0 - float(target["eye_open"]) / eye) / BLINK_CLOSE, 0.0, 1.0)) if eye > 1e-6 else 0.0
    blink = round(blink * 20) / 20  # the same 0.05 steps: eyes a hair more closed are not a blink
    return Expression(smile=float(s[i]), open=float(o[i]), blink=blink)


def check_landmarks(points, size: int) -> np.ndarray:
    """468×2 float64 crop-pixel landmarks, checked (finite, eyes apart)."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != 468 or p.shape[1] < 2:
        raise InputError(f"expression landmarks: expected 468×2 points in crop pixels, found shape {p.shape}")
    p = p[:, :2]
    if not np.isfinite(p).all():
        raise InputError("expression landmarks: expected finite coordinates, found NaN/Inf")
    if np.linalg.norm(p[263] - p[33]) < 0.02 * size:
        raise InputError(f"expression landmarks: the outer eye corners are "
                         f"{np.linalg.norm(p[263] - p[33]):.2f} px apart in a {size} px crop (degenerate)")
    return p


def usable(points, size: int | None = None) -> bool:
    """True when ``points`` are 468 finite landmarks (face sets made by tests or old tools may hold
    none) and, given the crop ``size``, not degenerate (what :func:`check_landmarks` would refuse)."""
    try:
        p = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    if not (p.ndim == 2 and p.shape[0] == 468 and p.shape[1] >= 2 and bool(np.isfinite(p[:, :2]).all())):
        return False
    return size is None or bool(np.linalg.norm(p[263, :2] - p[33, :2]) >= 0.02 * size)


@dataclass(frozen=True)
class _Frame:
    """The face's axes: ``ex`` (subject's right eye → left eye), ``ey`` (down the face), eye distance ``e``."""

    ex: np.ndarray
    ey: np.ndarray
    e: float

    @classmethod
    def of(cls, p: np.ndarray) -> "_Frame":
        d = p[263] - p[33]
        e = float(np.linalg.norm(d))
        ex = d / e
        return cls(ex, np.array([-ex[1], ex[0]]), e)

    def uv(self, p: np.ndarray, origin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = np.asarray(p) - origin
        return q @ self.ex / self.e, q @ self.ey / self.e


def _oval(p: np.ndarray, f: _Frame) -> tuple[np.ndarray, float, float]:
    """Centre and semi-axes (eye distances, along ex and ey) of the face outline."""
    oval = p[list(FACE_OVAL)]
    c = oval.mean(axis=0)
    u, v = f.uv(oval, c)
    return c, float(np.abs(u).max()), float(np.abs(v).max())


def _rho(xy: np.ndarray, p: np.ndarray, f: _Frame) -> np.ndarray:
    c, a, b = _oval(p, f)
    u, v = f.uv(xy, c)
    return np.sqrt((u / a) ** 2 + (v / b) ** 2)


def displacements(points, expr: Expression) -> np.ndarray:
    """468×2 forward displacements (crop pixels) of every landmark for ``expr`` (the eyelids of a
    blink excepted: :func:`blink_map` moves them)."""
    p = np.asarray(points, np.float64)[:, :2]
    f = _Frame.of(p)
    e = f.e
    d = np.zeros_like(p)
    corners = p[[61, 291]]
    mid = corners.mean(axis=0)
    u, v = f.uv(p, mid)
    half = float(np.linalg.norm(corners[1] - corners[0])) / (2 * e)
    lower = np.zeros(468, bool)
    lower[list(LOWER_LIP)] = True
    upper = np.zeros(468, bool)
    upper[list(UPPER_LIP)] = True
    if expr.smile:
        for k, side in ((0, -1.0), (1, 1.0)):
            pull = expr.smile * e * (SMILE_OUT * side * f.ex - SMILE_UP * f.ey)
            w = np.exp(-np.sum((p - corners[k]) ** 2, axis=1) / (2 * (SMILE_REACH * e) ** 2))
            d += w[:, None] * pull[None, :]
    if expr.open:
        drop = expr.open * OPEN_DROP * e
        across = np.sqrt(np.clip(1.0 - (u / half) ** 2, 0.0, 1.0))  # an oval opening: 0 at the corners
        jaw = OPEN_CHIN * np.exp(-0.5 * (u / 0.45) ** 2) * _smoothstep(v / 0.15)  # chin most, jaw sides less
        s = np.where(lower, across, 0.0) + np.where((v > 0) & ~lower & ~upper, jaw, 0.0)
        s -= np.where(upper, OPEN_UPPER * across, 0.0)
        d += (drop * s)[:, None] * f.ey[None, :]
    if expr.yaw or expr.pitch:
        rho = _rho(p, p, f)
        bump = np.clip(1.0 - rho ** 2, 0.0, 1.0)
        bump[list(NOSE)] *= 1.4  # the nose stands out of the face: it moves most
        shift = TURN_SHIFT * e * (expr.yaw * f.ex - expr.pitch * f.ey)
        d += bump[:, None] * shift[None, :]
    return d


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _tps_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = (a[:, 0, None] - b[None, :, 0]) ** 2 + (a[:, 1, None] - b[None, :, 1]) ** 2
    return 0.5 * d2 * np.log(d2 + 1e-300)


def _tps(ctrl: np.ndarray, values: np.ndarray, at: np.ndarray, reg: float = 1e-6) -> np.ndarray:
    """Thin-plate spline through ``values`` (N×2) at ``ctrl`` (N×2, unit-scale coordinates), evaluated
    at ``at`` (M×2). ``reg`` is a small smoothing term: controls that nearly coincide stay solvable."""
    n = len(ctrl)
    a = np.zeros((n + 3, n + 3))
    a[:n, :n] = _tps_kernel(ctrl, ctrl) + reg * np.eye(n)
    a[:n, n] = 1.0
    a[:n, n + 1:] = ctrl
    a[n, :n] = 1.0
    a[n + 1:, :n] = ctrl.T
    rhs = np.zeros((n + 3, 2))
    rhs[:n] = values
    coef = solve_small(a, rhs)
    # einsum's own loops rather than BLAS: the same bits with any thread count
    return (np.einsum("ij,jk->ik", _tps_kernel(at, ctrl), coef[:n]) + coef[n]
            + np.einsum("ij,jk->ik", at, coef[n + 1:]))


def solve_small(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a⁻¹ b`` by Gaussian elimination with partial pivoting, in numpy (N up to a few hundred).

    Not ``numpy.linalg.solve``: OpenBLAS starts threads for systems above ~100 unknowns, and on a
    busy machine that turns a 0.2 ms solve into 50-200 ms (measured on 2 shared cores); this stays
    at ~2 ms for 120 unknowns, runs the same on any thread count, so gives the same bits.
    """
    a = np.array(a, np.float64)
    b = np.array(b, np.float64)
    n = len(a)
    if a.shape != (n, n) or b.shape[0] != n:
        raise InputError(f"solve_small: expected an N×N matrix and N right-hand sides, found {a.shape}, {b.shape}")
    for k in range(n):
        piv = k + int(np.argmax(np.abs(a[k:, k])))
        if not abs(a[piv, k]) > 1e-300:
            raise InputError("solve_small: the matrix is singular (coincident control points?)")
        if piv != k:
            a[[k, piv]] = a[[piv, k]]
            b[[k, piv]] = b[[piv, k]]
        f = a[k + 1:, k] / a[k, k]
        a[k + 1:, k + 1:] -= f[:, None] * a[k, k + 1:][None, :]
        b[k + 1:] -= f[:, None] * b[k][None, :]
    x = np.zeros_like(b)
    for k in range(n - 1, -1, -1):
        x[k] = (b[k] - np.einsum("i,ij->j", a[k, k + 1:], x[k + 1:])) / a[k, k]
    return x


def blink_map(points_idx: np.ndarray, amount: float, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Backward map of a blink at the points (``x``, ``y``), pixel-centre indices (any shape).

    Per eye, in its own frame (along the eye-corner line, ``t`` down across it): the upper lid
    moves to ``U' = U + amount × BLINK_CLOSE × (L - U)``; the skin between ``U - BLINK_SKIN × e``
    and the lid is stretched down onto ``[U - BLINK_SKIN × e, U']``; below ``U'`` the eye keeps its
    place (the lid covers it). Outside the corners and above the skin band the map is the identity.
    """
    p = points_idx
    e = float(np.linalg.norm(p[263] - p[33]))
    sx, sy = x.astype(np.float64).copy(), y.astype(np.float64).copy()
    if amount <= 0:
        return sx.astype(np.float32), sy.astype(np.float32)
    k = float(np.clip(amount, 0.0, 1.0)) * BLINK_CLOSE
    ey = _Frame.of(p).ey
    for outer, inner, upper, lower in EYES:
        c0 = p[outer]
        axis = p[inner] - c0
        length = float(np.linalg.norm(axis))
        a = axis / length
        n = np.array([-a[1], a[0]])
        if n @ ey < 0:
            n = -n
        def st(q):
            q = np.asarray(q) - c0
            return q @ a / length, q @ n
        su, tu = st(p[list(upper)])
        sl, tl = st(p[list(lower)])
        su, tu = np.r_[0.0, su, 1.0], np.r_[0.0, tu, 0.0]
        sl, tl = np.r_[0.0, sl, 1.0], np.r_[0.0, tl, 0.0]
        ou, ol = np.argsort(su), np.argsort(sl)
        qx, qy = x - c0[0], y - c0[1]
        s = (qx * a[0] + qy * a[1]) / length
        t = qx * n[0] + qy * n[1]
        inside = (s > 0) & (s < 1)
        if not inside.any():
            continue
        si = s[inside]
        top = np.interp(si, su[ou], tu[ou])
        bottom = np.maximum(np.interp(si, sl[ol], tl[ol]), top)
        closed = top + k * (bottom - top)
        skin = top - BLINK_SKIN * e
        ti = t[inside]
        src = ti.copy()
        band = (ti >= skin) & (ti < closed)
        src[band] = skin[band] + (ti[band] - skin[band]) * (top[band] - skin[band]) / (closed[band] - skin[band])
        shift = src - ti  # along n
        sx[inside] += shift * n[0]
        sy[inside] += shift * n[1]
    return sx.astype(np.float32), sy.astype(np.float32)


def expression_maps(points, expr: Expression, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(map_x, map_y, moved landmarks): float32 size×size maps for ``cv2.remap`` and 468×2 points.

    ``map(x)`` is the pixel of the original crop shown at ``x`` (pixel-centre indices): a thin-plate
    spline through the moved control landmarks (smile, open mouth, turn), anchored at zero on a ring
    of :data:`RING` × the outline's radius and faded to exactly zero from
    :data:`FADE_IN` to :data:`FADE_OUT`, followed by the eyelids' own map (:func:`blink_map`).
    The inner lips steer the spline through their midline: a copy moving with each lip, so a mouth
    that opens splits along it (teeth already showing stay with their lip).
    """
    import cv2

    p = check_landmarks(points, size) - 0.5  # pixel-centre indices
    d = displacements(p, expr)
    moved = p + d
    f = _Frame.of(p)
    c, ra, rb = _oval(p, f)
    xs = np.arange(size, dtype=np.float64)
    px, py = np.meshgrid(xs, xs)
    if expr.smile or expr.open or expr.yaw or expr.pitch:
        up, low = np.array(INNER_PAIRS).T
        midline = (p[up] + p[low]) / 2
        oval = p[list(FACE_OVAL[::2])]
        ring = c + RING * (oval - c)
        idx = list(CONTROLS)
        ctrl = np.concatenate([moved[idx], midline + d[up], midline + d[low], ring])
        back = np.concatenate([-d[idx], -d[up], -d[low], np.zeros((len(ring), 2))])
        g = min(size, GRID)
        centres = (np.arange(g) + 0.5) * (size / g) - 0.5  # cv2.resize's sample positions
        gx, gy = np.meshgrid(centres, centres)
        at = np.column_stack([gx.ravel(), gy.ravel()])
        u, v = f.uv(at, c)
        fade = 1.0 - _smoothstep((np.sqrt((u / ra) ** 2 + (v / rb) ** 2) - FADE_IN) / (FADE_OUT - FADE_IN))
        near = fade > 0  # beyond the ring the field is exactly zero: the spline is not even evaluated there
        field = np.zeros((g * g, 2))
        field[near] = _tps(ctrl / size, back / size, at[near] / size) * size * fade[near, None]
        field = field.reshape(g, g, 2).astype(np.float32)
        if g != size:
            field = cv2.resize(field, (size, size), interpolation=cv2.INTER_LINEAR)
            # resizing spreads the grid's last non-zero values a little: cut at the ring's outer edge
            # (where the fade has already brought the field smoothly to zero)
            u, v = f.uv(np.stack([px, py], -1), c)
            field[(u / ra) ** 2 + (v / rb) ** 2 >= FADE_OUT ** 2] = 0.0
        mx, my = px + field[..., 0], py + field[..., 1]
    else:
        mx, my = px, py
    if expr.blink:
        mx, my = blink_map(p, expr.blink, mx, my)
        for _, _, upper, lower in EYES:  # where the lids now are
            moved[list(upper)] += min(1.0, expr.blink) * BLINK_CLOSE * (p[list(lower)] - p[list(upper)])
    return mx.astype(np.float32), my.astype(np.float32), moved + 0.5


def mouth_interior(points, expr: Expression, size: int) -> np.ndarray:
    """Soft float32 size×size coverage of the mouth opening an ``open`` expression adds: the gap
    between the inner lips' midline moved with the upper lip and moved with the lower one."""
    import cv2

    if expr.open <= 0:
        return np.zeros((size, size), np.float32)
    p = check_landmarks(points, size)
    d = displacements(p - 0.5, expr)
    up, low = np.array(INNER_PAIRS).T
    midline = (p[up] + p[low]) / 2
    loop = np.concatenate([p[[INNER_CORNERS[0]]] + d[[INNER_CORNERS[0]]], midline + d[up],
                           p[[INNER_CORNERS[1]]] + d[[INNER_CORNERS[1]]], (midline + d[low])[::-1]])
    ss = 4
    canvas = np.zeros((size * ss, size * ss), np.uint8)
    cv2.fillPoly(canvas, [np.round(loop * ss * 16 - 8).astype(np.int32)], 255, lineType=cv2.LINE_8, shift=4)
    cover = cv2.resize(canvas.astype(np.float32) / 255.0, (size, size), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(cover, (0, 0), max(0.4, 0.005 * size))


def synthesize(code: np.ndarray, masks: np.ndarray, points, expr: Expression,
               transfer: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (code, masks, moved landmarks): ``code`` (S×S×3 float32 code values in [0, 1], crop encoding
    with transfer ``transfer``) and ``masks`` (S×S×3 face/eyes/mouth) showing ``expr``.

    The mouth opening is filled in linear light with the lips' own colour darkened to about 12 %
    (a dark, slightly red interior that follows the crop's exposure and white balance), blended
    softly, and added to the mouth mask.
    """
    import cv2

    size = code.shape[0]
    if code.ndim != 3 or code.shape[2] != 3 or code.shape[1] != size:
        raise InputError(f"expression crop: expected a square S×S×3 crop, found shape {code.shape}")
    if masks.shape != code.shape:
        raise InputError(f"expression masks: expected shape {code.shape}, found {masks.shape}")
    mx, my, moved = expression_maps(points, expr, size)
    out = cv2.remap(np.ascontiguousarray(code, np.float32), mx, my, interpolation=cv2.INTER_CUBIC,
                    borderMode=cv2.BORDER_REPLICATE)
    msk = cv2.remap(np.ascontiguousarray(masks, np.float32), mx, my, interpolation=cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    alpha = mouth_interior(points, expr, size)
    if alpha.max() > 0:
        ys, xs = np.nonzero(alpha > 1e-4)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        lips = np.asarray(masks[..., 2], np.float32)
        lin_src = decode_transfer(np.clip(code, 0, 1), transfer)
        weight = lips.sum()
        lip = (lin_src * lips[..., None]).reshape(-1, 3).sum(0) / weight if weight > 0 else lin_src.mean((0, 1))
        inner = max(float(lip @ LUMA), 0.0) * INTERIOR  # dark red, at the lips' exposure
        a = alpha[y0:y1, x0:x1, None]
        lin = decode_transfer(out[y0:y1, x0:x1], transfer)
        out[y0:y1, x0:x1] = np.clip(encode_transfer(lin * (1 - a) + inner * a, transfer), 0.0, 1.0)
        msk[..., 2] = np.maximum(msk[..., 2], alpha)
    return np.clip(out, 0, 1).astype(np.float32), np.clip(msk, 0, 1).astype(np.float32), moved
