import errno
import os

import numpy as np
import OpenImageIO as oiio
import pytest

from faceplate.errors import OutputError, PlateError
from faceplate.plates import Image, Part, read_image, write_image, write_parts
from faceplate.plates.image import exr_threads


def _image(h=20, w=30, channels=("R", "G", "B", "A"), seed=0):
    rng = np.random.default_rng(seed)
    px = (rng.standard_normal((h, w, len(channels))) * 4).astype(np.float32)  # HDR and negative values
    return Image(px, tuple(channels), (5, -3, w, h), (0, 0, 64, 48), 1.5, {"studio:shot": "sq010_0020", "take": 3})


def test_round_trip_float_keeps_everything(tmp_path):
    img = _image(channels=("R", "G", "B", "A", "mask.Y", "swap.R"))
    out = write_image(tmp_path / "a.1001.exr", img, pixel_type="float")
    back = read_image(out)
    assert back.channels == img.channels
    assert back.data_window == img.data_window and back.display_window == img.display_window
    assert back.pixel_aspect == 1.5
    assert back.metadata["studio:shot"] == "sq010_0020" and back.metadata["take"] == 3
    np.testing.assert_array_equal(back.pixels, img.pixels)  # bit-exact, no clipping
    assert back.pixels.max() > 1.0 and back.pixels.min() < 0.0


def test_half_and_float_channels_mixed(tmp_path):
    img = _image(channels=("R", "G", "B", "mask.Y"))
    write_image(tmp_path / "m.exr", img, pixel_type=["half", "half", "half", "float"])
    back = read_image(tmp_path / "m.exr")
    assert back.channel_types == ("half", "half", "half", "float")
    np.testing.assert_array_equal(back.pixels[..., 3], img.pixels[..., 3])
    half = img.pixels[..., :3].astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(back.pixels[..., :3], half)
    # a second write keeps the types it read
    write_image(tmp_path / "m2.exr", back)
    assert read_image(tmp_path / "m2.exr").channel_types == back.channel_types


def test_all_half_is_stored_as_half(tmp_path):
    write_image(tmp_path / "h.exr", _image(), pixel_type="half")
    assert read_image(tmp_path / "h.exr").channel_types == ("half",) * 4


def test_same_image_gives_same_bytes(tmp_path):
    img = _image()
    a = write_image(tmp_path / "a.exr", img).read_bytes()
    b = write_image(tmp_path / "b.exr", img).read_bytes()
    assert a == b


def test_multipart_exr_colour_not_in_first_part(tmp_path):
    """Natron writes multi-layer images as parts not named after layers: part 0 = mask.Y, part 1 = RGBA."""
    path = str(tmp_path / "natron.exr")
    rng = np.random.default_rng(1)
    mask = rng.random((8, 10, 1), dtype=np.float32)
    rgba = rng.random((8, 10, 4), dtype=np.float32) * 3
    s0 = oiio.ImageSpec(10, 8, 1, oiio.FLOAT)
    s0.channelnames = ("mask.Y",)
    s0.attribute("name", "part0")
    s1 = oiio.ImageSpec(10, 8, 4, oiio.FLOAT)
    s1.channelnames = ("R", "G", "B", "A")
    s1.attribute("name", "part1")
    out = oiio.ImageOutput.create(path)
    assert out.open(path, [s0, s1])
    assert out.write_image(mask)
    assert out.open(path, s1, "AppendSubimage")
    assert out.write_image(rgba)
    out.close()
    img = read_image(path)
    assert set(img.channels) == {"mask.Y", "R", "G", "B", "A"}
    np.testing.assert_array_equal(img.rgb(), rgba[..., :3])
    np.testing.assert_array_equal(img.channels_array(["mask.Y"]), mask)


def test_layer_rgb_found_when_no_plain_rgb():
    img = Image(np.zeros((2, 2, 3), np.float32), ("beauty.R", "beauty.G", "beauty.B"), (0, 0, 2, 2), (0, 0, 2, 2))
    assert img.rgb_names() == ("beauty.R", "beauty.G", "beauty.B")


def test_no_rgb_channels_is_a_clear_error(tmp_path):
    img = Image(np.zeros((4, 4, 1), np.float32), ("Z",), (0, 0, 4, 4), (0, 0, 4, 4))
    write_image(tmp_path / "z.exr", img)
    with pytest.raises(PlateError, match=r"z.exr.*expected RGB channels.*\['Z'\]"):
        read_image(tmp_path / "z.exr").rgb()


def test_nan_and_inf_named_with_position(tmp_path):
    img = _image()
    img.pixels[2, 4, 1] = np.nan
    img.pixels[3, 3, 0] = np.inf
    write_image(tmp_path / "bad.0007.exr", img, pixel_type="float")
    with pytest.raises(PlateError, match=r"bad.0007.exr \(frame 7\).*2 NaN/Inf"):
        read_image(tmp_path / "bad.0007.exr", frame=7)
    assert np.isnan(read_image(tmp_path / "bad.0007.exr", check_finite=False).pixels).any()


