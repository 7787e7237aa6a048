"""468-point face landmarks (MediaPipe FaceMesh) run by onnxruntime, in plate pixel coordinates.

The crop is MediaPipe's face-landmark region: a square centred on the face, side 1.5 × its longer
side, rotated so the eyes are level, resampled in float (``cv2.warpAffine``; large faces are first
shrunk with area averaging so the 192 px crop does not alias). The region comes from a detection
(:meth:`Landmarker.from_detection`) or, for tracking, from the previous frame's landmarks
(:meth:`Landmarker.from_points`).

Coordinates: x, y in plate pixels with (0, 0) at the top-left corner of the top-left pixel; z is
relative depth in the same (plate pixel) scale, smaller = nearer the camera.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from faceplate.errors import InputError

N_POINTS = 468
CROP_SIZE = 192
#: side of the crop square relative to the face's longer side
CROP_SCALE = 1.5

# Index lists (closed loops where it matters). "Right"/"left" are the subject's.
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148,
             176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
RIGHT_EYEBROW = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107)
LEFT_EYEBROW = (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)
#: outer lip contour (closed loop)
MOUTH = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
#: inner lip contour (the mouth opening, closed loop)
MOUTH_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
RIGHT_EYE_OUTER, LEFT_EYE_OUTER, RIGHT_EYE_INNER, LEFT_EYE_INNER = 33, 263, 133, 362
NOSE_TIP, CHIN, FOREHEAD, MOUTH_RIGHT, MOUTH_LEFT = 1, 152, 10, 61, 291

#: 468 -> 68 (iBUG 300-W) mapping, one FaceMesh index per iBUG point, in iBUG order: jaw 0-16 (from
#: the subject's right ear to the left), right brow 17-21, left brow 22-26, nose bridge 27-30, nostrils
#: 31-35, right eye 36-41, left eye 42-47 (each from the outer corner, upper lid first), outer lips
#: 48-59 (from the right corner, upper lip first), inner lips 60-67. Points mirrored by iBUG map to
#: points mirrored by FaceMesh.
IBUG68 = (
    127, 234, 93, 132, 58, 172, 136, 150, 152, 379, 365, 397, 288, 361, 323, 454, 356,
    70, 63, 105, 66, 107,
    336, 296, 334, 293, 300,
    168, 197, 5, 4,
    75, 97, 2, 326, 305,
    33, 160, 158, 133, 153, 144,
    362, 385, 387, 263, 373, 380,
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    78, 82, 13, 312, 308, 317, 14, 87,
)


@dataclass(frozen=True)
class FaceLandmarks:
    """``points`` 468×3 (x, y plate px, z), ``presence`` in [0, 1], and the crop it came from
    (``matrix`` 2×3 plate -> crop pixels, pixel-edge coordinates)."""

    points: np.ndarray
    presence: float
    matrix: np.ndarray = field(repr=False)


def to_ibug68(points: np.ndarray) -> np.ndarray:
    """The 68 iBUG points (68×2 x, y) of 468 FaceMesh points (468×2 or 468×3) via :data:`IBUG68`."""
    pts = np.asarray(points, np.float64)
    if pts.ndim != 2 or pts.shape[0] != N_POINTS or pts.shape[1] not in (2, 3):
        raise InputError(f"to_ibug68: expected 468×2 or 468×3 points, found shape {pts.shape}")
    return pts[list(IBUG68), :2].copy()


def region_matrix(center: Sequence[float], side: float, angle: float, size: int = CROP_SIZE) -> np.ndarray:
    """2×3 plate -> crop matrix (pixel-edge coordinates) of a square of ``side`` px centred on
    ``center`` whose x axis points along ``angle`` (radians, image axes, y down)."""
    if not (np.isfinite(side) and side > 0):
        raise InputError(f"landmark crop: expected a positive side, found {side!r}")
    s = size / side
    c, sn = np.cos(angle), np.sin(angle)
    cx, cy = float(center[0]), float(center[1])
    return np.array([[s * c, s * sn, size / 2 - s * (c * cx + sn * cy)],
                     [-s * sn, s * c, size / 2 - s * (-sn * cx + c * cy)]], np.float64)


def eye_angle(right_eye: Sequence[float], left_eye: Sequence[float]) -> float:
    """Angle (radians, image axes) of the line from the subject's right eye to the left eye."""
    return float(np.arctan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0]))


