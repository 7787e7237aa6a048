"""Reader of dlib's binary serialization, for the one network Faceplate uses: the face descriptor ResNet.

``dlib_face_recognition_resnet_model_v1.dat`` holds dlib's ``anet_type`` of
``examples/dnn_face_recognition_ex.cpp``: ``loss_metric<fc_no_bias<128, avg_pool_everything<alevel0<…
alevel4<max_pool<3,3,2,2, relu<affine<con<32,7,7,2,2, input_rgb_image_sized<150>>>>>>>>>>>>>`` with
``ares``/``ares_down`` residual blocks (29 convolutions). The file does not describe its own graph
(tag ids, skip targets and layer kinds are template arguments), so the reader follows
:data:`LAYOUT`, the same definition written out, and checks every version string, shape and
setting the file does record against it; anything else is an :class:`AssetError` naming the file,
the byte offset, what was expected and what was found.

Format (dlib ``serialize.h``, ``dnn/core.h``, ``dnn/layers.h``, ``dnn/input.h``, ``cuda/tensor.h``):

* integers: a control byte (low 4 bits: byte count, 0x80: negative) then that many little-endian bytes;
* floats/doubles: ``float_details``, an integer mantissa then an integer exponent (value = m·2^e);
* strings: an integer length then the bytes; bools: the characters ``'0'``/``'1'``;
* tensors: version 2, four integer dims (n, k, nr, nc), then n·k·nr·nc little-endian float32;
  alias tensors (views into a layer's ``params``): version 1 and the four dims only;
* nesting: each ``add_layer`` writes its version, then its whole sub-network, then its own layer
  details and its training state (3 bools, 3 tensors); tag and skip layers write a version and their
  sub-network. So the file is: the loss layer, every layer's version from the top down, the input
  layer, then every layer's details from the bottom up.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faceplate.errors import AssetError

#: kinds of layer in :data:`LAYOUT` (``tag``/``skip``/``add_prev`` carry a tag id)
KINDS = ("con", "affine", "relu", "max_pool", "avg_pool", "fc", "add_prev", "tag", "skip")


@dataclass(frozen=True)
class Layer:
    """One dlib layer, bottom (input side) first in a list.

    ``config``: con (filters, nr, nc, stride_y, stride_x); max/avg_pool (nr, nc, stride_y, stride_x),
    nr = nc = 0 meaning the whole image; fc (outputs,); tag/skip/add_prev (tag id,).
    ``params`` (filled by :func:`read_net`): con ``weight`` (filters×k×nr×nc), ``bias`` (filters) or
    absent, ``padding`` (y, x); affine ``gamma``, ``beta`` (per channel); max/avg_pool ``padding``;
    fc ``weight`` (inputs×outputs, y = x·W).
    """

    kind: str
    config: tuple[int, ...] = ()
    params: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class DlibNet:
    """The parsed network: input normalisation, layers bottom first, and the loss settings."""

    path: Path
    #: per-channel mean (R, G, B) subtracted from 0-255 pixels before the division by :data:`input_scale`
    input_mean: np.ndarray
    input_size: int
    layers: list[Layer]
    loss: dict[str, float]
    #: dlib divides (pixel - mean) by 256 (``input_rgb_image_sized::to_tensor``)
    input_scale: float = 256.0

    def count(self, kind: str) -> int:
        return sum(1 for lay in self.layers if lay.kind == kind)


# ------------------------------------------------------------------------------- the network
def _con(n: int, k: int, s: int) -> Layer:
    return Layer("con", (n, k, k, s, s))


def _block(n: int, stride: int) -> list[Layer]:
    """``block<N,affine,stride>`` = affine<con<N,3,3,1,1, relu<affine<con<N,3,3,stride,stride, SUBNET>>>>>."""
    return [_con(n, 3, stride), Layer("affine"), Layer("relu"), _con(n, 3, 1), Layer("affine")]


def _ares(n: int) -> list[Layer]:
    """``ares<N>`` = relu<add_prev1<block<N,1, tag1<SUBNET>>>>."""
    return [Layer("tag", (1,)), *_block(n, 1), Layer("add_prev", (1,)), Layer("relu")]


def _ares_down(n: int) -> list[Layer]:
    """``ares_down<N>`` = relu<add_prev2<avg_pool<2,2,2,2, skip1<tag2<block<N,2, tag1<SUBNET>>>>>>>."""
    return [Layer("tag", (1,)), *_block(n, 2), Layer("tag", (2,)), Layer("skip", (1,)),
            Layer("avg_pool", (2, 2, 2, 2)), Layer("add_prev", (2,)), Layer("relu")]


#: dlib's ``anet_type`` bottom (input side) first: stem, alevel4 … alevel0, pooling, projection
LAYOUT: tuple[Layer, ...] = tuple(
    [_con(32, 7, 2), Layer("affine"), Layer("relu"), Layer("max_pool", (3, 3, 2, 2))]
    + _ares(32) * 3
    + _ares_down(64) + _ares(64) * 3
    + _ares_down(128) + _ares(128) * 2
    + _ares_down(256) + _ares(256) * 2
    + _ares_down(256)
    + [Layer("avg_pool", (0, 0, 1, 1)), Layer("fc", (128,))]
)
INPUT_SIZE = 150


# ------------------------------------------------------------------------------- the format
class _Reader:
    """A cursor over the file's bytes; every read checks what it finds and names the offset."""

    def __init__(self, data: bytes, path: Path):
        self.data, self.path, self.pos = data, path, 0

    def fail(self, expected: str, found: object, at: int | None = None) -> AssetError:
        return AssetError(f"{self.path}: at byte {self.pos if at is None else at}: expected {expected}, found {found}; "
                          "it is not dlib's face descriptor model (dlib_face_recognition_resnet_model_v1.dat)")

    def _byte(self) -> int:
        if self.pos >= len(self.data):
            raise self.fail("more data", "the end of the file")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def integer(self, what: str = "an integer", signed: bool = True) -> int:
        at = self.pos
        ctrl = self._byte()
        size = ctrl & 0x0F
        if size == 0 or size > 8 or ctrl & 0x70:
            raise self.fail(what, f"control byte 0x{ctrl:02x}", at)
        if self.pos + size > len(self.data):
            raise self.fail(what, "the end of the file", at)
        value = int.from_bytes(self.data[self.pos:self.pos + size], "little")
        self.pos += size
        if ctrl & 0x80:
            if not signed:
                raise self.fail(f"{what} (unsigned)", "a negative number", at)
            value = -value
        return value

    def real(self, what: str = "a float") -> float:
        mantissa, exponent = self.integer(f"{what} (mantissa)"), self.integer(f"{what} (exponent)")
        if exponent >= 32000:  # float_details::is_inf / is_ninf / is_nan
            return {32000: float("inf"), 32001: float("-inf")}.get(exponent, float("nan"))
        return float(np.ldexp(np.float64(mantissa), exponent))

    def string(self, what: str = "a string") -> str:
        at = self.pos
        n = self.integer(f"the length of {what}", signed=False)
        if n > 1024 or self.pos + n > len(self.data):
            raise self.fail(what, f"a length of {n}", at)
        raw = self.data[self.pos:self.pos + n]
        self.pos += n
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail(what, repr(raw[:32]), at) from None

    def flag(self, what: str = "a bool") -> bool:
        at = self.pos
        ch = self._byte()
        if ch not in (0x30, 0x31):
            raise self.fail(f"{what} ('0' or '1')", f"byte 0x{ch:02x}", at)
        return ch == 0x31

    def version(self, allowed: tuple, what: str) -> object:
        at = self.pos
        label = f"the version of {what}"
        v = self.string(label) if isinstance(allowed[0], str) else self.integer(label)
        if v not in allowed:
            raise self.fail(f"{what} version {' or '.join(map(repr, allowed))}", repr(v), at)
        return v

    def dims(self, what: str) -> tuple[int, int, int, int]:
        d = tuple(self.integer(f"a dimension of {what}") for _ in range(4))
        if min(d) < 0:
            raise self.fail(f"dimensions >= 0 of {what}", d)
        return d  # type: ignore[return-value]

    def tensor(self, what: str) -> np.ndarray:
        """A ``resizable_tensor``: (n, k, nr, nc) float32."""
        self.version((2,), what)
        d = self.dims(what)
        count = int(np.prod(d))
        if self.pos + 4 * count > len(self.data):
            raise self.fail(f"{count} floats of {what} {d}", "the end of the file")
        arr = np.frombuffer(self.data, "<f4", count, self.pos).astype(np.float32).reshape(d)
        self.pos += 4 * count
        return arr

    def alias(self, what: str) -> tuple[int, int, int, int]:
        """An ``alias_tensor``: only its dims (a view into the layer's ``params``)."""
        self.version((1,), what)
        return self.dims(what)


