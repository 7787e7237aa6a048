"""Faceplate's bridge between Natron and the engine (standard library only, Python 3.9).

Runs inside Natron's embedded Python, which has no numpy, onnxruntime or OpenImageIO: every pixel
is computed by the engine, in its own Python environment, as a separate process. This module

- finds the engine's Python (``$FACEPLATE_ENGINE_PYTHON``, else the install-time config file
  written by ``install/install.sh``, else the ``.venv`` beside this checkout);
- starts engine processes with Natron's ``PYTHONPATH``/``PYTHONHOME``/``PYTHONNOUSERSITE`` removed
  and ``OCIO`` kept (:func:`engine_env`, and ``unset`` in the RunScript text);
- turns the engine's parameter declarations (``params.json``, generated from
  ``faceplate.render.settings.RENDER_PARAMS``) into knobs and back into command-line flags, so
  the node's knobs and the CLI's flags cannot drift apart;
- writes the RunScript text of the live path, the placeholder pass frames a Read needs before it
  can learn the layers, and starts the background pre-render of the "Render passes" button;
- reports the engine's last message for a node (the last line of that node's log file).

Nothing here raises into Natron: the node callbacks call :func:`guard`, which turns any error into
the node's status text.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import struct
import subprocess
import sys
import time
import uuid

PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(PLUGIN_DIR)
NODES_DIR = os.path.join(ROOT, "nodes")
PARAMS_FILE = os.path.join(PLUGIN_DIR, "params.json")
LAUNCHER = os.path.join(PLUGIN_DIR, "faceplate-run")

#: Natron exports these into its children; they break any other Python.
SCRUBBED_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE")
INSTALL_HINT = "install the engine with: bash {}".format(os.path.join(ROOT, "install", "install.sh"))

# Plug-in ids of the host (docs: shared natron-api.md).
ID_INPUT = "fr.inria.built-in.Input"
ID_OUTPUT = "fr.inria.built-in.Output"
ID_READ = "fr.inria.openfx.ReadOIIO"
ID_WRITE = "fr.inria.openfx.WriteOIIO"
ID_RUNSCRIPT = "fr.inria.openfx.RunScript"
ID_SHUFFLE = "net.sf.openfx.ShufflePlugin"
ID_SWITCH = "net.sf.openfx.switchPlugin"
ID_MERGE = "net.sf.openfx.MergePlugin"

#: What the "source" knob offers: the live per-frame path or passes rendered beforehand.
SOURCES = ("live", "prerendered")
#: What FaceplateSwap's main output shows (index = input of the OutputSwitch).
OUTPUTS = ("swap", "comp", "mask")
#: The channels of a passes file (engine contract: swap layer premultiplied, mask.Y, optional comp R,G,B,A).
PASS_CHANNELS = ("swap.R", "swap.G", "swap.B", "swap.A", "mask.Y")
COMP_CHANNELS = ("R", "G", "B", "A")
DEFAULT_TIMEOUT = 300
PLACEHOLDER_TAG = "faceplate:placeholder"


# ----------------------------------------------------------------------------------------------
# engine location and environment


def config_path() -> str:
    """The install-time config file: ``$XDG_CONFIG_HOME/faceplate/natron.conf`` (``key=value`` lines)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "faceplate", "natron.conf")


