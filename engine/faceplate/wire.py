"""The engine service's wire protocol. STANDARD LIBRARY ONLY, Python 3.9 syntax.

Both ends import this module: the service (``faceplate.render.service``) and the client that runs
inside Natron's embedded Python (``faceplate.client``), so they cannot drift apart.

Framing: every message is ``MAGIC`` (4 bytes) + payload length (4 bytes, big-endian) + UTF-8 JSON
object. One request and one response per connection. Requests larger than
:data:`MAX_REQUEST` or responses larger than :data:`MAX_RESPONSE` are refused before reading them.

Socket: ``$XDG_RUNTIME_DIR/faceplate/engine-KEY.sock`` (else ``/tmp/faceplate-$UID/...``), KEY = the OCIO config; the
folder is ours with mode 0700, the socket ours with mode 0600. A path occupied by another kind of
file, or owned by another user, is refused — never removed.
"""
from __future__ import annotations

import json
import os
import re
import socket
import stat
import struct
import time
from typing import Any, Dict, Optional

from faceplate.errors import ServiceError

MAGIC = b"FPW1"
PROTOCOL = 1
HEADER = struct.Struct(">4sI")
MAX_REQUEST = 4 * 1024 * 1024
MAX_RESPONSE = 1024 * 1024
SOCKET_NAME = "engine.sock"
OPS = ("ping", "render", "shutdown")

_TOKEN = re.compile(r"(#+|@+|%0?(\d*)d)")


class WireError(ServiceError):
    """A malformed, oversized or truncated message, or an unsafe socket path."""


# --- socket location and safety -----------------------------------------------------------------
def runtime_dir(env: Optional[Dict[str, str]] = None) -> str:
    """Per-user runtime folder: ``$XDG_RUNTIME_DIR/faceplate`` or ``/tmp/faceplate-$UID``."""
    env = os.environ if env is None else env
    xdg = env.get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.isdir(xdg):
        return os.path.join(xdg, "faceplate")
    return os.path.join("/tmp", "faceplate-%d" % os.getuid())


def config_key(ocio: Optional[str]) -> str:
    """Identity of an OCIO config for the service: the file's real path, size and modification time
    (an edited config is another config), or the ``ocio://`` URI; 12 hex digits."""
    import hashlib

    ocio = ocio or ""
    ident = ocio
    if ocio and not ocio.startswith("ocio://"):
        path = os.path.realpath(ocio)
        try:
            st = os.stat(path)
            ident = "%s|%d|%d" % (path, st.st_size, st.st_mtime_ns)
        except OSError:
            ident = path
    return hashlib.sha1(ident.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def default_socket_path(env: Optional[Dict[str, str]] = None) -> str:
    """``$FACEPLATE_SOCKET``, else one socket per OCIO config in the runtime folder: a service only
    ever serves the config it was started with (``engine-<config key>.sock``)."""
    env = os.environ if env is None else env
    if env.get("FACEPLATE_SOCKET"):
        return env["FACEPLATE_SOCKET"]
    return os.path.join(runtime_dir(env), "engine-%s.sock" % config_key(env.get("OCIO")))


def ensure_private_dir(folder: str) -> None:
    """Make sure the socket's folder is safe: create it with mode 0700, or accept an existing one that
    only we can write to (or a sticky folder like /tmp). Our own runtime folder is fixed to 0700 if it
    was opened up; any other folder is never chmod-ed, it is refused."""
    if not os.path.lexists(folder):
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise WireError("service folder %s: cannot be created (%s)" % (folder, exc.strerror or exc))
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode):
        raise WireError("service folder %s: expected a folder, found another kind of file" % folder)
    sticky = bool(st.st_mode & stat.S_ISVTX)
    if st.st_uid != os.getuid() and not (st.st_uid == 0 and sticky):
        raise WireError("service folder %s: expected to be owned by uid %d, found uid %d"
                        % (folder, os.getuid(), st.st_uid))
    if st.st_mode & 0o022 and not sticky:
        ours = os.path.abspath(folder) == os.path.abspath(runtime_dir())
        if not ours or st.st_uid != os.getuid():
            raise WireError("service folder %s: expected a folder other users cannot write to, found mode %o"
                            % (folder, st.st_mode & 0o777))
        try:
            os.chmod(folder, 0o700)
        except OSError as exc:
            raise WireError("service folder %s: mode %o is open to other users and cannot be fixed (%s)"
                            % (folder, st.st_mode & 0o777, exc))