def test_truncated_and_corrupt_files(tmp_path):
    good = write_image(tmp_path / "g.exr", _image(h=64, w=64), compression="none")
    data = good.read_bytes()
    (tmp_path / "trunc.exr").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.exr").write_bytes(b"not an exr at all" * 10)
    with pytest.raises(PlateError, match="trunc.exr"):
        read_image(tmp_path / "trunc.exr")
    with pytest.raises(PlateError, match="junk.exr.*cannot be read"):
        read_image(tmp_path / "junk.exr")
    with pytest.raises(PlateError, match="missing.exr: file not found"):
        read_image(tmp_path / "missing.exr")


def test_png_input_reads_as_float(tmp_path):
    px = (np.arange(4 * 6 * 3).reshape(4, 6, 3) % 256).astype(np.uint8)
    path = str(tmp_path / "still.png")
    out = oiio.ImageOutput.create(path)
    out.open(path, oiio.ImageSpec(6, 4, 3, oiio.UINT8))
    out.write_image(px)
    out.close()
    img = read_image(path)
    np.testing.assert_allclose(img.rgb(), px / 255.0, atol=1e-6)


def test_unwritable_folder_is_reported(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if str(p) == str(ro) else real(p, m))
    with pytest.raises(OutputError, match=r"ro: expected a writable folder, found it read-only"):
        write_image(ro / "a.exr", _image())
    assert list(ro.iterdir()) == []


def test_folder_that_cannot_be_created_is_reported():
    with pytest.raises(OutputError, match="cannot be created"):
        write_image("/proc/faceplate-test/a.exr", _image())


