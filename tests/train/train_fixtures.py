"""Helpers for training tests: small face sets drawn in code and written as real EXRs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from faceplate.colour.encoding import CropEncoding
from faceplate.faces.faceset import FaceRecord, FaceSet, write_face
from faceplate.plates.image import Image, write_image

torch.set_num_threads(1)


def _ellipse(size: int, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    d = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2
    return np.clip((1.0 - d) * 4.0, 0.0, 1.0)  # soft edge


def draw_face(size: int, rng: np.random.Generator, skin: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(code H×W×3 in [0, 1], masks H×W×3 face/eyes/mouth) of a drawn, slightly jittered face."""
    j = rng.uniform(-0.03, 0.03, size=4) * size
    c = size / 2
    face = _ellipse(size, c + j[0], c + j[1], size * 0.30, size * 0.38)
    eyes = np.maximum(_ellipse(size, c - size * 0.12 + j[0], c - size * 0.08 + j[1], size * 0.06, size * 0.035),
                      _ellipse(size, c + size * 0.12 + j[0], c - size * 0.08 + j[1], size * 0.06, size * 0.035))
    mouth = _ellipse(size, c + j[0] + j[2] * 0.2, c + size * 0.17 + j[1], size * 0.11, size * 0.035)
    bg = np.full((size, size, 3), 0.25, np.float32) + rng.normal(0, 0.01, (size, size, 3)).astype(np.float32)
    img = bg * (1 - face[..., None]) + np.asarray(skin, np.float32) * face[..., None]
    img = img * (1 - 0.8 * eyes[..., None]) * (1 - 0.5 * mouth[..., None])
    masks = np.stack([face, eyes, mouth], axis=-1).astype(np.float32)
    return np.clip(img, 0, 1).astype(np.float32), masks


def make_faceset(root: Path, n: int = 6, size: int = 64, seed: int = 0, skin=(0.6, 0.45, 0.4),
                 template: bool | list = True, encoding: CropEncoding | None = None, layout: str = "v1") -> FaceSet:
    """``layout``: "v1" (a crop file and a mask file per face) or "v2" (one file, as extract writes)."""
    root = Path(root)
    (root / "faces").mkdir(parents=True, exist_ok=True)
    if layout == "v1":
        (root / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    records = []
    win = (0, 0, size, size)
    for i in range(n):
        img, masks = draw_face(size, rng, skin)
        fid = f"f{1001 + i:06d}_0"
        if layout == "v1":
            write_image(root / "faces" / f"{fid}.exr", Image(img, ("R", "G", "B"), win, win), pixel_type="float")
            write_image(root / "masks" / f"{fid}.exr", Image(masks, ("face", "eyes", "mouth"), win, win),
                        pixel_type="float")
            mask_file = f"masks/{fid}.exr"
        else:
            write_face(root / "faces" / f"{fid}.exr", img, masks)
            mask_file = f"faces/{fid}.exr"
        records.append(FaceRecord(id=fid, frame=1001 + i, face=0, source="plate.####.exr",
                                  image=f"faces/{fid}.exr", mask=mask_file,
                                  landmarks=[[0.0, 0.0]], transform=[[1, 0, 0], [0, 1, 0]],
                                  box=[0, 0, size, size], score=0.99))
    if isinstance(template, list):
        meta = {"template": template}
    else:
        meta = {"template": [[0.25, 0.3], [0.75, 0.3], [0.5, 0.7]]} if template else {}
    fs = FaceSet(root=root, resolution=size, coverage=0.8, centering="face", plate_colour_space="ACEScg",
                 crop_encoding=encoding or CropEncoding(), ocio_config="ocio://studio-config-latest",
                 faces=records, meta=meta)
    fs.save()
    return fs


def tiny_config(a: Path, b: Path, out: Path, **kw):
    from faceplate.train.config import from_mapping

    base = dict(a=str(a), b=str(b), out=str(out), width=8, ae_dims=16, batch=2, max_steps=4, seed=3,
                lr=1e-3, save_every=2, preview_every=2, log_every=1, workers=0, device="cpu",
                tensorboard=False, cache_mb=64)
    base.update(kw)
    return from_mapping(base)
