"""``render --cluster``: a synthetic shot rendered by Ray workers equals the in-process render bit for
bit, a worker killed mid-chunk has its chunk retried, failures name the path and leave no partial
frame, and ``--skip-existing`` resumes."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from cluster_fixtures import FIRST, assert_same_frames, exr_files
from faceplate.cluster.render import ClusterOptions, describe, render_on_cluster
from faceplate.plates import parse_frames
from faceplate.render.job import ShotRender, render_shot
from faceplate.render.settings import RenderSettings

N = 12


def job(shot, model, out: Path, **kw) -> ShotRender:
    frames = kw.pop("frames", f"{FIRST}-{FIRST + N - 1}")
    skip = kw.pop("skip_existing", False)
    return ShotRender(plate=shot.plate, out=str(out), alignments=str(shot.alignments), frames=parse_frames(frames),
                      skip_existing=skip, settings=RenderSettings(model=str(model), device="cpu", comp=True, **kw))


@pytest.fixture(scope="module")
def local_render(cluster_shot, models, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "passes.####.exr"
    render_shot(job(cluster_shot, models / "conv.onnx", out))
    return out.parent


def test_cluster_render_is_bit_identical_to_the_local_render(ray_runtime, cluster_shot, models, local_render,
                                                             tmp_path):
    out = tmp_path / "passes.####.exr"
    seen = []
    report = render_on_cluster(job(cluster_shot, models / "conv.onnx", out),
                               ClusterOptions(chunk=3, workers=2, progress=False), on_frame=seen.append)
    assert report.written == list(range(FIRST, FIRST + N)) and not report.failed and not report.retried
    assert report.chunks == 4 and report.workers == 2
    assert report.no_face == [FIRST + 3]
    assert len({r["pid"] for r in seen}) == 2  # both workers rendered
    assert_same_frames(out.parent, local_render, N)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_worker_killed_mid_chunk_has_its_chunk_retried(ray_runtime, cluster_shot, models, local_render, tmp_path):
    out = tmp_path / "passes.####.exr"
    killed: list[int] = []

    def kill_once(rec: dict) -> None:
        if not killed:  # the first frame of a 6-frame chunk: its worker dies with 5 frames to go
            killed.append(rec["pid"])
            os.kill(rec["pid"], signal.SIGKILL)

    report = render_on_cluster(job(cluster_shot, models / "conv.onnx", out),
                               ClusterOptions(chunk=6, workers=2, retries=2, progress=False), on_frame=kill_once)
    assert killed
    assert report.retried and not report.failed, describe(report)
    assert report.written == list(range(FIRST, FIRST + N))
    assert_same_frames(out.parent, local_render, N)
    assert any("retried 1 chunk" in line for line in describe(report))


def test_a_path_a_worker_cannot_see_fails_the_chunk_with_that_path(ray_runtime, cluster_shot, tmp_path):
    out = tmp_path / "out" / "passes.####.exr"
    missing = tmp_path / "not-on-this-node.onnx"
    report = render_on_cluster(job(cluster_shot, missing, out, frames=f"{FIRST}-{FIRST + 3}"),
                               ClusterOptions(chunk=2, workers=2, retries=1, progress=False))
    assert report.written == [] and sorted(report.failed_frames) == list(range(FIRST, FIRST + 4))
    assert set(report.failed) == {f"{FIRST}-{FIRST + 1}", f"{FIRST + 2}-{FIRST + 3}"}
    assert all(str(missing) in msg and "file not found" in msg for msg in report.failed.values())
    assert report.retried == {f"{FIRST}-{FIRST + 1}": 1, f"{FIRST + 2}-{FIRST + 3}": 1}
    assert exr_files(out.parent) == []


def test_skip_existing_resumes_a_half_finished_run(ray_runtime, cluster_shot, models, local_render, tmp_path):
    import shutil

    out = tmp_path / "passes.####.exr"
    for name in exr_files(local_render)[:5]:  # a run that stopped after 5 frames
        shutil.copy2(local_render / name, tmp_path / name)
    report = render_on_cluster(job(cluster_shot, models / "conv.onnx", out, skip_existing=True),
                               ClusterOptions(chunk=4, workers=2, progress=False))
    assert report.skipped == list(range(FIRST, FIRST + 5))
    assert report.written == list(range(FIRST + 5, FIRST + N))
    assert_same_frames(out.parent, local_render, N)