# ------------------------------------------------------------------------------- layer details
def _check(r: _Reader, what: str, expected: object, found: object, at: int) -> None:
    if expected != found:
        raise r.fail(f"{what} {expected}", found, at)


def _default_padding(nr: int, stride: int) -> int:
    """dlib's default padding of con/max_pool/avg_pool: none for strided layers, else half the window."""
    return 0 if stride != 1 else nr // 2


def _read_con(r: _Reader, lay: Layer) -> dict:
    version = r.version(("con_4", "con_5", "con_6"), "con_")
    at = r.pos
    params = r.tensor("con_ params")
    n, nr, nc, sy, sx = lay.config
    found = (r.integer("num_filters"), r.integer("nr"), r.integer("nc"), r.integer("stride_y"), r.integer("stride_x"))
    _check(r, "con_ (filters, nr, nc, stride_y, stride_x)", lay.config, found, at)
    pad = (r.integer("padding_y"), r.integer("padding_x"))
    _check(r, "con_ padding", (_default_padding(nr, sy), _default_padding(nc, sx)), pad, at)
    fdims, bdims = r.alias("con_ filters"), r.alias("con_ biases")
    for _ in range(4):  # learning-rate and weight-decay multipliers
        r.real("a con_ multiplier")
    use_bias = r.flag("con_ use_bias") if version in ("con_5", "con_6") else True
    if version == "con_6":
        r.flag("con_ use_relu")  # only cuDNN's fused path; a con_ written with it on would need a Relu
    if fdims[0] != n or fdims[2:] != (nr, nc):
        raise r.fail(f"con_ filters ({n}, k, {nr}, {nc})", fdims, at)
    flat = params.reshape(-1)
    nf = int(np.prod(fdims))
    nb = int(np.prod(bdims)) if use_bias else 0
    if use_bias and nb != n or flat.size != nf + nb:
        raise r.fail(f"con_ params of {nf} weights + {n if use_bias else 0} biases", f"{flat.size} values", at)
    out = {"weight": flat[:nf].reshape(fdims), "padding": pad}
    if nb:
        out["bias"] = flat[nf:]
    return out


