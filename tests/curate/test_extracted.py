"""The report on face sets written by the real ``faceplate extract`` (stills: photo, blurred, mirrored)."""
import json

import cv2
import numpy as np
import pytest

from faceplate.cli.main import main
from faceplate.faces.faceset import FaceSet, load_for_training

SRGB = "sRGB Encoded Rec.709 (sRGB)"


def test_report_and_select_on_extracted_stills(face_assets, astronaut, tmp_path):
    from faceplate.faces.preview import write_png

    img = np.round(astronaut.srgb * 255).astype(np.uint8)
    files = [write_png(tmp_path / "a.png", img),
             write_png(tmp_path / "blurred.png", cv2.GaussianBlur(img, (0, 0), 3.0)),
             write_png(tmp_path / "mirrored.png", np.ascontiguousarray(img[:, ::-1]))]
    out = tmp_path / "stills"
    assert main(["extract", *map(str, files), "--out", str(out), "--size", "128", "--colour-space", SRGB, "--quiet"]) == 0
    rep = tmp_path / "rep"
    assert main(["faces", "report", str(out), "--out", str(rep)]) == 0
    rows = json.loads((rep / "report.json").read_text())["faces"]["A"]
    assert [r["source"] for r in rows] == [str(f) for f in files]  # each still is its own source
    assert rows[1]["sharpness"] < 0.5 * rows[0]["sharpness"]
    assert rows[2]["yaw"] == pytest.approx(-rows[0]["yaw"], abs=3.0)
    assert rows[2]["roll"] == pytest.approx(-rows[0]["roll"], abs=2.5)
    assert all(r["jitter"] is None for r in rows)
    assert all(0.5 < r["score"] <= 1 and 0.5 < r["presence"] <= 1 for r in rows)
    assert 80 < rows[0]["size_px"] < 200  # the astronaut's face is ~100 px wide in the 512 px photo
    sel = tmp_path / "sel.json"
    sharp = (rows[0]["sharpness"] + rows[1]["sharpness"]) / 2
    assert main(["faces", "select", str(out), "--min-sharpness", str(sharp), "--out", str(sel)]) == 0
    assert [f.id for f in load_for_training(sel).faces] == [rows[0]["id"], rows[2]["id"]]
    assert len(FaceSet.load(out).faces) == 3
