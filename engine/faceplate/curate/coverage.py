"""Pose coverage: which yaw × pitch cells of set A (the shot) set B (the other identity) lacks.

A swap model only learns the poses it saw; a shot pose with no training face of B is the most
common reason a swap fails on some frames. Cells are ``cell`` degrees square and centred on 0°
(frontal faces sit mid-cell, not on an edge); angles beyond the outer edges count in the outer cells.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceplate.errors import InputError

YAW_LIMIT = 80.0
PITCH_LIMIT = 50.0


@dataclass
class Coverage:
    yaw_edges: np.ndarray
    pitch_edges: np.ndarray
    a_counts: np.ndarray  # pitch bins × yaw bins
    b_counts: np.ndarray | None
    a_cells: list[tuple[int, int]]  # per A face: (pitch bin, yaw bin)

    @property
    def missing(self) -> np.ndarray:
        """Boolean pitch × yaw grid: cells with A faces and no B face (all False without B)."""
        if self.b_counts is None:
            return np.zeros_like(self.a_counts, dtype=bool)
        return (self.a_counts > 0) & (self.b_counts == 0)

    def missing_cells(self, a_ids: list[str]) -> list[dict[str, Any]]:
        out = []
        for pi, yi in zip(*np.nonzero(self.missing)):
            ids = [a_ids[k] for k, c in enumerate(self.a_cells) if c == (pi, yi)]
            out.append({
                "yaw": [float(self.yaw_edges[yi]), float(self.yaw_edges[yi + 1])],
                "pitch": [float(self.pitch_edges[pi]), float(self.pitch_edges[pi + 1])],
                "a_faces": len(ids),
                "a_ids": ids,
            })
        return out

    def to_doc(self, a_ids: list[str]) -> dict[str, Any]:
        return {
            "yaw_edges": self.yaw_edges.tolist(),
            "pitch_edges": self.pitch_edges.tolist(),
            "a_counts": self.a_counts.tolist(),
            "b_counts": None if self.b_counts is None else self.b_counts.tolist(),
            "missing": self.missing_cells(a_ids),
            "a_faces_in_missing_cells": int(self.a_counts[self.missing].sum()),
        }


def edges(limit: float, cell: float) -> np.ndarray:
    """Cell edges from about -limit to +limit with 0 at a cell's centre (frontal faces sit mid-cell)."""
    n = int(np.ceil(limit / cell - 0.5))
    return (np.arange(-n, n + 2, dtype=np.float64) - 0.5) * cell


def _bins(values: np.ndarray, e: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(e, values, side="right") - 1, 0, len(e) - 2)


def _counts(yaw, pitch, ye, pe) -> tuple[np.ndarray, list[tuple[int, int]]]:
    yaw, pitch = np.asarray(yaw, np.float64), np.asarray(pitch, np.float64)
    if yaw.shape != pitch.shape or not (np.isfinite(yaw).all() and np.isfinite(pitch).all()):
        raise InputError(f"pose coverage: expected finite yaw and pitch of equal length, found {yaw.shape}, {pitch.shape}")
    yi, pi = _bins(yaw, ye), _bins(pitch, pe)
    counts = np.zeros((len(pe) - 1, len(ye) - 1), np.int64)
    np.add.at(counts, (pi, yi), 1)
    return counts, list(zip(pi.tolist(), yi.tolist()))


def coverage(a_yaw, a_pitch, b_yaw=None, b_pitch=None, cell: float = 10.0) -> Coverage:
    """Count A's (and B's) faces per yaw × pitch cell of ``cell`` degrees."""
    if not 1.0 <= cell <= 45.0:
        raise InputError(f"--cell: expected a cell size between 1 and 45 degrees, found {cell}")
    ye, pe = edges(YAW_LIMIT, cell), edges(PITCH_LIMIT, cell)
    a_counts, a_cells = _counts(a_yaw, a_pitch, ye, pe)
    b_counts = None if b_yaw is None else _counts(b_yaw, b_pitch, ye, pe)[0]
    return Coverage(ye, pe, a_counts, b_counts, a_cells)


