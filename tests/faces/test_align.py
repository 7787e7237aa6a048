"""Alignment: Umeyama, crop matrices, float crops and their exact inverse (paste-back)."""
from __future__ import annotations

import numpy as np
import pytest

from faceplate.errors import InputError
from faceplate.faces import align


def similarity(scale: float, angle_deg: float, tx: float, ty: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a) * scale, np.sin(a) * scale
    return np.array([[c, -s, tx], [s, c, ty]])


def posed_face(scale=220.0, angle=12.0, tx=300.0, ty=180.0) -> np.ndarray:
    """Template points placed in a plate by a known similarity (plate pixels)."""
    return align.transform_points(align.TEMPLATE, similarity(scale, angle, tx, ty))


def smooth_plate(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth scene-linear RGB plate with HDR highlights (> 1) and negative values."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    chans = []
    for c in range(3):
        fx, fy, ph = rng.uniform(0.01, 0.03, 2).tolist() + [rng.uniform(0, 6)]
        chans.append(2.0 * np.sin(x * fx + ph) * np.cos(y * fy) + 0.8)  # spans about [-1.2, 2.8]
    return np.stack(chans, axis=-1).astype(np.float32)


def test_template_is_a_unit_box_with_level_eyes():
    t = align.TEMPLATE
    assert t.shape == (468, 2)
    assert np.isclose(t.min(axis=0).min(), 0.0, atol=1e-6) and np.isclose(t.max(), 1.0, atol=1e-6)
    assert abs(t[33, 1] - t[263, 1]) < 1e-6  # roll removed
    assert t[33, 0] < t[1, 0] < t[263, 0]  # subject's right eye on the image left
    assert t[10, 1] < t[1, 1] < t[152, 1]  # forehead above nose above chin


def test_umeyama_recovers_a_known_similarity():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (50, 2))
    m = similarity(1.7, -33.0, 12.5, -4.0)
    est = align.umeyama(src, align.transform_points(src, m))
    np.testing.assert_allclose(est, m, atol=1e-9)
    with pytest.raises(InputError, match="degenerate"):
        align.umeyama(np.ones((5, 2)), np.zeros((5, 2)))


@pytest.mark.parametrize("size", [64, 256, 1024])
def test_crop_matrix_puts_the_face_on_the_template(size):
    pts = posed_face()
    m = align.crop_matrix(pts, size, coverage=0.8, centering="face")
    in_crop = align.transform_points(pts, m)
    side = 1.5 * 0.8
    expect = (align.TEMPLATE - (0.5 - side / 2)) * size / side
    np.testing.assert_allclose(in_crop, expect, atol=1e-6 * size)
    # the same face rotated and moved gives the same crop landmarks
    m2 = align.crop_matrix(posed_face(150.0, -40.0, 50.0, 400.0), size, 0.8, "face")
    np.testing.assert_allclose(align.transform_points(posed_face(150.0, -40.0, 50.0, 400.0), m2), expect,
                               atol=1e-6 * size)


def test_head_centering_and_coverage_change_the_framing():
    pts = posed_face()
    face = align.matrix_scale(align.crop_matrix(pts, 256, 0.8, "face"))
    head = align.matrix_scale(align.crop_matrix(pts, 256, 0.8, "head"))
    tight = align.matrix_scale(align.crop_matrix(pts, 256, 0.6, "face"))
    assert head < face < tight  # head shows more (smaller scale), lower coverage zooms in
    np.testing.assert_allclose(face / head, 2.0 / 1.5)
    # head centering moves the crop up: the chin sits higher in the crop
    chin_face = align.transform_points(pts, align.crop_matrix(pts, 256, 0.8, "face"))[152, 1]
    chin_head = align.transform_points(pts, align.crop_matrix(pts, 256, 0.8, "head"))[152, 1]
    assert chin_head < chin_face


def test_crop_matrix_ignores_an_open_jaw():
    pts = posed_face(angle=0.0)
    jaw = pts.copy()
    lower = align.TEMPLATE[:, 1] > align.TEMPLATE[2, 1] + 0.05
    jaw[lower, 1] += 25.0  # the mouth opens: lower face moves down
    np.testing.assert_allclose(align.crop_matrix(jaw, 256), align.crop_matrix(pts, 256), atol=1e-9)


