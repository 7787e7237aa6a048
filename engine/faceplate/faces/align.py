"""Alignment: similarity transform (Umeyama) of the 468 FaceMesh points to a canonical template.

Coordinates are continuous: plate pixel ``(i, j)`` covers ``[i, i+1) × [j, j+1)`` (its centre is at
``i + 0.5``), the same convention as MediaPipe's normalised landmarks times the image size. Crops use
the same convention. Matrices are 2×3 float64, mapping plate -> crop.

``TEMPLATE`` (468×2) is the FaceMesh layout in a unit box: the landmarks FaceMesh finds on
``skimage.data.astronaut()``, rotated in 3D so the eye line is horizontal and the forehead–chin line
vertical (roll, yaw and pitch removed), projected to 2D and scaled so its larger side is 1, centred
on the facial midline (see :func:`derive_template`). The crop is a square of side
``extent(centering) * coverage`` template units around the template centre (faceswap-style: the
"face" and "head" centerings give a padded view of the template, ``coverage`` keeps its central part).

Resampling is float32 (``cv2.warpAffine``, cubic by default, Lanczos optional); nothing is clipped.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from faceplate.errors import InputError

#: padded template extent (template units) and centre shift (x, y) for each centering
CENTERINGS: dict[str, tuple[float, tuple[float, float]]] = {
    "face": (1.5, (0.0, 0.0)),
    "head": (2.0, (0.0, -0.15)),
}
INTERPOLATIONS = ("cubic", "lanczos", "linear")
MIN_SIZE, MAX_SIZE = 64, 1024
_TEMPLATE_FILE = Path(__file__).resolve().parent.parent / "data" / "face_template.npy"
#: FaceMesh points on the facial midline (forehead, nose ridge, lips, chin)
MIDLINE = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 164, 0, 11, 12, 13, 14, 15, 16, 17, 18, 200, 199, 175, 152)


def derive_template(points: np.ndarray) -> np.ndarray:
    """Canonical 468×2 template from one face's 468×3 landmarks (x, y px, z same scale as x).

    Rotates the points so the eye line (33 -> 263) is the x axis and the forehead–chin line
    (10 -> 152) the y axis, drops z, scales the larger side to 1 and centres the midline at 0.5.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.shape != (468, 3) or not np.isfinite(p).all():
        raise InputError(f"template landmarks: expected finite 468×3, found shape {p.shape}")
    q = p - p.mean(axis=0)
    ax = q[263] - q[33]
    ax /= np.linalg.norm(ax)
    down = q[152] - q[10]
    ay = down - ax * np.dot(down, ax)
    ay /= np.linalg.norm(ay)
    flat = (q @ np.stack([ax, ay, np.cross(ax, ay)]).T)[:, :2]
    lo, hi = flat.min(axis=0), flat.max(axis=0)
    scale = float((hi - lo).max())
    centre = np.array([flat[list(MIDLINE), 0].mean(), (lo[1] + hi[1]) / 2])
    return (flat - centre) / scale + 0.5


@lru_cache(maxsize=1)
def _template() -> np.ndarray:
    t = np.load(_TEMPLATE_FILE, allow_pickle=False).astype(np.float64)
    t.setflags(write=False)
    return t


def __getattr__(name: str):  # TEMPLATE is loaded on first use
    if name == "TEMPLATE":
        return _template()
    raise AttributeError(name)


def _stable_indices() -> np.ndarray:
    """Points above the base of the nose: they do not move when the jaw opens."""
    t = _template()
    return np.flatnonzero(t[:, 1] <= t[2, 1] + 1e-9)


