"""Faceplate: face replacement for VFX compositing.

Importing the package is cheap and has no side effects beyond one: onnxruntime's
telemetry is disabled before anything can import onnxruntime (studios work on
material under NDA).
"""
from __future__ import annotations

import os as _os

_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"

__all__ = ["__version__"]
