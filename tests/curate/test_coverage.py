import json

import numpy as np
import pytest
from PIL import Image as PILImage

from faceplate.cli.main import main
from faceplate.curate import coverage
from faceplate.errors import InputError

# Poses at cell centres (10° cells centred on 0°), so a few degrees of estimation error stays in the cell.
SHOT = [(-30, 0), (-10, 0), (0, 0), (20, 0), (40, 10), (0, -20), (-10, 10)]
LACKING = {(-30, 0), (40, 10)}  # cells B is built without


def test_missing_cells_match_constructed_gap():
    a_yaw, a_pitch = np.array(SHOT, float).T
    b = [p for p in SHOT if p not in LACKING] + [(60, -30), (3.0, -4.0)]
    b_yaw, b_pitch = np.array(b, float).T
    cov = coverage.coverage(a_yaw, a_pitch, b_yaw, b_pitch, cell=10)
    missing = cov.missing_cells([f"a{i}" for i in range(len(SHOT))])
    got = {((c["yaw"][0] + c["yaw"][1]) / 2, (c["pitch"][0] + c["pitch"][1]) / 2) for c in missing}
    assert got == LACKING
    assert sorted(i for c in missing for i in c["a_ids"]) == ["a0", "a4"]
    assert not coverage.coverage(a_yaw, a_pitch).missing.any()  # without B nothing is "missing"


def test_cells_centred_on_zero_outer_cells_and_bad_input():
    cov = coverage.coverage([120.0, -120.0, -0.5], [0.0, 80.0, 0.4], cell=10)
    assert cov.a_counts[:, -1].sum() == 1 and cov.a_counts[-1, 0] == 1
    assert cov.yaw_edges[0] <= -80 and cov.yaw_edges[-1] >= 80 and 0 in (cov.yaw_edges[:-1] + cov.yaw_edges[1:]) / 2
    zero_y = int(np.searchsorted(cov.yaw_edges, 0.0)) - 1
    zero_p = int(np.searchsorted(cov.pitch_edges, 0.0)) - 1
    assert cov.a_counts[zero_p, zero_y] == 1  # a frontal face is mid-cell
    with pytest.raises(InputError, match="cell"):
        coverage.coverage([0.0], [0.0], cell=0.1)
    with pytest.raises(InputError, match="finite"):
        coverage.coverage([np.nan], [0.0])


def test_report_coverage_of_faceset_lacking_poses(faceset_factory, tmp_path):
    a = faceset_factory("A", [dict(frame=i, yaw=y, pitch=p, texture=i % 5) for i, (y, p) in enumerate(SHOT)])
    b = faceset_factory("B", [dict(frame=i, yaw=y, pitch=p, texture=(i + 1) % 5)
                              for i, (y, p) in enumerate(p for p in SHOT if p not in LACKING)])
    out = tmp_path / "report"
    assert main(["faces", "report", str(a.root), "--against", str(b.root), "--out", str(out), "--sort=-yaw"]) == 0
    doc = json.loads((out / "report.json").read_text())
    got = {((c["yaw"][0] + c["yaw"][1]) / 2, (c["pitch"][0] + c["pitch"][1]) / 2) for c in doc["coverage"]["missing"]}
    assert got == LACKING
    assert doc["coverage"]["a_faces_in_missing_cells"] == 2
    for name in ("coverage.png", "contact_A.png", "contact_B.png"):
        with PILImage.open(out / name) as im:
            im.verify()
    with PILImage.open(out / "coverage.png") as im:
        assert im.size[0] >= 800 and im.size[1] >= 450
        px = np.asarray(im.convert("RGB")).reshape(-1, 3).astype(int)
        assert ((px[:, 0] > 180) & (px[:, 1] < 80) & (px[:, 2] < 80)).sum() > 100  # the red missing cells are drawn
    assert "poses B lacks" in (out / "summary.md").read_text()