def region_from_points(points: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(centre, side, angle) of the crop for the next frame from 468 landmarks (tracking).

    The angle is the eye line (outer corners 33 -> 263); the box is the landmarks' extent in that
    rotated frame; side = :data:`CROP_SCALE` × its longer side.
    """
    pts = np.asarray(points, np.float64)[:, :2]
    angle = eye_angle(pts[RIGHT_EYE_OUTER], pts[LEFT_EYE_OUTER])
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, s], [-s, c]])
    local = pts @ rot.T
    lo, hi = local.min(0), local.max(0)
    centre = ((lo + hi) / 2) @ rot
    return centre, CROP_SCALE * float(max(hi - lo)), angle


def warp_crop(img: np.ndarray, matrix: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Resample ``img`` (H×W×C float32) through ``matrix`` (2×3 plate -> crop, pixel edges) into size×size.

    When the crop shrinks the plate by more than 2×, the covering region is first shrunk with area
    averaging (exact scale kept in the matrix), so thin details do not alias.
    """
    import cv2

    m = np.asarray(matrix, np.float64)
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    src = img
    if scale < 0.5:
        inv = cv2.invertAffineTransform(m)
        corners = np.array([[0, 0, 1], [size, 0, 1], [size, size, 1], [0, size, 1]], np.float64) @ inv.T
        h, w = img.shape[:2]
        x0, y0 = (int(np.clip(np.floor(corners[:, i].min()) - 2, 0, (w, h)[i])) for i in (0, 1))
        x1, y1 = (int(np.clip(np.ceil(corners[:, i].max()) + 2, 0, (w, h)[i])) for i in (0, 1))
        if x1 > x0 and y1 > y0:
            region = img[y0:y1, x0:x1]
            f = 2.0 * scale
            nw, nh = max(1, int(round((x1 - x0) * f))), max(1, int(round((y1 - y0) * f)))
            src = cv2.resize(region, (nw, nh), interpolation=cv2.INTER_AREA)
            sx, sy = nw / (x1 - x0), nh / (y1 - y0)
            # crop = m · plate, plate = (small / s) + offset
            pre = np.array([[1 / sx, 0, x0], [0, 1 / sy, y0], [0, 0, 1]], np.float64)
            m = m @ pre
    # pixel-edge -> pixel-centre convention for OpenCV
    mc = m.copy()
    mc[:, 2] += m[:, :2] @ np.array([0.5, 0.5]) - 0.5
    out = cv2.warpAffine(np.ascontiguousarray(src, np.float32), mc, (size, size), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=(0.0, 0.0, 0.0))
    return out.reshape(size, size, -1)


class Landmarker:
    """FaceMesh: 468 landmarks of one face from a detection or from the previous frame's landmarks.

    ``providers``/``threads``: onnxruntime session settings; ``assets``: the asset folder.
    """

    def __init__(self, providers: Sequence[str] | None = None, threads: int | None = None,
                 assets: Path | str | None = None) -> None:
        from faceplate.faces.assets import session

        self._session = session("facemesh", providers, threads, Path(assets) if assets else None)
        self._input = self._session.get_inputs()[0].name

    def run_region(self, proxy: np.ndarray, center: Sequence[float], side: float, angle: float) -> FaceLandmarks:
        """Landmarks inside the square region (``center``, ``side``, ``angle``) of ``proxy`` (H×W×3 sRGB [0, 1])."""
        from faceplate.faces.detect import check_proxy

        img = check_proxy(proxy, values=False)
        m = region_matrix(center, side, angle)
        crop = warp_crop(img, m)
        if not np.all(np.isfinite(crop)):
            raise InputError("proxy: expected finite values, found NaN or infinity inside the face crop")
        crop = np.clip(crop, 0.0, 1.0)
        x = np.ascontiguousarray(crop.transpose(2, 0, 1)[None], np.float32)
        outs = self._session.run(None, {self._input: x})
        mesh = next(o for o in outs if o.size == N_POINTS * 3).reshape(N_POINTS, 3).astype(np.float64)
        logit = float(next(o for o in outs if o.size == 1).reshape(()))
        presence = float(1.0 / (1.0 + np.exp(-np.clip(logit, -100.0, 100.0))))
        a = m[:, :2]
        inv_a = np.linalg.inv(a)
        xy = (mesh[:, :2] - m[:, 2]) @ inv_a.T
        z = mesh[:, 2] * (side / CROP_SIZE)
        return FaceLandmarks(np.column_stack([xy, z]), presence, m)

    def from_detection(self, proxy: np.ndarray, det, refine: bool = False, presence_min: float = 0.5) -> FaceLandmarks:
        """Landmarks of the face of ``det`` (a :class:`~faceplate.faces.detect.Detection`).

        ``refine``: run FaceMesh a second time on the region of its own first-pass points (level eyes
        and a tight box even where the detector's eye keypoints were off, e.g. a rolled face); the
        second pass is kept when its presence is at least ``presence_min``.
        """
        first = self._from_detection(proxy, det)
        if not refine or first.presence < presence_min:
            return first
        second = self.from_points(proxy, first.points)
        return second if second.presence >= presence_min else first

    def _from_detection(self, proxy: np.ndarray, det) -> FaceLandmarks:
        box = np.asarray(det.box, np.float64)
        kps = np.asarray(det.keypoints, np.float64)
        if box.shape != (4,) or kps.shape != (6, 2) or not (np.all(np.isfinite(box)) and np.all(np.isfinite(kps))):
            raise InputError(f"detection: expected a finite box [4] and keypoints [6, 2], found {box.shape} and {kps.shape}")
        centre = (box[:2] + box[2:]) / 2
        side = CROP_SCALE * float(max(box[2] - box[0], box[3] - box[1]))
        return self.run_region(proxy, centre, side, eye_angle(kps[0], kps[1]))

    def from_points(self, proxy: np.ndarray, prev_points: np.ndarray) -> FaceLandmarks:
        """Landmarks in this frame from the previous frame's 468 points (MediaPipe-style tracking)."""
        pts = np.asarray(prev_points, np.float64)
        if pts.ndim != 2 or pts.shape[0] != N_POINTS or pts.shape[1] not in (2, 3) or not np.all(np.isfinite(pts)):
            raise InputError(f"prev_points: expected finite 468×2 or 468×3 landmarks, found shape {pts.shape}")
        centre, side, angle = region_from_points(pts)
        return self.run_region(proxy, centre, side, angle)