def check_points(points: np.ndarray, what: str = "landmarks") -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != 468 or p.shape[1] < 2:
        raise InputError(f"{what}: expected 468×2 or 468×3 points, found shape {p.shape}")
    if not np.isfinite(p[:, :2]).all():
        raise InputError(f"{what}: expected finite coordinates, found NaN/Inf")
    return p[:, :2]


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src -> dst, 2×3.

    Umeyama (1991), without reflections. ``src`` and ``dst`` are N×2 (N >= 2).
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    n = src.shape[0]
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s0, d0 = src - mu_s, dst - mu_d
    var_s = (s0 ** 2).sum() / n
    if var_s <= 1e-12:
        raise InputError("alignment: the landmarks are degenerate (all points coincide)")
    cov = d0.T @ s0 / n
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    r = u @ np.diag(d) @ vt
    c = float((sig * d).sum() / var_s)
    t = mu_d - c * r @ mu_s
    return np.hstack([c * r, t[:, None]])


def check_crop(size: int, coverage: float, centering: str) -> None:
    if not isinstance(size, (int, np.integer)) or not MIN_SIZE <= int(size) <= MAX_SIZE:
        raise InputError(f"--size: expected an integer in {MIN_SIZE}..{MAX_SIZE}, found {size!r}")
    if not 0.3 <= float(coverage) <= 1.0:
        raise InputError(f"--coverage: expected a fraction in 0.3..1.0, found {coverage!r}")
    if centering not in CENTERINGS:
        raise InputError(f"--centering: expected one of {', '.join(CENTERINGS)}, found {centering!r}")


def crop_matrix(points: np.ndarray, size: int, coverage: float = 0.8, centering: str = "face") -> np.ndarray:
    """2×3 float64 plate -> crop matrix for a ``size``×``size`` crop of the face with these landmarks.

    ``points``: 468×2 (or ×3) plate pixels. ``coverage`` in [0.3, 1]: the fraction of the padded
    template (per ``centering``, "face" or "head") the crop shows; smaller = tighter.
    """
    check_crop(size, coverage, centering)
    p = check_points(points)
    idx = _stable_indices()
    to_t = umeyama(p[idx], _template()[idx])  # plate -> template units
    extent, (sx, sy) = CENTERINGS[centering]
    side = extent * float(coverage)
    k = size / side
    # template -> crop: crop = (t - (centre - side/2)) * k
    ox, oy = 0.5 + sx - side / 2, 0.5 + sy - side / 2
    a = np.array([[k, 0.0, -k * ox], [0.0, k, -k * oy]])
    return compose(a, to_t)


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """2×3 matrix of ``a ∘ b`` (apply b, then a)."""
    a3 = np.vstack([np.asarray(a, np.float64), [0, 0, 1]])
    b3 = np.vstack([np.asarray(b, np.float64), [0, 0, 1]])
    return (a3 @ b3)[:2]


def invert(m: np.ndarray) -> np.ndarray:
    """Inverse of a 2×3 affine matrix (crop -> plate for a crop matrix)."""
    m = np.asarray(m, dtype=np.float64)
    if m.shape != (2, 3) or not np.isfinite(m).all():
        raise InputError(f"transform: expected a finite 2×3 matrix, found shape {m.shape}")
    det = np.linalg.det(m[:, :2])
    if abs(det) < 1e-12:
        raise InputError("transform: the matrix is singular and cannot be inverted")
    return np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]