def read_config(path: str | None = None) -> dict:
    path = path or config_path()
    out = {}
    try:
        with open(path, "r", encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    key, value = line.split("=", 1)
                    out[key.strip()] = value.strip()
    except OSError:
        pass
    return out


def engine_python() -> str | None:
    """Path of the engine environment's Python, or None when the engine is not installed."""
    candidates = [os.environ.get("FACEPLATE_ENGINE_PYTHON", ""), read_config().get("engine_python", "")]
    env_dir = os.environ.get("FACEPLATE_ENV")
    if env_dir:
        candidates.append(os.path.join(env_dir, "bin", "python"))
    candidates.append(os.path.join(ROOT, ".venv", "bin", "python"))
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def require_engine() -> str:
    py = engine_python()
    if py is None:
        raise RuntimeError("Faceplate engine not found; " + INSTALL_HINT)
    return py


def _c_getenv(name: str) -> str | None:
    """A variable from the process's C environment (Natron sets OCIO there, not in ``os.environ``)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.getenv.restype = ctypes.c_char_p
        value = libc.getenv(name.encode())
        return value.decode() if value else None
    except Exception:  # noqa: BLE001 - no libc access (Windows): os.environ is all we have
        return None


def engine_env(base: dict | None = None) -> dict:
    """Environment for an engine process: Natron's Python variables removed, ``OCIO`` kept."""
    env = dict(os.environ if base is None else base)
    for key in SCRUBBED_ENV:
        env.pop(key, None)
    if base is None and "OCIO" not in env:
        ocio = _c_getenv("OCIO")
        if ocio:
            env["OCIO"] = ocio
    return env


def popen_engine(args: list, log_path: str, cwd: str | None = None) -> subprocess.Popen:
    """Start ``engine_python args...`` in the background (never waits); output goes to ``log_path``."""
    py = require_engine()
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    log = open(log_path, "ab")
    try:
        return subprocess.Popen([py] + [str(a) for a in args], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=engine_env(), cwd=cwd,
                                start_new_session=True, close_fds=True)
    finally:
        log.close()


# ----------------------------------------------------------------------------------------------
# parameter declarations -> knobs -> command-line flags


def load_params(path: str = PARAMS_FILE) -> list:
    """The render parameter declarations (``Param.to_dict()`` of each, in CLI order)."""
    with open(path, "r", encoding="utf-8") as f:
        doc = json.load(f)
    if doc.get("schema") != "faceplate.params" or not isinstance(doc.get("render"), list):
        raise RuntimeError("{}: not a faceplate.params file".format(path))
    return doc["render"]


def create_param_knob(group, p: dict):
    """One knob for one declaration (kind float/int/bool/choice/string/file), default set."""
    name, label, kind = p["name"], p["label"], p["kind"]
    if kind == "float":
        knob = group.createDoubleParam(name, label)
    elif kind == "int":
        knob = group.createIntParam(name, label)
    elif kind == "bool":
        knob = group.createBooleanParam(name, label)
    elif kind == "choice":
        knob = group.createChoiceParam(name, label)
        knob.setOptions([(c, "") for c in p["choices"]])
    elif kind == "file":
        knob = group.createFileParam(name, label)
    elif kind == "string":
        knob = group.createStringParam(name, label)
    else:
        raise RuntimeError("parameter {}: unknown kind {!r}".format(name, kind))
    if kind in ("float", "int"):
        if p.get("minimum") is not None:
            knob.setMinimum(p["minimum"])
        if p.get("maximum") is not None:
            knob.setMaximum(p["maximum"])
    # the host's setDefaultValue sets the default only (verified): the value is set explicitly too
    if kind == "choice":
        knob.setDefaultValue(p["choices"].index(p["default"]))
        knob.setValue(p["choices"].index(p["default"]))
    elif p["default"] is not None:
        default = float(p["default"]) if kind == "float" else p["default"]
        knob.setDefaultValue(default)
        knob.setValue(default)
    knob.setHelp("{} ({})".format(p["help"], p["flag"]))
    return knob


def knob_values(node, params: list) -> dict:
    """Current knob values by parameter name (choices as option strings)."""
    out = {}
    for p in params:
        knob = node.getParam(p["name"])
        if knob is None:
            continue
        value = knob.getValue()
        if p["kind"] == "choice" and isinstance(value, int):
            value = p["choices"][value]
        out[p["name"]] = value
    return out


def check_values(params: list, values: dict) -> list:
    """One line per knob value the engine would refuse: knob label and flag, expected vs found."""
    problems = []
    for p in params:
        if p["name"] not in values:
            continue
        v = values[p["name"]]
        where = "knob '{}' ({})".format(p["label"], p["flag"])
        if p["kind"] in ("float", "int"):
            lo, hi = p.get("minimum"), p.get("maximum")
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                problems.append("{}: expected {}..{}, found {}".format(where, lo, hi, v))
        elif p["kind"] == "choice" and v not in p["choices"]:
            problems.append("{}: expected one of {}, found {!r}".format(where, ", ".join(p["choices"]), v))
        elif p["kind"] == "file" and v and not os.path.isfile(v):
            problems.append("{}: file not found: {}".format(where, v))
        elif p["name"] == "colour_space" and not v:
            problems.append("{}: expected a colour space or role (e.g. scene_linear), found ''".format(where))
    return problems


def param_args(params: list, values: dict, style: str = "cli", skip=()) -> list:
    """Command-line flags for ``values``, named by each declaration's ``flag``.

    ``style="cli"``: ``faceplate render`` (booleans as ``--x``/``--no-x``); ``style="client"``:
    ``python -m faceplate.client`` (every parameter takes a value: ``--x true``).
    """
    if style not in ("cli", "client"):
        raise ValueError("style: expected cli or client, found {!r}".format(style))
    args = []
    for p in params:
        if p["name"] in skip or p["name"] not in values:
            continue
        v = values[p["name"]]
        if p["kind"] == "bool" and style == "client":
            args += [p["flag"], "true" if v else "false"]
        elif p["kind"] == "bool":
            args.append(p["flag"] if v else "--no-" + p["flag"][2:])
        elif p["kind"] in ("file", "string") and (v is None or str(v) == ""):
            continue
        elif p["kind"] == "float":
            args += [p["flag"], repr(float(v))]
        elif p["kind"] == "int":
            args += [p["flag"], str(int(v))]
        else:
            args += [p["flag"], str(v)]
    return args


# ----------------------------------------------------------------------------------------------
# files of one node


def default_work_folder() -> str:
    base = os.environ.get("FACEPLATE_NATRON_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "faceplate", "natron")
    return os.path.join(base, uuid.uuid4().hex[:12])


def node_paths(work: str, key: str = "") -> dict:
    """The files of one node's live path, all in its work folder. ``key`` (see :func:`passes_key`)
    names the live passes after what they were rendered from."""
    return {
        "plate": os.path.join(work, "plate.####.exr"),
        "passes": os.path.join(work, "passes{}.####.exr".format("-" + key if key else "")),
        "prerendered": os.path.join(work, "prerender", "passes.####.exr"),
        "log": os.path.join(work, "faceplate.log"),
    }


def _file_stamp(path: str) -> str:
    try:
        st = os.stat(path)
        return "{}:{}:{}".format(path, st.st_size, st.st_mtime_ns)
    except OSError:
        return path


def passes_key(plate: str, client_args: list) -> str:
    """8 hex digits naming live passes after their plate, flags, model and alignments files (size and
    time) and OCIO config. A change gives new file names, so a Read never meets a replaced file that
    ReadOIIO's image cache (keyed by file name) has already read."""
    import hashlib

    parts = [plate] + list(client_args) + [os.environ.get("OCIO", "") or (_c_getenv("OCIO") or "")]
    for flag in ("--model", "--alignments"):
        if flag in client_args[:-1]:
            parts.append(_file_stamp(client_args[client_args.index(flag) + 1]))
    return hashlib.sha1("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:8]


def drop_other_passes(work: str, keep_pattern: str) -> list:
    """Remove the live passes of earlier settings (``passes-<key>.N.exr``) from a node's work folder."""
    keep = os.path.basename(keep_pattern).split(".", 1)[0]
    rx = re.compile(r"^passes-[0-9a-f]{8}\.-?\d+\.exr$")
    removed = []
    try:
        names = os.listdir(work)
    except OSError:
        return removed
    for n in names:
        if rx.match(n) and n.split(".", 1)[0] != keep:
            try:
                os.unlink(os.path.join(work, n))
                removed.append(n)
            except OSError:
                pass
    return removed


def frame_path(pattern: str, frame: int) -> str:
    """``####`` (or ``%04d``) in ``pattern`` replaced by ``frame``, as Natron does."""
    m = re.search(r"#+", pattern)
    if m:
        return pattern[:m.start()] + "%0*d" % (len(m.group(0)), frame) + pattern[m.end():]
    m = re.search(r"%0?(\d*)d", pattern)
    if m:
        return pattern[:m.start()] + (m.group(0) % frame) + pattern[m.end():]
    return pattern


def hashes(pattern: str) -> str:
    """``plate.%04d.exr`` -> ``plate.####.exr`` (other patterns unchanged)."""
    m = re.search(r"%0?(\d*)d", os.path.basename(pattern))
    if not m:
        return pattern
    folder, name = os.path.split(pattern)
    return os.path.join(folder, name[:m.start()] + "#" * max(1, int(m.group(1) or 1)) + name[m.end():])


def frames_on_disk(pattern: str) -> list:
    """Frame numbers whose file exists for a ``####`` (or ``%04d``) pattern."""
    pattern = hashes(pattern)
    m = re.search(r"#+", pattern)
    if not m:
        return []
    folder, head = os.path.split(pattern[:m.start()])
    tail = pattern[m.end():]
    rx = re.compile(re.escape(head) + r"(-?\d+)" + re.escape(tail) + r"$")
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return []
    return sorted(int(mm.group(1)) for mm in (rx.match(n) for n in names) if mm)


def last_message(log_path: str) -> str:
    """The engine's last message for a node: the last non-empty line of its log file."""
    try:
        with open(log_path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 8192))
            lines = [ln.strip() for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


# ----------------------------------------------------------------------------------------------
# placeholder pass frames (a Read must see two files with the layers before it can read the passes)


def _exr_attr(name: str, type_name: str, payload: bytes) -> bytes:
    return name.encode() + b"\0" + type_name.encode() + b"\0" + struct.pack("<i", len(payload)) + payload


def exr_windows(path: str):
    """``(data_window, display_window)`` as (x0, y0, x1, y1) from an EXR header, or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(65536)
    except OSError:
        return None
    if head[:4] != struct.pack("<i", 20000630):
        return None
    pos, found = 8, {}
    while pos < len(head) and head[pos:pos + 1] != b"\0":
        end = head.index(b"\0", pos)
        name = head[pos:end].decode("latin-1")
        tend = head.index(b"\0", end + 1)
        size = struct.unpack_from("<i", head, tend + 1)[0]
        value = head[tend + 5:tend + 5 + size]
        if name in ("dataWindow", "displayWindow") and size == 16:
            found[name] = struct.unpack("<4i", value)
        pos = tend + 5 + size
    if "dataWindow" in found and "displayWindow" in found:
        return found["dataWindow"], found["displayWindow"]
    return None


def write_placeholder(path: str, channels=PASS_CHANNELS, data_window=(0, 0, 0, 0), display_window=None) -> None:
    """An all-zero uncompressed float EXR with ``channels``, written atomically.

    Same channel layout as the engine's passes, so a Read set to the pattern learns the layers; the
    engine's client deletes a frame's placeholder before it renders that frame.
    """
    display_window = display_window or data_window
    x0, y0, x1, y1 = data_window
    width, height = x1 - x0 + 1, y1 - y0 + 1
    names = sorted(channels)
    chlist = b"".join(n.encode() + b"\0" + struct.pack("<iB3xii", 2, 0, 1, 1) for n in names) + b"\0"
    header = struct.pack("<ii", 20000630, 2)
    header += _exr_attr("channels", "chlist", chlist)
    header += _exr_attr("compression", "compression", b"\0")
    header += _exr_attr("dataWindow", "box2i", struct.pack("<4i", *data_window))
    header += _exr_attr("displayWindow", "box2i", struct.pack("<4i", *display_window))
    header += _exr_attr("lineOrder", "lineOrder", b"\0")
    header += _exr_attr("pixelAspectRatio", "float", struct.pack("<f", 1.0))
    header += _exr_attr("screenWindowCenter", "v2f", struct.pack("<2f", 0.0, 0.0))
    header += _exr_attr("screenWindowWidth", "float", struct.pack("<f", 1.0))
    tag = b"1"
    header += _exr_attr(PLACEHOLDER_TAG, "string", tag)
    header += b"\0"
    line_bytes = 4 * width * len(names)
    first_line = len(header) + 8 * height
    offsets = b"".join(struct.pack("<Q", first_line + i * (8 + line_bytes)) for i in range(height))
    zero_line = bytes(line_bytes)
    body = b"".join(struct.pack("<ii", y0 + i, line_bytes) + zero_line for i in range(height))
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, ".{}.{}.tmp".format(os.path.basename(path), os.getpid()))
    try:
        with open(tmp, "wb") as f:
            f.write(header + offsets + body)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def is_placeholder(path: str) -> bool:
    """True for a file written by :func:`write_placeholder` (tagged in its header)."""
    try:
        with open(path, "rb") as f:
            return PLACEHOLDER_TAG.encode() in f.read(2048)
    except OSError:
        return False


def drop_placeholders(pattern: str, keep=(), comp=None) -> list:
    """Remove placeholders that would widen the Read's range: all of them once two real frames
    exist, else those not in ``keep`` (and those whose channels no longer match ``comp``).
    Returns the frames removed."""
    frames = frames_on_disk(pattern)
    placeholders = [f for f in frames if is_placeholder(frame_path(pattern, f))]
    if len(frames) - len(placeholders) < 2:
        wanted = None if comp is None else sorted(PASS_CHANNELS + (COMP_CHANNELS if comp else ()))
        placeholders = [f for f in placeholders if f not in keep
                        or (wanted is not None and exr_channels(frame_path(pattern, f)) != wanted)]
    for f in placeholders:
        try:
            os.unlink(frame_path(pattern, f))
        except OSError:
            pass
    return placeholders


def exr_channels(path: str) -> list:
    """Sorted channel names from an EXR header (single part), or [] when unreadable."""
    try:
        with open(path, "rb") as f:
            head = f.read(65536)
        pos = head.index(b"channels\0chlist\0") + len(b"channels\0chlist\0")
        size = struct.unpack_from("<i", head, pos)[0]
        blob = head[pos + 4:pos + 4 + size]
    except (OSError, ValueError, struct.error):
        return []
    names, i = [], 0
    while i < len(blob) and blob[i:i + 1] != b"\0":
        end = blob.index(b"\0", i)
        names.append(blob[i:end].decode("latin-1"))
        i = end + 1 + 16
    return sorted(names)


def ensure_placeholders(passes_pattern: str, frames, comp: bool, plate_pattern: str | None = None) -> list:
    """Write placeholder ``frames`` where no pass file exists; returns those written.

    Tiny on purpose (a few hundred bytes): the plate's display window, a one-pixel data window at its
    corner, and exactly the channels the engine writes, so a Read learns the same layers it will read.
    """
    display_window = None
    if plate_pattern:
        for f in frames_on_disk(plate_pattern)[:1]:
            windows = exr_windows(frame_path(plate_pattern, f))
            display_window = windows[1] if windows else None
    display_window = display_window or (0, 0, 0, 0)
    data_window = (display_window[0], display_window[1], display_window[0], display_window[1])
    channels = PASS_CHANNELS + (COMP_CHANNELS if comp else ())
    written = []
    for frame in frames:
        path = frame_path(passes_pattern, frame)
        if not os.path.exists(path):
            write_placeholder(path, channels, data_window, display_window)
            written.append(path)
    return written


# ----------------------------------------------------------------------------------------------
# the live path's RunScript text


def runscript_text(plate_pattern: str, passes_pattern: str, log_path: str, client_args: list,
                   timeout: int) -> str:
    """The shell script RunScript runs per frame: ``$1`` = this frame's passes file.

    It recovers the frame number from ``$1``, removes the frame's old passes (RunScript would pass a
    stale file on after a failure), removes Natron's Python variables from the environment (keeps
    ``OCIO``: the engine must use Natron's config) and runs the engine's standard-library client with
    the plate *sequence* and the frame, so the engine tracks and smooths faces over the shot exactly
    as ``faceplate render`` does. The client enforces ``--timeout``, writes nothing on failure and logs
    the reason where the node's Status shows it.
    """
    m = re.search(r"#+", passes_pattern)
    if not m:
        raise ValueError("passes pattern {!r} has no ####".format(passes_pattern))
    head, tail = passes_pattern[:m.start()], passes_pattern[m.end():]
    q = shlex.quote
    args = " ".join(q(a) for a in client_args)
    return "\n".join([
        "#!/bin/sh",
        "# Faceplate live render (written by the node from its knobs; edit the knobs, not this text)",
        "unset PYTHONPATH PYTHONHOME PYTHONNOUSERSITE",
        "rm -f -- \"$1\"  # never let a failed run pass an old frame on",
        "frame=\"${1#%s}\"" % q(head),
        "frame=\"${frame%%%s}\"" % q(tail),
        "exec {} render --plate {} --frame \"$frame\" --out {} --timeout {} --log {} {}".format(
            q(LAUNCHER), q(hashes(plate_pattern)), q(passes_pattern), int(timeout), q(log_path), args).rstrip(),
        "",
    ])


def client_command(plate_pattern: str, frame: int, passes_pattern: str, log_path: str, client_args: list,
                   timeout: int) -> list:
    """The argv the launcher runs for one frame (used by the farm's ``beforeFrameRender``)."""
    return [LAUNCHER, "render", "--plate", plate_pattern, "--frame", str(frame), "--out", passes_pattern,
            "--timeout", str(int(timeout)), "--log", log_path] + list(client_args)


def render_frame(plate_pattern: str, frame: int, passes_pattern: str, log_path: str, client_args: list,
                 timeout: int) -> None:
    """Render one frame through the engine service, blocking (farm scripts); RuntimeError on failure."""
    cmd = client_command(plate_pattern, frame, passes_pattern, log_path, client_args, timeout)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=engine_env(), start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        # the whole process group: the launcher, the client and anything they started for this frame
        try:
            os.killpg(proc.pid, 9)
        except OSError:
            pass
        proc.communicate()
        raise RuntimeError("frame {}: the engine client did not return within {} s (killed)".format(
            frame, timeout + 30))
    if proc.returncode != 0 or not os.path.exists(frame_path(passes_pattern, frame)):
        text = (out or b"").decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError("frame {}: {}".format(frame, text[-1] if text else last_message(log_path)))


# ----------------------------------------------------------------------------------------------
# pre-render in the background (the "Render passes" button)


_JOBS = {}


def prerender_command(plate_pattern: str, first: int, last: int, out_pattern: str, client_args: list) -> list:
    """Engine arguments (after the engine's Python) of a batch render of ``first``-``last``."""
    return ["-m", "faceplate", "render", plate_pattern, "--frames", "{}-{}".format(first, last),
            "--out", out_pattern] + list(client_args)


def start_prerender(key: str, plate_pattern: str, first: int, last: int, out_pattern: str, client_args: list,
                    log_path: str) -> str:
    """Start the batch render in the background (``subprocess.Popen``, never waits). Returns a status line."""
    job = _JOBS.get(key)
    if job is not None and job.poll() is None:
        return "passes are already rendering (pid {})".format(job.pid)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write("{} faceplate: rendering passes {}-{} in the background\n".format(
            time.strftime("%Y-%m-%d %H:%M:%S"), first, last))
    _JOBS[key] = popen_engine(prerender_command(plate_pattern, first, last, out_pattern, client_args), log_path)
    return "rendering passes {}-{} in the background (pid {})".format(first, last, _JOBS[key].pid)


def prerender_state(key: str):
    """None (no job), "running", or the finished job's exit code."""
    job = _JOBS.get(key)
    if job is None:
        return None
    rc = job.poll()
    return "running" if rc is None else rc


def forget_prerender(key: str) -> None:
    """Drop a finished job (its result has been taken into the node)."""
    job = _JOBS.get(key)
    if job is not None and job.poll() is not None:
        del _JOBS[key]


def call_later(ms: int, fn) -> bool:
    """Run ``fn`` on the GUI's main thread after ``ms`` (Qt timer); False where there is no Qt (farm)."""
    for mod in ("PySide2.QtCore", "PySide6.QtCore", "PySide.QtCore"):
        try:
            qtcore = __import__(mod, fromlist=["QTimer"])
        except ImportError:
            continue
        qtcore.QTimer.singleShot(ms, fn)
        return True
    return False


# ----------------------------------------------------------------------------------------------
# training


def training_command(plate_pattern: str, first: int | None = None, last: int | None = None,
                     work: str | None = None) -> str:
    """The exact commands that train a model for ``plate_pattern`` (shown by "Train a model…")."""
    py = engine_python()
    exe = shlex.quote(os.path.join(os.path.dirname(py), "faceplate")) if py else "faceplate"
    work = work or os.path.join(os.path.dirname(os.path.abspath(plate_pattern)), "faceplate")
    q = shlex.quote
    frames = " --frames {}-{}".format(first, last) if first is not None and last is not None else ""
    return "\n".join([
        "{} extract {}{} --out {}".format(exe, q(plate_pattern), frames, q(os.path.join(work, "faceset_plate"))),
        "{} extract SOURCE.####.exr --out {}".format(exe, q(os.path.join(work, "faceset_source"))),
        "{} train --a {} --b {} --out {}".format(exe, q(os.path.join(work, "faceset_plate")),
                                                 q(os.path.join(work, "faceset_source")), q(os.path.join(work, "run"))),
        "{} export {} --direction a2b --out {}".format(exe, q(os.path.join(work, "run")),
                                                       q(os.path.join(work, "face.onnx"))),
    ])


def guard(fn, *args, **kwargs):
    """Call ``fn``; any exception becomes a message on stderr and the return value None (never raises)."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - nothing may escape into Natron
        try:
            sys.stderr.write("Faceplate: {}\n".format(exc))
        except Exception:  # noqa: BLE001
            pass
        return None