@pytest.mark.parametrize("bad, match", [
    (dict(size=32), "--size"), (dict(size=2048), "--size"), (dict(coverage=1.5), "--coverage"),
    (dict(centering="body"), "--centering"),
])
def test_crop_matrix_rejects_bad_parameters(bad, match):
    kw = dict(size=256, coverage=0.8, centering="face") | bad
    with pytest.raises(InputError, match=match):
        align.crop_matrix(posed_face(), **kw)


def test_crop_matrix_rejects_bad_points():
    with pytest.raises(InputError, match="468"):
        align.crop_matrix(np.zeros((68, 2)), 256)
    pts = posed_face()
    pts[5, 0] = np.nan
    with pytest.raises(InputError, match="finite"):
        align.crop_matrix(pts, 256)


def test_invert_is_exact_and_rejects_singular():
    m = align.crop_matrix(posed_face(), 256)
    np.testing.assert_allclose(align.compose(m, align.invert(m)), [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    with pytest.raises(InputError, match="singular"):
        align.invert(np.zeros((2, 3)))
    with pytest.raises(InputError, match="2×3"):
        align.invert(np.zeros((3, 3)))


def test_warp_to_crop_samples_known_positions():
    # a plate that is a linear ramp in x and y: cubic resampling reproduces it exactly
    h, w = 400, 600
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    plate = np.stack([x + 0.5, y + 0.5, x - y], -1).astype(np.float32)  # plate coords of pixel centres
    m = align.crop_matrix(posed_face(scale=180, angle=20, tx=280, ty=90), 256, 0.8, "face")
    crop = align.warp_to_crop(plate, m, 256)
    assert crop.shape == (256, 256, 3) and crop.dtype == np.float32
    inv = align.invert(m)
    centres = np.stack(np.meshgrid(np.arange(256) + 0.5, np.arange(256) + 0.5), -1).reshape(-1, 2)
    expect = align.transform_points(centres, inv).reshape(256, 256, 2)
    # OpenCV quantises source positions (1/32 px tables, fixed-point coordinates): ~0.05 px
    np.testing.assert_allclose(crop[..., :2], expect, atol=0.06)


def test_round_trip_inside_face_and_bit_exact_outside():
    h, w = 480, 640
    plate = smooth_plate(h, w)
    pts = posed_face(scale=200, angle=8, tx=330, ty=140)
    m = align.crop_matrix(pts, 512, 0.8, "face")  # upsampling crop: round trip is near-lossless
    crop = align.warp_to_crop(plate, m, 512)
    out = align.paste_back(plate, crop, m)
    px, valid = align.warp_from_crop(crop, m, (h, w))
    assert valid.max() == 1.0 and valid.min() == 0.0
    outside = valid == 0
    assert outside.sum() > 0.5 * h * w
    assert np.array_equal(out[outside], plate[outside])  # untouched, bit for bit
    assert np.all(px[outside] == 0)
    # inside the face (landmark hull, well inside the footprint): resampling error only
    import cv2

    face = np.zeros((h, w), np.uint8)
    hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2)
    cv2.fillConvexPoly(face, np.round(hull).astype(np.int32), 1)
    inside = (face > 0) & (valid == 1.0)
    assert inside.sum() > 20000
    err = np.abs(out[inside] - plate[inside])
    span = float(plate.max() - plate.min())
    assert err.max() < 2e-3 * span, err.max()


def test_downsampling_crop_is_antialiased_and_deterministic():
    rng = np.random.default_rng(3)
    plate = rng.normal(0.5, 1.0, (600, 800, 3)).astype(np.float32)  # white noise, HDR and negatives
    m = align.crop_matrix(posed_face(scale=400, angle=0, tx=400, ty=300), 128)
    assert align.matrix_scale(m) < 0.5
    a = align.warp_to_crop(plate, m, 128)
    b = align.warp_to_crop(plate, m, 128)
    assert np.array_equal(a, b)
    aliased = align.warp_to_crop(plate, m, 128, antialias=False)
    assert a.std() < 0.6 * aliased.std()  # noise averaged, not aliased through
    assert np.isclose(a.mean(), plate.mean(), atol=0.05)


def test_data_window_offset_is_respected():
    plate = smooth_plate(300, 400)
    m = align.crop_matrix(posed_face(scale=150, tx=200, ty=100), 256)
    full = align.warp_to_crop(plate, m, 256)
    # the same pixels held as a data window starting at plate (50, 20)
    part = align.warp_to_crop(plate[20:, 50:], m, 256, offset=(50, 20))
    np.testing.assert_allclose(part, full, atol=1e-5)
    px, valid = align.warp_from_crop(full, m, (280, 350), offset=(50, 20))
    px_full, valid_full = align.warp_from_crop(full, m, (300, 400))
    np.testing.assert_allclose(valid, valid_full[20:, 50:], atol=1e-6)
    np.testing.assert_allclose(px, px_full[20:, 50:], atol=1e-5)


def test_warp_rejects_bad_images():
    m = align.crop_matrix(posed_face(), 256)
    with pytest.raises(InputError, match="H×W"):
        align.warp_to_crop(np.zeros((4,), np.float32), m, 256)
    with pytest.raises(InputError, match="square"):
        align.warp_from_crop(np.zeros((10, 20, 3), np.float32), m, (100, 100))
    with pytest.raises(InputError, match="channels"):
        align.paste_back(np.zeros((50, 50, 3), np.float32), np.zeros((16, 16, 4), np.float32), m)


@pytest.fixture
def astronaut_acescg_exr(tmp_path):
    """skimage's astronaut converted sRGB -> ACEScg (OCIO), with an HDR sky strip (x8) and a strip of
    negative values, written as a float EXR with a data window offset; plus landmarks placed on the
    face by a similarity of the template (this test needs no face models)."""
    import skimage.data

    from faceplate.colour import ColourConfig
    from faceplate.plates import Image, write_image

    srgb = skimage.data.astronaut().astype(np.float32) / 255.0
    lin = ColourConfig().convert(srgb, "sRGB Encoded Rec.709 (sRGB)", "ACEScg")
    lin[:40] *= 8.0
    lin[-30:, :, 1] -= 0.25
    img = Image(lin, ("R", "G", "B"), (10, 5, 512, 512), (0, 0, 530, 520))
    write_image(tmp_path / "astronaut.exr", img, pixel_type="float")
    pts = posed_face(scale=105.0, angle=4.0, tx=170.0 + 10, ty=73.0 + 5)
    return tmp_path / "astronaut.exr", pts


def test_exr_read_process_write_keeps_hdr_and_negatives_outside_face(tmp_path, astronaut_acescg_exr):
    """Astronaut as a scene-linear ACEScg EXR with HDR and negative pixels: crop, encode, decode,
    paste back and write; outside the crop footprint the written plate is bit-exact."""
    from faceplate.colour import ColourConfig, CropEncoding
    from faceplate.plates import read_image, write_image

    path, pts = astronaut_acescg_exr
    img = read_image(path)
    rgb = img.rgb()
    assert rgb.max() > 1.0 and rgb.min() < 0.0
    cfg = ColourConfig()
    enc = CropEncoding()
    m = align.crop_matrix(pts, 256, 0.8, "face")
    crop = align.warp_to_crop(rgb, m, 256, offset=img.data_window[:2])
    back = enc.decode(enc.encode(crop, "ACEScg", cfg), "ACEScg", cfg)
    out_rgb = align.paste_back(rgb, back, m, offset=img.data_window[:2])
    write_image(tmp_path / "out.exr", img.with_pixels(out_rgb, img.rgb_names()), pixel_type="float")
    again = read_image(tmp_path / "out.exr").rgb()
    _, valid = align.warp_from_crop(back, m, rgb.shape[:2], img.data_window[:2])
    outside = valid == 0
    assert np.array_equal(again[outside], rgb[outside])
    assert again[outside].max() > 1.0 and again[outside].min() < 0.0
    inside = valid == 1
    assert np.median(np.abs(again[inside] - rgb[inside])) < 0.02
