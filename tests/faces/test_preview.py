"""Face previews: a thumbnail of the crop in the display proxy, written whole (by rename)."""
import os

import cv2
import numpy as np
import pytest

from faceplate.colour import ColourConfig
from faceplate.errors import InputError
from faceplate.faces.preview import FACE_PREVIEW, face_preview, write_png

CFG = ColourConfig()


def test_face_preview_is_the_reduced_crop_in_the_proxy():
    rng = np.random.default_rng(2)
    crop = (rng.random((256, 256, 3), dtype=np.float32) * 3.0 - 0.2)  # HDR and negatives (clipped in 8 bits)
    got = face_preview(crop, CFG, "ACEScg")
    assert got.shape == (FACE_PREVIEW, FACE_PREVIEW, 3) and got.dtype == np.uint8
    small = cv2.resize(crop, (FACE_PREVIEW, FACE_PREVIEW), interpolation=cv2.INTER_AREA)  # linear light
    np.testing.assert_array_equal(got, np.round(CFG.to_proxy(small, "ACEScg") * 255).astype(np.uint8))
    little = crop[:64, :48]  # no larger than a preview: kept as it is
    np.testing.assert_array_equal(face_preview(little, CFG, "ACEScg"), CFG.to_proxy8(little, "ACEScg"))
    assert face_preview(crop[:, :200], CFG, "ACEScg").shape == (128, 100, 3)


@pytest.mark.parametrize("bad", [np.zeros((8, 8), np.float32), np.zeros((8, 8, 4), np.float32),
                                 np.zeros((0, 8, 3), np.float32)])
def test_face_preview_bad_shapes(bad):
    with pytest.raises(InputError, match="face preview: expected an H×W×3 crop"):
        face_preview(bad, CFG, "ACEScg")


def test_write_png_syncs_unless_told_not_to(tmp_path, monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    px = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    write_png(tmp_path / "a.png", px)
    assert len(calls) == 1
    write_png(tmp_path / "b.png", px, photo=True, sync=False)
    assert len(calls) == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "b.png"))[:, :, ::-1], px)
