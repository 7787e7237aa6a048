"""Head pose (yaw, pitch, roll in degrees) from FaceMesh landmarks (468 points, x, y in pixels).

A weak-perspective camera is fitted by least squares to a small 3D reference face (anatomical
points whose FaceMesh indices are stable across expressions), then the scaled rotation is turned
into the nearest rotation. Works from x, y alone, so it needs no landmark depth.

Conventions (image seen as displayed, x right, y down):

=======  ==================================================================
angle    positive when
=======  ==================================================================
yaw      the nose points towards the image's right (subject turns to their left)
pitch    the nose points up (chin up)
roll     the face's up axis is turned counter-clockwise in the image
=======  ==================================================================

``R = Ry(yaw) · Rx(-pitch) · Rz(roll)`` maps reference coordinates (x right, y up, z towards the
camera) to camera coordinates with the same axes.
"""
from __future__ import annotations

import numpy as np

from faceplate.errors import InputError
from faceplate.faces.align import check_points

#: FaceMesh index -> (x right, y up, z towards camera) in millimetres, frontal head, origin at the
#: eye corners' height. Points chosen to avoid the lips and eyelids, which move with expression.
#: Measured from FaceMesh's own 3D output (x, y, z) on nine faces in portrait photos: each aligned
#: (Umeyama) to an anthropometric start, averaged, made left/right symmetric; scale from a 91 mm
#: outer-eye-corner distance. FaceMesh's x, y then agree with the shape its z describes.
REFERENCE: dict[int, tuple[float, float, float]] = {
    1: (0.0, -36.5, 39.1),       # nose tip
    2: (0.0, -43.5, 23.2),       # below the nose
    10: (0.0, 51.2, 6.3),        # top of the face oval (forehead)
    33: (-45.8, 0.0, -8.7),      # outer eye corner, subject's right (image left)
    61: (-32.7, -64.9, -2.2),    # mouth corner, right
    133: (-17.5, -0.7, -3.4),    # inner eye corner, right
    152: (0.0, -118.0, 1.5),     # chin
    172: (-59.1, -83.0, -41.3),  # jaw, right
    234: (-71.9, -23.0, -63.0),  # face oval side, right
    263: (45.8, 0.0, -8.7),      # outer eye corner, subject's left
    291: (32.7, -64.9, -2.2),    # mouth corner, left
    362: (17.5, -0.7, -3.4),     # inner eye corner, left
    397: (59.1, -83.0, -41.3),   # jaw, left
    454: (71.9, -23.0, -63.0),   # face oval side, left
}
INDICES = np.array(sorted(REFERENCE), dtype=np.int64)
POINTS3D = np.array([REFERENCE[i] for i in INDICES], dtype=np.float64)


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """3×3 rotation for angles in degrees (see the module's conventions)."""
    a, b, c = np.radians([yaw, -pitch, roll])
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return ry @ rx @ rz


def angles(r: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a 3×3 rotation built as in :func:`rotation`."""
    yaw = np.degrees(np.arctan2(r[0, 2], r[2, 2]))
    pitch = np.degrees(np.arcsin(np.clip(r[1, 2], -1.0, 1.0)))
    roll = np.degrees(np.arctan2(r[1, 0], r[1, 1]))
    return float(yaw), float(pitch), float(roll)


def to_plate(points_crop: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Crop-pixel points (N×2) -> plate pixels through the inverse of the 2×3 plate->crop ``transform``."""
    m = np.asarray(transform, dtype=np.float64)
    if m.shape != (2, 3) or not np.isfinite(m).all():
        raise InputError(f"plate->crop transform: expected a finite 2×3 matrix, found shape {m.shape}")
    a = m[:, :2]
    if abs(np.linalg.det(a)) < 1e-12:
        raise InputError(f"plate->crop transform: expected an invertible matrix, found {m.tolist()}")
    pts = np.asarray(points_crop, dtype=np.float64)[:, :2]
    return (pts - m[:, 2]) @ np.linalg.inv(a).T


def head_pose(points: np.ndarray, what: str = "landmarks") -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from 468 landmarks in pixels (x right, y down).

    The landmarks must be in an unrotated frame (plate pixels) for roll to mean the plate's roll;
    crop landmarks give roll relative to the crop. Accurate to a few degrees up to ±60° yaw.
    """
    uv = check_points(points, what)[INDICES]
    v = np.column_stack([uv[:, 0], -uv[:, 1]])  # y up
    v = v - v.mean(axis=0)
    x = POINTS3D - POINTS3D.mean(axis=0)
    m, *_ = np.linalg.lstsq(x, v, rcond=None)  # v ≈ x @ m, m is 3×2
    u, s, vt = np.linalg.svd(m.T, full_matrices=False)  # 2×3 = u s vt
    if s[1] <= 1e-9 * max(s[0], 1e-12):
        raise InputError(f"{what}: landmarks are degenerate (collinear), cannot estimate a head pose")
    r2 = u @ vt  # nearest 2×3 with orthonormal rows
    r = np.vstack([r2, np.cross(r2[0], r2[1])])
    return angles(r)
