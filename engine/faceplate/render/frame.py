"""The per-frame swap, in three stages so the service can batch the model across requests.

1. :func:`prepare` — per face: crop matrix from the landmarks (the model's resolution, coverage and
   centering), warp the plate to the crop in float, encode it in the model's crop encoding, and the
   landmark mask in crop pixels;
2. the model runs on the stacked crops (``SwapModel.run``);
3. :func:`finish` — decode to linear (plate space), per-side erosion of the crop matte (the face's
   top/bottom/left/right), colour match inside it, inverse-warp face and matte in float,
   erode/feather in plate pixels, merge faces, build the passes.

Input plate colour is float32 H×W×3 over the plate's data window, scene-linear in ``space``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from faceplate.colour.ocio import ColourConfig
from faceplate.errors import InputError
from faceplate.render.blend import (clean_matte, combine_mattes, comp_alpha, comp_over_plate, erode_sides,
                                    floor_mask, over)
from faceplate.render.colourmatch import colour_match
from faceplate.render.model import SwapModel
from faceplate.render.settings import RenderSettings


@dataclass
class FaceCrop:
    """One face of a frame, ready for the model."""

    matrix: np.ndarray  # 2×3 float64 plate -> crop
    code: np.ndarray  # 3×R×R float32 model input
    ref: np.ndarray  # R×R×3 float32 plate colour in the crop (linear, plate space)
    landmark_mask: np.ndarray  # R×R float32


@dataclass
class Passes:
    """The frame's passes over the plate's data window."""

    swap: np.ndarray  # H×W×4 float32 premultiplied RGBA
    mask: np.ndarray  # H×W float32
    comp: np.ndarray | None  # H×W×4 float32 RGBA, or None
    faces: int


def _apply(matrix: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts[:, :2] @ matrix[:, :2].T + matrix[:, 2]


def prepare(plate_rgb: np.ndarray, offset: tuple[int, int], faces: Sequence[np.ndarray], model: SwapModel,
            settings: RenderSettings, config: ColourConfig, space: str) -> list[FaceCrop]:
    """Crops of every face (landmarks 468×2/3 in plate pixels) for ``model``."""
    from faceplate.faces import align, masks

    man = model.manifest
    r = man.resolution
    crops = []
    for pts in faces:
        pts = np.asarray(pts, np.float64)
        if pts.ndim != 2 or pts.shape[0] != 468 or pts.shape[1] < 2 or not np.isfinite(pts).all():
            raise InputError(f"face landmarks: expected 468×2 or 468×3 finite plate pixels, found {pts.shape}")
        m = np.asarray(align.crop_matrix(pts[:, :2], r, man.coverage, man.centering), np.float64)
        ref = np.asarray(align.warp_to_crop(plate_rgb, m, r, offset=offset), np.float32)
        code = man.crop_encoding.encode(ref, space, config)
        lm = masks.landmark_masks(_apply(m, pts), r, method=settings.landmark_mask)["face"]
        crops.append(FaceCrop(matrix=m, code=np.ascontiguousarray(code.transpose(2, 0, 1)), ref=ref,
                              landmark_mask=np.clip(np.asarray(lm, np.float32), 0.0, 1.0)))
    return crops


def _region(matrix: np.ndarray, r: int, margin: float, window: tuple[int, int, int, int]):
    """Plate-pixel box (x0, y0, x1, y1) covering the crop square plus ``margin``, inside ``window``."""
    from faceplate.faces import align

    inv = np.asarray(align.invert(matrix), np.float64)
    corners = np.array([[0, 0], [r, 0], [0, r], [r, r]], np.float64)
    pc = _apply(inv, corners)
    x, y, w, h = window
    x0 = max(x, int(np.floor(pc[:, 0].min() - margin)))
    y0 = max(y, int(np.floor(pc[:, 1].min() - margin)))
    x1 = min(x + w, int(np.ceil(pc[:, 0].max() + margin)) + 1)
    y1 = min(y + h, int(np.ceil(pc[:, 1].max() + margin)) + 1)
    return x0, y0, x1, y1


def finish(plate_rgb: np.ndarray, plate_alpha: np.ndarray | None, offset: tuple[int, int],
           crops: Sequence[FaceCrop], swaps: np.ndarray, learned: np.ndarray, model: SwapModel,
           settings: RenderSettings, config: ColourConfig, space: str) -> Passes:
    """Passes from the model outputs (``swaps`` N×3×R×R, ``learned`` N×1×R×R) of ``crops``.

    All arithmetic happens inside the faces' boxes; the rest of the frame is only copied.
    """
    from faceplate.faces import align, masks

    h, w = plate_rgb.shape[:2]
    window = (offset[0], offset[1], w, h)
    swap = np.zeros((h, w, 4), np.float32)  # premultiplied RGB + alpha
    man = model.manifest
    r = man.resolution
    margin = abs(settings.erode) + 3.0 * settings.feather + 2.0
    box = None  # union of the faces' boxes, array indices (y0, y1, x0, x1)
    for i, c in enumerate(crops):
        face = man.crop_encoding.decode(np.ascontiguousarray(swaps[i].transpose(1, 2, 0)), space, config)
        crop_matte = combine_mattes(floor_mask(learned[i, 0], settings.mask_floor), c.landmark_mask, settings.matte)
        sides = (settings.erode_top, settings.erode_bottom, settings.erode_left, settings.erode_right)
        if any(sides):  # per-side erosion in the face's own frame, plate pixels -> crop pixels
            k = align.matrix_scale(c.matrix)
            crop_matte = erode_sides(crop_matte, *(v * k for v in sides))
        face = colour_match(face, c.ref, crop_matte, settings.colour_match, space, config, settings.colour_amount)
        x0, y0, x1, y1 = _region(c.matrix, r, margin, window)
        if x1 <= x0 or y1 <= y0:
            continue  # the face is outside the data window
        hw = (y1 - y0, x1 - x0)
        back, _ = align.warp_from_crop(face, c.matrix, hw, offset=(x0, y0), interpolation="cubic")
        back = np.nan_to_num(np.asarray(back, np.float32), nan=0.0, posinf=65504.0, neginf=-65504.0)
        mb, valid = align.warp_from_crop(crop_matte, c.matrix, hw, offset=(x0, y0), interpolation="linear")
        m = np.clip(np.asarray(mb, np.float32) * np.asarray(valid, np.float32), 0.0, 1.0)
        m = clean_matte(masks.soften(m, settings.erode, settings.feather))
        ay0, ay1, ax0, ax1 = y0 - offset[1], y1 - offset[1], x0 - offset[0], x1 - offset[0]
        sub = swap[ay0:ay1, ax0:ax1]
        sub[..., :3], sub[..., 3] = over(back * m[..., None], m, sub[..., :3], sub[..., 3])
        box = (ay0, ay1, ax0, ax1) if box is None else (
            min(box[0], ay0), max(box[1], ay1), min(box[2], ax0), max(box[3], ax1))
    if box is not None:
        sub = swap[box[0]:box[1], box[2]:box[3]]
        sub[..., 3] = clean_matte(sub[..., 3])
        sub[sub[..., 3] == 0] = 0.0
    comp = None
    if settings.comp:
        comp = np.empty((h, w, 4), np.float32)
        comp[..., :3] = plate_rgb
        comp[..., 3] = 1.0 if plate_alpha is None else plate_alpha
        if box is not None:
            sl = (slice(box[0], box[1]), slice(box[2], box[3]))
            a = swap[sl][..., 3]
            comp[sl][..., :3] = comp_over_plate(plate_rgb[sl], swap[sl][..., :3], a)
            comp[sl][..., 3] = comp_alpha(None if plate_alpha is None else plate_alpha[sl], a)
    return Passes(swap=swap, mask=swap[..., 3], comp=comp, faces=len(crops))


def empty_passes(plate_rgb: np.ndarray, plate_alpha: np.ndarray | None, settings: RenderSettings) -> Passes:
    """A frame without a face: empty swap, zero mask, comp = plate."""
    h, w = plate_rgb.shape[:2]
    comp = None
    if settings.comp:
        a = np.ones((h, w), np.float32) if plate_alpha is None else plate_alpha
        comp = np.concatenate([plate_rgb, a[..., None]], axis=2)
    return Passes(swap=np.zeros((h, w, 4), np.float32), mask=np.zeros((h, w), np.float32), comp=comp, faces=0)


def render_frame(plate_rgb: np.ndarray, plate_alpha: np.ndarray | None, offset: tuple[int, int],
                 faces: Sequence[np.ndarray], model: SwapModel, settings: RenderSettings,
                 config: ColourConfig, space: str) -> Passes:
    """All three stages for one frame (in-process render)."""
    if not faces:
        return empty_passes(plate_rgb, plate_alpha, settings)
    crops = prepare(plate_rgb, offset, faces, model, settings, config, space)
    swaps, learned = model.run(np.stack([c.code for c in crops]))
    return finish(plate_rgb, plate_alpha, offset, crops, swaps, learned, model, settings, config, space)