def test_output_path_is_a_file_not_a_folder(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="cannot be created|expected a folder"):
        write_image(tmp_path / "f" / "a.exr", _image())


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    """A writer failing mid-file (disk full) leaves neither the target nor a temporary."""
    real_create = oiio.ImageOutput.create

    class Failing:
        def __init__(self, inner):
            self.inner = inner

        def open(self, *a):
            return self.inner.open(*a)

        def write_image(self, px):
            self.inner.write_image(px[: px.shape[0] // 2])  # partial data hits the disk
            return False

        def geterror(self):
            return os.strerror(errno.ENOSPC)

        def close(self):
            return self.inner.close()

        has_error = True

    monkeypatch.setattr(oiio.ImageOutput, "create", staticmethod(lambda p: Failing(real_create(p))))
    with pytest.raises(OutputError, match="No space left"):
        write_image(tmp_path / "full.exr", _image())
    assert list(tmp_path.iterdir()) == []


def test_shape_mismatch_is_reported():
    with pytest.raises(PlateError, match=r"expected H×W×3.*found shape \(2, 2, 4\)"):
        Image(np.zeros((2, 2, 4), np.float32), ("R", "G", "B"), (0, 0, 2, 2), (0, 0, 2, 2))


def _parts_of(path):
    inp = oiio.ImageInput.open(str(path))
    out, sub = [], 0
    while inp.seek_subimage(sub, 0):
        sp = inp.spec()
        out.append((sp.get_string_attribute("name"), tuple(sp.channelnames), [str(f) for f in sp.channelformats]
                    or [str(sp.format)] * sp.nchannels, sp.get_string_attribute("compression"),
                    sp.get_string_attribute("studio:shot")))
        sub += 1
    inp.close()
    return out


def test_write_parts_keeps_each_parts_storage(tmp_path):
    a = _image(channels=("R", "G", "B"), seed=1)
    b = _image(channels=("mask.Y", "mask.Z"), seed=2)
    path = write_parts(tmp_path / "p.exr", [Part("colour", a, "float", "none"), Part("matte", b, "half", "zip", 1)],
                       metadata={"faceplate:frame": 7})
    assert sorted(q.name for q in tmp_path.iterdir()) == ["p.exr"]  # no temporary left
    assert _parts_of(path) == [("colour", ("R", "G", "B"), ["float"] * 3, "none", "sq010_0020"),
                               ("matte", ("mask.Y", "mask.Z"), ["half"] * 2, "zip", "sq010_0020")]
    back = read_image(path)
    assert back.metadata["faceplate:frame"] == 7 and back.data_window == a.data_window
    np.testing.assert_array_equal(back.rgb(), a.pixels)  # float kept bit for bit
    np.testing.assert_array_equal(back.channels_array(["mask.Y", "mask.Z"]), b.pixels.astype(np.float16).astype(np.float32))
    again = write_parts(tmp_path / "q.exr", [Part("colour", a, "float", "none"), Part("matte", b, "half", "zip", 1)],
                        metadata={"faceplate:frame": 7})
    assert again.read_bytes() == path.read_bytes()  # deterministic bytes
    tiled = write_parts(tmp_path / "t.exr", [Part("colour", a, "float", "none", tile=32),
                                             Part("matte", b, "float", "zip", tile=8)])
    inp = oiio.ImageInput.open(str(tiled))
    assert (inp.spec().tile_width, inp.seek_subimage(1, 0), inp.spec().tile_width) == (32, True, 8)
    inp.close()
    back = read_image(tiled)
    np.testing.assert_array_equal(back.rgb(), a.pixels)
    np.testing.assert_array_equal(back.channels_array(["mask.Y", "mask.Z"]), b.pixels)


@pytest.mark.parametrize("parts, message", [
    ([], "expected at least one part"),
    ([("a", ("R",)), ("b", ("R",))], "expected distinct channel names across parts"),
    ([("a", ("R",)), ("a", ("G",))], "expected distinct, non-empty part names"),
    ([("", ("R",))], "expected distinct, non-empty part names"),
])
def test_write_parts_refuses_bad_parts(tmp_path, parts, message):
    made = [Part(n, Image(np.zeros((2, 2, len(c)), np.float32), c, (0, 0, 2, 2), (0, 0, 2, 2))) for n, c in parts]
    with pytest.raises(OutputError, match=message):
        write_parts(tmp_path / "x.exr", made)
    with pytest.raises(OutputError, match=r"expected all parts tiled or all in scanlines \(OpenEXR\), found tiles \[0, 4\]"):
        write_parts(tmp_path / "x.exr", [Part("a", _image(channels=("R",))), Part("b", _image(channels=("G",)), tile=4)])
    with pytest.raises(OutputError, match="tile size must be a whole number >= 1, found -1"):
        write_parts(tmp_path / "x.exr", [Part("a", _image(channels=("R",)), tile=-1)])
    with pytest.raises(OutputError, match="multi-part images are EXR files, found suffix '.tif'"):
        write_parts(tmp_path / "x.tif", made or [Part("a", _image())])
    assert list(tmp_path.iterdir()) == []


def test_exr_threads_is_scoped_and_checked():
    before = oiio.get_int_attribute("exr_threads", 0)
    with exr_threads(-1):
        assert oiio.get_int_attribute("exr_threads", 0) == -1
    assert oiio.get_int_attribute("exr_threads", 0) == before
    with pytest.raises(RuntimeError), exr_threads(1):
        raise RuntimeError("inside")
    assert oiio.get_int_attribute("exr_threads", 0) == before
    with pytest.raises(OutputError, match="expected a whole number >= -1, found -2"), exr_threads(-2):
        pass


def test_read_rgb_is_read_image_then_rgb(tmp_path):
    """One pass (only the colour channels decoded) or the whole file for a multi-part image: the same
    pixels, windows and types as read_image(...).rgb(); the same errors, naming the file and frame."""
    from faceplate.plates.image import read_rgb

    img = _image(channels=("A", "R", "G", "B", "Z"))  # colour side by side, not first
    write_image(tmp_path / "p.0003.exr", img, pixel_type=["half", "half", "half", "half", "float"])
    layered = _image(channels=("beauty.B", "beauty.G", "beauty.R", "mask.Y"), seed=2)  # stored B, G, R: not in order
    write_image(tmp_path / "l.exr", layered)
    for name in ("p.0003.exr", "l.exr", "natron.exr"):
        if name == "natron.exr":
            test_multipart_exr_colour_not_in_first_part(tmp_path)
        full = read_image(tmp_path / name)
        got = read_rgb(tmp_path / name)
        np.testing.assert_array_equal(got.pixels, full.rgb())
        assert got.channels == full.rgb_names() and got.pixels.dtype == np.float32
        assert (got.data_window, got.display_window, got.path) == (full.data_window, full.display_window, full.path)
        assert got.channel_types == tuple(full.channel_types[full.index(c)] for c in got.channels)
    img.pixels[1, 2, 2] = np.nan  # in G
    img.pixels[0, 0, 4] = np.inf  # in Z: not read, not checked
    write_image(tmp_path / "bad.0009.exr", img, pixel_type="float")
    with pytest.raises(PlateError, match=r"bad.0009.exr \(frame 9\).*1 NaN/Inf.*channel G"):
        read_rgb(tmp_path / "bad.0009.exr", frame=9)
    write_image(tmp_path / "z.exr", Image(np.zeros((4, 4, 1), np.float32), ("Z",), (0, 0, 4, 4), (0, 0, 4, 4)))
    with pytest.raises(PlateError, match=r"z.exr.*expected RGB channels.*\['Z'\]"):
        read_rgb(tmp_path / "z.exr")
    with pytest.raises(PlateError, match="missing.exr: file not found"):
        read_rgb(tmp_path / "missing.exr")
    (tmp_path / "junk.exr").write_bytes(b"not an exr at all" * 10)
    with pytest.raises(PlateError, match="junk.exr.*cannot be read"):
        read_rgb(tmp_path / "junk.exr")


def test_keep_frame_buffers_tunes_glibc_once():
    import platform

    from faceplate.memory import keep_frame_buffers

    expected = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert keep_frame_buffers() is expected and keep_frame_buffers() is expected