def transform_points(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Apply a 2×3 matrix to N×2 points (extra columns, e.g. z, are scaled by the matrix scale)."""
    p = np.asarray(points, dtype=np.float64)
    xy = p[:, :2] @ m[:, :2].T + m[:, 2]
    if p.shape[1] > 2:
        return np.hstack([xy, p[:, 2:] * matrix_scale(m)])
    return xy


def matrix_scale(m: np.ndarray) -> float:
    """Uniform scale of a similarity matrix (crop pixels per plate pixel for a crop matrix)."""
    return float(np.sqrt(abs(np.linalg.det(np.asarray(m, np.float64)[:, :2]))))


def _index_matrix(m: np.ndarray, offset: tuple[float, float]) -> np.ndarray:
    """Matrix from source array indices (data window at ``offset``) to destination indices."""
    pre = np.array([[1.0, 0.0, offset[0] + 0.5], [0.0, 1.0, offset[1] + 0.5]])
    post = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5]])
    return compose(post, compose(m, pre))


def _flags(interpolation: str) -> int:
    import cv2

    table = {"cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4, "linear": cv2.INTER_LINEAR}
    try:
        return table[interpolation]
    except KeyError:
        raise InputError(f"interpolation: expected one of {', '.join(table)}, found {interpolation!r}") from None


def _check_image(img: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim not in (2, 3) or a.shape[0] < 1 or a.shape[1] < 1:
        raise InputError(f"{what}: expected H×W or H×W×C pixels, found shape {a.shape}")
    if a.ndim == 3 and a.shape[2] > 4:
        raise InputError(f"{what}: expected at most 4 channels, found {a.shape[2]}")
    return np.ascontiguousarray(a, dtype=np.float32)


def warp_to_crop(img: np.ndarray, m: np.ndarray, size: int, offset: tuple[float, float] = (0, 0),
                 interpolation: str = "cubic", antialias: bool = True) -> np.ndarray:
    """Resample the crop ``size``×``size``(×C) float32 from ``img`` (H×W×C float32 whose first pixel
    sits at plate ``offset`` = (x, y), e.g. the data window origin). Borders replicate the edge.

    When the crop shrinks the face (scale < 1) the source is pre-filtered with a Gaussian so the crop
    does not alias. Values are not clipped (HDR and negatives pass through).
    """
    import cv2

    src = _check_image(img, "warp_to_crop image")
    size = int(size)
    scale = matrix_scale(m)
    a = _index_matrix(m, offset)
    if antialias and scale < 0.8:
        # Blur only the source region the crop reads from.
        inv = invert(a)
        corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
        sp = transform_points(corners, inv)
        sigma = 0.45 * np.sqrt(max(1.0 / scale ** 2 - 1.0, 0.0))
        pad = int(np.ceil(3 * sigma)) + 4
        h, w = src.shape[:2]
        x0 = int(np.clip(np.floor(sp[:, 0].min()) - pad, 0, w))
        x1 = int(np.clip(np.ceil(sp[:, 0].max()) + pad + 1, 0, w))
        y0 = int(np.clip(np.floor(sp[:, 1].min()) - pad, 0, h))
        y1 = int(np.clip(np.ceil(sp[:, 1].max()) + pad + 1, 0, h))
        if x1 > x0 and y1 > y0:
            roi = cv2.GaussianBlur(src[y0:y1, x0:x1], (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
            a = compose(a, np.array([[1.0, 0.0, x0], [0.0, 1.0, y0]]))
            src = np.ascontiguousarray(roi)
    out = cv2.warpAffine(src, a, (size, size), flags=_flags(interpolation), borderMode=cv2.BORDER_REPLICATE)
    if out.ndim == 2 and np.asarray(img).ndim == 3:
        out = out[:, :, None]
    return out


def footprint(m: np.ndarray, size: int, offset: tuple[float, float], out_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """Bounding box (x0, y0, x1, y1) in output array indices of the crop's footprint, clipped."""
    inv = invert(m)
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    pts = transform_points(corners, inv) - np.asarray(offset, np.float64)
    h, w = out_hw
    x0 = int(np.clip(np.floor(pts[:, 0].min()) - 1, 0, w))
    x1 = int(np.clip(np.ceil(pts[:, 0].max()) + 1, 0, w))
    y0 = int(np.clip(np.floor(pts[:, 1].min()) - 1, 0, h))
    y1 = int(np.clip(np.ceil(pts[:, 1].max()) + 1, 0, h))
    return x0, y0, x1, y1


def warp_from_crop(crop: np.ndarray, m: np.ndarray, out_hw: tuple[int, int], offset: tuple[float, float] = (0, 0),
                   interpolation: str = "cubic") -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`warp_to_crop`: resample ``crop`` (S×S×C) back onto an ``out_hw`` plate array
    whose first pixel is plate ``offset``. Returns (pixels H×W×C float32, valid H×W float32 in [0, 1]).

    ``valid`` is 1 where the plate pixel's centre maps inside the crop (fractional over the last half
    pixel), 0 outside the footprint, where ``pixels`` is 0. ``pixels`` are not premultiplied by
    ``valid``: composite as ``plate * (1 - w) + pixels * w`` with ``w = valid * alpha`` only where
    ``w > 0`` (:func:`paste_back` does this).
    """
    import cv2

    c = _check_image(crop, "warp_from_crop crop")
    if c.shape[0] != c.shape[1]:
        raise InputError(f"warp_from_crop crop: expected a square crop, found {c.shape[1]}×{c.shape[0]}")
    size = c.shape[0]
    h, w = int(out_hw[0]), int(out_hw[1])
    nch = c.shape[2] if c.ndim == 3 else 0
    pixels = np.zeros((h, w, nch) if nch else (h, w), np.float32)
    valid = np.zeros((h, w), np.float32)
    x0, y0, x1, y1 = footprint(m, size, offset, (h, w))
    if x1 <= x0 or y1 <= y0:
        return pixels, valid
    a = _index_matrix(m, (offset[0] + x0, offset[1] + y0))  # box index -> crop index
    bw, bh = x1 - x0, y1 - y0
    px = cv2.warpAffine(c, a, (bw, bh), flags=_flags(interpolation) | cv2.WARP_INVERSE_MAP,
                        borderMode=cv2.BORDER_REPLICATE)
    if nch and px.ndim == 2:
        px = px[:, :, None]
    gx, gy = np.meshgrid(np.arange(bw, dtype=np.float64), np.arange(bh, dtype=np.float64))
    u = a[0, 0] * gx + a[0, 1] * gy + a[0, 2]
    v = a[1, 0] * gx + a[1, 1] * gy + a[1, 2]
    inside = np.minimum(np.minimum(u + 0.5, size - 0.5 - u), np.minimum(v + 0.5, size - 0.5 - v))
    vbox = np.clip(inside + 0.5, 0.0, 1.0).astype(np.float32)
    px = np.where((vbox > 0)[:, :, None] if nch else vbox > 0, px, np.float32(0))
    pixels[y0:y1, x0:x1] = px
    valid[y0:y1, x0:x1] = vbox
    return pixels, valid


def paste_back(plate: np.ndarray, crop: np.ndarray, m: np.ndarray, offset: tuple[float, float] = (0, 0),
               alpha: np.ndarray | None = None, interpolation: str = "cubic") -> np.ndarray:
    """Composite ``crop`` over ``plate`` (H×W×C float32) through the inverse of ``m``.

    ``alpha`` (S×S, crop space, default 1) is multiplied by the footprint's validity. Where the result
    is 0 the plate's values are returned bit-exact (HDR, negatives untouched).
    """
    base = _check_image(plate, "paste_back plate")
    c = _check_image(crop, "paste_back crop")
    if c.ndim == 3 and base.ndim == 3 and c.shape[2] != base.shape[2]:
        raise InputError(f"paste_back: crop has {c.shape[2]} channels, plate has {base.shape[2]}")
    if alpha is not None:
        al = _check_image(alpha, "paste_back alpha")
        if al.shape[:2] != c.shape[:2]:
            raise InputError(f"paste_back alpha: expected {c.shape[:2]}, found {al.shape[:2]}")
        warped_a, valid = warp_from_crop(al.reshape(al.shape[:2]), m, base.shape[:2], offset, "linear")
        weight = np.clip(warped_a, 0.0, 1.0) * valid
    else:
        weight = None
    px, valid = warp_from_crop(c, m, base.shape[:2], offset, interpolation)
    if weight is None:
        weight = valid
    out = base.copy()
    sel = weight > 0
    wsel = weight[sel][:, None] if base.ndim == 3 else weight[sel]
    out[sel] = base[sel] * (1.0 - wsel) + px[sel] * wsel
    return out
