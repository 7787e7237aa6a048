"""Export a trained run to one self-describing ONNX file (encoder + the chosen decoder).

I/O (see :mod:`faceplate.manifest`): input ``face`` float32 N×3×R×R, outputs ``swap`` float32
N×3×R×R and ``mask`` float32 N×1×R×R, all in [0, 1], dynamic batch; the manifest JSON is stored in
the model's ``metadata_props`` under ``faceplate.manifest``. ``fp16`` keeps float32 I/O and runs
the network in float16 (casts at the edges).

The exported graph is validated with onnxruntime against torch on the same seeded inputs before the
file is written (atomically); the maximum absolute differences are returned and recorded in the
manifest's ``extra``.
"""
from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from faceplate import __version__
from faceplate.colour.encoding import CropEncoding
from faceplate.errors import CheckpointError, InputError, ModelError
from faceplate.manifest import INPUT_NAME, METADATA_KEY, OUTPUT_NAMES, Manifest
from faceplate.plates.atomic import write_bytes_atomic
from faceplate.train import checkpoint as ckpt
from faceplate.train.models import ModelSpec, SwapNet, build_model

log = logging.getLogger("faceplate.export")

OPSET = 17
FP32_TOLERANCE = 1e-4


@dataclass
class ExportReport:
    path: Path
    manifest: Manifest
    max_abs_diff: dict[str, float]  # per output, onnxruntime vs torch (fp32 reference)
    precision: str


def _model_from_state(state: dict, where: str) -> tuple[torch.nn.Module, dict, dict]:
    cfg = state["config"]
    try:
        info = json.loads(state["run_info"])
        spec = ModelSpec(name=str(cfg["model"]), resolution=int(info["resolution"]), width=int(cfg["width"]),
                         ae_dims=int(cfg["ae_dims"]), follow_exposure=bool(cfg.get("follow_exposure", False)))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {where}: run settings are incomplete ({exc})") from None
    try:
        model = build_model(spec)
    except InputError as exc:
        raise CheckpointError(f"checkpoint {where}: describes an unusable model ({exc})") from None
    ckpt.load_weights(model, state, where)
    model.eval()
    return model, cfg, info


def build_manifest(cfg: dict, info: dict, step: int, direction: str, precision: str) -> Manifest:
    src, dst = ("a", "b") if direction == "a2b" else ("b", "a")
    names = info["identities"]
    return Manifest(
        resolution=int(info["resolution"]),
        coverage=float(info["coverage"]),
        centering=str(info["centering"]),
        crop_encoding=CropEncoding.from_dict(info["crop_encoding"]),
        template=[list(map(float, p)) for p in info.get("template", [])],
        identities={"source": names[src], "target": names[dst]},
        direction=direction,
        architecture=str(cfg["model"]),
        training_steps=int(step),
        data_hashes={names["a"] if names["a"] != names["b"] else "a": info["data_hashes"]["a"],
                     names["b"] if names["a"] != names["b"] else "b": info["data_hashes"]["b"]},
        faceplate_version=__version__,
        precision=precision,
        extra={"width": int(cfg["width"]), "ae_dims": int(cfg["ae_dims"]), "losses": cfg.get("losses", ""),
               "seed": cfg.get("seed"), "opset": OPSET, "faceset_resolution": info.get("faceset_resolution"),
               "face_sets": info.get("face_sets", {}), "faces": info.get("faces", {})},
    )


def _to_onnx_bytes(net: torch.nn.Module, resolution: int) -> bytes:
    dummy = torch.rand(2, 3, resolution, resolution)
    buf = io.BytesIO()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net, (dummy,), buf, dynamo=False, opset_version=OPSET, input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES), do_constant_folding=True,
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAMES[0]: {0: "batch"}, OUTPUT_NAMES[1]: {0: "batch"}},
        )
    return buf.getvalue()


def _run_ort(data: bytes, x: np.ndarray) -> list[np.ndarray]:
    import faceplate  # noqa: F401  (telemetry off before onnxruntime)
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    return sess.run(list(OUTPUT_NAMES), {INPUT_NAME: x})


def export(run: Path | str, out: Path | str, *, direction: str = "a2b", fp16: bool = False,
           check_batch: int = 3, seed: int = 0) -> ExportReport:
    """Export ``run`` (a run folder or checkpoint file) to ``out``; raise :class:`ModelError` if the
    fp32 export differs from torch by more than :data:`FP32_TOLERANCE`."""
    import onnx

    if direction not in ("a2b", "b2a"):
        raise InputError(f"--direction: expected a2b or b2a, found {direction!r}")
    state = ckpt.load_checkpoint(run)
    where = str(Path(run) / ckpt.FILENAME if Path(run).is_dir() else run)
    model, cfg, info = _model_from_state(state, where)
    step = int(state["step"])
    del state
    res = int(info["resolution"])
    precision = "fp16" if fp16 else "fp32"

    ref_net = SwapNet(model, direction).eval()
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(check_batch, 3, res, res, generator=g)
    with torch.no_grad():
        ref = [t.numpy() for t in ref_net(x)]

    if fp16:
        import copy

        net = SwapNet(copy.deepcopy(model).half(), direction, half=True).eval()
    else:
        net = ref_net
    data = _to_onnx_bytes(net, res)
    outs = _run_ort(data, x.numpy())
    diffs = {name: float(np.max(np.abs(o.astype(np.float64) - r))) for name, o, r in zip(OUTPUT_NAMES, outs, ref)}
    for name, o in zip(OUTPUT_NAMES, outs):
        if not np.isfinite(o).all():
            raise ModelError(f"export {out}: onnxruntime produced non-finite values in {name!r}")
    if not fp16 and max(diffs.values()) > FP32_TOLERANCE:
        raise ModelError(f"export {out}: onnxruntime differs from torch by {diffs} (expected <= {FP32_TOLERANCE})")

    manifest = build_manifest(cfg, info, step, direction, precision)
    manifest.extra["validation"] = {"max_abs_diff": diffs, "reference": "torch fp32", "batch": check_batch}
    proto = onnx.load_from_string(data)
    proto.doc_string = f"Faceplate swap model {manifest.identities['source']} -> {manifest.identities['target']}"
    proto.producer_name, proto.producer_version = "faceplate", __version__
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, manifest.to_json()
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:  # pragma: no cover - exporter bug
        raise ModelError(f"export {out}: the exported graph does not validate ({exc})") from None
    out = Path(out)
    write_bytes_atomic(out, proto.SerializeToString(), "ONNX model")
    log.info("exported %s (%s, %s, %d steps); onnxruntime vs torch max abs diff %s", out, manifest.architecture,
             precision, step, {k: f"{v:.2e}" for k, v in diffs.items()})
    return ExportReport(path=out, manifest=manifest, max_abs_diff=diffs, precision=precision)
