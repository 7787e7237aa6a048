"""Extract on footage with hard cuts and two people (the astronaut and Grace Hopper side by side,
swapping sides and sizes across cuts): no track crosses a cut, ``--face like:`` picks the right
person on every frame, no face is written twice in a frame, ``faces report`` flags a set holding two
people, and every bad reference photo is a clear error with nothing written."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceplate.cli.main import main
from faceplate.plates import Image, write_image

W, H = 768, 384
#: frame -> [(who, x, y, side)] photos placed on the frame; shots 1-4, 5-7, 8-9
LAYOUT = {
    **{f: [("astronaut", 3 * f, 0, 384), ("hopper", 384 + 3 * f, 0, 384)] for f in (1, 2, 3, 4)},
    **{f: [("hopper", 40 + 2 * f, 60, 300), ("astronaut", 420 + 2 * f, 40, 330)] for f in (5, 6, 7)},
    **{f: [("astronaut", 200 + 4 * f, 10, 360)] for f in (8, 9)},
}
BACKGROUND = {1: 0.18, 5: 0.04, 8: 0.5}


def _frame(f: int, photos: dict) -> np.ndarray:
    bg = BACKGROUND[max(k for k in BACKGROUND if k <= f)]
    px = np.full((H, W, 3), bg, np.float32)
    for who, x, y, side in LAYOUT[f]:
        img = cv2.resize(np.asarray(photos[who]), (side, side), interpolation=cv2.INTER_AREA)
        x1, y1 = min(W, x + side), min(H, y + side)
        px[y:y1, x:x1] = img[: y1 - y, : x1 - x]
    return px


def who_is_at(frame: int, box) -> str | None:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hits = [who for who, x, y, side in LAYOUT[frame] if x <= cx < x + side and y <= cy < y + side]
    return hits[0] if len(hits) == 1 else None


@pytest.fixture(scope="module")
def two_people(tmp_path_factory, astronaut, hopper):
    """plate.####.exr frames 1-9 (ACEScg) and reference PNGs: each person mirrored and smaller
    (not a frame of the shot), and a picture with no face."""
    from faceplate.faces.preview import write_png

    d = tmp_path_factory.mktemp("two_people")
    photos = {"astronaut": astronaut.acescg, "hopper": hopper.acescg}
    for f in LAYOUT:
        write_image(d / f"plate.{f:04d}.exr", Image(_frame(f, photos), ("R", "G", "B"), (0, 0, W, H), (0, 0, W, H)),
                    pixel_type="half")
    refs = {}
    for who, photo in (("astronaut", astronaut), ("hopper", hopper)):
        small = cv2.resize(np.asarray(photo.srgb)[:, ::-1], (300, 300), interpolation=cv2.INTER_AREA)
        refs[who] = write_png(d / f"ref_{who}.png", np.round(small * 255).astype(np.uint8))
    yy, xx = np.mgrid[0:128, 0:128].astype(np.float32) / 128
    refs["blank"] = write_png(d / "ref_blank.png", np.round(np.stack([xx, yy, xx * yy], -1) * 255).astype(np.uint8))
    return d / "plate.####.exr", refs


def extract_cli(*argv: str) -> int:
    return main(["extract", *argv, "--quiet"])


@pytest.fixture(scope="module")
def all_faces(face_assets, two_people, tmp_path_factory):
    plate, _ = two_people
    out = tmp_path_factory.mktemp("sets") / "all"
    assert extract_cli(str(plate), "--out", str(out), "--size", "64", "--face", "all", "--preview") == 0
    return out, json.loads((out / "alignments.json").read_text())


def test_no_track_crosses_a_cut_and_people_keep_their_identity(all_faces):
    out, doc = all_faces
    assert doc["cuts"] == [5, 8] and doc["shots"] == [[1, 4], [5, 7], [8, 9]]
    assert doc["identity"]["model"] == "dlib_face_recognition_resnet_model_v1" and "public domain" in doc["identity"]["licence"]
    shot_of = {f: i for i, (a, b) in enumerate(doc["shots"]) for f in range(a, b + 1)}
    tracks: dict[int, set] = {}
    person_of: dict[str, set] = {"astronaut": set(), "hopper": set()}
    for key, fr in doc["frames"].items():
        f = int(key)
        truth = sorted(who for who, *_ in LAYOUT[f])
        found = sorted(who_is_at(f, face["box"]) for face in fr["faces"])
        assert found == truth, (f, found)  # every face found once, nothing else
        for face in fr["faces"]:
            assert face["shot"] == shot_of[f]
            tracks.setdefault(face["track"], set()).add(shot_of[f])
            person_of[who_is_at(f, face["box"])].add(face["person"])
    assert all(len(s) == 1 for s in tracks.values())  # each track inside one shot
    # one person label per identity over all shots, and two different labels
    assert len(person_of["astronaut"]) == 1 and len(person_of["hopper"]) == 1
    assert person_of["astronaut"] != person_of["hopper"]
    # the contact sheet shows the cuts; each face written once per frame
    assert (out / "contact_sheet.png").stat().st_size > 1000
    fs = json.loads((out / "faceset.json").read_text())
    per_frame = {}
    for rec in fs["faces"]:
        per_frame.setdefault(rec["frame"], []).append(who_is_at(rec["frame"], rec["box"]))
    assert all(sorted(v) == sorted(set(v)) for v in per_frame.values())
    assert sum(len(v) for v in per_frame.values()) == sum(len(v) for v in LAYOUT.values())


@pytest.fixture(scope="module")
def like_sets(face_assets, two_people, tmp_path_factory):
    plate, refs = two_people
    root = tmp_path_factory.mktemp("like")
    for who in ("astronaut", "hopper"):
        assert extract_cli(str(plate), "--out", str(root / who), "--size", "64", "--face", f"like:{refs[who]}") == 0
    return root


@pytest.mark.parametrize("who", ["astronaut", "hopper"])
def test_face_like_picks_the_person_on_every_frame(like_sets, two_people, who):
    _, refs = two_people
    out = like_sets / who
    doc = json.loads((out / "alignments.json").read_text())
    frames_with = [f for f in LAYOUT if any(p[0] == who for p in LAYOUT[f])]
    for f in LAYOUT:
        sel = [face for face in doc["frames"][str(f)]["faces"] if face["selected"]]
        assert [who_is_at(f, s["box"]) for s in sel] == ([who] if f in frames_with else []), f
    assert doc["gaps"] == [f for f in LAYOUT if f not in frames_with]
    assert doc["reference"][0]["file"] == str(refs[who]) and len(doc["reference"][0]["embedding"]) == 128
    fs = json.loads((out / "faceset.json").read_text())
    assert fs["meta"]["reference"][0]["file"] == str(refs[who]) and fs["meta"]["identity"]["model"]


def test_faces_report_flags_a_set_holding_two_people(all_faces, like_sets, tmp_path, caplog):
    out, _ = all_faces
    rep = tmp_path / "report"
    assert main(["faces", "report", str(out), "--out", str(rep)]) == 0
    doc = json.loads((rep / "report.json").read_text())
    ident = doc["sets"]["A"]["identity"]
    assert ident["mixed"] and ident["clusters"] == 2 and sorted(ident["cluster_sizes"]) == [7, 9]
    assert "holds more than one person" in caplog.text
    assert "MIXED" in (rep / "summary.md").read_text()
    rows = doc["faces"]["A"]
    by_cluster = {}
    for r in rows:
        by_cluster.setdefault(r["identity_cluster"], set()).add(who_is_at(r["frame"], json.loads(
            (out / "faceset.json").read_text())["faces"][[x["id"] for x in rows].index(r["id"])]["box"]))
    assert sorted(len(v) for v in by_cluster.values()) == [1, 1]  # each cluster is one person
    # a one-person set is not flagged
    assert main(["faces", "report", str(like_sets / "hopper"), "--out", str(tmp_path / "rep1")]) == 0
    ident1 = json.loads((tmp_path / "rep1" / "report.json").read_text())["sets"]["A"]["identity"]
    assert ident1["mixed"] is False and ident1["clusters"] == 1


def test_bad_references_are_clear_errors_with_nothing_written(face_assets, two_people, tmp_path, capsys):
    plate, refs = two_people
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    cases = [
        ((f"like:{refs['blank']}",), f"reference photo {refs['blank']}: no face found"),
        ((f"like:{corrupt}",), f"reference photo {corrupt}: cannot be read"),
        ((f"like:{tmp_path / 'nobody.png'}",), "file not found"),
        # frames 8-9 show only the astronaut: Grace Hopper's reference matches nobody
        ((f"like:{refs['hopper']}", "--frames", "8-9"), f"like:{refs['hopper']}: the reference matches no face"),
    ]
    for i, (args, match) in enumerate(cases):
        out = tmp_path / f"o{i}"
        rc = extract_cli(str(plate), "--out", str(out), "--size", "64", "--face", *args)
        err = capsys.readouterr().err
        assert rc == 2 and match in err, err
        assert not out.exists()
