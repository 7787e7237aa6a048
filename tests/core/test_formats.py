"""Face sets, selections and manifests: schema-versioned JSON, clear errors, never pickle."""
import json

import numpy as np
import pytest

from faceplate.colour import CropEncoding
from faceplate.errors import FaceSetError, ModelError
from faceplate.faces.faceset import (FaceRecord, FaceSet, check_same_colour, is_face_file, load_for_training,
                                     save_selection, write_face)
from faceplate.manifest import Manifest
from faceplate.plates import Image, write_image


def make_set(root, n=3, encoding=CropEncoding(), size=16, space="ACEScg"):
    root.mkdir(parents=True, exist_ok=True)
    faces = []
    for i in range(n):
        fid = f"f{i:06d}_0"
        px = np.full((size, size, 3), 0.1 * (i + 1), np.float32)
        write_image(root / f"faces/{fid}.exr", Image(px, ("R", "G", "B"), (0, 0, size, size), (0, 0, size, size)))
        write_image(root / f"masks/{fid}.exr", Image(np.ones((size, size, 3), np.float32), ("face", "eyes", "mouth"),
                                                     (0, 0, size, size), (0, 0, size, size)))
        faces.append(FaceRecord(fid, i, 0, "plate.####.exr", f"faces/{fid}.exr", f"masks/{fid}.exr",
                                [[1.0, 2.0]] * 468, [[1, 0, 0], [0, 1, 0]], [0, 0, 10, 10], 0.9))
    fs = FaceSet(root, size, 0.8, "face", space, encoding, "ocio://studio-config-latest", faces)
    fs.save()
    return fs


def test_faceset_round_trip_and_read_face(tmp_path):
    fs = make_set(tmp_path / "A")
    back = FaceSet.load(tmp_path / "A")
    assert [f.id for f in back.faces] == [f.id for f in fs.faces]
    code, masks = back.read_face(back.faces[1])
    assert code.shape == (16, 16, 3) and masks.shape == (16, 16, 3)
    np.testing.assert_allclose(code, 0.2, atol=1e-7)


def _face_px(size, seed):
    rng = np.random.default_rng(seed)
    code = rng.random((size, size, 3), dtype=np.float32)
    code[0, 0] = [0.0, 1.0, np.float32(1e-7)]  # float32 values that half would not keep
    masks = np.zeros((size, size, 3), np.float32)
    masks[4:12, 3:13] = rng.random((8, 10, 3), dtype=np.float32)
    return code, masks


def test_v2_face_file_keeps_float32_and_reads_beside_v1(tmp_path):
    import OpenImageIO as oiio

    old = make_set(tmp_path / "A", n=2)  # v1 layout: a crop file and a mask file per face
    code, masks = _face_px(16, 1)
    write_face(old.root / "faces/f000009_0.exr", code, masks, {"faceplate:frame": 9})
    rec = FaceRecord("f000009_0", 9, 0, "plate.####.exr", "faces/f000009_0.exr", "faces/f000009_0.exr",
                     [[1.0, 2.0]] * 468, [[1, 0, 0], [0, 1, 0]], [0, 0, 10, 10], 0.9)
    old.faces.append(rec)
    old.save()
    doc = json.loads((old.root / "faceset.json").read_text())
    assert doc["version"] == 2
    back = FaceSet.load(old.root)
    c2, m2 = back.read_face(back.faces[2])  # v2: bit for bit
    assert c2.dtype == m2.dtype == np.float32
    assert np.array_equal(c2.view(np.uint32), code.view(np.uint32)) and np.array_equal(m2.view(np.uint32), masks.view(np.uint32))
    c1, m1 = back.read_face(back.faces[1])  # v1 beside it
    np.testing.assert_allclose(c1, 0.2, atol=1e-7)
    np.testing.assert_array_equal(m1, 1.0)
    # the stored layout: part "crop" R,G,B float plain, part "mask" mask.* float zip
    inp = oiio.ImageInput.open(str(old.root / "faces/f000009_0.exr"))
    parts = []
    sub = 0
    while inp.seek_subimage(sub, 0):
        sp = inp.spec()
        parts.append((sp.get_string_attribute("name"), sorted(sp.channelnames), str(sp.format),
                      sp.get_string_attribute("compression"), (sp.tile_width, sp.tile_height)))
        sub += 1
    inp.close()
    assert parts == [("crop", ["B", "G", "R"], "float", "none", (16, 16)),
                     ("mask", ["mask.eyes", "mask.face", "mask.mouth"], "float", "rle", (16, 16))]
    assert is_face_file(old.root / "faces/f000009_0.exr")
    assert not is_face_file(old.root / "faces/f000000_0.exr") and not is_face_file(old.root / "faces/none.exr")
    # a version 1 document still loads
    doc["version"] = 1
    (old.root / "faceset.json").write_text(json.dumps(doc))
    assert len(FaceSet.load(old.root).faces) == 3


