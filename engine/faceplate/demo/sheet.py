"""Contact sheet of a rendered shot: plate | swap element | mask | comp, one row per sampled frame,
each tile a face-centred crop shown through the display-referred sRGB proxy."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from faceplate.colour import ColourConfig
from faceplate.plates import Sequence, read_image
from faceplate.plates.atomic import atomic_path

SWAP = ("swap.R", "swap.G", "swap.B", "swap.A")
COLUMNS = ("plate", "swap element", "mask", "comp")


def _face_box(mask: np.ndarray, pad: float = 0.9) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask > 0.01)
    h, w = mask.shape
    if len(xs) == 0:
        side = min(h, w) // 2
        return (w - side) // 2, (h - side) // 2, side, side
    cx, cy = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
    side = int(max(xs.max() - xs.min(), ys.max() - ys.min()) * (1 + 2 * pad))
    side = min(side, h, w)
    x0 = int(np.clip(cx - side / 2, 0, w - side))
    y0 = int(np.clip(cy - side / 2, 0, h - side))
    return x0, y0, side, side


def contact_sheet(plate: Sequence, passes: Sequence, frames: list[int], out: Path, plate_space: str,
                  config: ColourConfig | None = None, tile: int = 320) -> Path:
    """Write the sheet PNG atomically; returns its path."""
    import cv2

    config = config or ColourConfig()
    rows = []
    for f in frames:
        src = read_image(plate.path(f), frame=f).rgb()
        p = read_image(passes.path(f), frame=f)
        mask = p.channels_array(["mask.Y"])[..., 0]
        swap = p.channels_array(SWAP)
        comp = p.channels_array(["R", "G", "B"]) if p.has("R", "G", "B") else src * (1 - swap[..., 3:]) + swap[..., :3]
        x, y, w, h = _face_box(mask)
        sl = np.s_[y: y + h, x: x + w]
        tiles = [
            config.to_proxy(src[sl], plate_space),
            config.to_proxy(swap[sl][..., :3], plate_space),
            np.repeat(np.clip(mask[sl], 0, 1)[..., None], 3, axis=2),
            config.to_proxy(comp[sl], plate_space),
        ]
        row = [(np.clip(cv2.resize(t, (tile, tile), interpolation=cv2.INTER_AREA), 0, 1) * 255 + 0.5)
               .astype(np.uint8) for t in tiles]
        for t, name in zip(row, COLUMNS):
            label = f"{name}  {f}"
            (w_txt, h_txt), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
            t[4: 12 + h_txt, 4: 12 + w_txt] //= 3  # a dark box behind the label
            cv2.putText(t, label, (8, 8 + h_txt), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        rows.append(np.concatenate(row, axis=1))
    sheet = np.concatenate(rows, axis=0)
    with atomic_path(out, "contact sheet") as tmp:
        cv2.imwrite(str(tmp), sheet[..., ::-1])
    return Path(out)


def pass_through_error(plate: Sequence, passes: Sequence, frames: list[int],
                       face_frames: list[int] | None = None) -> dict[str, float]:
    """Largest |comp − plate| outside the matte (must be 0), largest swap alpha outside it, and how
    many frames that should carry a face (``face_frames``, default all) have a non-empty swap."""
    worst_comp, worst_alpha, outside, with_swap = 0.0, 0.0, 0, 0
    face_frames = list(frames) if face_frames is None else list(face_frames)
    for f in frames:
        src = read_image(plate.path(f), frame=f).rgb()
        p = read_image(passes.path(f), frame=f)
        mask = p.channels_array(["mask.Y"])[..., 0]
        alpha = p.channels_array(["swap.A"])[..., 0]
        out = (mask == 0) & (alpha == 0)
        outside += int(out.sum())
        if p.has("R", "G", "B"):
            comp = p.channels_array(["R", "G", "B"])
            worst_comp = max(worst_comp, float(np.abs(comp[out] - src[out]).max(initial=0.0)))
        worst_alpha = max(worst_alpha, float(np.abs(alpha[mask == 0]).max(initial=0.0)))
        if f in face_frames and float(mask.max(initial=0.0)) > 0.01 and float(alpha.max(initial=0.0)) > 0.01:
            with_swap += 1
    return {"comp_vs_plate_outside_matte": worst_comp, "swap_alpha_outside_matte": worst_alpha,
            "pixels_checked": outside, "face_frames": len(face_frames), "face_frames_with_swap": with_swap}
