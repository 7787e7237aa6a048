"""Selections, never deletions: choose a face set's faces by measure and write a selection JSON.

``faceplate train`` accepts the selection in place of the set (``faces.faceset.load_for_training``);
the extracted files are never touched. The selection's ``criteria`` records the thresholds and,
for each dropped face, why.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceplate.curate.measures import group_key, duplicate_clusters
from faceplate.curate.measures import SetMeasures
from faceplate.errors import FaceSetError, InputError
from faceplate.faces.faceset import save_selection


@dataclass(frozen=True)
class Criteria:
    """Thresholds; ``None`` means "do not filter on this"."""

    min_sharpness: float | None = None
    max_yaw: float | None = None
    max_pitch: float | None = None
    min_size: float | None = None
    dedupe: float | None = None

    def check(self) -> "Criteria":
        for name, v in asdict(self).items():
            if v is None:
                continue
            if not np.isfinite(v) or v < 0:
                raise InputError(f"--{name.replace('_', '-')}: expected a finite value >= 0, found {v}")
        if self.dedupe is not None and self.dedupe > 1:
            raise InputError(f"--dedupe: expected a thumbnail distance in [0, 1], found {self.dedupe}")
        return self


def select(sm: SetMeasures, criteria: Criteria) -> tuple[list[str], dict[str, list[str]]]:
    """(kept ids in the set's order, {dropped id: reasons})."""
    c = criteria.check()
    reasons: dict[str, list[str]] = {}
    for r in sm.rows:
        why = []
        if c.min_sharpness is not None and r["sharpness"] < c.min_sharpness:
            why.append(f"sharpness {r['sharpness']:.4g} < {c.min_sharpness}")
        if c.max_yaw is not None and abs(r["yaw"]) > c.max_yaw:
            why.append(f"|yaw| {abs(r['yaw']):.1f} > {c.max_yaw}")
        if c.max_pitch is not None and abs(r["pitch"]) > c.max_pitch:
            why.append(f"|pitch| {abs(r['pitch']):.1f} > {c.max_pitch}")
        if c.min_size is not None and r["size_px"] < c.min_size:
            why.append(f"size {r['size_px']:.0f}px < {c.min_size}")
        if why:
            reasons[r["id"]] = why
    if c.dedupe is not None:
        alive = [i for i, r in enumerate(sm.rows) if r["id"] not in reasons]
        faces = sm.faceset.faces
        order = sorted(range(len(alive)), key=lambda k: (group_key(faces[alive[k]]), faces[alive[k]].frame))
        labels = duplicate_clusters(sm.thumbs[alive], order, c.dedupe) if alive else np.zeros(0, np.int64)
        best: dict[int, int] = {}
        for k, i in enumerate(alive):
            lab = int(labels[k])
            if lab not in best or sm.rows[i]["sharpness"] > sm.rows[best[lab]]["sharpness"]:
                best[lab] = i
        for k, i in enumerate(alive):
            keep = best[int(labels[k])]
            if keep != i:
                reasons[sm.rows[i]["id"]] = [f"near-duplicate of {sm.rows[keep]['id']} (sharper)"]
    kept = [r["id"] for r in sm.rows if r["id"] not in reasons]
    return kept, reasons


def write_selection(path: Path | str, sm: SetMeasures, criteria: Criteria) -> dict[str, Any]:
    """Select and write ``path`` (atomically); refuse a selection that would keep no face."""
    if not sm.rows:
        raise FaceSetError(f"selection {path}: face set {sm.faceset.root} has no faces to select from")
    kept, reasons = select(sm, criteria)
    if not kept:
        raise FaceSetError(
            f"selection {path}: the criteria {_given(criteria)} keep none of the {len(sm.rows)} faces of "
            f"{sm.faceset.root}; loosen them (run 'faceplate faces report' to see the measures)"
        )
    crit = {"thresholds": _given(criteria), "kept": len(kept), "of": len(sm.rows), "dropped": reasons}
    save_selection(path, sm.faceset, kept, crit)
    return crit


def _given(criteria: Criteria) -> dict[str, float]:
    return {k: v for k, v in asdict(criteria).items() if v is not None}
