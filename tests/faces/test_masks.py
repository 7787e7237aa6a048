"""Landmark masks (hull, components, eyes, mouth) and soft edges in plate pixels."""
from __future__ import annotations

import numpy as np
import pytest

from faceplate.errors import InputError
from faceplate.faces import align, masks

SIZE = 256


def crop_points(angle: float = 10.0) -> np.ndarray:
    """FaceMesh-shaped points in crop pixels: the template posed in a plate, then aligned."""
    a = np.deg2rad(angle)
    m = np.array([[np.cos(a), -np.sin(a), 300.0], [np.sin(a), np.cos(a), 120.0]]) * [[180], [180]]
    m[:, 2] = [300.0, 120.0]
    plate_pts = align.transform_points(align.TEMPLATE, m)
    return align.transform_points(plate_pts, align.crop_matrix(plate_pts, SIZE, 0.8, "face"))


def at(mask: np.ndarray, p) -> float:
    return float(mask[int(p[1]), int(p[0])])


def test_hull_matches_the_polygon_area_and_is_float01():
    import cv2

    p = crop_points()
    m = masks.MASKS["hull"](p, SIZE)
    assert m.dtype == np.float32 and m.shape == (SIZE, SIZE)
    assert m.min() == 0.0 and m.max() == 1.0
    hull = cv2.convexHull(p[list(masks.FACE_OVAL)].astype(np.float32))
    assert abs(m.sum() / cv2.contourArea(hull) - 1.0) < 0.01
    assert at(m, p[1]) == 1.0 and at(m, (2, 2)) == 0.0


def test_components_follow_the_brows_not_the_forehead():
    p = crop_points()
    hull = masks.face_hull(p, SIZE)
    comp = masks.face_components(p, SIZE)
    forehead = p[151]  # above the brows
    assert at(hull, forehead) == 1.0 and at(comp, forehead) == 0.0
    for i in (1, 13, 152 - 0, 234 + 0):  # nose, lips, and the face sides are in both
        q = p[i] + (p[1] - p[i]) * 0.1  # just inside the edge
        assert at(comp, q) == 1.0, i
    assert 0.6 < comp.sum() / hull.sum() < 0.98


def test_eye_and_mouth_regions_cover_their_landmarks_only():
    p = crop_points()
    ms = masks.landmark_masks(p, SIZE, "components")
    assert set(ms) == {"face", "eyes", "mouth"}
    for i in (33, 133, 263, 362, 159, 386):
        assert at(ms["eyes"], p[i]) > 0.5, i
    for i in (61, 291, 0, 17, 13, 14):
        assert at(ms["mouth"], p[i]) > 0.5, i
    for region in ("eyes", "mouth"):
        assert at(ms[region], p[1]) == 0.0 and at(ms[region], p[10]) == 0.0
    raw = masks._draw(SIZE, [p[list(masks.RIGHT_EYE)], p[list(masks.LEFT_EYE)]])
    assert ms["eyes"].sum() > 1.2 * raw.sum()  # dilated


def test_landmark_masks_are_deterministic():
    p = crop_points(-25.0)
    a = masks.landmark_masks(p, SIZE, "hull")
    b = masks.landmark_masks(p.copy(), SIZE, "hull")
    assert all(np.array_equal(a[k], b[k]) for k in a)


def disk(radius: float, size: int = 200) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] + 0.5
    return (np.hypot(x - size / 2, y - size / 2) <= radius).astype(np.float32)


@pytest.mark.parametrize("erode, scale", [(10.0, 1.0), (5.0, 2.0), (-8.0, 1.0), (-4.0, 2.0)])
def test_soften_erodes_and_dilates_in_plate_pixels(erode, scale):
    out = masks.soften(disk(50.0), erode_px=erode, feather_px=0.0, scale=scale)
    radius = np.sqrt(out.sum() / np.pi)
    assert abs(radius - (50.0 - erode * scale)) < 0.75, radius


def test_soften_feather_ramps_inside_the_eroded_edge():
    out = masks.soften(disk(60.0), erode_px=5.0, feather_px=10.0, scale=2.0)  # 10 px in, 20 px ramp
    row = out[100, 100:]  # centre -> right edge
    r = np.arange(row.size) + 0.5
    assert np.all(row[r > 50.5] == 0.0)  # never past the eroded edge (60 - 10)
    assert np.all(row[r < 29.5] == 1.0)  # fully on 20 px inside it
    ramp = row[(r > 32) & (r < 48)]
    assert np.all((ramp > 0) & (ramp < 1)) and np.all(np.diff(ramp) < 0)
    assert out.dtype == np.float32


def test_soften_identity_and_bad_input():
    m = disk(30.0) * 1.5 - 0.2
    assert np.array_equal(masks.soften(m), np.clip(m, 0, 1))
    with pytest.raises(InputError, match="feather"):
        masks.soften(disk(5.0), 0.0, -1.0)
    with pytest.raises(InputError, match="NaN"):
        masks.soften(np.full((8, 8), np.nan, np.float32), 1.0, 1.0)
    with pytest.raises(InputError, match="H×W"):
        masks.soften(np.zeros((4, 4, 3)), 1.0, 1.0)
    with pytest.raises(InputError, match="scale"):
        masks.soften(disk(5.0), 1.0, 1.0, scale=0.0)
    full = masks.soften(np.ones((16, 16), np.float32), 2.0, 0.0)
    assert full.min() == 1.0  # no edge inside the frame: nothing to erode
    empty = masks.soften(np.zeros((16, 16), np.float32), -2.0, 3.0)
    assert empty.max() == 0.0


def test_bad_method_and_points():
    p = crop_points()
    with pytest.raises(InputError, match="hull, components"):
        masks.landmark_masks(p, SIZE, "ellipse")
    bad = p.copy()
    bad[3] = np.inf
    with pytest.raises(InputError, match="finite"):
        masks.face_hull(bad, SIZE)
    with pytest.raises(InputError, match="468"):
        masks.eyes_region(p[:68], SIZE)
