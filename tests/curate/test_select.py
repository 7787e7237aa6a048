import hashlib
import json

import pytest

from faceplate.cli.main import main
from faceplate.colour.encoding import CropEncoding
from faceplate.curate.measures import measure_faceset
from faceplate.curate.select import Criteria, select, write_selection
from faceplate.errors import FaceSetError, InputError
from faceplate.faces.faceset import check_same_colour, load_for_training


def _digest(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "faceset.json"}


@pytest.fixture
def mixed(faceset_factory):
    faces = [dict(frame=1, texture=0), dict(frame=2, texture=0, blur=2.0), dict(frame=3, texture=1, yaw=45),
             dict(frame=4, texture=2, scale=0.5), dict(frame=5, texture=3), dict(frame=6, texture=3)]
    return faceset_factory("mixed", faces)


def test_select_criteria(mixed):
    sm = measure_faceset(mixed)
    kept, why = select(sm, Criteria(min_sharpness=0.05, max_yaw=30, min_size=200, dedupe=0.06))
    assert kept == ["f000001_0", "f000005_0"]
    assert "sharpness" in why["f000002_0"][0] and "yaw" in why["f000003_0"][0] and "size" in why["f000004_0"][0]
    assert why["f000006_0"][0].startswith("near-duplicate of f000005_0")
    with pytest.raises(InputError, match="--max-yaw"):
        Criteria(max_yaw=-1).check()


def test_selection_restricts_training_and_deletes_nothing(mixed, tmp_path):
    before = _digest(mixed.root)
    sel = tmp_path / "sel.json"
    assert main(["faces", "select", str(mixed.root), "--min-sharpness", "0.05", "--max-yaw", "30",
                 "--dedupe", "0.06", "--out", str(sel)]) == 0
    doc = json.loads(sel.read_text())
    assert doc["schema"] == "faceplate.selection" and doc["criteria"]["thresholds"]["max_yaw"] == 30
    train = load_for_training(sel)
    assert [f.id for f in train.faces] == ["f000001_0", "f000004_0", "f000005_0"]
    assert len(load_for_training(mixed.root).faces) == 6
    assert _digest(mixed.root) == before  # the extracted faces are untouched
    # The report shows what the selection keeps.
    out = tmp_path / "rep"
    assert main(["faces", "report", str(sel), "--out", str(out)]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["selection"]["kept"] == 3 and rep["selection"]["of"] == 6
    assert {r["id"]: r["kept"] for r in rep["faces"]["A"]}["f000002_0"] is False
    assert "kept" in (out / "A_measures.csv").read_text().splitlines()[0]


def test_empty_selection_refused_and_not_written(mixed, tmp_path):
    sel = tmp_path / "none.json"
    with pytest.raises(FaceSetError, match="keep none"):
        write_selection(sel, measure_faceset(mixed), Criteria(min_sharpness=1e9))
    assert not sel.exists()


def test_mixing_colour_settings_refused(faceset_factory):
    a = faceset_factory("A", [dict(frame=1)])
    b = faceset_factory("B", [dict(frame=1, source="/stills/biden.jpg")], encoding=CropEncoding("ACEScg", "srgb"))
    with pytest.raises(FaceSetError) as exc:
        check_same_colour(a, b)
    msg = str(exc.value)
    assert str(a.root) in msg and str(b.root) in msg
    assert "faceplate extract /stills/biden.jpg" in msg and "--crop-transfer acescct" in msg
    check_same_colour(a, faceset_factory("C", [dict(frame=1)], space="ACEScg"))  # same crops, other plate space: fine
    # The report says so too, with the same message.
    out = a.root.parent / "rep"
    assert main(["faces", "report", str(a.root), "--against", str(b.root), "--out", str(out)]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["colour_check"] == {"trainable_together": False, "message": msg}
    assert "REFUSED by training" in (out / "summary.md").read_text()
