"""The render worker as a plain object (what each Ray actor runs): frame records as files appear,
then ``done``; a path the node cannot see comes back as an ``error`` record naming it."""
from __future__ import annotations

import os

from cluster_fixtures import FIRST, exr_files
from faceplate.cluster.worker import RenderWorker
from faceplate.render.facesource import faces_for_frames
from faceplate.render.settings import RenderSettings


def spec(shot, model, out, plate=None) -> dict:
    return {"plate": plate or shot.plate, "out": str(out), "separate": False, "writers": 2, "queue_size": 2,
            "settings": RenderSettings(model=str(model), device="cpu").to_dict(), "ocio": None}


def test_a_chunk_reports_each_frame_then_done(cluster_shot, models, tmp_path):
    frames = [FIRST + 2, FIRST + 3, FIRST + 4]
    faces = faces_for_frames(cluster_shot.alignments, frames)
    recs = RenderWorker().render_chunk_list(spec(cluster_shot, models / "conv.onnx", tmp_path / "p.####.exr"),
                                            frames, faces)
    assert sorted(r["frame"] for r in recs[:-1]) == frames and recs[-1]["kind"] == "done"
    assert {r["pid"] for r in recs} == {os.getpid()}
    assert [r["faces"] for r in sorted(recs[:-1], key=lambda r: r["frame"])] == [1, 0, 1]  # FIRST+3 has no face
    assert exr_files(tmp_path) == [f"p.{f}.exr" for f in frames]


def test_a_plate_the_node_cannot_see_is_named(cluster_shot, models, tmp_path):
    plate = str(tmp_path / "elsewhere" / "plate.####.exr")
    recs = RenderWorker().render_chunk_list(spec(cluster_shot, models / "conv.onnx", tmp_path / "p.####.exr", plate),
                                            [FIRST], {FIRST: []})
    assert [r["kind"] for r in recs] == ["error"]
    assert str(tmp_path / "elsewhere" / f"plate.{FIRST}.exr") in recs[0]["message"]
    assert exr_files(tmp_path) == []