def check_socket_path(path: str, for_server: bool) -> bool:
    """True when ``path`` is an existing socket of ours; False when nothing is there.

    Raises :class:`WireError` when the path is occupied by another kind of file or owned by
    another user (the client refuses to talk to it, the server refuses to bind there).
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise WireError("socket %s: cannot be inspected (%s)" % (path, exc.strerror or exc))
    if not stat.S_ISSOCK(st.st_mode):
        raise WireError("socket %s: expected a Unix socket, found another kind of file occupying the path "
                        "(remove it or pass another --socket)" % path)
    if st.st_uid != os.getuid():
        raise WireError("socket %s: expected to be owned by uid %d, found uid %d (another user's service; "
                        "pass another --socket)" % (path, os.getuid(), st.st_uid))
    if st.st_mode & 0o077:
        raise WireError("socket %s: expected mode 0600, found %o" % (path, st.st_mode & 0o777))
    return True


# --- framing ----------------------------------------------------------------------------------
def encode(doc: Dict[str, Any], max_size: int) -> bytes:
    payload = json.dumps(doc, sort_keys=True, allow_nan=False, separators=(",", ":")).encode("utf-8")
    if len(payload) > max_size:
        raise WireError("message: expected at most %d bytes, found %d" % (max_size, len(payload)))
    return HEADER.pack(MAGIC, len(payload)) + payload


def send_message(sock: socket.socket, doc: Dict[str, Any], max_size: int) -> None:
    data = encode(doc, max_size)
    try:
        sock.sendall(data)
    except OSError as exc:
        raise WireError("connection lost while sending (%s)" % (exc.strerror or exc))


def _recv_exact(sock: socket.socket, n: int, deadline: Optional[float]) -> bytes:
    chunks = []
    got = 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WireError("timed out waiting for the other end (%d of %d bytes received)" % (got, n))
            sock.settimeout(left)
        try:
            chunk = sock.recv(min(n - got, 1 << 20))
        except socket.timeout:
            raise WireError("timed out waiting for the other end (%d of %d bytes received)" % (got, n))
        except OSError as exc:
            raise WireError("connection lost (%s)" % (exc.strerror or exc))
        if not chunk:
            raise WireError("connection closed by the other end after %d of %d bytes" % (got, n))
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_message(sock: socket.socket, max_size: int, deadline: Optional[float] = None) -> Dict[str, Any]:
    """Read one framed JSON object; :class:`WireError` on bad magic, oversize, truncation or bad JSON."""
    magic, size = HEADER.unpack(_recv_exact(sock, HEADER.size, deadline))
    if magic != MAGIC:
        raise WireError("message: expected magic %r, found %r (not a Faceplate client/service)" % (MAGIC, magic))
    if size > max_size:
        raise WireError("message: expected at most %d bytes, found a %d-byte message" % (max_size, size))
    payload = _recv_exact(sock, size, deadline)
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError("message: expected a UTF-8 JSON object, found unreadable content (%s)" % exc)
    if not isinstance(doc, dict):
        raise WireError("message: expected a JSON object, found %s" % type(doc).__name__)
    return doc


# --- request schema ---------------------------------------------------------------------------
_RENDER_FIELDS = {
    "plate": str, "frame": int, "out": str, "model": str, "alignments": (str, type(None)),
    "faces": (list, type(None)), "settings": dict, "separate": bool, "deadline": (float, int, type(None)),
    "ocio": (str, type(None)),
}
_REQUIRED = ("plate", "frame", "out", "model")


def render_request(plate: str, frame: int, out: str, model: str, settings: Optional[Dict[str, Any]] = None,
                   alignments: Optional[str] = None, faces: Optional[list] = None, separate: bool = False,
                   deadline: Optional[float] = None, ocio: Optional[str] = None) -> Dict[str, Any]:
    """A render request (paths made absolute: the service has its own working folder). ``ocio``: the
    OCIO config the caller works in (the service refuses a request for another config)."""
    doc = {
        "op": "render", "protocol": PROTOCOL, "plate": os.path.abspath(plate), "frame": int(frame),
        "out": os.path.abspath(out), "model": os.path.abspath(model),
        "alignments": os.path.abspath(alignments) if alignments else None, "faces": faces,
        "settings": dict(settings or {}), "separate": bool(separate), "deadline": deadline,
        "ocio": ocio if ocio is not None else os.environ.get("OCIO"),
    }
    check_request(doc)
    encode(doc, MAX_REQUEST)  # refuse an oversized request here, not at the service
    return doc


def check_request(doc: Dict[str, Any]) -> Dict[str, Any]:
    """Validate a request's schema; :class:`WireError` names the field, expected vs found."""
    op = doc.get("op")
    if op not in OPS:
        raise WireError("request field 'op': expected one of %s, found %r" % (", ".join(OPS), op))
    if doc.get("protocol") != PROTOCOL:
        raise WireError("request field 'protocol': expected %d, found %r" % (PROTOCOL, doc.get("protocol")))
    if op != "render":
        return doc
    for name in _REQUIRED:
        if name not in doc:
            raise WireError("render request: missing field %r" % name)
    for name, kind in _RENDER_FIELDS.items():
        if name in doc and (not isinstance(doc[name], kind) or (kind is int and isinstance(doc[name], bool))):
            raise WireError("render request field %r: expected %s, found %s"
                            % (name, getattr(kind, "__name__", kind), type(doc.get(name)).__name__))
    unknown = sorted(set(doc) - set(_RENDER_FIELDS) - {"op", "protocol", "id"})
    if unknown:
        raise WireError("render request: unknown field(s) %s" % unknown)
    for name in ("plate", "out", "model"):
        if not doc[name] or "\x00" in doc[name] or not os.path.isabs(doc[name]):
            raise WireError("render request field %r: expected an absolute path, found %r" % (name, doc[name]))
    return doc