def test_face_file_errors_name_the_file_and_what_was_found(tmp_path):
    fs = make_set(tmp_path / "A", n=2)
    # a record that points its mask at the crop file (no mask channels there)
    fs.faces[0].mask = fs.faces[0].image
    with pytest.raises(FaceSetError, match=r"face f000000_0: .*faces/f000000_0.exr: expected mask channels "
                                           r"mask.face, mask.eyes, mask.mouth \(or face, eyes, mouth in a mask file "
                                           r"of its own\), found \['R', 'G', 'B'\]"):
        fs.read_face(fs.faces[0])
    # a truncated face file
    write_face(fs.root / "faces/f000001_0.exr", *_face_px(16, 2))
    fs.faces[1].mask = fs.faces[1].image
    data = (fs.root / "faces/f000001_0.exr").read_bytes()
    (fs.root / "faces/f000001_0.exr").write_bytes(data[:400])
    with pytest.raises(FaceSetError, match="face f000001_0: plate .*f000001_0.exr"):
        fs.read_face(fs.faces[1])
    with pytest.raises(FaceSetError, match=r"expected a crop H×W×3 and masks of the same shape, found \(16, 16, 3\) and \(8, 8, 3\)"):
        write_face(tmp_path / "x.exr", np.zeros((16, 16, 3), np.float32), np.zeros((8, 8, 3), np.float32))
    assert not (tmp_path / "x.exr").exists()


def test_faceset_errors(tmp_path):
    with pytest.raises(FaceSetError, match="expected a folder made by 'faceplate extract'"):
        FaceSet.load(tmp_path / "nope")
    fs = make_set(tmp_path / "A")
    (fs.root / fs.faces[0].image).unlink()
    with pytest.raises(FaceSetError, match=r"1 file\(s\) listed in faceset.json are missing"):
        FaceSet.load(fs.root)
    (fs.root / "faceset.json").write_text("{not json")
    with pytest.raises(FaceSetError, match="expected JSON"):
        FaceSet.load(fs.root)
    (fs.root / "faceset.json").write_text(json.dumps({"schema": "other"}))
    with pytest.raises(FaceSetError, match="expected a faceplate.faceset document, found schema 'other'"):
        FaceSet.load(fs.root)
    (fs.root / "faceset.json").write_text(json.dumps({"schema": "faceplate.faceset", "version": 99}))
    with pytest.raises(FaceSetError, match="version 1..2, found 99"):
        FaceSet.load(fs.root)


def test_selection_restricts_and_keeps_the_set(tmp_path):
    fs = make_set(tmp_path / "A", n=4)
    save_selection(tmp_path / "sel.json", fs, ["f000003_0", "f000001_0"], {"min_sharpness": 1})
    sel = load_for_training(tmp_path / "sel.json")
    assert [f.id for f in sel.faces] == ["f000003_0", "f000001_0"]
    assert len(FaceSet.load(fs.root).faces) == 4  # nothing deleted
    with pytest.raises(FaceSetError, match="not found \\(expected a face-set folder or a selection"):
        load_for_training(tmp_path / "missing")
    with pytest.raises(FaceSetError, match="unknown face id"):
        save_selection(tmp_path / "bad.json", fs, ["nope"], {})
    doc = json.loads((tmp_path / "sel.json").read_text())
    doc["faces"] = []
    (tmp_path / "empty.json").write_text(json.dumps(doc))
    with pytest.raises(FaceSetError, match="empty selection"):
        load_for_training(tmp_path / "empty.json")