def _read_affine(r: _Reader, lay: Layer) -> dict:
    version = r.version(("affine_", "affine_2"), "affine_")
    at = r.pos
    params = r.tensor("affine_ params").reshape(-1)
    g, b = r.alias("affine_ gamma"), r.alias("affine_ beta")
    mode = r.integer("affine_ mode")
    disabled = r.flag("affine_ disabled") if version == "affine_2" else False
    if mode != 0 or g != b or g[0] != 1 or g[2:] != (1, 1):
        raise r.fail("a per-channel affine_ (CONV_MODE, gamma and beta of 1×k)",
                     f"mode {mode}, gamma {g}, beta {b}", at)
    if disabled:
        return {"disabled": True}
    k = g[1]
    if params.size != 2 * k:
        raise r.fail(f"affine_ params of 2×{k} values", params.size, at)
    return {"gamma": params[:k], "beta": params[k:]}


def _read_relu(r: _Reader, lay: Layer) -> dict:
    if r.version(("relu_", "relu_2"), "relu_") == "relu_2" and r.flag("relu_ disabled"):
        return {"disabled": True}
    return {}


def _read_pool(r: _Reader, lay: Layer) -> dict:
    name = f"{lay.kind}_"
    r.version((f"{lay.kind}_2",), name)
    at = r.pos
    found = (r.integer("nr"), r.integer("nc"), r.integer("stride_y"), r.integer("stride_x"))
    _check(r, f"{name} (nr, nc, stride_y, stride_x)", lay.config, found, at)
    pad = (r.integer("padding_y"), r.integer("padding_x"))
    nr, nc, sy, sx = lay.config
    _check(r, f"{name} padding", (_default_padding(nr, sy), _default_padding(nc, sx)), pad, at)
    return {"padding": pad}


