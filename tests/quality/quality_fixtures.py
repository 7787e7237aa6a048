"""Helpers for the quality tests (imported as ``quality_fixtures``: a unique name).

Reuses the render tests' builders (a synthetic shot written as EXRs, a real ONNX swap model whose mask
is a centred disc) and the training tests' face sets drawn in code, and gives face-set records
468-point landmarks (crop pixels) posed from the alignment template.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parents[1]
for sub in ("render", "train"):
    if str(TESTS / sub) not in sys.path:
        sys.path.insert(0, str(TESTS / sub))

from render_fixtures import FIRST, Shot, build_model, build_shot  # noqa: E402
from train_fixtures import make_faceset  # noqa: E402

__all__ = ["FIRST", "Shot", "build_model", "build_shot", "make_faceset", "posed_landmarks", "faceset_with_landmarks"]


def posed_landmarks(size: int, scale: float = 0.55, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """468×2 crop pixels: the alignment template scaled to ``scale × size`` and shifted by (dx, dy) px."""
    from faceplate.faces import align

    t = np.asarray(align.TEMPLATE, np.float64)[:, :2]
    t = (t - t.mean(0)) / np.ptp(t, 0).max()
    return t * scale * size + size / 2 + np.array([dx, dy])


def faceset_with_landmarks(root: Path, landmarks: list[np.ndarray], size: int, seed: int = 0):
    """A face set of ``len(landmarks)`` drawn faces whose records hold these landmarks."""
    from faceplate.faces.faceset import FaceSet

    fs = make_faceset(root, n=len(landmarks), size=size, seed=seed, template=False)
    for rec, lm in zip(fs.faces, landmarks):
        rec.landmarks = np.round(np.asarray(lm, np.float64), 4).tolist()
    fs.save()
    return FaceSet.load(root)