def test_mixing_encodings_is_refused_with_the_fix(tmp_path):
    a = make_set(tmp_path / "A")
    b = make_set(tmp_path / "B", encoding=CropEncoding("ACEScg", "srgb"), space="ARRI LogC3 (EI800)")
    with pytest.raises(FaceSetError) as info:
        check_same_colour(a, b)
    msg = str(info.value)
    assert str(a.root) in msg and str(b.root) in msg and "ARRI LogC3 (EI800)" in msg
    assert "faceplate extract" in msg and "--crop-transfer acescct" in msg
    check_same_colour(a, make_set(tmp_path / "C", space="sRGB Encoded Rec.709 (sRGB)"))  # same encoding: fine


def _manifest(**kw):
    d = dict(resolution=64, coverage=0.8, centering="face", crop_encoding=CropEncoding(), template=[[0.5, 0.5]],
             identities={"source": "A", "target": "B"}, direction="a2b", architecture="original",
             training_steps=10, data_hashes={"A": "x"}, faceplate_version="0.1.0")
    d.update(kw)
    return Manifest(**d)


def test_manifest_round_trip_and_compatibility():
    m = _manifest()
    back = Manifest.from_json(m.to_json())
    assert back == m
    back.check_compatible(resolution=64, crop_encoding=CropEncoding())
    with pytest.raises(ModelError, match=r"resolution: expected 128, model has 64; crop encoding"):
        back.check_compatible(resolution=128, crop_encoding=CropEncoding("ACEScg", "srgb"), where="face.onnx")


@pytest.mark.parametrize("text, message", [
    ("{", "not valid JSON"),
    ('{"schema": "x"}', "expected a faceplate.model manifest"),
    ('{"schema": "faceplate.model", "version": 7}', "expected manifest version 1, found 7"),
    ('{"schema": "faceplate.model", "version": 1}', "missing or has unexpected fields"),
])
def test_manifest_errors(text, message):
    with pytest.raises(ModelError, match=message):
        Manifest.from_json(text)


def test_pretty_json_is_json_dumps_byte_for_byte():
    from faceplate.jsonio import pretty

    def ref(d):
        return json.dumps(d, indent=1, sort_keys=True, allow_nan=False)

    docs = [
        {"faces": [{"landmarks": [[1.5, 2.25]] * 3, "box": [0.1, 2.0, 1e22, -0.0], "ok": True, "none": None,
                    "n": 2 ** 70, "t": (1, "a"), "s": "é\u2603\"\\\n", "e": {}, "l": [], "f": np.float64(2.5)}],
         "b": [1.0, 2.0], "A": "x"},
        [], {}, 3, "text", [[], [{}], [1, [2.5, None]]],
        # rows of floats (landmarks, matrices) and near misses that take the general path
        {"landmarks": [[0.1, 2.5], [3.0, -0.0], [1e-9, 1e22]], "m": [[1.0, 0.0, 5.5]], "mixed": [[1.0, 2], [3.0]],
         "empty_row": [[1.0], []], "nested": [[[1.0]]], "tuples": [(1.0, 2.0)], "bools": [[True, 1.0]]},
    ]
    for d in docs:
        assert pretty(d) == ref(d)
    for d in ({1: 2}, {"a": np.int64(3)}):  # left to json.dumps: the same result or the same error
        try:
            expected = ref(d)
        except TypeError:
            with pytest.raises(TypeError):
                pretty(d)
        else:
            assert pretty(d) == expected
    with pytest.raises(ValueError):
        pretty({"a": [1.0, float("nan")]})
    with pytest.raises(ValueError):
        pretty({"a": [[1.0, float("inf")], [2.0, 3.0]]})
