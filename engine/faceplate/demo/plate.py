"""The demo plate: a 1920×1080 scene-linear ACEScg half-float EXR sequence made from the astronaut
photo, with a slow camera move (translate, rotate, scale), exposure drift, sensor noise and
highlights above 1.0. Deterministic: the same arguments give the same files."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from faceplate.colour import ColourConfig
from faceplate.demo.sources import astronaut_path, load_photo_linear
from faceplate.plates import Image, Sequence, write_image

WIDTH, HEIGHT = 1920, 1080
FIRST_FRAME = 1001


def camera(t: float, width: int = WIDTH, height: int = HEIGHT, src: int = 512) -> np.ndarray:
    """2×3 photo -> frame matrix at shot time ``t`` in [0, 1]: slow push-in, roll and drift."""
    scale = (height / src) * 1.9 * (1.0 + 0.08 * t)
    angle = math.radians(-2.0 + 4.0 * t)
    # keep the astronaut's face (≈ (226, 122) in the photo) in the upper middle of frame
    fx, fy = 226.0, 150.0
    cx = width * 0.5 + (-60.0 + 120.0 * t)
    cy = height * 0.42 + (20.0 - 30.0 * t)
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    return np.array([[c, -s, cx - (c * fx - s * fy)], [s, c, cy - (s * fx + c * fy)]], np.float64)


def render_frame(photo_linear: np.ndarray, index: int, count: int, seed: int = 7,
                 width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """Frame ``index`` of ``count`` as float32 H×W×3 scene-linear (same space as ``photo_linear``)."""
    import cv2

    t = index / max(count - 1, 1)
    frame = cv2.warpAffine(photo_linear, camera(t, width, height, photo_linear.shape[0]), (width, height),
                           flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)
    # speculars: the brightest parts of the photo become real highlights well above 1.0
    lum = frame @ np.array([0.2722, 0.6741, 0.0537], np.float32)
    boost = 1.0 + 5.0 * np.clip((lum - 0.6) / 0.4, 0.0, 1.0) ** 2
    frame = frame * boost[..., None]
    frame *= 2.0 ** (0.3 * math.sin(2.0 * math.pi * t))  # exposure drift, ±0.3 stop
    rng = np.random.default_rng(seed * 100003 + index)
    sigma = 0.002 + 0.01 * np.sqrt(np.maximum(frame, 0.0))  # read + shot noise (negatives survive)
    frame = frame + rng.standard_normal(frame.shape, dtype=np.float32) * sigma
    return frame.astype(np.float32)


def make_plate(out_dir: Path, frames: int = 48, config: ColourConfig | None = None, space: str = "ACEScg",
               width: int = WIDTH, height: int = HEIGHT, progress=None) -> Sequence:
    """Write ``frames`` frames ``plate.####.exr`` (half float, PIZ) into ``out_dir``; skip existing ones."""
    config = config or ColourConfig()
    seq = Sequence(str(Path(out_dir) / "plate.####.exr"))
    photo = None
    for i in range(frames):
        path = seq.path(FIRST_FRAME + i)
        if not path.exists():
            if photo is None:
                photo = load_photo_linear(astronaut_path(), config, space)
            px = render_frame(photo, i, frames, width=width, height=height)
            img = Image(px, ("R", "G", "B"), (0, 0, width, height), (0, 0, width, height),
                        metadata={"oiio:ColorSpace": space, "faceplate:demo": "astronaut plate"})
            write_image(path, img, pixel_type="half", compression="piz")
        if progress:
            progress(i + 1, frames)
    return seq
