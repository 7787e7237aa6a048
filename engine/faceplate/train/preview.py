"""Watching a run: the preview grid PNG and the loss plot PNG (both written atomically).

Grid columns: A, A→A, A→B, B, B→B, B→A, mask(A→A), mask(B→B); one row per preview face.
Code values are shown through the crop encoding's transfer and an sRGB curve (display only; the
primaries are not converted).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from faceplate.colour.encoding import decode_transfer, encode_transfer
from faceplate.plates.atomic import atomic_path

COLUMNS = ("A", "A→A", "A→B", "B", "B→B", "B→A", "mask A", "mask B")


@torch.no_grad()
def preview_grid(model: torch.nn.Module, batch: dict[str, torch.Tensor], device: torch.device,
                 transfer: str) -> np.ndarray:
    """-> uint8 H×W×3 grid (rows: faces, columns: :data:`COLUMNS`)."""
    was_training = model.training
    model.eval()
    try:
        a, b = batch["a"].to(device), batch["b"].to(device)
        aa, ma = model(a, "a")
        ab, _ = model(a, "b", "a")
        bb, mb = model(b, "b")
        ba, _ = model(b, "a", "b")
    finally:
        model.train(was_training)
    cols = [a, aa, ab, b, bb, ba, ma.expand(-1, 3, -1, -1), mb.expand(-1, 3, -1, -1)]
    cols = [c.float().cpu().numpy().transpose(0, 2, 3, 1) for c in cols]  # N×H×W×3
    colour = [to_display(c, transfer) for c in cols[:6]] + [np.clip(c, 0, 1) for c in cols[6:]]
    rows = [np.concatenate([c[i] for c in colour], axis=1) for i in range(cols[0].shape[0])]
    grid = np.concatenate(rows, axis=0)
    return (grid * 255.0 + 0.5).astype(np.uint8)


def expression_strip(faces: list[tuple[np.ndarray, np.ndarray, np.ndarray]], transfer: str,
                     strength: float = 1.0, targets: list[dict[str, float] | None] | None = None) -> np.ndarray:
    """-> uint8 grid: one row per face ``(code S×S×3, masks S×S×3, landmarks 468×2)``, one column per
    expression of :data:`~faceplate.train.expression.SHOWCASE` (amplitudes × ``strength``), as
    training synthesizes them (before the usual augmentation); with ``targets`` (one per face, or
    None), a last column with the face matched to its target's expression measures
    (:func:`~faceplate.train.expression.match_expression`: the other set's median face)."""
    from dataclasses import fields

    from faceplate.train.expression import SHOWCASE, Expression, match_expression, synthesize

    rows = []
    for k, (code, masks, pts) in enumerate(faces):
        tiles = []
        exprs = [Expression(**{f.name: getattr(e, f.name) * strength for f in fields(Expression)})
                 for e in SHOWCASE.values()]
        if targets is not None:
            exprs.append(match_expression(pts, targets[k]) if targets[k] is not None else Expression())
        for scaled in exprs:
            out, _, _ = synthesize(code, masks, pts, scaled, transfer)
            tiles.append(to_display(out, transfer))
        rows.append(np.concatenate(tiles, axis=1))
    return (np.concatenate(rows, axis=0) * 255.0 + 0.5).astype(np.uint8)


def to_display(code: np.ndarray, transfer: str) -> np.ndarray:
    lin = decode_transfer(code, transfer)
    return np.clip(encode_transfer(np.clip(lin, 0, 1), "srgb"), 0, 1)


def write_png(path: Path | str, rgb8: np.ndarray) -> Path:
    import OpenImageIO as oiio

    from faceplate.errors import OutputError

    path = Path(path)
    h, w, c = rgb8.shape
    with atomic_path(path, "preview") as tmp:
        out = oiio.ImageOutput.create(str(tmp))
        if out is None or not out.open(str(tmp), oiio.ImageSpec(w, h, c, oiio.UINT8)):
            raise OutputError(f"preview {path}: cannot open for writing ({oiio.geterror().strip()})")
        ok = out.write_image(np.ascontiguousarray(rgb8))
        out.close()
        if not ok:
            raise OutputError(f"preview {path}: write failed ({out.geterror().strip()})")
    return path


def read_log(path: Path | str) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut by a kill: ignore it and what follows
    return out


def plot_losses(log: list[dict], path: Path | str) -> Path | None:
    """Loss curves (one per logged term) as a PNG; None when there is nothing to plot."""
    if not log:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    keys = [k for k in log[0] if k not in ("step", "lr", "samples_per_s", "time", "grad_norm")]
    fig = Figure(figsize=(8, 4.5), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    steps = [r["step"] for r in log]
    for k in keys:
        ax.plot(steps, [r.get(k, np.nan) for r in log], label=k, linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, "loss plot") as tmp:
        fig.savefig(str(tmp), format="png")
    return path
