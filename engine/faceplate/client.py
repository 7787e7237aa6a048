"""The engine service's client. STANDARD LIBRARY ONLY, Python 3.9 syntax.

Runs inside Natron's embedded Python with ``engine/`` on ``sys.path`` (it imports only
``faceplate``, ``faceplate.errors`` and ``faceplate.wire``, which are standard-library only)::

    python -m faceplate.client render --plate P.####.exr --frame N --out O.####.exr --model M.onnx \\
        [--alignments A.json] [--separate] [--colour-match reinhard ...] --timeout S \\
        [--engine-python PATH] [--socket PATH] [--log FILE]

It deletes the frame's old output first (Natron's RunScript would pass a stale file on), sends one
request, waits at most ``--timeout`` seconds, starts the service on demand (with ``PYTHONPATH``,
``PYTHONHOME`` and ``PYTHONNOUSERSITE`` removed, ``OCIO`` kept), retries once when the service
died mid-request, and on any failure leaves no output, exits 1 and logs one line naming the reason.
"""
from __future__ import annotations

import glob
import os
import socket
import subprocess
import sys
import time
import uuid
from typing import Any, Dict, List, Optional

from faceplate import wire
from faceplate.errors import ServiceError

SCRUB = ("PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE")
DEFAULT_IDLE = 600.0
_TRUE = ("1", "true", "yes", "on")


