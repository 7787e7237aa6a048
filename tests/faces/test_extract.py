"""`faceplate extract` end to end on the astronaut as a scene-linear ACEScg EXR sequence, stills,
resuming, and every bad input (a clear error naming the file/frame/parameter, rc 2, nothing partial)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceplate.cli.main import main
from faceplate.faces import align
from faceplate.plates import Image, read_image, write_image

SHIFT = 6  # px the face moves right per frame


def write_exr(path: Path, px: np.ndarray, channels=("R", "G", "B"), window=None) -> Path:
    h, w = px.shape[:2]
    win = window or (0, 0, w, h)
    write_image(path, Image(np.asarray(px, np.float32), tuple(channels), win, win), pixel_type="float")
    return path


def plate_frame(lin: np.ndarray, frame: int) -> np.ndarray:
    """Astronaut (ACEScg) moved SHIFT px per frame, with an HDR strip (x8) and negative values."""
    px = np.roll(lin, SHIFT * (frame - 1), axis=1).copy()
    px[:24] *= 8.0
    px[-20:, :, 2] -= 0.3
    return px


@pytest.fixture
def shot(tmp_path, astronaut):
    """plate.####.exr frames 1-4; frame 3 has no face (a smooth gradient); frame 4's data window
    starts at (10, 5) inside a 530×520 display window."""
    d = tmp_path / "plate"
    d.mkdir()
    for f in (1, 2):
        write_exr(d / f"plate.{f:04d}.exr", plate_frame(astronaut.acescg, f))
    write_image(d / "plate.0004.exr", Image(plate_frame(astronaut.acescg, 4), ("R", "G", "B"), (10, 5, 512, 512),
                                            (0, 0, 530, 520)), pixel_type="float")
    yy, xx = np.mgrid[0:512, 0:512].astype(np.float32) / 512
    write_exr(d / "plate.0003.exr", np.stack([xx, yy, xx * yy], -1) * 0.4)
    return d / "plate.####.exr"


def run_cli(*argv: str) -> int:
    return main(["extract", *argv, "--quiet"])


def test_extract_sequence_end_to_end(face_assets, shot, astronaut, tmp_path, caplog):
    from faceplate.colour import ColourConfig
    from faceplate.faces.faceset import FaceSet

    out = tmp_path / "set"
    rc = run_cli(str(shot), "--frames", "1-4", "--out", str(out), "--size", "256", "--preview", "--mask", "components")
    assert rc == 0
    assert "frame 3: no face found" in caplog.text
    fs = FaceSet.load(out)
    assert [r.frame for r in fs.faces] == [1, 2, 4] and fs.resolution == 256
    assert fs.plate_colour_space == "ACEScg" and fs.crop_encoding.transfer == "acescct"
    doc = json.loads((out / "alignments.json").read_text())
    assert doc["schema"] == "faceplate.alignments" and doc["version"] == 1 and doc["gaps"] == [3]
    f1 = doc["frames"]["1"]["faces"][0]
    assert np.asarray(f1["landmarks"]).shape == (468, 3) and np.asarray(f1["transform"]).shape == (2, 3)
    assert f1["selected"] and f1["id"] == "f000001_0" and f1["track"] == 0
    # the face and its landmarks are where the astronaut's are (eye corners ~ (195, 100), (255, 104))
    pts = np.asarray(f1["landmarks"])
    assert np.hypot(*(pts[33, :2] - (195, 100))) < 6 and np.hypot(*(pts[263, :2] - (255, 104))) < 6
    # frame 3 (a gradient) is another picture: a hard cut on each side of it, so frame 4 starts a new
    # shot and a new track, of the same person (identity), still chosen by --face largest; moving SHIFT
    # px per frame; frame 4's data window offset is honoured
    assert doc["cuts"] == [3, 4] and doc["shots"] == [[1, 2], [3, 3], [4, 4]]
    f4 = doc["frames"]["4"]["faces"][0]
    p4 = np.asarray(f4["landmarks"])
    assert f4["track"] == 1 and f4["shot"] == 2 and f4["selected"] and doc["frames"]["4"]["data_window"] == [10, 5, 512, 512]
    assert f4["person"] == f1["person"] == 0 and doc["identity"]["model"] == "dlib_face_recognition_resnet_model_v1"
    assert abs((p4[:, 0] - pts[:, 0]).mean() - (3 * SHIFT + 10)) < 1.5
    assert abs((p4[:, 1] - pts[:, 1]).mean() - 5) < 1.5
    # files: crop code values in [0, 1], masks face/eyes/mouth, previews, contact sheet
    code, msk = fs.read_face(fs.faces[0])
    assert code.shape == (256, 256, 3) and 0.0 <= code.min() and code.max() <= 1.0
    assert msk.shape == (256, 256, 3) and msk[..., 0].max() == 1.0 and msk[..., 1].sum() > 0 and msk[..., 2].sum() > 0
    # one file per face (face set v2): the crop (float32, stored plain) and the masks (float32, zip)
    assert fs.faces[0].mask == fs.faces[0].image == "faces/f000001_0.exr"
    face_file = read_image(out / fs.faces[0].image)
    assert set(face_file.channels) == {"R", "G", "B", "mask.face", "mask.eyes", "mask.mouth"}
    assert set(face_file.channel_types) == {"float"} and face_file.metadata["faceplate:frame"] == 1
    assert json.loads((out / "faceset.json").read_text())["version"] == 2
    assert not (out / "masks").exists()
    preview = cv2.imread(str(out / fs.faces[0].extra["preview"]))
    assert preview.shape == (128, 128, 3) and (out / fs.faces[0].extra["preview"]).stat().st_size > 1000
    assert (out / "contact_sheet.png").stat().st_size > 1000
    # crop -> decode -> inverse warp reproduces the plate inside the face, outside stays bit-exact
    from faceplate.faces import masks as masks_mod

    cfg = ColourConfig()
    for rec in (fs.faces[0], fs.faces[2]):  # frame 1, and frame 4 with its data window offset
        code, _ = fs.read_face(rec)
        m = np.asarray(rec.transform)
        lin = fs.crop_encoding.decode(code, "ACEScg", cfg)
        img = read_image(shot.parent / f"plate.{rec.frame:04d}.exr")
        plate, off = img.rgb(), img.data_window[:2]
        back = align.paste_back(plate, lin, m, offset=off)
        hull = masks_mod.face_hull(np.asarray(rec.landmarks), 256)
        inside_plate, valid = align.warp_from_crop(hull, m, plate.shape[:2], offset=off, interpolation="linear")
        sel = (inside_plate > 0.99) & (valid == 1)
        assert sel.sum() > 5000
        rel = np.abs(back[sel] - plate[sel]) / (np.abs(plate[sel]) + 0.02)
        assert np.median(rel) < 0.03, np.median(rel)
        assert np.array_equal(back[valid == 0], plate[valid == 0])  # HDR and negatives untouched
        assert plate[valid == 0].max() > 1.0 and plate[valid == 0].min() < 0.0


def test_extract_resumes_and_refuses_other_settings(face_assets, shot, tmp_path):
    from faceplate.errors import OutputError
    from faceplate.faces.extract import ExtractSettings, extract

    out = tmp_path / "set"
    s = ExtractSettings(size=64, smoothing=1.0)
    first = extract([str(shot)], out, "1-2", s, progress=False)
    assert first.written == 2 and first.analysed
    before = (out / "faces" / "f000002_0.exr").read_bytes()
    (out / "faces" / "f000002_0.exr").unlink()  # as if killed before this face was written
    again = extract([str(shot)], out, "1-2", s, progress=False)
    assert (again.written, again.skipped, again.analysed) == (1, 1, False)
    assert (out / "faces" / "f000002_0.exr").read_bytes() == before  # same bits
    assert json.loads((out / "faceset.json").read_text())["faces"][1]["id"] == "f000002_0"
    assert sorted(p.name for p in out.iterdir()) == ["alignments.json", "faces", "faceset.json", "previews"]
    with pytest.raises(OutputError, match="different settings"):
        extract([str(shot)], out, "1-2", ExtractSettings(size=128), progress=False)


def test_extract_resumed_over_a_v1_folder_writes_v2_faces(face_assets, shot, tmp_path):
    """A folder from before the one-file layout (crop and mask files) resumed: its crops, which lack the
    masks, are written again as v2 face files, the same bits as a fresh run."""
    from faceplate.faces.extract import ExtractSettings, extract
    from faceplate.faces.faceset import is_face_file

    out, s = tmp_path / "set", ExtractSettings(size=64)
    extract([str(shot)], out, "1-2", s, progress=False)
    fresh = {p.name: p.read_bytes() for p in (out / "faces").iterdir()}
    (out / "masks").mkdir()
    for name in fresh:  # make it a v1 folder
        img = read_image(out / "faces" / name)
        win = (0, 0, 64, 64)
        write_image(out / "faces" / name, Image(img.rgb(), ("R", "G", "B"), win, win), pixel_type="float")
        write_image(out / "masks" / name, Image(img.channels_array(["mask.face", "mask.eyes", "mask.mouth"]),
                                                ("face", "eyes", "mouth"), win, win), pixel_type="float")
    (out / "faceset.json").unlink()
    again = extract([str(shot)], out, "1-2", s, progress=False)
    assert (again.written, again.skipped, again.analysed) == (2, 0, False)
    assert {p.name: p.read_bytes() for p in (out / "faces").iterdir()} == fresh
    assert all(r.mask == r.image and is_face_file(out / r.image) for r in again.faceset.faces)


def test_extract_stills_png_needs_a_declared_colour_space(face_assets, astronaut, tmp_path, capsys):
    from faceplate.faces.faceset import FaceSet
    from faceplate.faces.preview import write_png

    a = write_png(tmp_path / "a.png", np.round(astronaut.srgb * 255).astype(np.uint8))
    b = write_png(tmp_path / "b.png", np.round(astronaut.srgb[:, ::-1] * 255).astype(np.uint8))
    assert run_cli(str(a), str(b), "--out", str(tmp_path / "x")) == 2
    assert "--colour-space" in capsys.readouterr().err and not (tmp_path / "x" / "faceset.json").exists()
    out = tmp_path / "stills"
    assert run_cli(str(a), str(b), "--out", str(out), "--size", "64", "--colour-space",
                   "sRGB Encoded Rec.709 (sRGB)") == 0
    fs = FaceSet.load(out)
    assert [r.frame for r in fs.faces] == [0, 1] and fs.plate_colour_space == "sRGB Encoded Rec.709 (sRGB)"
    assert [r.source for r in fs.faces] == [str(a), str(b)]  # each face records its own still
    # the mirrored still: its face is mirrored, not smoothed towards the first still's
    x0 = np.asarray(fs.faces[0].box)[[0, 2]].mean()
    x1 = np.asarray(fs.faces[1].box)[[0, 2]].mean()
    assert abs((x0 + x1) - 512) < 8


def test_face_choice_parsing():
    from faceplate.errors import InputError
    from faceplate.faces.extract import parse_face_choice

    assert parse_face_choice("largest") == ("largest",)
    assert parse_face_choice("index:2") == ("index", 2)
    assert parse_face_choice("point:10,20.5") == ("point", 10.0, 20.5)
    for bad in ("biggest", "index:-1", "point:1", "index:x"):
        with pytest.raises(InputError, match="--face"):
            parse_face_choice(bad)


# ----------------------------------------------------------------------------------- bad input
def check_error(capsys, out: Path, *argv, match: str) -> None:
    rc = run_cli(*argv, "--out", str(out))
    err = capsys.readouterr().err
    assert rc == 2, err
    assert match in err, err
    assert not out.exists()  # nothing written, not even the folder


def test_errors_before_any_model_runs(tmp_path, astronaut, capsys):
    d = tmp_path / "p"
    d.mkdir()
    for f in (1, 2):
        write_exr(d / f"s.{f:04d}.exr", astronaut.acescg[:64, :64])
    out = tmp_path / "o"
    check_error(capsys, out, str(d / "s.####.exr"), "--frames", "1-5", match="3 requested frame(s) missing: 3, 4, 5")
    check_error(capsys, out, str(d / "none.####.exr"), match="matches no file")
    check_error(capsys, out, str(d / "missing.exr"), match="file not found")
    check_error(capsys, out, str(d / "s.####.exr"), "--size", "32", match="--size")
    check_error(capsys, out, str(d / "s.####.exr"), "--face", "nearest", match="--face")
    check_error(capsys, out, str(d / "s.####.exr"), "--colour-space", "NotASpace", match="--colour-space")
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    rc = run_cli(str(d / "s.####.exr"), "--out", str(blocker / "set"))
    assert rc == 2 and "cannot be created" in capsys.readouterr().err


def test_assets_missing(tmp_path, astronaut, capsys, monkeypatch):
    monkeypatch.setenv("FACEPLATE_ASSETS", str(tmp_path / "no-assets"))
    write_exr(tmp_path / "s.0001.exr", astronaut.acescg[:64, :64])
    check_error(capsys, tmp_path / "o", str(tmp_path / "s.####.exr"), match="faceplate assets build")


def _empty_window_exr(path: Path) -> Path:
    """A valid EXR whose header is patched to an empty data window (xMax < xMin)."""
    write_exr(path, np.ones((2, 2, 3), np.float32))
    raw = bytearray(path.read_bytes())
    key = b"dataWindow\x00box2i\x00"
    i = raw.index(key) + len(key) + 4
    raw[i + 8:i + 12] = (-1).to_bytes(4, "little", signed=True)  # xMax = -1 < xMin = 0
    path.write_bytes(bytes(raw))
    return path


def test_bad_frames_fail_with_nothing_written(face_assets, tmp_path, astronaut, capsys):
    good = astronaut.acescg
    cases = {}
    d = tmp_path / "trunc"
    d.mkdir()
    write_exr(d / "p.0001.exr", good)
    data = write_exr(d / "p.0002.exr", good).read_bytes()
    (d / "p.0002.exr").write_bytes(data[: len(data) // 2])
    cases["trunc"] = (d, "p.0002.exr")
    d = tmp_path / "norgb"
    d.mkdir()
    write_exr(d / "p.0001.exr", good)
    write_exr(d / "p.0002.exr", good[..., :1], channels=("Y",))
    cases["norgb"] = (d, "expected RGB channels")
    d = tmp_path / "nan"
    d.mkdir()
    write_exr(d / "p.0001.exr", good)
    bad = good.copy()
    bad[100, 50, 1] = np.nan
    write_exr(d / "p.0002.exr", bad)
    cases["nan"] = (d, "NaN/Inf value(s), first at x=50, y=100")
    d = tmp_path / "empty"
    d.mkdir()
    write_exr(d / "p.0001.exr", good)
    _empty_window_exr(d / "p.0002.exr")
    cases["empty"] = (d, "p.0002.exr")
    d = tmp_path / "garbage"
    d.mkdir()
    write_exr(d / "p.0001.exr", good)
    (d / "p.0002.exr").write_bytes(b"\x76\x2f\x31\x01" + os.urandom(200))
    cases["garbage"] = (d, "p.0002.exr")
    for name, (folder, match) in cases.items():
        check_error(capsys, tmp_path / f"out-{name}", str(folder / "p.####.exr"), "--frames", "1-2", "--size", "64",
                    match=match)


def test_no_face_anywhere_is_an_error_but_one_gap_is_not(face_assets, tmp_path, capsys):
    d = tmp_path / "blank"
    d.mkdir()
    yy, xx = np.mgrid[0:256, 0:256].astype(np.float32) / 256
    write_exr(d / "b.0001.exr", np.stack([xx, yy, xx], -1))
    check_error(capsys, tmp_path / "o", str(d / "b.####.exr"), match="no face found in any of the 1 frame(s)")


def test_reduced_face_regions_give_the_full_resolution_landmarks(face_assets, astronaut):
    """FaceMesh fed an area-reduced proxy of the face region only (what extract does, for speed)
    agrees with FaceMesh on the full-resolution proxy of the whole frame: exactly at 1:1, and within
    1% of the eye distance when the face is 2x larger than the model needs."""
    import cv2

    from faceplate.colour import ColourConfig
    from faceplate.faces import analyse as ex
    from faceplate.faces.detect import FaceDetector
    from faceplate.faces.landmarks import Landmarker

    cfg = ColourConfig()
    det_model, mesh = FaceDetector(), Landmarker()
    for scale in (1, 2):
        lin = astronaut.acescg if scale == 1 else cv2.resize(astronaut.acescg, (1024, 1024), interpolation=cv2.INTER_CUBIC)
        full = cfg.to_proxy(lin, "ACEScg")
        det = det_model.detect(full)[0]
        ref = mesh.from_detection(full, det).points
        side = float(max(det.box[2] - det.box[0], det.box[3] - det.box[1]))
        reg, (rx, ry), k = ex.region(lin, (np.asarray(det.box[:2]) + det.box[2:]) / 2, 1.1 * side + 4, side)
        sub = ex.proxies(cfg, "ACEScg", [reg])[0]
        got = mesh.from_detection(sub, ex.scale_detection(ex.shift_detection(det, -rx, -ry), k)).points / k + [rx, ry, 0]
        iod = np.linalg.norm(ref[263, :2] - ref[33, :2])
        err = np.linalg.norm((got - ref)[:, :2], axis=1) / iod
        if scale == 1:
            assert k == 1.0 and err.max() < 1e-4
        else:
            assert k < 0.7 and err.mean() < 0.005 and err.max() < 0.01, (err.mean(), err.max())


def test_redetects_after_a_cut(face_assets, astronaut, tmp_path):
    """Frames 1-2 follow the face from the previous landmarks; at frame 3 the face jumps 200 px: the
    followed landmarks are implausible or absent and the detector runs again where the face now is."""
    from faceplate.faces.extract import ExtractSettings, extract, load_alignments

    d = tmp_path / "cut"
    d.mkdir()
    for f in (1, 2, 3):
        write_exr(d / f"c.{f:04d}.exr", np.roll(astronaut.acescg, 200 if f == 3 else 2 * f, axis=1))
    res = extract([str(d / "c.####.exr")], tmp_path / "set", "1-3", ExtractSettings(size=64, face="all",
                                                                                     detect_every=0), progress=False)
    doc = load_alignments(res.alignments)
    f1, f2, f3 = (doc["frames"][str(f)]["faces"] for f in (1, 2, 3))
    assert [f["source"] for f in f1] == ["detect"] and [f["source"] for f in f2] == ["track"]
    # the same person in the same shot (the roll keeps the picture: no cut): identity joins the two
    # pieces into one track, each piece smoothed on its own (no blending across the jump)
    assert doc["cuts"] == [] and len(f3) == 1 and f3[0]["source"] == "detect" and f3[0]["track"] == f1[0]["track"]
    assert abs(np.asarray(f3[0]["landmarks"])[33, 0] - np.asarray(f1[0]["landmarks"])[33, 0] - 198) < 4
    assert res.written == 3 and not res.gaps


def test_same_inputs_same_bits(face_assets, shot, tmp_path):
    from faceplate.faces.extract import ExtractSettings, extract

    s = ExtractSettings(size=64, mask="components")
    for name in ("a", "b"):
        extract([str(shot)], tmp_path / name, "1-2", s, progress=False)
    files = sorted(str(p.relative_to(tmp_path / "a")) for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 2 + 2 * 2  # alignments, faceset, and per face: the face EXR and its preview
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
