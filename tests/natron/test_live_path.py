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
    shot = fx.build_shot(folder / "shot", astronaut.acescg, n=4)
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


def make_node(host, tmp_path, shot, model, node_id=SWAP_ID, alignments=True, **knobs):
    """What a farm script or pipeline tool does: create, set knobs by script, connect a Read."""
    natron, app = host
    group = app.createNode(node_id)
    group.getParam("workFolder").setValue(str(tmp_path / "work"))
    group.getParam("model").setValue(str(model))
    if alignments:
        group.getParam("alignments").setValue(str(shot.alignments))
    for k, v in knobs.items():
        group.getParam(k).setValue(v)
    group.connectInput(0, app.createReader(shot.plate))
    return group


def in_display_window(img, channels):
    """Channels of an engine image placed in its display window (what Natron works on), 0 outside."""
    x, y, w, h = img.data_window
    dx, dy, dw, dh = img.display_window
    full = np.zeros((dh, dw, len(channels)), np.float32)
    full[y - dy:y - dy + h, x - dx:x - dx + w] = img.channels_array(channels)
    return full


def batch_render(shot, out, args):
    cmd = [ENGINE_PY, "-m", "faceplate", "render", shot.plate, "--frames", "%d-%d" % (shot.frames[0], shot.frames[-1]),
           "--out", str(out)] + list(args)
    proc = subprocess.run(cmd, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()


@pytest.mark.parametrize("alignments", [True, False], ids=["alignments", "detected"])
def test_live_node_output_equals_faceplate_render_on_every_frame(host, tmp_path, material, sock_dir, monkeypatch,
                                                                   alignments, request):
    """Read(plate) -> FaceplateSwap -> the host's pixels, live through RunScript and the service:
    Output = swap is exactly swap.RGBA of 'faceplate render', every frame its own; Output = comp is the
    plate outside the matte; FaceplateMask is mask.Y in R, G, B and A."""
    import faceplate_node
    from faceplate.plates import read_image

    if not alignments:
        request.getfixturevalue("face_assets")
    shot, model = material
    natron, app = host
    for k, v in natron_child_env(str(sock_dir / "engine.sock")).items():
        if k.startswith("FACEPLATE_"):
            monkeypatch.setenv(k, v)
    app.child_env.update({"PYTHONPATH": "/nonexistent/natron/lib/python3.10", "PYTHONHOME": "/nonexistent/natron"})
    group = make_node(host, tmp_path, shot, model, alignments=alignments)
    assert not group.getParam("status").getValue().startswith("error"), group.getParam("status").getValue()
    ref = tmp_path / "ref.####.exr"
    batch_render(shot, ref, faceplate_node.settings(group)["cli_args"])
    for f in shot.frames:
        out = group.planes(f)
        batch = read_image(str(ref).replace("####", "%04d" % f))
        swap = in_display_window(batch, ["swap.R", "swap.G", "swap.B", "swap.A"])
        live = np.stack([out[c] for c in "RGBA"], axis=-1)
        assert np.abs(live - swap).max() == 0, f
        np.testing.assert_array_equal(out["mask.Y"], in_display_window(batch, ["mask.Y"])[..., 0])
        if f not in shot.no_face:
            assert swap[..., 3].max() > 0.5  # a face was replaced on this frame
    frames = [np.stack([group.planes(f)[c] for c in "RGBA"], -1) for f in shot.frames]
    assert all(np.abs(frames[i] - frames[i + 1]).max() > 0 for i in range(len(frames) - 1))  # each its own
    assert all(rc == 0 for _, rc, _ in app.runscript_log), app.runscript_log

    group.getParam("output").setValue(1)  # comp: the plate bit for bit outside the matte
    f = shot.frames[-1]
    comp = group.planes(f)
    plate = in_display_window(read_image(shot.plate.replace("####", "%04d" % f)), ["R", "G", "B"])
    mask = in_display_window(read_image(str(ref).replace("####", "%04d" % f)), ["mask.Y"])[..., 0]
    outside = mask == 0
    assert outside.any()
    for i, c in enumerate("RGB"):
        assert np.array_equal(comp[c][outside].view(np.uint32), plate[..., i][outside].view(np.uint32))

    with_comp = tmp_path / "withcomp" / "passes.####.exr"  # comp layers in the passes: still the mask
    batch_render(shot, with_comp, faceplate_node.settings(group)["cli_args"] + ["--comp"])
    masker = make_node(host, tmp_path / "m", shot, model, node_id="io.faceplate.FaceplateMask", alignments=alignments,
                       prerenderedPasses=str(with_comp), source=1)
    out = masker.planes(f)
    for c in "RGBA":
        np.testing.assert_array_equal(out[c], mask)


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
    stale = Path(run.getParam("filename1").getValue().replace("####", "%04d" % shot.frames[0]))  # an old frame
    stale.write_bytes(b"an old frame")
    env = natron_child_env("/nonexistent.sock", FACEPLATE_ENGINE_PYTHON="/nonexistent/python",
                           XDG_CONFIG_HOME=str(tmp_path / "noconfig"))
    env.pop("FACEPLATE_ENV", None)
    args = [run.getParam("filename1").getValue().replace("####", "%04d" % shot.frames[0])]
    conf = tmp_path / "noconfig" / "faceplate" / "natron.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("engine_python=/gone/python\n")
    proc = run_like_runscript(run.getParam("script").getValue(), args, env)
    assert proc.returncode != 0
    log = (work / "faceplate.log").read_text().strip().splitlines()
    assert "engine not found" in log[-1] and "install.sh" in log[-1]
    assert str(conf) + " names engine_python=/gone/python" in log[-1]  # the config exists: says what it holds
    assert not stale.exists()  # the launcher failed before the client: the script still removes it


def test_timeout_leaves_no_file_and_logs_one_line(host, tmp_path, material, sock_dir):
    """A service that accepts and never answers: the client gives up after --timeout."""
    shot, model = material
    group = make_node(host, tmp_path, shot, model, timeout=1)
    run = group.getNode("RunScript")
    work = Path(group.getParam("workFolder").getValue())
    out = Path(run.getParam("filename1").getValue().replace("####", "%04d" % shot.frames[0]))
    out.write_bytes(b"stale")
    path = str(sock_dir / "engine.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    os.chmod(path, 0o600)
    srv.listen(4)
    try:
        args = [run.getParam("filename1").getValue().replace("####", "%04d" % shot.frames[0])]
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


def test_a_bad_argument_reaches_the_node_log(host, tmp_path, material):
    """The client's own argument errors are logged where the node's Status shows them."""
    shot, model = material
    log = tmp_path / "faceplate.log"
    proc = subprocess.run([ENGINE_PY, "-m", "faceplate.client", "render", "--plate", shot.plate, "--frame", "x",
                           "--out", str(tmp_path / "o.####.exr"), "--model", str(model), "--log", str(log)],
                          capture_output=True, timeout=60)
    assert proc.returncode == 1
    assert "--frame: expected an integer" in log.read_text()


def test_render_passes_button_renders_in_the_background(host, tmp_path, material):
    import faceplate_bridge as bridge

    shot, model = material
    group = make_node(host, tmp_path, shot, model)
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
    assert pre.layers is not None
    assert bridge.frames_on_disk(pre.getParam("filename").getValue()) == shot.frames
    group.user_edit("source", 0)  # the artist goes back to live: a later refresh keeps it
    group.user_edit("refresh")
    assert group.getNode("SourceSwitch").getParam("which").getValue() == 0
    assert bridge.prerender_state(key) is None