def scrubbed_env(env: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment for an engine process: the host's Python settings removed, ``OCIO`` kept."""
    out = dict(os.environ if env is None else env)
    for k in SCRUB:
        out.pop(k, None)
    return out


def engine_python(explicit: Optional[str] = None) -> str:
    """The engine's interpreter: ``--engine-python``, ``$FACEPLATE_ENGINE_PYTHON``, else this one."""
    return explicit or os.environ.get("FACEPLATE_ENGINE_PYTHON") or sys.executable


def start_service(socket_path: str, python: Optional[str] = None, idle_timeout: float = DEFAULT_IDLE) -> subprocess.Popen:
    """Start ``faceplate serve`` detached from this process (its log goes beside the socket)."""
    folder = os.path.dirname(socket_path) or "."
    wire.ensure_private_dir(folder)
    log_path = os.path.join(folder, "engine.log")
    cmd = [engine_python(python), "-m", "faceplate", "serve", "--socket", socket_path,
           "--idle-timeout", str(idle_timeout)]
    with open(log_path, "ab") as log:
        try:
            return subprocess.Popen(cmd, env=scrubbed_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True, close_fds=True)
        except OSError as exc:
            raise ServiceError("cannot start the engine (%s): %s; install it with install/install.sh or pass "
                               "--engine-python" % (" ".join(cmd[:3]), exc.strerror or exc))


def _connect(socket_path: str, deadline: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        sock.connect(socket_path)
    except BaseException:
        sock.close()
        raise
    return sock


def _connect_or_start(socket_path: str, deadline: float, start: bool, python: Optional[str],
                      idle_timeout: float) -> socket.socket:
    started = None
    while True:
        wire.check_socket_path(socket_path, for_server=False)  # refuses foreign / occupied paths
        try:
            return _connect(socket_path, deadline)
        except (FileNotFoundError, ConnectionRefusedError, socket.timeout) as exc:
            if not start:
                raise ServiceError("engine service at %s is not running (%s)" % (socket_path, exc))
            if started is None:
                started = start_service(socket_path, python, idle_timeout)
            elif started.poll() is not None and started.returncode not in (0, None):
                # it may have lost the race to another starter (then the socket appears anyway)
                pass
        if time.monotonic() >= deadline:
            raise ServiceError("engine service did not come up at %s in time (see %s)"
                               % (socket_path, os.path.join(os.path.dirname(socket_path), "engine.log")))
        time.sleep(0.05)


def request(doc: Dict[str, Any], timeout: float, socket_path: Optional[str] = None, start: bool = True,
            python: Optional[str] = None, idle_timeout: float = DEFAULT_IDLE) -> Dict[str, Any]:
    """Send one request and return the service's response (raises :class:`ServiceError`)."""
    socket_path = socket_path or wire.default_socket_path()
    deadline = time.monotonic() + float(timeout)
    doc = dict(doc)
    doc.setdefault("protocol", wire.PROTOCOL)
    doc.setdefault("id", uuid.uuid4().hex)
    sock = _connect_or_start(socket_path, deadline, start, python, idle_timeout)
    with sock:
        wire.send_message(sock, doc, wire.MAX_REQUEST)
        return wire.recv_message(sock, wire.MAX_RESPONSE, deadline)


def _remove(paths: List[str]) -> None:
    """Remove the frame's files and any hidden temporary a killed writer left for them.

    Temporaries follow ``faceplate.plates.atomic.temp_name``: ``.<stem>.tmp-<pid>-<token><suffix>``.
    """
    for p in paths:
        folder, name = os.path.split(p)
        stem, suffix = os.path.splitext(name)
        victims = [p] + glob.glob(os.path.join(glob.escape(folder or "."),
                                               "." + glob.escape(stem) + ".tmp-*" + glob.escape(suffix)))
        for v in victims:
            try:
                os.unlink(v)
            except (FileNotFoundError, IsADirectoryError):
                pass


def render_frame(plate: str, frame: int, out: str, model: str, settings: Optional[Dict[str, Any]] = None,
                 alignments: Optional[str] = None, faces: Optional[list] = None, separate: bool = False,
                 timeout: float = 120.0, socket_path: Optional[str] = None, python: Optional[str] = None,
                 start: bool = True, retries: int = 1) -> Dict[str, Any]:
    """Render one frame through the service. Old output is deleted first; on failure none is left."""
    settings = dict(settings or {})
    comp = str(settings.get("comp", "")).lower() in _TRUE
    files = wire.output_files(os.path.abspath(out), frame, separate, comp)
    _remove(files)
    t_end = time.monotonic() + float(timeout)
    attempt = 0
    try:
        while True:
            left = t_end - time.monotonic()
            if left <= 0:
                raise ServiceError("frame %d: timed out after %.1fs" % (frame, float(timeout)))
            # the service must stop before we give up: it writes nothing once its deadline passed
            margin = min(2.0, 0.2 * left)
            doc = wire.render_request(plate, frame, out, model, settings=settings, alignments=alignments,
                                      faces=faces, separate=separate, deadline=time.time() + left - margin)
            try:
                resp = request(doc, left, socket_path, start, python)
            except wire.WireError as exc:
                # the service died or dropped the connection mid-request: retry while time remains
                if attempt < retries and "timed out" not in str(exc) and t_end - time.monotonic() > 0.5:
                    attempt += 1
                    time.sleep(0.25)  # let a dying service go; the next attempt starts a new one
                    _remove(files)
                    continue
                if "timed out" in str(exc):
                    raise ServiceError("frame %d: %s" % (frame, exc))
                raise ServiceError("frame %d: connection to the engine service lost before its answer (the service "
                                   "stopped or crashed; its log: %s): %s"
                                   % (frame, os.path.join(os.path.dirname(socket_path or wire.default_socket_path()),
                                                          "engine.log"), exc))
            if not resp.get("ok"):
                raise ServiceError("frame %d: %s" % (frame, resp.get("error", "the service refused the request")))
            missing = [p for p in files if not os.path.exists(p)]
            if missing:
                raise ServiceError("frame %d: the service reported success but %s is missing" % (frame, missing[0]))
            return resp
    except BaseException:
        _remove(files)
        raise


# --- command line ---------------------------------------------------------------------------
USAGE = ("usage: python -m faceplate.client render --plate P.####.exr --frame N --out O.####.exr "
         "--model M.onnx [--alignments A.json] [--separate] [--<param> VALUE ...] --timeout S "
         "[--engine-python PATH] [--socket PATH] [--log FILE]\n"
         "       python -m faceplate.client ping|shutdown [--socket PATH] [--timeout S]")
_OWN = {"plate", "frame", "out", "model", "alignments", "timeout", "engine_python", "log", "socket"}


def parse_args(argv: List[str]) -> Dict[str, Any]:
    """``--name value`` pairs (``--separate`` and ``--no-start`` are switches); unknown names are
    render parameters, checked by the service against the engine's declarations."""
    if not argv or argv[0] not in ("render", "ping", "shutdown"):
        raise ServiceError("expected a command (render, ping, shutdown); " + USAGE)
    opts: Dict[str, Any] = {"command": argv[0], "settings": {}, "separate": False, "start": True}
    i = 1
    while i < len(argv):
        a = argv[i]
        if not a.startswith("--") or len(a) < 3:
            raise ServiceError("unexpected argument %r; %s" % (a, USAGE))
        name = a[2:].replace("-", "_")
        if "=" in name:
            name, value = name.split("=", 1)
            i += 1
        elif name in ("separate", "no_start"):
            value, i = "1", i + 1
        else:
            if i + 1 >= len(argv):
                raise ServiceError("%s: expected a value" % a)
            value, i = argv[i + 1], i + 2
        if name == "separate":
            opts["separate"] = value.lower() in _TRUE
        elif name == "no_start":
            opts["start"] = False
        elif name in _OWN:
            opts[name] = value
        else:
            opts["settings"][name] = value
    if opts["command"] == "render":
        for need in ("plate", "frame", "out", "model"):
            if need not in opts:
                raise ServiceError("--%s: required; %s" % (need, USAGE))
        try:
            opts["frame"] = int(opts["frame"])
        except ValueError:
            raise ServiceError("--frame: expected an integer, found %r" % opts["frame"])
    try:
        opts["timeout"] = float(opts.get("timeout", 120.0))
    except ValueError:
        raise ServiceError("--timeout: expected seconds, found %r" % opts.get("timeout"))
    if opts["timeout"] <= 0:
        raise ServiceError("--timeout: expected > 0, found %r" % opts["timeout"])
    return opts


def _log_line(opts: Dict[str, Any], line: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    text = "%s faceplate client: %s" % (stamp, line)
    print(text, file=sys.stderr)
    if opts.get("log"):
        try:
            with open(opts["log"], "a", encoding="utf-8") as fh:
                fh.write(text + "\n")
        except OSError:
            pass


def _prescan(argv: List[str]) -> Dict[str, Any]:
    """``--log`` and ``--frame`` found before parsing, so an argument error reaches the node's log."""
    found: Dict[str, Any] = {}
    for i, a in enumerate(argv[:-1]):
        if a in ("--log", "--frame"):
            found[a[2:]] = argv[i + 1]
    return found


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    opts: Dict[str, Any] = _prescan(argv)
    try:
        opts = parse_args(argv)
        if opts["command"] != "render":
            resp = request({"op": opts["command"]}, opts["timeout"], opts.get("socket"),
                           start=opts["command"] == "ping" and opts["start"], python=opts.get("engine_python"))
            _log_line(opts, "%s: %s" % (opts["command"], "ok" if resp.get("ok") else resp.get("error")))
            return 0 if resp.get("ok") else 1
        resp = render_frame(opts["plate"], opts["frame"], opts["out"], opts["model"], opts["settings"],
                            opts.get("alignments"), None, opts["separate"], opts["timeout"], opts.get("socket"),
                            opts.get("engine_python"), opts["start"])
        _log_line(opts, "frame %d: ok, %d face(s), %.2fs" % (opts["frame"], resp.get("faces", 0),
                                                           resp.get("seconds", 0.0)))
        return 0
    except Exception as exc:  # one line, never a traceback (it ends up on a Natron status knob)
        msg = str(exc).replace("\n", " ") or type(exc).__name__
        where = "frame %s: " % opts["frame"] if "frame" in opts and not msg.startswith("frame ") else ""
        _log_line(opts, "error: %s%s" % (where, msg))
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
