"""The headless example (install/farm/render_swap.py) against the fake host, with the real engine."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from natron_env import host, ROOT  # noqa: F401  (host: fixture)
from test_live_path import ENGINE_PY, material, sock_dir  # noqa: F401  (fixtures)

SCRIPT = ROOT / "install" / "farm" / "render_swap.py"


def run_script(app, env: dict, monkeypatch) -> int:
    """``NatronRenderer -t render_swap.py``: the script runs in the host's __main__, where the host
    also looks the Write's callbacks up."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delitem(sys.modules, "faceplate_farm", raising=False)  # imported afresh, as in a new host
    with pytest.raises(SystemExit) as ex:
        app.run_script(str(SCRIPT))
    assert not [e for e in app.errors if "Failed to get signature" in e], app.errors
    return ex.value.code


def _graph(app):
    return {c.getScriptName(): (c.getPluginID(), {i: n.getScriptName() for i, n in c.inputs().items()})
            for c in app.getChildren()}


def job_one(shot, model, passes, *extra) -> str:
    """Job 1 of the two-job setup: 'faceplate render' writes the chunk's passes. Returns the frames."""
    frames = "%d-%d" % (shot.frames[0], shot.frames[-1])
    job1 = subprocess.run([ENGINE_PY, "-m", "faceplate", "render", shot.plate, "--model", str(model), "--alignments",
                           str(shot.alignments), "--frames", frames, "--out", str(passes), *extra],
                          capture_output=True, timeout=300)
    assert job1.returncode == 0, job1.stderr.decode()
    return frames


def test_two_job_setup_reads_prerendered_passes(host, tmp_path, material, monkeypatch):
    natron, app = host
    shot, model = material
    passes = tmp_path / "passes.####.exr"
    frames = job_one(shot, model, passes, "--comp")
    out = tmp_path / "comp" / "comp.####.exr"
    out.parent.mkdir()
    rc = run_script(app, {"FACEPLATE_PLATE": shot.plate, "FACEPLATE_MODEL": str(model), "FACEPLATE_FRAMES": frames,
                          "FACEPLATE_OUT": str(out), "FACEPLATE_PASSES": str(passes)}, monkeypatch)
    assert rc == 0
    g = _graph(app)
    read, swap = [n for n, (pid, _) in g.items() if pid == "fr.inria.built-in.Read"][0], "FaceplateSwap"
    write_name = [n for n, (pid, _) in g.items() if pid == "fr.inria.openfx.WriteOIIO"][0]
    assert g[swap][1] == {0: read}
    assert g[write_name][1] == {0: swap}  # Output = comp: the engine's comp, no Merge
    assert not [n for n, (pid, _) in g.items() if pid == "net.sf.openfx.MergePlugin"]
    write = app.getNode(write_name)
    assert write.getParam("bitDepth").getOption(write.getParam("bitDepth").getValue()) == "32f"
    assert write.getParam("afterRender").getValue() == "faceplate_farm.after_render"
    assert write.getParam("beforeFrameRender").getValue() == ""  # two jobs: the passes exist already
    node = app.getNode(swap)
    assert node.getNode("ReadPrerendered").getParam("filename").getValue() == str(passes)
    assert node.getNode("ReadPrerendered").layers is not None
    # the comp the Write wrote: the engine's comp; outside the matte the plate bit for bit (-0.0 too)
    from faceplate.plates import read_image
    from test_live_path import in_display_window

    for f in shot.frames:
        comp = read_image(str(out).replace("####", "%04d" % f)).pixels[..., :3]
        plate = in_display_window(read_image(shot.plate.replace("####", "%04d" % f)), ["R", "G", "B"])
        p = read_image(str(passes).replace("####", "%04d" % f))
        swap = in_display_window(p, ["swap.R", "swap.G", "swap.B", "swap.A"])
        outside = in_display_window(p, ["mask.Y"])[..., 0] == 0
        assert np.array_equal(comp[outside].view(np.uint32), plate[outside].view(np.uint32))
        np.testing.assert_array_equal(comp, in_display_window(p, ["R", "G", "B"]))
        np.testing.assert_allclose(comp, swap[..., :3] + plate * (1 - swap[..., 3:]), atol=1e-5)
        assert swap[..., 3].max() > 0.5
    assert node.getNode("SourceSwitch").getParam("which").getValue() == 1
    assert app.renders == [(write_name, shot.frames[0], shot.frames[-1])]