def plot(cov: Coverage, a_yaw, a_pitch, path: Path, a_name: str, b_name: str | None, b_yaw=None, b_pitch=None) -> Path:
    """Write the coverage PNG: B's faces per cell (blue), A's poses (dots), A cells B lacks (red)."""
    from faceplate.errors import require

    matplotlib = require("matplotlib", "train")  # the report is a training-preparation step
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    from faceplate.plates.atomic import atomic_path

    ye, pe = cov.yaw_edges, cov.pitch_edges
    fig, ax = plt.subplots(figsize=(9, 5.2), dpi=100)
    grid = cov.b_counts if cov.b_counts is not None else cov.a_counts
    shown = np.where(grid > 0, np.log1p(grid), np.nan)
    top = max(float(np.log1p(grid.max())), float(np.log1p(10)))
    mesh = ax.pcolormesh(ye, pe, shown, cmap="Blues", vmin=0, vmax=top, edgecolors="#dddddd", linewidth=0.4)
    cb = fig.colorbar(mesh, ax=ax, pad=0.02)
    ticks = [t for t in (1, 3, 10, 30, 100, 300, 1000, 3000, 10000) if np.log1p(t) <= top + 1e-9]
    cb.set_ticks(np.log1p(ticks))
    cb.set_ticklabels([str(t) for t in ticks])
    cb.set_label(f"faces of {'B' if cov.b_counts is not None else 'A'} per cell")
    for pi, yi in zip(*np.nonzero(grid)):  # the count in each covered cell
        n = int(grid[pi, yi])
        ax.text(ye[yi] + 0.6, pe[pi + 1] - 0.6, str(n), ha="left", va="top", fontsize=7,
                color="white" if np.log1p(n) > 0.6 * top else "#1f3b73", zorder=5)
    for pi, yi in zip(*np.nonzero(cov.missing)):
        ax.add_patch(Rectangle((ye[yi], pe[pi]), ye[yi + 1] - ye[yi], pe[pi + 1] - pe[pi], fill=False,
                               edgecolor="#d62728", linewidth=2.2, hatch="///"))
        ax.text(ye[yi] + 0.6, pe[pi + 1] - 0.6, str(int(cov.a_counts[pi, yi])), ha="left", va="top",
                fontsize=7, color="#d62728", fontweight="bold", zorder=5)
    if b_yaw is not None and len(b_yaw):
        ax.scatter(np.clip(b_yaw, ye[0], ye[-1]), np.clip(b_pitch, pe[0], pe[-1]), s=10, marker="x", c="#1f3b73", linewidths=0.8,
                   label=f"B: {b_name} ({len(b_yaw)})", zorder=3)
    ax.scatter(np.clip(a_yaw, ye[0], ye[-1]), np.clip(a_pitch, pe[0], pe[-1]), s=16, c="#ff7f0e", edgecolors="black", linewidths=0.4,
               label=f"A: {a_name} ({len(a_yaw)})", zorder=4)
    handles, _ = ax.get_legend_handles_labels()
    if cov.b_counts is not None:
        n_missing = int(cov.a_counts[cov.missing].sum())
        handles.append(Patch(facecolor="none", edgecolor="#d62728", hatch="///",
                             label=f"A poses B lacks: {int(cov.missing.sum())} cells, {n_missing} faces"))
    ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.9)
    ax.set_xlim(ye[0], ye[-1])
    ax.set_ylim(pe[0], pe[-1])
    ax.set_xticks(np.arange(-80, 81, 20) if ye[-1] >= 80 else ye)
    ax.set_yticks(np.arange(-40, 41, 10) if pe[-1] >= 40 else pe)
    ax.set_xlabel("yaw (degrees, + = nose towards image right)")
    ax.set_ylabel("pitch (degrees, + = nose up)")
    title = f"Pose coverage: A {a_name}" + (f" against B {b_name}" if b_name else "")
    ax.set_title(title, fontsize=10)
    ax.axvline(0, color="#888888", linewidth=0.6)
    ax.axhline(0, color="#888888", linewidth=0.6)
    fig.tight_layout()
    with atomic_path(path, "coverage plot") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
