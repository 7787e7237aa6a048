"""``extract --cluster``: several sources (a shot and a folder of stills) extracted by Ray tasks and
merged equal the single-machine extracts merged with ``faces merge``; a bad source is named."""
from __future__ import annotations

from pathlib import Path

import pytest

from cluster_fixtures import FIRST, assert_same_facesets, plate_pixels, write_plate
from faceplate.cli.main import main
from faceplate.cluster.sources import expand
from faceplate.errors import ClusterError
from faceplate.faces.faceset import FaceSet

FRAMES = f"{FIRST}-{FIRST + 2}"


@pytest.fixture(scope="module")
def stills(cluster_shot, astronaut, tmp_path_factory) -> Path:
    """A folder of two stills (no frame numbers) and a file extract does not read."""
    d = tmp_path_factory.mktemp("stills")
    write_plate(d / "b_left.exr", plate_pixels(astronaut.acescg, 0))
    write_plate(d / "b_right.exr", plate_pixels(astronaut.acescg, 6))
    (d / "notes.txt").write_text("not an image")
    return d


def test_folder_sources_expand_in_name_order(cluster_shot, stills):
    got = expand([cluster_shot.plate, str(stills)])
    assert [(Path(s.plate).name, s.is_sequence) for s in got] == [
        ("plate.####.exr", True), ("b_left.exr", False), ("b_right.exr", False)]
    assert [Path(s.plate).name for s in expand([str(cluster_shot.folder)])] == ["plate.####.exr"]


def test_cluster_extract_equals_the_merged_single_machine_extracts(ray_runtime, face_assets, cluster_shot, stills,
                                                                   tmp_path):
    common = ["--size", "64", "--face", "all", "--quiet"]
    out = tmp_path / "merged"
    assert main(["extract", cluster_shot.plate, str(stills), "--frames", FRAMES, "--cluster", "auto",
                 "--out", str(out), *common]) == 0
    singles = []
    for k, plate in enumerate([cluster_shot.plate, str(stills / "b_left.exr"), str(stills / "b_right.exr")]):
        one = tmp_path / f"single{k}"
        extra = ["--frames", FRAMES] if k == 0 else []
        assert main(["extract", plate, *extra, "--out", str(one), *common]) == 0
        singles.append(str(one))
    reference = tmp_path / "reference"
    assert main(["faces", "merge", *singles, "--out", str(reference)]) == 0
    assert_same_facesets(out, reference)
    merged = FaceSet.load(out)
    assert {f.source for f in merged.faces} == {cluster_shot.plate, str(stills / "b_left.exr"),
                                               str(stills / "b_right.exr")}
    parts = sorted(p.name for p in (tmp_path / "merged.sources").iterdir())
    assert parts == ["000-plate.exr", "001-b_left.exr", "002-b_right.exr"]
    assert (tmp_path / "merged.sources" / parts[0] / "alignments.json").is_file()


def test_a_failing_source_is_named_and_nothing_is_merged(ray_runtime, face_assets, cluster_shot, tmp_path):
    bad = tmp_path / "broken.exr"
    bad.write_bytes(b"not an exr")
    out = tmp_path / "merged"
    with pytest.raises(ClusterError, match=r"1 of 2 source\(s\) failed.*broken\.exr"):
        from faceplate.cluster.extract import extract_on_cluster
        from faceplate.faces.extract import ExtractSettings

        extract_on_cluster([cluster_shot.plate, str(bad)], out, frames=FRAMES, settings=ExtractSettings(size=64),
                           progress=False)
    assert not out.exists()


def test_a_source_without_a_face_is_left_out(ray_runtime, face_assets, stills, tmp_path):
    import numpy as np

    from faceplate.cluster.extract import extract_on_cluster
    from faceplate.faces.extract import ExtractSettings

    blank = tmp_path / "wall.exr"
    write_plate(blank, np.full((180, 240, 4), 0.18, np.float32))  # a grey wall: no face anywhere
    rep = extract_on_cluster([str(stills / "b_left.exr"), str(blank)], tmp_path / "merged",
                             settings=ExtractSettings(size=64), progress=False)
    assert list(rep.empty) == [str(blank)] and "no face found" in rep.empty[str(blank)]
    assert {f.source for f in rep.faceset.faces} == {str(stills / "b_left.exr")}
