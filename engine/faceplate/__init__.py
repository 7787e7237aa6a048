"""Faceplate: face replacement for VFX compositing.

Importing the package is cheap and has two environment side effects, both made before anything
can import onnxruntime or OpenImageIO:

- onnxruntime's telemetry is disabled (studios work on material under NDA);
- ``OCIO`` defaults to OpenImageIO's built-in ACES studio config when the user has not set it, so
  that config becomes OpenImageIO's default one, whose colour processors OpenImageIO caches
  (a named non-default config is rebuilt on every conversion: ~60 ms a call).
"""
from __future__ import annotations

import os as _os

_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
if not _os.environ.get("OCIO"):
    _os.environ["OCIO"] = "ocio://studio-config-latest"

__version__ = "0.1.0"

__all__ = ["__version__"]
