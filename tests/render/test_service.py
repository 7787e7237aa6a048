"""The engine service, its wire protocol and the standard-library client."""
from __future__ import annotations

import ast
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from render_fixtures import FIRST, build_shot
from faceplate import client, wire
from faceplate.errors import ServiceError
from faceplate.plates import parse_frames
from faceplate.render.job import ShotRender, render_shot
from faceplate.render.service import EngineService
from faceplate.render.settings import RenderSettings

ENGINE = Path(__file__).resolve().parents[2] / "engine"


@pytest.fixture()
def service(short_tmp):
    svc = EngineService(str(short_tmp / "e.sock"), idle_timeout=120)
    svc.bind()
    t = threading.Thread(target=svc.serve_forever, daemon=True)
    t.start()
    yield svc
    svc.stop()
    t.join(10)


def raw(sock_path: str, data: bytes) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(sock_path)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        return wire.recv_message(s, wire.MAX_RESPONSE, time.monotonic() + 20)


def in_process(shot, model, out, frames, **kw):
    settings = RenderSettings(model=str(model), device="cpu", **kw)
    return render_shot(ShotRender(plate=shot.plate, out=str(out), settings=settings, frames=parse_frames(frames),
                                  alignments=str(shot.alignments)))


def test_service_render_is_identical_to_in_process(service, shot, model_dir, tmp_path):
    frames = f"{FIRST}-{FIRST + 2}"
    in_process(shot, model_dir / "invert.onnx", tmp_path / "a" / "p.####.exr", frames, comp=True)
    settings = RenderSettings(model=str(model_dir / "invert.onnx"), device="cpu", comp=True)
    rep = render_shot(ShotRender(plate=shot.plate, out=str(tmp_path / "b" / "p.####.exr"), settings=settings,
                                 frames=parse_frames(frames), alignments=str(shot.alignments), via_service=True,
                                 socket=service.socket_path, timeout=60))
    assert rep.written == shot.frames and rep.no_face == shot.no_face
    for f in shot.frames:
        assert (tmp_path / "a" / f"p.{f}.exr").read_bytes() == (tmp_path / "b" / f"p.{f}.exr").read_bytes()
    # landmarks sent in the request (the detection path of `render --service`) give the same bits
    from faceplate.render.facesource import load_alignments

    pts = [fc.points.tolist() for fc in load_alignments(shot.alignments)[FIRST]]
    client.render_frame(shot.plate.replace("####", str(FIRST)), FIRST, str(tmp_path / "c" / "p.####.exr"),
                        str(model_dir / "invert.onnx"), settings={"comp": True, "device": "cpu"}, faces=pts,
                        timeout=60, socket_path=service.socket_path, start=False)
    assert (tmp_path / "c" / f"p.{FIRST}.exr").read_bytes() == (tmp_path / "a" / f"p.{FIRST}.exr").read_bytes()


