"""Expression measures from FaceMesh landmarks, and expression coverage of one set by another.

Every measure is a distance between landmarks divided by the outer-eye-corner distance (33 → 263),
so it does not depend on the crop size or the face's size in the plate, and works on plate or crop
landmarks alike (a similarity transform keeps the ratios):

================  ===============================================================  ===============
measure           definition                                                       typical range
================  ===============================================================  ===============
mouth_open        inner-lip gap at the centre (13 ↔ 14)                            0 closed .. 0.4
mouth_width       mouth-corner distance (61 ↔ 291)                                 0.45 .. 0.75
smile             height of the mouth corners (61, 291) above the upper lip's      -0.05 .. 0.15
                  inner centre (13), across the eye line                           (smiling > 0.05)
eye_open          mean upper/lower eyelid gap (159 ↔ 145, 386 ↔ 374)               0.02 blink .. 0.15
================  ===============================================================  ===============

A smile lifts (and widens) the mouth corners, an open mouth parts the lips, a blink closes the eyes. A face set of B
that never shows what the shot's A shows makes the swap keep B's one expression (a face that does
not smile where the plate smiles): :func:`expression_coverage` names the expressions B lacks, and
``faceplate train --expressions b`` synthesizes them from B's own faces.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from faceplate.errors import InputError

#: FaceMesh index pairs (subject's right, subject's left)
EYE_OUTER = (33, 263)
MOUTH_CORNERS = (61, 291)
LIP_CENTRE = (13, 14)  # inner upper lip, inner lower lip
EYELIDS = ((159, 145), (386, 374))  # (upper, lower) per eye

MEASURE_NAMES = ("mouth_open", "mouth_width", "smile", "eye_open")

#: expression -> (measure, direction, margin): A shows the expression B lacks when a measure of A's
#: lies beyond everything B shows by more than the margin (eye distances) in that direction. Mouth
#: width differs between people almost as much as with a smile: only a large excess counts.
CHECKS = {
    "open mouth": (("mouth_open", +1, 0.05),),
    "smile": (("smile", +1, 0.02), ("mouth_width", +1, 0.10)),
    "blink": (("eye_open", -1, 0.025),),
}


def _points(points: Any) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != 468 or p.shape[1] < 2:
        raise InputError(f"expression landmarks: expected 468×2 or 468×3 points, found shape {p.shape}")
    if not np.isfinite(p[:, :2]).all():
        raise InputError("expression landmarks: expected finite coordinates, found NaN/Inf")
    return p[:, :2]


def eye_distance(points: Any) -> float:
    """Outer-eye-corner distance (33 ↔ 263) in the points' own units."""
    p = _points(points)
    return float(np.linalg.norm(p[EYE_OUTER[1]] - p[EYE_OUTER[0]]))


def measures(points: Any) -> dict[str, float]:
    """``{mouth_open, mouth_width, smile, eye_open}`` of 468 landmarks (pixels), each ÷ the eye distance."""
    p = _points(points)
    axis = p[EYE_OUTER[1]] - p[EYE_OUTER[0]]
    e = float(np.linalg.norm(axis))
    if not e > 1e-6:
        raise InputError("expression landmarks: the outer eye corners coincide (degenerate landmarks)")
    down = np.array([-axis[1], axis[0]]) / e  # across the eye line, towards the chin

    def d(i: int, j: int) -> float:
        return float(np.linalg.norm(p[i] - p[j])) / e

    lift = np.mean([(p[LIP_CENTRE[0]] - p[c]) @ down for c in MOUTH_CORNERS]) / e
    return {
        "mouth_open": d(*LIP_CENTRE),
        "mouth_width": d(*MOUTH_CORNERS),
        "smile": float(lift),
        "eye_open": 0.5 * (d(*EYELIDS[0]) + d(*EYELIDS[1])),
    }


def _table(rows: Iterable[Any]) -> dict[str, np.ndarray]:
    vals = [measures(r) for r in rows]
    return {k: np.array([v[k] for v in vals], np.float64) for k in MEASURE_NAMES}


def expression_coverage(a_points: Iterable[Any], b_points: Iterable[Any]) -> dict[str, Any]:
    """Which of A's expressions B's faces never show.

    ``measures``: per measure, A's and B's (min, median, max). ``missing``: the expressions of
    :data:`CHECKS` (open mouth, smile, blink) that some A faces show beyond everything B shows,
    with how many A faces. ``suggest``: the train option that synthesizes them from B (empty when
    nothing is missing).
    """
    a, b = _table(a_points), _table(b_points)
    if not len(a["mouth_open"]) or not len(b["mouth_open"]):
        raise InputError("expression coverage: expected at least one face in each set, found none")
    out: dict[str, Any] = {"measures": {}, "missing": []}
    for name in MEASURE_NAMES:
        out["measures"][name] = {
            "a": [float(a[name].min()), float(np.median(a[name])), float(a[name].max())],
            "b": [float(b[name].min()), float(np.median(b[name])), float(b[name].max())],
        }
    for label, tests in CHECKS.items():
        beyond = np.zeros(len(a["mouth_open"]), bool)
        for name, sign, margin in tests:
            edge = b[name].max() if sign > 0 else b[name].min()
            beyond |= sign * (a[name] - edge) > margin
        if beyond.any():
            out["missing"].append({"expression": label, "measures": [t[0] for t in tests],
                                   "a_faces": int(beyond.sum()), "of": int(len(beyond))})
    out["suggest"] = "--expressions b" if out["missing"] else ""
    return out