def _read_fc(r: _Reader, lay: Layer) -> dict:
    version = r.version(("fc_2", "fc_3"), "fc_")
    at = r.pos
    outputs, inputs = r.integer("fc_ num_outputs", signed=False), r.integer("fc_ num_inputs", signed=False)
    params = r.tensor("fc_ params").reshape(-1)
    w, b = r.alias("fc_ weights"), r.alias("fc_ biases")
    bias_mode = r.integer("fc_ bias_mode")
    for _ in range(4):
        r.real("an fc_ multiplier")
    if version == "fc_3":
        r.flag("fc_ use_bias")
    _check(r, "fc_ outputs", lay.config[0], outputs, at)
    if bias_mode != 1 or int(np.prod(b)) != 0:  # FC_NO_BIAS = 1
        raise r.fail("fc_no_bias (bias_mode 1, no biases)", f"bias_mode {bias_mode}, biases {b}", at)
    if w != (inputs, outputs, 1, 1) or params.size != inputs * outputs:
        raise r.fail(f"fc_ weights ({inputs}, {outputs}, 1, 1) in params", f"{w}, {params.size} values", at)
    return {"weight": params.reshape(inputs, outputs)}


def _read_add_prev(r: _Reader, lay: Layer) -> dict:
    r.version(("add_prev_",), "add_prev_")
    return {}


_DETAILS = {"con": _read_con, "affine": _read_affine, "relu": _read_relu, "max_pool": _read_pool,
            "avg_pool": _read_pool, "fc": _read_fc, "add_prev": _read_add_prev}


def _read_training_state(r: _Reader, version: int, over_input: bool) -> None:
    """What ``add_layer`` writes after its details: 3 bools and 3 tensors (all dropped here)."""
    for what in ("this_layer_setup_called", "gradient_input_is_stale", "get_output_and_gradient_input_disabled"):
        r.flag(what)
    r.tensor("x_grad")
    r.tensor("cached_output")
    if over_input:
        r.tensor("grad_final")
        if version >= 3:
            r.integer("sample_expansion_factor", signed=False)
    elif version >= 2:
        r.tensor("params_grad")


def read_net(path: Path | str) -> DlibNet:
    """Parse ``dlib_face_recognition_resnet_model_v1.dat`` into a :class:`DlibNet` (weights as float32)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AssetError(f"{path}: cannot read the dlib model ({exc.strerror or exc})") from exc
    r = _Reader(data, path)
    r.version((1,), "add_loss_layer")
    r.version(("loss_metric_2",), "loss_metric_")
    loss = {"margin": r.real("loss margin"), "distance_threshold": r.real("loss distance threshold")}
    # versions, top down; tag and skip layers write nothing else
    versions = []
    for i, lay in enumerate(reversed(LAYOUT)):
        if lay.kind in ("tag", "skip"):
            r.version((1,), f"add_{lay.kind}_layer")
            versions.append(1)
        else:
            over_input = i == len(LAYOUT) - 1
            versions.append(r.version((2, 3) if over_input else (1, 2), f"add_layer ({lay.kind})"))
    versions.reverse()
    r.version(("input_rgb_image_sized",), "the input layer")
    mean = np.array([r.real("avg_red"), r.real("avg_green"), r.real("avg_blue")], np.float32)
    at = r.pos
    size = (r.integer("input nr", signed=False), r.integer("input nc", signed=False))
    _check(r, "input size", (INPUT_SIZE, INPUT_SIZE), size, at)
    # details and training state, bottom up
    layers = []
    for i, (lay, version) in enumerate(zip(LAYOUT, versions)):
        if lay.kind in ("tag", "skip"):
            layers.append(Layer(lay.kind, lay.config))
            continue
        params = _DETAILS[lay.kind](r, lay)
        if params.get("disabled"):
            raise r.fail(f"an enabled {lay.kind} layer (layer {i} from the input)", "a disabled one")
        _read_training_state(r, int(version), over_input=i == 0)
        layers.append(Layer(lay.kind, lay.config, params))
    if r.pos != len(data):
        raise r.fail("the end of the file", f"{len(data) - r.pos} more bytes")
    return DlibNet(path, mean, INPUT_SIZE, layers, loss)
