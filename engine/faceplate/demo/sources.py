"""Real photos shipped by installed packages, loaded as scene-linear float32 in a named OCIO space."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from faceplate.colour import ColourConfig
from faceplate.errors import InputError

PHOTO_SPACE = "sRGB Encoded Rec.709 (sRGB)"


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"demo source: the Python package {package!r} is not installed (pip install 'faceplate[dev]')")
    path = Path(list(spec.submodule_search_locations)[0], *parts)
    if not path.exists():
        raise InputError(f"demo source: expected {path} in the installed {package!r}, found nothing")
    return path


def astronaut_path() -> Path:
    return _package_file("skimage", "data", "astronaut.png")


def grace_hopper_path() -> Path:
    return _package_file("matplotlib", "mpl-data", "sample_data", "grace_hopper.jpg")


def load_photo_linear(path: Path, config: ColourConfig, space: str = "ACEScg") -> np.ndarray:
    """An 8-bit sRGB photo as float32 H×W×3 scene-linear in ``space`` (OCIO)."""
    from faceplate.plates import read_image

    srgb = read_image(path).rgb()
    return config.convert(srgb, PHOTO_SPACE, space)
