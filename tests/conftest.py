"""Shared fixtures for the whole test suite.

* ``astronaut`` (session): skimage's astronaut photo as float32 display sRGB in [0, 1] (``.srgb``)
  and converted by OCIO to scene-linear ACEScg (``.acescg``, the default plate space), plus the
  colour-space names to go with them.
* ``hopper`` (session): matplotlib's Grace Hopper photo, the same two ways (a second identity).
* ``face_assets`` (session): the face-model assets built once per test session (converted,
  optimised and verified against TFLite, a second or two) into a temporary folder, with
  ``$FACEPLATE_ASSETS`` pointing at it for the rest of the session. Request it in any test that
  makes a detector, landmarker or ``faceplate.faces.assets.session``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import faceplate  # noqa: F401  (disables onnxruntime telemetry before anything imports onnxruntime)


@dataclass(frozen=True)
class Photo:
    """One photo in two colour spaces (float32 H×W×3)."""

    srgb: np.ndarray
    acescg: np.ndarray
    srgb_space: str = "sRGB Encoded Rec.709 (sRGB)"
    linear_space: str = "ACEScg"


@pytest.fixture(scope="session")
def astronaut() -> Photo:
    """skimage's astronaut (512×512): display sRGB [0, 1] and scene-linear ACEScg (via OCIO)."""
    import skimage.data

    from faceplate.colour import ColourConfig

    srgb = skimage.data.astronaut().astype(np.float32) / 255.0
    srgb.setflags(write=False)
    lin = ColourConfig().convert(srgb, Photo.srgb_space, Photo.linear_space)
    lin.setflags(write=False)
    return Photo(srgb, lin)


@pytest.fixture(scope="session")
def hopper() -> Photo:
    """matplotlib's Grace Hopper (the top 512×512 of 600×512): display sRGB [0, 1] and ACEScg (via OCIO)."""
    import cv2
    import matplotlib.cbook

    from faceplate.colour import ColourConfig

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    srgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)[:512].astype(np.float32) / 255.0
    srgb.setflags(write=False)
    lin = ColourConfig().convert(srgb, Photo.srgb_space, Photo.linear_space)
    lin.setflags(write=False)
    return Photo(srgb, lin)


@pytest.fixture(scope="session")
def face_assets(tmp_path_factory) -> Path:
    """Folder of freshly built, verified face-model assets; ``$FACEPLATE_ASSETS`` points at it."""
    from faceplate.faces.assets import build_assets

    dest = tmp_path_factory.mktemp("faceplate-assets")
    build_assets(dest)
    mp = pytest.MonkeyPatch()
    mp.setenv("FACEPLATE_ASSETS", str(dest))
    yield dest
    mp.undo()