# --- sequences (stdlib twin of faceplate.plates.Sequence.path) ---------------------------------
def frame_path(pattern: str, frame: int) -> str:
    """``/a/passes.####.exr``, 7 -> ``/a/passes.0007.exr`` (``#``/``@`` = one digit, ``%04d``)."""
    folder, name = os.path.split(pattern)
    tokens = list(_TOKEN.finditer(name))
    if not tokens:
        return pattern
    if len(tokens) > 1:
        raise WireError("sequence %s: expected one frame token (####, %%04d or @), found %d" % (pattern, len(tokens)))
    m = tokens[0]
    tok = m.group(1)
    pad = int(m.group(2) or 1) if tok.startswith("%") else len(tok)
    num = ("%0*d" % (pad, frame)) if frame >= 0 else ("-%0*d" % (pad, -frame))
    return os.path.join(folder, name[: m.start()] + num + name[m.end():])


def separate_pattern(pattern: str, name: str) -> str:
    """``passes.####.exr`` -> ``passes_swap.####.exr`` (same rule as ``faceplate.render.passes``)."""
    folder, base = os.path.split(pattern)
    m = _TOKEN.search(base)
    if m is None:
        stem, ext = os.path.splitext(base)
        return os.path.join(folder, "%s_%s%s" % (stem, name, ext))
    head = base[: m.start()]
    if head and head[-1] in "._":
        head = head[:-1] + "_" + name + head[-1]
    else:
        head = head + "_" + name + "."
    return os.path.join(folder, head + base[m.start():])


def output_files(out: str, frame: int, separate: bool, comp: bool) -> list:
    """Every file a render of ``frame`` writes."""
    if not separate:
        return [frame_path(out, frame)]
    names = (["comp"] if comp else []) + ["swap", "mask"]
    return [frame_path(separate_pattern(out, n), frame) for n in names]