def test_one_job_renders_passes_in_before_frame_render(host, tmp_path, material, sock_dir, monkeypatch):
    natron, app = host
    shot, model = material
    out = tmp_path / "comp.####.exr"
    monkeypatch.setenv("FACEPLATE_SOCKET", str(sock_dir / "engine.sock"))
    monkeypatch.setenv("FACEPLATE_ENGINE_PYTHON", ENGINE_PY)
    rc = run_script(app, {"FACEPLATE_PLATE": shot.plate, "FACEPLATE_MODEL": str(model),
                          "FACEPLATE_FRAMES": "%d-%d" % (shot.frames[0], shot.frames[-1]), "FACEPLATE_OUT": str(out),
                          "FACEPLATE_ALIGNMENTS": str(shot.alignments)}, monkeypatch)
    assert rc == 0, app.errors
    work = tmp_path / ".faceplate" / ("%d-%d" % (shot.frames[0], shot.frames[-1]))
    from faceplate.plates import read_image

    for f in shot.frames:
        img = read_image(str(work / ("passes.%04d.exr" % f)))
        assert "mask.Y" in img.channels and "swap.A" in img.channels
        comp = read_image(str(out).replace("####", "%04d" % f))
        assert comp.pixels.dtype == np.float32 and tuple(comp.channels[:4]) == ("R", "G", "B", "A")
        plate = read_image(shot.plate.replace("####", "%04d" % f))
        x, y, w, h = plate.data_window
        assert np.abs(comp.pixels[y:y + h, x:x + w, :3] - plate.rgb()).max() > 0.1  # the face was replaced


@pytest.mark.parametrize("broken", ["missing", "corrupt"])
def test_failed_render_gives_a_non_zero_exit_code(host, tmp_path, material, sock_dir, monkeypatch, broken):
    natron, app = host
    shot, model = material
    monkeypatch.setenv("FACEPLATE_SOCKET", str(sock_dir / "engine.sock"))
    monkeypatch.setenv("FACEPLATE_ENGINE_PYTHON", ENGINE_PY)
    bad = tmp_path / "broken.onnx"
    if broken == "corrupt":
        bad.write_bytes(model.read_bytes()[: len(model.read_bytes()) // 2])  # a truncated model file
    rc = run_script(app, {"FACEPLATE_PLATE": shot.plate, "FACEPLATE_MODEL": str(bad),
                          "FACEPLATE_FRAMES": "%d-%d" % (shot.frames[0], shot.frames[-1]),
                          "FACEPLATE_OUT": str(tmp_path / "comp.####.exr")}, monkeypatch)
    assert rc == 1
    assert not (tmp_path / ("comp.%04d.exr" % shot.frames[0])).exists()


def test_missing_settings_are_named(host, monkeypatch):
    natron, app = host
    for k in ("FACEPLATE_PLATE", "FACEPLATE_MODEL", "FACEPLATE_FRAMES", "FACEPLATE_OUT"):
        monkeypatch.delenv(k, raising=False)
    assert run_script(app, {}, monkeypatch) == 2


def test_two_job_mode_needs_the_comp_layer(host, tmp_path, material, monkeypatch):
    natron, app = host
    shot, model = material
    passes = tmp_path / "passes.####.exr"
    frames = job_one(shot, model, passes)  # without --comp
    rc = run_script(app, {"FACEPLATE_PLATE": shot.plate, "FACEPLATE_MODEL": str(model), "FACEPLATE_FRAMES": frames,
                          "FACEPLATE_OUT": str(tmp_path / "comp.####.exr"), "FACEPLATE_PASSES": str(passes)},
                    monkeypatch)
    assert rc == 1 and app.renders == []


def test_two_job_mode_names_missing_passes(host, tmp_path, material, monkeypatch):
    natron, app = host
    shot, model = material
    rc = run_script(app, {"FACEPLATE_PLATE": shot.plate, "FACEPLATE_MODEL": str(model),
                          "FACEPLATE_FRAMES": "%d-%d" % (shot.frames[0], shot.frames[-1]),
                          "FACEPLATE_OUT": str(tmp_path / "comp.####.exr"),
                          "FACEPLATE_PASSES": str(tmp_path / "none" / "passes.####.exr")}, monkeypatch)
    assert rc == 1
    assert app.renders == []  # nothing rendered without the passes


def test_two_jobs_script_runs_job_one_then_needs_natron(tmp_path, material):
    shot, model = material
    env = dict(os.environ, FACEPLATE_ENGINE_PYTHON=ENGINE_PY, NATRON_RENDERER=str(tmp_path / "no-NatronRenderer"))
    r = subprocess.run(["bash", str(ROOT / "install" / "farm" / "two_jobs.sh"), shot.plate, str(model),
                        str(shot.frames[0]), str(shot.frames[-1]), str(tmp_path / "out"), str(shot.alignments)],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 127 and "NatronRenderer" in r.stderr
    assert sorted(os.listdir(tmp_path / "out" / "passes")) == ["passes.%04d.exr" % f for f in shot.frames]
