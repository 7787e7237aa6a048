"""``farm-job``: the per-chunk command lines of a shot, with their environment; the render commands
really render the shot (bit-identical to one in-process render), and bad requests name the flag."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cluster_fixtures import FIRST, assert_same_frames
from faceplate.cli.main import main
from faceplate.render.job import ShotRender, render_shot
from faceplate.plates import parse_frames
from faceplate.render.settings import RenderSettings

LAST = FIRST + 6


def farm_job(shot, model, out, job, *extra) -> dict:
    rc = main(["farm-job", shot.plate, "--model", str(model), "--frames", f"{FIRST}-{LAST}", "--chunk", "3",
               "--out", str(out), "--alignments", str(shot.alignments), "--device", "cpu", "--comp", "--job", str(job),
               *extra])
    assert rc == 0
    return json.loads(Path(job).read_text())


def test_the_job_file_lists_each_chunks_render_then_its_natron_job(cluster_shot, models, tmp_path):
    script = tmp_path / "comp.ntp"
    script.write_text("# a Natron project")
    out = tmp_path / "passes" / "passes.####.exr"
    doc = farm_job(cluster_shot, models / "conv.onnx", out, tmp_path / "job.json", "--natron-script", str(script),
                   "--natron-write", "WriteComp", "--erode", "3")
    assert doc["schema"] == "faceplate.farmjob" and doc["frames"] == f"{FIRST}-{LAST}" and doc["chunk"] == 3
    assert [c["frames"] for c in doc["chunks"]] == [f"{FIRST}-{FIRST + 2}", f"{FIRST + 3}-{FIRST + 5}",
                                                   f"{LAST}-{LAST}"]
    for c in doc["chunks"]:
        render, comp = c["tasks"]
        assert render["name"] == "render" and render["depends_on"] is None
        a = render["argv"]
        assert a[:5] == [sys.executable, "-m", "faceplate", "render", cluster_shot.plate]
        assert a[a.index("--frames") + 1] == f"{c['first']}-{c['last']}" and "--skip-existing" in a
        assert a[a.index("--erode") + 1] == "3.0" and "--comp" in a and a[a.index("--device") + 1] == "cpu"
        assert a[a.index("--alignments") + 1] == str(cluster_shot.alignments)
        assert comp["depends_on"] == "render"
        assert comp["argv"] == ["NatronRenderer", "-b", "-w", "WriteComp", f"{c['first']}-{c['last']}", str(script)]
        plugin, nodes = comp["env"]["NATRON_PLUGIN_PATH"].split(":")  # ':' on Linux; both folders
        assert plugin.endswith("plugin") and nodes == str(Path(plugin).parent / "nodes")
        assert comp["env"]["FACEPLATE_ENGINE_PYTHON"] == sys.executable
        assert comp["command"].startswith("NatronRenderer -b -w WriteComp")
    assert "{first}-{last}" in doc["tasks"][0]["argv"]


def test_the_render_commands_render_the_shot(cluster_shot, models, tmp_path):
    out = tmp_path / "farm" / "passes.####.exr"
    doc = farm_job(cluster_shot, models / "conv.onnx", out, tmp_path / "job.json")
    assert [len(c["tasks"]) for c in doc["chunks"]] == [1, 1, 1]  # no comp job asked for
    first, *rest = [c["tasks"][0] for c in doc["chunks"]]
    env = {**os.environ, **first["env"]}
    proc = subprocess.run(first["argv"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr  # one chunk as the farm runs it: a process of its own
    for task in rest:
        assert main(task["argv"][3:]) == 0  # the others in process (same command line)
    ref = tmp_path / "local" / "passes.####.exr"
    render_shot(ShotRender(plate=cluster_shot.plate, out=str(ref), alignments=str(cluster_shot.alignments),
                           frames=parse_frames(f"{FIRST}-{LAST}"),
                           settings=RenderSettings(model=str(models / "conv.onnx"), device="cpu", comp=True)))
    assert_same_frames(out.parent, ref.parent, LAST - FIRST + 1)


def test_the_shipped_headless_comp_gets_its_environment(cluster_shot, models, tmp_path):
    out, comp = tmp_path / "passes.####.exr", tmp_path / "comp" / "comp.####.exr"
    doc = farm_job(cluster_shot, models / "conv.onnx", out, tmp_path / "job.json", "--comp-out", str(comp))
    task = doc["chunks"][1]["tasks"][1]
    assert task["argv"][:4] == ["timeout", "-k", "60", "7200"] and task["argv"][-2] == "-t"
    assert Path(task["argv"][-1]).name == "render_swap.py" and Path(task["argv"][-1]).is_file()
    env = task["env"]
    assert env["FACEPLATE_FRAMES"] == f"{FIRST + 3}-{FIRST + 5}" and env["FACEPLATE_PASSES"] == str(out)
    assert env["FACEPLATE_OUT"] == str(comp) and env["FACEPLATE_ALIGNMENTS"] == str(cluster_shot.alignments)
    assert env["FACEPLATE_MODEL"] == str(models / "conv.onnx") and task["stdin"] == "/dev/null"
    assert "--comp" in doc["chunks"][1]["tasks"][0]["argv"]  # the comp job reads the engine's comp layer


@pytest.mark.parametrize("extra, message", [
    (["--frames", f"{FIRST}-{LAST}x2"], "--frames: expected a contiguous range"),
    (["--chunk", "0"], "--chunk: expected >= 1"),
    (["--natron-script", "/nowhere/comp.ntp"], "--natron-script /nowhere/comp.ntp: file not found"),
    (["--natron-script", __file__, "--comp-out", "c.####.exr"], "--natron-script and --comp-out"),
])
def test_bad_requests_name_the_flag_and_write_nothing(cluster_shot, models, tmp_path, capsys, extra, message):
    job = tmp_path / "job.json"
    args = ["farm-job", cluster_shot.plate, "--model", str(models / "conv.onnx"), "--frames", f"{FIRST}-{LAST}",
            "--out", str(tmp_path / "p.####.exr"), "--job", str(job)]
    assert main(args + extra) == 2
    assert message in capsys.readouterr().err
    assert not job.exists()
