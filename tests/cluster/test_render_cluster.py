"""``render --cluster``: a synthetic shot rendered by Ray workers equals the in-process render bit for
bit, a worker killed mid-chunk has its chunk retried, failures name the path and leave no partial
frame, and ``--skip-existing`` resumes."""
from __future__ import annotations

import os
import signal
import sys
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
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # its temporaries are gone


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


def cli(shot, model, out, *extra) -> list[str]:
    return ["render", shot.plate, "--model", str(model), "--frames", f"{FIRST}-{FIRST + N - 1}", "--out", str(out),
            "--alignments", str(shot.alignments), "--device", "cpu", "--comp", *extra]


def test_the_cli_renders_on_the_cluster(ray_runtime, cluster_shot, models, local_render, tmp_path, caplog,
                                       monkeypatch):
    from faceplate.cli.main import main

    monkeypatch.chdir(tmp_path)  # a relative --out: the workers' own folders are elsewhere
    with caplog.at_level("INFO"):
        assert main(cli(cluster_shot, models / "conv.onnx", "rel/passes.####.exr", "--cluster", "auto",
                        "--chunk", "5")) == 0
    assert_same_frames(tmp_path / "rel", local_render, N)
    text = caplog.text
    assert "3 chunk(s): wrote 12 frame(s)" in text and f"no face found in 1 frame(s): {FIRST + 3}" in text


def test_the_cli_fails_with_the_frames_left_and_how_to_resume(ray_runtime, cluster_shot, tmp_path, capsys):
    from faceplate.cli.main import main

    missing = tmp_path / "gone.onnx"
    assert main(cli(cluster_shot, missing, tmp_path / "p.####.exr", "--cluster", "auto", "--chunk", "6",
                    "--retries", "0")) == 2
    err = capsys.readouterr().err
    assert f"12 frame(s) not rendered ({FIRST}-{FIRST + N - 1})" in err and "--skip-existing" in err
    assert exr_files(tmp_path) == []


@pytest.mark.parametrize("extra, message", [
    (["--cluster", "nowhere"], "--cluster: expected 'auto'"),
    (["--cluster", "auto", "--chunk", "0"], "--chunk: expected >= 1"),
    (["--cluster", "auto", "--service"], "--cluster and --service"),
])
def test_bad_cluster_flags_are_named(cluster_shot, models, tmp_path, capsys, extra, message):
    from faceplate.cli.main import main

    assert main(cli(cluster_shot, models / "conv.onnx", tmp_path / "p.####.exr", *extra)) == 2
    assert message in capsys.readouterr().err
    assert exr_files(tmp_path) == []


def test_without_ray_the_flag_names_the_extra(cluster_shot, models, tmp_path, capsys, monkeypatch):
    from faceplate.cli.main import main

    monkeypatch.setitem(sys.modules, "ray", None)  # what an install without faceplate[cluster] looks like
    assert main(cli(cluster_shot, models / "conv.onnx", tmp_path / "p.####.exr", "--cluster", "auto")) == 2
    err = capsys.readouterr().err
    assert "pip install 'faceplate[cluster]'" in err and "'ray'" in err
    assert main(["extract", cluster_shot.plate, "--cluster", "auto", "--out", str(tmp_path / "fs")]) == 2
    assert "faceplate[cluster]" in capsys.readouterr().err
    assert exr_files(tmp_path) == [] and not (tmp_path / "fs").exists()


def test_detected_faces_are_tracked_once_so_chunk_borders_change_nothing(ray_runtime, face_assets, cluster_shot,
                                                                        models, tmp_path):
    def detect_job(out: Path) -> ShotRender:  # no alignments: faces detected, tracked and smoothed
        return ShotRender(plate=cluster_shot.plate, out=str(out), frames=parse_frames(f"{FIRST}-{FIRST + 5}"),
                          settings=RenderSettings(model=str(models / "conv.onnx"), device="cpu", face="all"))

    render_shot(detect_job(tmp_path / "local" / "passes.####.exr"))
    report = render_on_cluster(detect_job(tmp_path / "cluster" / "passes.####.exr"),
                               ClusterOptions(chunk=2, workers=2, progress=False))
    assert report.written == list(range(FIRST, FIRST + 6)) and not report.failed
    assert len(report.no_face) < 6  # the detector found the face
    assert_same_frames(tmp_path / "cluster", tmp_path / "local", 6)


def test_more_workers_than_the_cluster_can_place_are_capped(ray_runtime, cluster_shot, models, local_render,
                                                           tmp_path, caplog):
    out = tmp_path / "passes.####.exr"
    with caplog.at_level("WARNING"):
        report = render_on_cluster(job(cluster_shot, models / "conv.onnx", out),
                                   ClusterOptions(chunk=3, workers=5, progress=False))
    assert report.workers == 2 and "--cluster-workers 4: the cluster can place 2 worker(s)" in caplog.text
    assert_same_frames(out.parent, local_render, N)
