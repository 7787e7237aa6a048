"""OCIO (through OpenImageIO) is the authority; colour-science is the oracle on the same routes."""
import warnings

import colour
import numpy as np
import pytest

from faceplate.colour import ColourConfig, CropEncoding, decode_transfer, encode_transfer
from faceplate.errors import ColourError

CFG = ColourConfig()
RNG = np.random.default_rng(3)
# scene-linear samples: mid grey, shadows, highlights well above 1.0
LINEAR = np.concatenate([
    RNG.uniform(0.01, 1.0, (64, 3)), RNG.uniform(1.0, 60.0, (16, 3)), [[0.18, 0.18, 0.18]],
]).astype(np.float32)


def _cs(x, src, dst, cat, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return colour.RGB_to_RGB(x, src, dst, chromatic_adaptation_transform=cat, **kw)


# The vendors' published matrices (which the ACES studio config uses) were derived with different
# chromatic adaptation transforms: CAT02 for ARRI and Sony, Bradford for RED and Panasonic.
@pytest.mark.parametrize("ocio_dst, cs_dst, encode, cat", [
    ("ARRI LogC3 (EI800)", "ARRI Wide Gamut 3", True, "CAT02"),
    ("Linear ARRI Wide Gamut 3", "ARRI Wide Gamut 3", False, "CAT02"),
    ("S-Log3 S-Gamut3", "S-Gamut3", True, "CAT02"),
    ("Log3G10 REDWideGamutRGB", "REDWideGamutRGB", True, "Bradford"),
    ("V-Log V-Gamut", "V-Gamut", True, "Bradford"),
    ("ACEScct", "ACEScct", True, "CAT02"),
    ("sRGB Encoded AP1", "ACEScg", "srgb", None),
])
def test_ocio_agrees_with_colour_science(ocio_dst, cs_dst, encode, cat):
    ours = CFG.convert(LINEAR, "ACEScg", ocio_dst)
    if encode == "srgb":
        ref = colour.models.eotf_inverse_sRGB(np.asarray(LINEAR, np.float64))
        mask = LINEAR <= 1.0  # the sRGB curve of the config is defined on [0, 1]
        np.testing.assert_allclose(ours[mask], ref[mask], atol=1e-4)
        return
    ref = _cs(LINEAR, "ACEScg", cs_dst, cat, apply_cctf_encoding=encode)
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_round_trip_through_log_keeps_hdr_and_negative():
    x = np.array([[-0.05, 0.0, 0.18], [1.0, 16.0, 200.0]], np.float32)
    log = CFG.convert(x, "ACEScg", "ARRI LogC3 (EI800)")
    back = CFG.convert(log, "ARRI LogC3 (EI800)", "ACEScg")
    np.testing.assert_allclose(back, x, rtol=2e-4, atol=2e-5)
    assert back.max() > 100 and back.min() < 0  # never clipped


def test_roles_resolve_and_unknown_space_lists_candidates():
    assert CFG.resolve(None) == CFG.resolve("scene_linear") == "ACEScg"
    assert CFG.resolve("acescg") == "ACEScg"
    with pytest.raises(ColourError, match=r"--colour-space.*'ACEScgg'.*did you mean: ACEScg"):
        CFG.resolve("ACEScgg", param="--colour-space")


def test_bad_config_is_reported():
    with pytest.raises(ColourError, match="nonexistent.ocio"):
        ColourConfig("/nonexistent.ocio").spaces


def test_convert_keeps_shape_and_alpha():
    rgba = np.concatenate([LINEAR[:10], np.full((10, 1), 0.5, np.float32)], axis=1).reshape(2, 5, 4)
    out = CFG.convert(rgba, "ACEScg", "Linear Rec.709 (sRGB)")
    assert out.shape == rgba.shape
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
    with pytest.raises(ColourError, match=r"expected …×3 or …×4.*\(4, 2\)"):
        CFG.convert(np.zeros((4, 2), np.float32), "ACEScg", "ACEScct")


def test_proxy_is_display_srgb_in_unit_range():
    proxy = CFG.to_proxy(LINEAR, "ACEScg")
    assert proxy.min() >= 0 and proxy.max() <= 1
    grey = CFG.to_proxy(np.array([[0.18, 0.18, 0.18]], np.float32), "ACEScg")
    np.testing.assert_allclose(grey, 0.4613, atol=2e-3)


@pytest.mark.parametrize("name, oracle", [
    ("acescct", colour.models.log_encoding_ACEScct),
    ("srgb", colour.models.eotf_inverse_sRGB),
])
def test_transfers_match_colour_science(name, oracle):
    x = np.linspace(1e-4, 1.0, 257)
    np.testing.assert_allclose(encode_transfer(x, name), oracle(x), atol=2e-6)
    np.testing.assert_allclose(decode_transfer(encode_transfer(x, name), name), x, atol=2e-6)


def test_acescct_decode_is_exact_inverse_over_hdr_range():
    x = np.geomspace(1e-3, 200, 200)
    np.testing.assert_allclose(decode_transfer(encode_transfer(x, "acescct"), "acescct"), x, rtol=1e-5)


def test_crop_encoding_clips_only_the_crop_and_round_trips_in_range():
    enc = CropEncoding()
    code = enc.encode(LINEAR, "ACEScg", CFG)
    assert code.min() >= 0 and code.max() <= 1
    back = enc.decode(code, "ACEScg", CFG)
    np.testing.assert_allclose(back, LINEAR, rtol=2e-4, atol=1e-5)
    # values beyond the encoding's range are clipped inside the crop only
    assert enc.encode(np.array([[1e4, 0, 0]], np.float32), "ACEScg", CFG)[0, 0] == 1.0


def test_crop_encoding_from_dict_rejects_unknown_transfer():
    with pytest.raises(ColourError, match="expected one of acescct, srgb, linear, found 'gamma3'"):
        CropEncoding.from_dict({"primaries": "ACEScg", "transfer": "gamma3"})
    with pytest.raises(ColourError, match="expected"):
        CropEncoding.from_dict({"primaries": "ACEScg"})


def test_nan_input_does_not_raise_but_propagates():
    x = np.array([[np.nan, 0.1, 0.2]], np.float32)
    assert np.isnan(encode_transfer(x, "acescct")[0, 0])


def test_proxy8_is_the_rounded_proxy_byte_for_byte():
    rng = np.random.default_rng(5)
    px = rng.normal(0.3, 0.9, (37, 41, 3)).astype(np.float32)  # negatives and highlights clip
    px[0, :4] = [[0.5 / 255, 0, 0], [1.5 / 255, 0, 0], [2.5 / 255, 0, 0], [1e6, -1e6, 0]]
    for space in ("ACEScg", "sRGB Encoded Rec.709 (sRGB)"):
        got = CFG.to_proxy8(px, space)
        want = np.round(CFG.to_proxy(px, space) * 255.0).astype(np.uint8)
        assert got.dtype == np.uint8 and got.shape == px.shape
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("px, message", [
    (np.zeros((4, 4), np.float32), r"expected H×W×3 pixels, found shape \(4, 4\)"),
    (np.zeros((4, 4, 4), np.float32), r"expected H×W×3 pixels, found shape \(4, 4, 4\)"),
    (np.full((2, 2, 3), np.nan, np.float32), "expected finite pixel values, found NaN or infinity"),
    (np.full((2, 2, 3), np.inf, np.float32), "expected finite pixel values, found NaN or infinity"),
])
def test_proxy8_bad_input(px, message):
    with pytest.raises(ColourError, match=message):
        CFG.to_proxy8(px, "ACEScg")