def test_malformed_and_oversized_requests_get_errors_and_the_service_survives(service, shot, model_dir, tmp_path):
    path = service.socket_path
    r = raw(path, b"GET / HTTP/1.1\r\n\r\n")
    assert not r["ok"] and "expected magic" in r["error"]
    r = raw(path, struct.pack(">4sI", wire.MAGIC, wire.MAX_REQUEST + 1))
    assert not r["ok"] and f"expected at most {wire.MAX_REQUEST} bytes, found a {wire.MAX_REQUEST + 1}-byte" in r["error"]
    r = raw(path, struct.pack(">4sI", wire.MAGIC, 5) + b"{nope")
    assert not r["ok"] and "expected a UTF-8 JSON object" in r["error"]
    r = raw(path, struct.pack(">4sI", wire.MAGIC, 100) + b"{}")  # truncated
    assert not r["ok"] and "connection closed by the other end after 2 of 100 bytes" in r["error"]
    r = raw(path, wire.encode({"op": "format-disk", "protocol": 1}, wire.MAX_REQUEST))
    assert not r["ok"] and "'op': expected one of ping, render, shutdown" in r["error"]
    good = wire.render_request(shot.plate.replace("####", str(FIRST)), FIRST, str(tmp_path / "p.####.exr"),
                               str(model_dir / "invert.onnx"), settings={"device": "cpu"})
    for change, msg in [({"frame": "1001"}, "field 'frame': expected int, found str"),
                        ({"plate": "rel/plate.exr"}, "field 'plate': expected an absolute path"),
                        ({"evil": 1}, "unknown field(s) ['evil']")]:
        r = raw(path, wire.encode(dict(good, **change), wire.MAX_REQUEST))
        assert not r["ok"] and msg in r["error"], r
    bad = dict(good, settings={"device": "cpu", "colour_match": "magic"})
    r = raw(path, wire.encode(bad, wire.MAX_REQUEST))
    assert not r["ok"] and r["kind"] == "InputError" and "--colour-match" in r["error"]
    r = raw(path, wire.encode(dict(good, model=str(tmp_path / "missing.onnx")), wire.MAX_REQUEST))
    assert not r["ok"] and r["kind"] == "ModelError" and "missing.onnx: file not found" in r["error"]
    with pytest.raises(wire.WireError, match="expected at most"):
        wire.render_request(shot.plate, FIRST, "/tmp/x.exr", "/tmp/m.onnx", faces=[[[0.0] * 3] * 468] * 1000)
    assert not list(tmp_path.iterdir())
    assert client.request({"op": "ping"}, 10, path, start=False)["ok"]  # still alive
    assert service.failures == 10


def test_socket_path_occupied_or_foreign_is_refused(short_tmp, monkeypatch):
    path = short_tmp / "e.sock"
    path.write_text("not a socket")
    with pytest.raises(wire.WireError, match="expected a Unix socket, found another kind of file occupying the path"):
        EngineService(str(path)).bind()
    with pytest.raises(wire.WireError, match="another kind of file"):
        client.request({"op": "ping"}, 2, str(path), start=True)
    assert path.read_text() == "not a socket"  # never removed
    path.unlink()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    os.chmod(path, 0o600)
    real = os.lstat

    def foreign(p, *a, **k):
        st = real(p, *a, **k)
        if str(p) == str(path):
            return os.stat_result((st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid + 1) + tuple(st)[5:])
        return st

    monkeypatch.setattr(wire.os, "lstat", foreign)
    with pytest.raises(wire.WireError, match=rf"expected to be owned by uid {os.getuid()}, found uid {os.getuid() + 1}"):
        EngineService(str(path)).bind()
    with pytest.raises(wire.WireError, match="another user's service"):
        client.request({"op": "ping"}, 2, str(path), start=True)
    s.close()


def test_socket_and_folder_are_private_and_a_second_service_is_refused(service):
    st = os.lstat(service.socket_path)
    assert st.st_mode & 0o777 == 0o600
    assert os.lstat(os.path.dirname(service.socket_path)).st_mode & 0o777 == 0o700
    with pytest.raises(ServiceError, match="another Faceplate service is already running"):
        EngineService(service.socket_path).bind()
    assert os.path.exists(service.socket_path)


def test_socket_folder_open_to_others_is_refused_never_chmod_ed(short_tmp):
    open_dir = short_tmp / "open"
    open_dir.mkdir()
    os.chmod(open_dir, 0o777)
    with pytest.raises(wire.WireError, match="expected a folder other users cannot write to, found mode 777"):
        EngineService(str(open_dir / "e.sock")).bind()
    assert open_dir.stat().st_mode & 0o777 == 0o777
    wire.ensure_private_dir("/tmp")  # sticky and root's: fine, and left alone
    assert os.stat("/tmp").st_mode & 0o7777 == 0o1777


