import hashlib
import json

import numpy as np

import pytest

from faceplate.cli.main import main
from faceplate.colour.encoding import CropEncoding
from faceplate.curate.merge import merge
from faceplate.errors import FaceSetError, OutputError
from faceplate.faces.faceset import FaceSet


def test_merge_records_sources(faceset_factory, tmp_path):
    a = faceset_factory("shootA", [dict(frame=1, source="a.####.exr"), dict(frame=2, source="a.####.exr")])
    (a.root / "previews").mkdir()
    (a.root / "previews/f000001_0.png").write_bytes(b"png bytes")
    a.faces[0].extra["preview"] = "previews/f000001_0.png"
    a.faces[1].extra["preview"] = "previews/missing.png"
    a.save()
    b = faceset_factory("stills", [dict(frame=1, texture=1, source="/p/biden.jpg")], space="ACEScg")
    before = hashlib.sha256((a.root / "faces/f000001_0.exr").read_bytes()).hexdigest()
    out = tmp_path / "merged"
    assert main(["faces", "merge", str(a.root), str(b.root), "--out", str(out)]) == 0
    m = FaceSet.load(out)
    assert [f.id for f in m.faces] == ["s0_f000001_0", "s0_f000002_0", "s1_f000001_0"]
    src = m.faces[2].extra["merged_from"]
    assert src["faceset"] == str(b.root.resolve()) and src["id"] == "f000001_0" and src["plate_colour_space"] == "ACEScg"
    assert m.faces[2].source == "/p/biden.jpg"
    assert (out / m.faces[0].extra["preview"]).read_bytes() == b"png bytes"
    assert "preview" not in m.faces[1].extra
    assert m.plate_colour_space.startswith("mixed")
    assert hashlib.sha256((out / "faces/s0_f000001_0.exr").read_bytes()).hexdigest() == before
    assert (a.root / "faces/f000001_0.exr").exists()
    with pytest.raises(OutputError, match="existing content"):
        merge([a.root], out)
    rep = tmp_path / "rep"
    assert main(["faces", "report", str(out), "--out", str(rep)]) == 0
    assert json.loads((rep / "report.json").read_text())["sets"]["A"]["faces"] == 3


def test_merge_keeps_each_sets_layout(faceset_factory, tmp_path):
    """A v1 set (crop and mask files) and a v2 set (one file per face) merge into one set that reads."""
    a = faceset_factory("old", [dict(frame=1), dict(frame=2, texture=1)], layout="v1")
    b = faceset_factory("new", [dict(frame=1, texture=2)])
    m = merge([a.root, b.root], tmp_path / "m")
    assert [(f.image, f.mask) for f in m.faces] == [
        ("faces/s0_f000001_0.exr", "masks/s0_f000001_0.exr"), ("faces/s0_f000002_0.exr", "masks/s0_f000002_0.exr"),
        ("faces/s1_f000001_0.exr", "faces/s1_f000001_0.exr")]
    back = FaceSet.load(tmp_path / "m")
    for rec, (src, src_rec) in zip(back.faces, [(a, a.faces[0]), (a, a.faces[1]), (b, b.faces[0])]):
        got, want = back.read_face(rec), src.read_face(src_rec)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    only_new = merge([b.root], tmp_path / "m2")
    assert not (tmp_path / "m2" / "masks").exists() and only_new.faces[0].mask == only_new.faces[0].image


def test_merge_refuses_other_crop_encoding(faceset_factory, tmp_path):
    a = faceset_factory("A", [dict(frame=1)])
    b = faceset_factory("B", [dict(frame=1)], encoding=CropEncoding("ACEScg", "srgb"))
    with pytest.raises(FaceSetError, match="Re-extract B"):
        merge([a.root, b.root], tmp_path / "m")
    assert not (tmp_path / "m").exists() and not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_cli_errors(faceset_factory, tmp_path, capsys):
    a = faceset_factory("A", [dict(frame=1)])
    assert main(["faces", "report", str(a.root), "--out", str(tmp_path / "r"), "--sort", "beauty"]) == 2
    assert "--sort" in capsys.readouterr().err
    assert main(["faces", "report", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert main(["faces", "select", str(a.root), "--dedupe", "3", "--out", str(tmp_path / "s.json")]) == 2
    assert "--dedupe" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()


def test_empty_set_report_and_select(faceset_factory, tmp_path, capsys):
    e = faceset_factory("empty", [])
    assert main(["faces", "report", str(e.root), "--out", str(tmp_path / "r")]) == 0
    assert json.loads((tmp_path / "r" / "report.json").read_text())["sets"]["A"]["faces"] == 0
    assert main(["faces", "select", str(e.root), "--out", str(tmp_path / "s.json")]) == 2
    assert "no faces" in capsys.readouterr().err and not (tmp_path / "s.json").exists()


def test_contact_sheet_pages_and_3d_landmarks(faceset_factory, tmp_path, monkeypatch):
    from PIL import Image as PILImage

    from faceplate.curate import report
    from faceplate.curate.measures import measure_faceset

    fs = faceset_factory("pages", [dict(frame=f, texture=f % 5, yaw=5.0 * f) for f in range(5)])
    for rec in fs.faces:  # extract may also store z: a third column must not change anything
        rec.landmarks = [[x, y, 0.5] for x, y in rec.landmarks]
    fs.save()
    before = [r["yaw"] for r in measure_faceset(FaceSet.load(fs.root)).rows]
    monkeypatch.setattr(report, "PAGE", 2)
    assert main(["faces", "report", str(fs.root), "--out", str(tmp_path / "r"), "--sort", "yaw"]) == 0
    names = sorted(p.name for p in (tmp_path / "r").glob("contact_A*.png"))
    assert names == ["contact_A.png", "contact_A_2.png", "contact_A_3.png"]
    with PILImage.open(tmp_path / "r" / "contact_A_3.png") as im:
        assert im.size[0] >= 2 * 96
    assert np.allclose(before, [5.0 * f for f in range(5)], atol=4.0)
