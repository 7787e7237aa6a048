"""The swap model: an ONNX file with a :class:`~faceplate.manifest.Manifest` in its metadata.

Loading checks everything the render relies on and refuses an incompatible file with a
:class:`ModelError` that lists what differs (I/O names, shapes, element types, manifest fields).
Outputs are sanitised (NaN -> 0, clipped to [0, 1]) so the render never produces NaN/Inf.
"""
from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceplate.errors import ModelError
from faceplate.manifest import INPUT_NAME, METADATA_KEY, OUTPUT_NAMES, Manifest


def file_sha256(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def providers_for(device: str) -> list[str]:
    """onnxruntime execution providers for ``device`` (auto | cpu | cuda)."""
    import faceplate  # noqa: F401  (telemetry off before onnxruntime)
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise ModelError(f"--device cuda: onnxruntime has no CUDA provider here (available: {available})")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "auto":
        return (["CUDAExecutionProvider"] if "CUDAExecutionProvider" in available and _cuda_present() else []) + [
            "CPUExecutionProvider"]
    raise ModelError(f"--device: expected auto, cpu or cuda, found {device!r}")


def _cuda_present() -> bool:
    """True when an NVIDIA device node exists (avoids onnxruntime's noisy CUDA fallback on CPU nodes)."""
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia/version")


def _dims(shape: list[Any]) -> list[Any]:
    return [d if isinstance(d, int) else None for d in shape]


@dataclass
class SwapModel:
    """A loaded swap model. ``run`` is thread-safe (onnxruntime sessions are)."""

    path: Path
    sha256: str
    manifest: Manifest
    session: Any
    providers: tuple[str, ...]

    @property
    def resolution(self) -> int:
        return self.manifest.resolution

    def run(self, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """faces float32 N×3×R×R code values in [0, 1] -> (swap N×3×R×R, mask N×1×R×R), both in [0, 1]."""
        r = self.resolution
        faces = np.ascontiguousarray(faces, dtype=np.float32)
        if faces.ndim != 4 or faces.shape[1:] != (3, r, r):
            raise ModelError(f"model {self.path}: expected input N×3×{r}×{r}, found {faces.shape}")
        try:
            swap, mask = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: faces})
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"model {self.path}: inference failed ({exc})") from exc
        n = faces.shape[0]
        swap, mask = np.asarray(swap, np.float32), np.asarray(mask, np.float32)
        if swap.shape != (n, 3, r, r) or mask.shape != (n, 1, r, r):
            raise ModelError(
                f"model {self.path}: expected outputs swap {(n, 3, r, r)} and mask {(n, 1, r, r)}, "
                f"found {swap.shape} and {mask.shape}")
        swap = np.clip(np.nan_to_num(swap, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
        mask = np.clip(np.nan_to_num(mask, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
        return swap, mask


def _check_graph(session, manifest: Manifest, where: str) -> None:
    diffs = []
    r = manifest.resolution
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    if list(inputs) != [INPUT_NAME]:
        diffs.append(f"inputs: expected ['{INPUT_NAME}'], model has {list(inputs)}")
    else:
        i = inputs[INPUT_NAME]
        if i.type != "tensor(float)":
            diffs.append(f"input '{INPUT_NAME}' type: expected tensor(float), model has {i.type}")
        d = _dims(i.shape)
        if len(d) != 4 or any(x is not None and x != y for x, y in zip(d[1:], (3, r, r))):
            diffs.append(f"input '{INPUT_NAME}' shape: expected [N, 3, {r}, {r}] (manifest resolution {r}), "
                         f"model has {i.shape}")
    for name, ch in zip(OUTPUT_NAMES, (3, 1)):
        if name not in outputs:
            diffs.append(f"output '{name}': expected, model has outputs {list(outputs)}")
            continue
        o = outputs[name]
        if o.type != "tensor(float)":
            diffs.append(f"output '{name}' type: expected tensor(float), model has {o.type}")
        d = _dims(o.shape)
        if len(d) != 4 or any(x is not None and x != y for x, y in zip(d[1:], (ch, r, r))):
            diffs.append(f"output '{name}' shape: expected [N, {ch}, {r}, {r}], model has {o.shape}")
    from faceplate.errors import InputError
    from faceplate.faces import align

    try:
        align.check_crop(r, manifest.coverage, manifest.centering)
    except InputError as exc:
        diffs.append(f"manifest crop geometry: {exc}")
    tmpl = np.asarray(manifest.template, np.float64)
    ref = np.asarray(align.TEMPLATE, np.float64)
    if tmpl.size == 0:
        pass  # face sets that do not record their template: nothing to compare
    elif tmpl.shape != ref.shape:
        diffs.append(f"manifest template: expected {ref.shape[0]}×{ref.shape[1]} points (or none), "
                     f"found shape {tmpl.shape}")
    elif not np.allclose(tmpl, ref, atol=1e-4):
        diffs.append(f"manifest template: differs from this Faceplate's alignment template "
                     f"(max difference {float(np.abs(tmpl - ref).max()):.4g}); re-export with this version")
    if manifest.direction not in ("a2b", "b2a"):
        diffs.append(f"manifest direction: expected a2b or b2a, found {manifest.direction!r}")
    if diffs:
        raise ModelError(f"{where}: incompatible model: " + "; ".join(diffs))


def load_model(path: Path | str, device: str = "auto") -> SwapModel:
    """Load and validate a swap model; :class:`ModelError` names the file and what is wrong."""
    import faceplate  # noqa: F401
    import onnxruntime as ort

    path = Path(path)
    where = f"model {path}"
    if not str(path):
        raise ModelError("--model: expected a swap model file (.onnx), found none")
    if not path.is_file():
        raise ModelError(f"{where}: file not found" if not path.exists() else f"{where}: expected a file")
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    opts = ort.SessionOptions()
    opts.use_deterministic_compute = True
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(data, sess_options=opts, providers=providers_for(device))
    except ModelError:
        raise
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{where}: corrupt or not an ONNX model ({msg[:300]})") from exc
    meta = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in meta:
        raise ModelError(f"{where}: expected a Faceplate manifest in ONNX metadata key '{METADATA_KEY}', "
                         f"found keys {sorted(meta)} (export the model with 'faceplate export')")
    manifest = Manifest.from_json(meta[METADATA_KEY], where)
    _check_graph(session, manifest, where)
    return SwapModel(path=path, sha256=sha, manifest=manifest, session=session,
                     providers=tuple(session.get_providers()))


class ModelCache:
    """Models kept loaded by (path, size, mtime, device); a changed file is loaded again."""

    def __init__(self, max_models: int = 4) -> None:
        self._models: dict[tuple, SwapModel] = {}
        self._lock = threading.Lock()
        self.max_models = max_models

    def get(self, path: Path | str, device: str = "auto") -> SwapModel:
        p = Path(path)
        try:
            st = p.stat()
            key = (str(p.resolve()), st.st_size, st.st_mtime_ns, device)
        except OSError:
            return load_model(p, device)  # raises the proper ModelError
        with self._lock:
            m = self._models.get(key)
            if m is not None:
                return m
        m = load_model(p, device)
        with self._lock:
            stale = [k for k in self._models if k[0] == key[0]]
            for k in stale:
                del self._models[k]
            while len(self._models) >= self.max_models:
                del self._models[next(iter(self._models))]
            self._models[key] = m
        return m
