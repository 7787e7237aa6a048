"""onnxruntime sessions for the face models: CUDA when it really works, CPU otherwise.

Session options are fixed and explicit (graph optimisation ALL, sequential execution, a thread
count), so the same inputs give the same bits. ``import faceplate`` comes first: it disables
onnxruntime's telemetry before onnxruntime is imported.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

import faceplate  # noqa: F401  (sets ORT_DISABLE_TELEMETRY before onnxruntime is imported)
from faceplate.errors import AssetError, InputError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
#: execution providers this module knows how to choose between, best first
KNOWN_PROVIDERS = (CUDA, CPU)

_probe_lock = threading.Lock()
_cuda_ok: bool | None = None


def _ort():
    import onnxruntime as ort

    return ort


def session_options(threads: int | None = None, optimized_model_path: Path | str | None = None):
    """Deterministic :class:`onnxruntime.SessionOptions`.

    ``threads``: intra-op threads (``None`` = onnxruntime's default, one per physical core).
    ``optimized_model_path``: where onnxruntime writes the graph it optimised (build-time only).
    """
    ort = _ort()
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise InputError(f"threads: expected a whole number >= 1 or None, found {threads!r}")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.inter_op_num_threads = 1
    if threads is not None:
        so.intra_op_num_threads = threads
    # idle intra-op threads sleep instead of spinning: between model runs the same cores read frames,
    # convert colour and write EXRs (numerics unchanged)
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    if optimized_model_path is not None:
        so.optimized_model_filepath = str(optimized_model_path)
    return so


def _cuda_usable(model: bytes) -> bool:
    """Whether the CUDA provider loads here (libraries and a GPU present); probed once per process.

    onnxruntime-gpu lists CUDA as available even when cuBLAS/cuDNN are missing and only fails when a
    session is made, logging a loud error; the probe silences that once and remembers the answer.
    """
    global _cuda_ok
    ort = _ort()
    if CUDA not in ort.get_available_providers():
        return False
    with _probe_lock:
        if _cuda_ok is None:
            ort.set_default_logger_severity(4)
            try:
                so = session_options()
                so.log_severity_level = 4
                s = ort.InferenceSession(model, so, providers=[CUDA, CPU])
                _cuda_ok = CUDA in s.get_providers()
            except Exception:  # noqa: BLE001 - any failure means "no CUDA here"
                _cuda_ok = False
            finally:
                ort.set_default_logger_severity(2)
        return _cuda_ok


def choose_providers(model: bytes, providers: Sequence[str] | None = None) -> list[str]:
    """``providers`` checked against :data:`KNOWN_PROVIDERS`, or CUDA+CPU when CUDA works, else CPU."""
    if providers is not None:
        bad = [p for p in providers if p not in KNOWN_PROVIDERS]
        if bad or not providers:
            raise InputError(
                f"providers: expected a non-empty list from {', '.join(KNOWN_PROVIDERS)}, found {list(providers)!r}"
            )
        return list(providers)
    return [CUDA, CPU] if _cuda_usable(model) else [CPU]


def make_session(model: bytes, what: str, providers: Sequence[str] | None = None, threads: int | None = None):
    """An :class:`onnxruntime.InferenceSession` for the serialised ONNX ``model`` (``what`` names it in errors)."""
    ort = _ort()
    chosen = choose_providers(model, providers)
    try:
        return ort.InferenceSession(model, session_options(threads), providers=chosen)
    except Exception as exc:  # onnxruntime raises its own exception types for bad graphs
        raise AssetError(f"{what}: onnxruntime cannot load it ({exc}); run `faceplate assets build --force`") from exc