def test_idle_service_exits_and_removes_its_socket(short_tmp):
    svc = EngineService(str(short_tmp / "e.sock"), idle_timeout=0.3)
    svc.bind()
    t = threading.Thread(target=svc.serve_forever, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive() and not os.path.exists(svc.socket_path)


def test_load_8_clients_x_50_frames(short_tmp, astronaut, model_dir, tmp_path):
    shot = build_shot(tmp_path / "load", astronaut.acescg, n=50, no_face=(FIRST + 7,))
    frames = f"{FIRST}-{FIRST + 49}"
    kw = {"colour_match": "meanstd", "comp": True, "compression": "none"}  # the codec is not under test here
    in_process(shot, model_dir / "conv.onnx", tmp_path / "ref" / "p.####.exr", frames, **kw)
    svc = EngineService(str(short_tmp / "e.sock"), idle_timeout=120)
    svc.bind()
    t = threading.Thread(target=svc.serve_forever, daemon=True)
    t.start()
    errors: list[str] = []

    def one_client(k: int) -> None:
        order = np.random.default_rng(k).permutation(50) + FIRST
        for f in order:
            try:
                client.render_frame(shot.plate.replace("####", f"{f}"), int(f), str(tmp_path / f"c{k}" / "p.####.exr"),
                                    str(model_dir / "conv.onnx"), settings=dict(kw, device="cpu"),
                                    alignments=str(shot.alignments), timeout=120, socket_path=svc.socket_path,
                                    start=False)
            except Exception as exc:  # counted, not raised in the thread
                errors.append(f"client {k} frame {f}: {exc}")

    threads = [threading.Thread(target=one_client, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    svc.stop()
    t.join(10)
    assert errors == []
    for k in range(8):
        for f in range(FIRST, FIRST + 50):
            got = (tmp_path / f"c{k}" / f"p.{f}.exr").read_bytes()
            assert got == (tmp_path / "ref" / f"p.{f}.exr").read_bytes(), (k, f)
    assert max(svc.batcher.batches) >= 2  # concurrent frames shared inference calls


def _start_engine(sock: str) -> int:
    """Start (or reach) the engine as Natron would; a just-killed one may still reset a connection."""
    end = time.monotonic() + 60
    while True:
        try:
            resp = client.request({"op": "ping"}, 60, sock, start=True, python=sys.executable)
            assert resp["ok"]
            return resp["pid"]
        except wire.WireError:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


def test_killing_the_service_mid_request_never_leaves_a_partial_file(short_tmp, astronaut, model_dir, tmp_path):
    import cv2

    from faceplate.plates.image import Image, write_image

    big = cv2.resize(np.ascontiguousarray(astronaut.acescg), (2048, 2048))[:1536]
    plate = tmp_path / "big.1001.exr"
    write_image(plate, Image(pixels=big, channels=("R", "G", "B"), data_window=(0, 0, 2048, 1536),
                             display_window=(0, 0, 2048, 1536)), pixel_type="float", compression="zip")
    sock = str(short_tmp / "e.sock")
    out = tmp_path / "o" / "p.####.exr"
    target = tmp_path / "o" / "p.1001.exr"
    settings = {"device": "cpu", "comp": True, "compression": "zip"}
    pid = _start_engine(sock)
    try:
        results: dict = {}

        def call(retries: int) -> None:
            try:
                results["resp"] = client.render_frame(str(plate), 1001, str(out), str(model_dir / "invert.onnx"),
                                                      settings=settings, faces=[], timeout=60, socket_path=sock,
                                                      python=sys.executable, retries=retries)
            except ServiceError as exc:
                results["error"] = str(exc)

        for retries in (0, 1):
            results.clear()
            th = threading.Thread(target=call, args=(retries,))
            th.start()
            # kill at the worst moment: while the service is writing the frame's (hidden) temporary
            until = time.monotonic() + 60
            while time.monotonic() < until and th.is_alive():
                if target.parent.exists() and any(".tmp-" in p.name for p in target.parent.iterdir()):
                    break
                time.sleep(0.001)
            os.kill(pid, signal.SIGKILL)
            th.join(90)
            leftovers = [p.name for p in target.parent.iterdir() if ".tmp-" in p.name] if target.parent.exists() else []
            if "error" in results:  # a clear message naming the frame and the lost connection
                assert results["error"].startswith("frame 1001: connection") and not target.exists(), results
            else:  # the retry started a new service and succeeded: the file is whole
                from faceplate.plates import read_image

                assert read_image(target).has("swap.A")
            assert leftovers == []  # not even the hidden temporary of a killed writer
            pid = _start_engine(sock) if retries == 0 else pid
        assert "resp" in results or "error" in results
    finally:
        try:
            client.request({"op": "shutdown"}, 10, sock, start=False)
        except ServiceError:
            pass


def test_client_timeout_leaves_nothing_even_when_the_service_finishes_later(service, astronaut, model_dir, tmp_path):
    import cv2

    from faceplate.plates.image import Image, write_image

    big = cv2.resize(np.ascontiguousarray(astronaut.acescg), (2048, 2048))[:1536]
    plate = tmp_path / "big.1001.exr"
    write_image(plate, Image(pixels=big, channels=("R", "G", "B"), data_window=(0, 0, 2048, 1536),
                             display_window=(0, 0, 2048, 1536)), pixel_type="float", compression="zip")
    out = tmp_path / "o" / "p.####.exr"
    # either the client gives up first, or the service sees the deadline passed before it writes
    with pytest.raises(ServiceError, match=r"frame 1001: (timed out waiting for the other end|"
                                           r"the client's deadline passed before writing; nothing written)"):
        client.render_frame(str(plate), 1001, str(out), str(model_dir / "invert.onnx"),
                            settings={"device": "cpu", "comp": True}, faces=[], timeout=0.2,
                            socket_path=service.socket_path, start=False)
    deadline = time.monotonic() + 30
    while service._active and time.monotonic() < deadline:  # let the service finish that request
        time.sleep(0.05)
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_client_command_line_as_natron_runs_it(short_tmp, shot, model_dir, tmp_path):
    sock = str(short_tmp / "e.sock")
    out = tmp_path / "pass.####.exr"
    frame_file = tmp_path / f"pass.{FIRST}.exr"
    log = tmp_path / "status.log"
    env = dict(os.environ, PYTHONPATH=str(ENGINE), PYTHONNOUSERSITE="1")
    base = [sys.executable, "-m", "faceplate.client", "render", "--plate", shot.plate, "--frame", str(FIRST),
            "--out", str(out), "--alignments", str(shot.alignments), "--colour-match", "meanstd", "--device", "cpu",
            "--timeout", "90", "--engine-python", sys.executable, "--socket", sock, "--log", str(log)]
    try:
        r = subprocess.run(base + ["--model", str(model_dir / "invert.onnx")], env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert frame_file.exists() and "frame 1001: ok, 1 face(s)" in log.read_text()
        # failure: the stale frame is deleted first, nothing is written, one line names the reason
        r = subprocess.run(base + ["--model", str(tmp_path / "gone.onnx")], env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 1 and not frame_file.exists()
        last = log.read_text().strip().splitlines()[-1]
        assert "error: frame 1001: model" in last and "gone.onnx: file not found" in last
        assert len(r.stderr.strip().splitlines()) == 1
        r = subprocess.run(base[:4] + ["--plate", shot.plate, "--frame", "x"], env=env, capture_output=True, text=True)
        assert r.returncode == 1 and "--out: required" in r.stderr or "--frame" in r.stderr
    finally:
        subprocess.run([sys.executable, "-m", "faceplate.client", "shutdown", "--socket", sock, "--timeout", "10"],
                       env=env, capture_output=True, timeout=60)


def test_client_is_standard_library_only_and_python39_syntax():
    for mod in ("client.py", "wire.py", "errors.py", "__init__.py"):
        src = (ENGINE / "faceplate" / mod).read_text()
        ast.parse(src, feature_version=(3, 9))
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import faceplate.client, faceplate.wire; "
            "bad = [m for m in ('numpy', 'OpenImageIO', 'onnxruntime', 'cv2', 'torch') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-S", "-c", code, str(ENGINE)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    env = client.scrubbed_env({"PYTHONPATH": "/natron/lib", "PYTHONHOME": "/natron", "PYTHONNOUSERSITE": "1",
                               "OCIO": "/studio/config.ocio", "HOME": "/home/a"})
    assert env == {"OCIO": "/studio/config.ocio", "HOME": "/home/a"}


def test_default_socket_lives_in_a_per_user_runtime_folder_one_per_ocio_config(tmp_path):
    a, b = tmp_path / "a.ocio", tmp_path / "b.ocio"
    a.write_text("ocio_profile_version: 2.1\n")
    b.write_text("ocio_profile_version: 2.1\n# another\n")
    sock_a = wire.default_socket_path({"XDG_RUNTIME_DIR": str(tmp_path), "OCIO": str(a)})
    assert os.path.dirname(sock_a) == str(tmp_path / "faceplate")
    assert os.path.basename(sock_a) == "engine-%s.sock" % wire.config_key(str(a))
    assert sock_a != wire.default_socket_path({"XDG_RUNTIME_DIR": str(tmp_path), "OCIO": str(b)})
    assert sock_a != wire.default_socket_path({"XDG_RUNTIME_DIR": str(tmp_path), "OCIO": "ocio://studio-config-latest"})
    assert wire.default_socket_path({}).startswith(f"/tmp/faceplate-{os.getuid()}/engine-")
    assert wire.default_socket_path({"FACEPLATE_SOCKET": "/x/s.sock"}) == "/x/s.sock"
    before = wire.config_key(str(a))
    os.utime(a, ns=(1, 1))  # an edited config is another config
    assert wire.config_key(str(a)) != before
    assert wire.frame_path("/a/p.####.exr", 7) == "/a/p.0007.exr"
    assert wire.output_files("/a/p.%04d.exr", 12, True, True) == ["/a/p_comp.0012.exr", "/a/p_swap.0012.exr",
                                                                   "/a/p_mask.0012.exr"]


def test_frames_rendered_ahead_are_the_same_bits_and_only_used_for_the_same_request(shot, model_dir, tmp_path):
    """After frame N the service renders N + 1 into hidden files; asked for N + 1 with the same request
    it renames them into place (identical bytes to a render without read-ahead); any change of the
    request (here a setting) renders afresh and the ahead files are dropped."""
    svc = EngineService(str(tmp_path / "unused.sock"))

    def doc(frame, out, **settings):
        return wire.render_request(shot.plate, frame, str(out), str(model_dir / "invert.onnx"),
                                   settings=dict({"device": "cpu", "comp": True}, **settings),
                                   alignments=str(shot.alignments))

    ref = tmp_path / "ref" / "p.####.exr"
    for f in shot.frames:
        EngineService(str(tmp_path / "unused2.sock")).render(doc(f, ref))
    out = tmp_path / "live" / "p.####.exr"
    svc.render(doc(FIRST, out))
    fut, _ = next(iter(svc._ahead.values()))
    ahead_files, _ = fut.result(timeout=60)
    assert [os.path.basename(p).startswith(".faceplate-ahead-") for p in ahead_files] == [True]
    assert not (tmp_path / "live" / f"p.{FIRST + 1}.exr").exists()  # nothing visible before it is asked for
    svc.render(doc(FIRST + 1, out))
    assert not os.path.exists(ahead_files[0])  # renamed into place
    for f in (FIRST, FIRST + 1):
        assert (out.parent / f"p.{f}.exr").read_bytes() == (ref.parent / f"p.{f}.exr").read_bytes()
    fut, _ = next(iter(svc._ahead.values()))  # FIRST + 2 is ahead now; ask for it with another setting
    stale, _ = fut.result(timeout=60)
    svc.render(doc(FIRST + 2, out, erode=6.0))
    svc.drop_ahead()
    assert not os.path.exists(stale[0])
    changed = (out.parent / f"p.{FIRST + 2}.exr").read_bytes()
    assert changed != (ref.parent / f"p.{FIRST + 2}.exr").read_bytes()
    assert [n for n in os.listdir(out.parent) if n.startswith(".")] == []
    svc.close()
