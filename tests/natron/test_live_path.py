"""The per-frame paths for real: exactly the command line Natron's RunScript runs, on real EXRs.

RunScript writes its ``script`` knob to a temporary file and runs it with the resolved file-name
arguments (``filename1`` = this frame's plate file written by the inner 32f Write, ``filename2``
= this frame's passes file). Natron's children get ``PYTHONPATH``, ``PYTHONHOME`` and
``PYTHONNOUSERSITE`` from the host, so the test sets them to poison values.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from natron_env import host, PLUGIN, ROOT  # noqa: F401  (host: fixture)

SWAP_ID = "io.faceplate.FaceplateSwap"
ENGINE_PY = sys.executable


def _render_fixtures():
    """The render tests' model and shot builders (tests/render/render_fixtures.py), loaded by path."""
    spec = importlib.util.spec_from_file_location("faceplate_render_fixtures",
                                                  ROOT / "tests" / "render" / "render_fixtures.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def material(tmp_path_factory, astronaut):
    fx = _render_fixtures()
    folder = tmp_path_factory.mktemp("natron-live")
    shot = fx.build_shot(folder / "shot", astronaut.acescg, n=2)
    model = fx.build_model(folder / "invert.onnx", "invert")
    return shot, model


@pytest.fixture
def sock_dir():
    d = tempfile.mkdtemp(prefix="fpn-", dir="/tmp")
    os.chmod(d, 0o700)
    yield Path(d)
    sock = os.path.join(d, "engine.sock")
    if os.path.exists(sock):
        subprocess.run([ENGINE_PY, "-m", "faceplate.client", "shutdown", "--socket", sock, "--timeout", "5"],
                       capture_output=True, timeout=30)
    shutil.rmtree(d, ignore_errors=True)


def natron_child_env(sock: str, **extra) -> dict:
    env = dict(os.environ)
    env.update({"PYTHONPATH": "/nonexistent/natron/lib/python3.10", "PYTHONHOME": "/nonexistent/natron",
                "PYTHONNOUSERSITE": "1", "FACEPLATE_SOCKET": sock, "FACEPLATE_ENGINE_PYTHON": ENGINE_PY})
    env.update(extra)
    return env


def run_like_runscript(script_text: str, args: list, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    """What RunScript does: script to a temporary file, chmod 700, run with the resolved arguments."""
    fd, path = tempfile.mkstemp(prefix="runscript")
    try:
        os.write(fd, script_text.encode())
        os.close(fd)
        os.chmod(path, 0o700)
        return subprocess.run([path] + args, env=env, capture_output=True, timeout=timeout)
    finally:
        os.unlink(path)


def make_node(host, tmp_path, shot, model, **knobs):
    natron, app = host
    group = app.createNode(SWAP_ID)
    group.getParam("workFolder").setValue(str(tmp_path / "work"))
    group.user_edit("model", str(model))
    group.user_edit("alignments", str(shot.alignments))
    for k, v in knobs.items():
        group.user_edit(k, v)
    return group


def test_runscript_command_renders_the_same_passes_as_faceplate_render(host, tmp_path, material, sock_dir):
    shot, model = material
    group = make_node(host, tmp_path, shot, model, output=1)  # comp output: the comp layer is requested
    run = group.getNode("RunScript")
    script = run.getParam("script").getValue()
    work = Path(group.getParam("workFolder").getValue())
    env = natron_child_env(str(sock_dir / "engine.sock"))
    for f in shot.frames:  # the inner 32f Write's frames: the plate, bit for bit
        shutil.copyfile(shot.plate.replace("####", "%04d" % f), work / ("plate.%04d.exr" % f))
    for f in shot.frames:
        args = [run.getParam(k).getValue().replace("####", "%04d" % f) for k in ("filename1", "filename2")]
        proc = run_like_runscript(script, args, env)
        assert proc.returncode == 0, proc.stderr.decode()
        assert os.path.exists(args[1])
    assert "ok" in group.getParam("status").getValue() or True  # status refreshes on the next edit
    group.user_edit("refresh")
    assert "ok" in group.getParam("status").getValue()

    # the batch CLI with the flags the node gives the pre-render: same pixels, same layers
    from faceplate.plates import read_image

    s_args = __import__("faceplate_node").settings(group)["cli_args"]
    ref = tmp_path / "ref.####.exr"
    cmd = [ENGINE_PY, "-m", "faceplate", "render", shot.plate, "--frames", "%d-%d" % (shot.frames[0], shot.frames[-1]),
           "--out", str(ref)] + s_args
    proc = subprocess.run(cmd, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    for f in shot.frames:
        live = read_image(str(work / ("passes.%04d.exr" % f)))
        batch = read_image(str(ref).replace("####", "%04d" % f))
        assert set(live.channels) >= {"swap.R", "swap.G", "swap.B", "swap.A", "mask.Y", "R", "G", "B", "A"}
        assert live.channels == batch.channels
        assert live.data_window == batch.data_window and live.display_window == batch.display_window
        np.testing.assert_array_equal(live.pixels, batch.pixels)
        assert live.pixels[..., live.channels.index("mask.Y")].max() > 0.5  # a face was replaced


def test_engine_missing_leaves_no_file_and_logs_how_to_install(host, tmp_path, material, monkeypatch):
    import faceplate_bridge as bridge

    shot, model = material
    lonely = tmp_path / "elsewhere" / "plugin"  # a launcher with no .venv beside it
    lonely.mkdir(parents=True)
    shutil.copy2(PLUGIN / "faceplate-run", lonely / "faceplate-run")
    monkeypatch.setattr(bridge, "LAUNCHER", str(lonely / "faceplate-run"))
    group = make_node(host, tmp_path, shot, model)
    run = group.getNode("RunScript")
    work = Path(group.getParam("workFolder").getValue())
    stale = work / "passes.0001.exr"  # a placeholder or an old frame must not survive a failure
    assert stale.exists()
    env = natron_child_env("/nonexistent.sock", FACEPLATE_ENGINE_PYTHON="/nonexistent/python",
                           XDG_CONFIG_HOME=str(tmp_path / "noconfig"))
    env.pop("FACEPLATE_ENV", None)
    args = [run.getParam(k).getValue().replace("####", "0001") for k in ("filename1", "filename2")]
    proc = run_like_runscript(run.getParam("script").getValue(), args, env)
    assert proc.returncode != 0
    log = (work / "faceplate.log").read_text().strip().splitlines()
    assert "engine not found" in log[-1] and "install.sh" in log[-1]
    assert not stale.exists()  # the launcher failed before the client: the script still removes it


def test_timeout_leaves_no_file_and_logs_one_line(host, tmp_path, material, sock_dir):
    """A service that accepts and never answers: the client gives up after --timeout."""
    shot, model = material
    group = make_node(host, tmp_path, shot, model, timeout=1)
    run = group.getNode("RunScript")
    work = Path(group.getParam("workFolder").getValue())
    shutil.copyfile(shot.plate.replace("####", "%04d" % shot.frames[0]), work / ("plate.%04d.exr" % shot.frames[0]))
    out = work / ("passes.%04d.exr" % shot.frames[0])
    out.write_bytes(b"stale")
    path = str(sock_dir / "engine.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    os.chmod(path, 0o600)
    srv.listen(4)
    try:
        args = [run.getParam(k).getValue().replace("####", "%04d" % shot.frames[0]) for k in ("filename1", "filename2")]
        t0 = time.monotonic()
        proc = run_like_runscript(run.getParam("script").getValue(), args, natron_child_env(path), timeout=60)
        elapsed = time.monotonic() - t0
    finally:
        srv.close()
        os.unlink(path)
    assert proc.returncode != 0 and elapsed < 30
    assert not out.exists()
    line = (work / "faceplate.log").read_text().strip().splitlines()[-1]
    assert "error" in line and "timed out" in line
    group.user_edit("refresh")
    assert group.getParam("status").getValue() == line


def test_render_passes_button_renders_in_the_background(host, tmp_path, material):
    import faceplate_bridge as bridge

    shot, model = material
    group = make_node(host, tmp_path, shot, model)
    group.user_edit("plateFile", shot.plate)
    group.user_edit("firstFrame", shot.frames[0])
    group.user_edit("lastFrame", shot.frames[-1])
    t0 = time.monotonic()
    group.user_edit("renderPasses")
    assert time.monotonic() - t0 < 2.0  # never blocks the main thread
    assert "in the background" in group.getParam("status").getValue()
    key = group.getParam("workFolder").getValue()
    deadline = time.monotonic() + 240
    while bridge.prerender_state(key) == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert bridge.prerender_state(key) == 0, (Path(key) / "faceplate.log").read_text()
    group.user_edit("refresh")
    assert group.getParam("status").getValue().startswith("passes rendered")
    assert group.getNode("SourceSwitch").getParam("which").getValue() == 1
    pre = group.getNode("ReadPrerendered")
    assert pre.layers == "detected"
    assert bridge.frames_on_disk(pre.getParam("filename").getValue()) == shot.frames
    group.user_edit("source", 0)  # the artist goes back to live: a later refresh keeps it
    group.user_edit("refresh")
    assert group.getNode("SourceSwitch").getParam("which").getValue() == 0
    assert bridge.prerender_state(key) is None
