"""Identity B for the demo: Grace Hopper's photo and seeded, augmented variants of it (small
rotations, scales, shifts, flips, exposure and white-balance changes), written as scene-linear EXR
stills so B's face set is extracted by the same path as the shot."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from faceplate.colour import ColourConfig
from faceplate.demo.sources import grace_hopper_path, load_photo_linear
from faceplate.plates import Image, Sequence, write_image

FIRST = 1


def variant(photo: np.ndarray, index: int, seed: int = 11) -> np.ndarray:
    """Variant ``index`` of ``photo`` (float32 H×W×3 linear); index 0 is the photo itself."""
    import cv2

    if index == 0:
        return photo.copy()
    rng = np.random.default_rng(seed * 7919 + index)
    h, w = photo.shape[:2]
    angle = rng.uniform(-10.0, 10.0)
    scale = rng.uniform(0.85, 1.1)
    shift = rng.uniform(-0.06, 0.06, 2) * (w, h)
    m = cv2.getRotationMatrix2D((w / 2.0, h * 0.4), angle, scale)
    m[:, 2] += shift
    out = cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)
    if index % 2 == 1:
        out = out[:, ::-1]
    gain = 2.0 ** rng.uniform(-0.6, 0.6) * np.exp(rng.uniform(-0.08, 0.08, 3))  # exposure + white balance
    return np.ascontiguousarray(out * gain.astype(np.float32), dtype=np.float32)


def make_identity_stills(out_dir: Path, count: int = 24, config: ColourConfig | None = None,
                         space: str = "ACEScg") -> Sequence:
    """Write ``count`` stills ``b.####.exr`` (float, scene-linear ``space``); skip existing ones."""
    config = config or ColourConfig()
    seq = Sequence(str(Path(out_dir) / "b.####.exr"))
    photo = None
    for i in range(count):
        path = seq.path(FIRST + i)
        if path.exists():
            continue
        if photo is None:
            photo = load_photo_linear(grace_hopper_path(), config, space)
        px = variant(photo, i)
        h, w = px.shape[:2]
        write_image(path, Image(px, ("R", "G", "B"), (0, 0, w, h), (0, 0, w, h),
                                metadata={"faceplate:demo": f"grace hopper variant {i}"}),
                    pixel_type="half", compression="zip")
    return seq


def frame_range(count: int) -> str:
    return f"{FIRST}-{FIRST + count - 1}"


