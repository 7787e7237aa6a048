"""Tracking: link faces across frames and smooth each track's landmarks with look-ahead.

We have random access to the whole shot, so smoothing is zero-phase: a centred Savitzky–Golay
filter (local polynomial fit over ``window`` frames, evaluated at the centre frame). A polynomial
of order 2 follows constant-velocity and constant-acceleration motion without lag while averaging
the landmarker's frame-to-frame jitter. Near a track's ends and gaps the window is one-sided (the
fit uses the frames available), so nothing is extrapolated across a gap.

Re-detection policy (used by ``faces.extract``): a face followed from the previous frame's points is
*lost* when its presence drops below ``presence_min`` or its landmarks moved implausibly
(:func:`plausible`); the detector then runs again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from faceplate.errors import InputError


@dataclass
class FaceObs:
    """One face seen in one frame (plate pixels)."""

    frame: int
    box: np.ndarray  # x0, y0, x1, y1
    score: float
    points: np.ndarray  # 468×3 (x, y, z); smoothed once smooth_tracks ran
    presence: float = 1.0
    track: int = -1
    source: str = "detect"  # "detect" | "track"
    raw_points: np.ndarray | None = field(default=None, repr=False)
    shot: int = 0  # index of the shot (between hard cuts) the frame belongs to
    embedding: np.ndarray | None = field(default=None, repr=False)  # identity descriptor, when computed
    person: int = -1  # identity cluster over the sequence (-1: unknown)
    age: int = 0  # frames this face has been followed (analysis only)

    @property
    def size(self) -> float:
        return float(np.sqrt(max(box_area(self.box), 1e-9)))


def box_area(b: np.ndarray) -> float:
    return float(max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two x0, y0, x1, y1 boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def points_box(points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, np.float64)
    return np.array([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()])


def plausible(prev: np.ndarray, cur: np.ndarray, max_motion: float = 0.35, max_scale: float = 1.4) -> bool:
    """Whether landmarks ``cur`` can follow ``prev`` one frame later: the centroid moved less than
    ``max_motion`` × the face size and the size changed by less than a factor ``max_scale``."""
    a, b = np.asarray(prev, np.float64)[:, :2], np.asarray(cur, np.float64)[:, :2]
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return False
    sa, sb = np.sqrt(box_area(points_box(a))), np.sqrt(box_area(points_box(b)))
    if sa <= 0 or sb <= 0:
        return False
    moved = float(np.linalg.norm(a.mean(axis=0) - b.mean(axis=0)))
    return moved < max_motion * sa and 1 / max_scale < sb / sa < max_scale


def link(frames: Iterable[Sequence[FaceObs]], iou_min: float = 0.3, max_gap: int = 12) -> dict[int, list[FaceObs]]:
    """Assign track ids (``obs.track``) across frames in order; returns ``{track id: [obs, ...]}``.

    A face joins the track whose last box (seen at most ``max_gap`` frames earlier) overlaps it most
    (IoU >= ``iou_min``) or, failing that, whose centre is within half a face size. Greedy by best
    match, deterministic. New tracks are numbered in order of appearance, left to right.
    """
    tracks: dict[int, list[FaceObs]] = {}
    next_id = 0
    for obs in frames:
        obs = list(obs)
        if not obs:
            continue
        frame = obs[0].frame
        live = [t for t, seq in tracks.items() if 0 < frame - seq[-1].frame <= max_gap]
        pairs = []
        for i, o in enumerate(obs):
            for t in live:
                last = tracks[t][-1]
                ov = iou(o.box, last.box)
                ca = (o.box[:2] + o.box[2:]) / 2
                cb = (last.box[:2] + last.box[2:]) / 2
                dist = float(np.linalg.norm(ca - cb)) / max(last.size, 1e-9)
                if ov >= iou_min or dist < 0.5:
                    pairs.append((-ov, dist, i, t))
        pairs.sort()
        used_o: set[int] = set()
        used_t: set[int] = set()
        for _, _, i, t in pairs:
            if i in used_o or t in used_t:
                continue
            obs[i].track = t
            tracks[t].append(obs[i])
            used_o.add(i)
            used_t.add(t)
        for i in sorted((i for i in range(len(obs)) if i not in used_o), key=lambda i: (obs[i].box[0], obs[i].box[1])):
            obs[i].track = next_id
            tracks[next_id] = [obs[i]]
            next_id += 1
    return tracks


def _sg_weights(offsets: np.ndarray, order: int) -> np.ndarray:
    """Weights that evaluate at offset 0 the least-squares polynomial through samples at ``offsets``."""
    order = min(order, len(offsets) - 1)
    v = np.vander(offsets.astype(np.float64), order + 1, increasing=True)
    return np.linalg.pinv(v)[0]


def smooth_series(frames: Sequence[int], values: np.ndarray, window: int = 9, order: int = 2,
                  step: int = 1) -> np.ndarray:
    """Zero-phase Savitzky–Golay smoothing of ``values`` (T×…) sampled at ``frames``.

    ``window`` (odd, frames) <= 1 returns a copy. Segments are split where consecutive frames are
    more than ``step`` apart; each segment is filtered on its own with one-sided windows at its ends.
    """
    v = np.asarray(values, dtype=np.float64)
    f = np.asarray(frames)
    if v.shape[0] != f.shape[0]:
        raise InputError(f"smoothing: expected one value per frame, found {v.shape[0]} values for {f.shape[0]} frames")
    if not np.isfinite(v).all():
        raise InputError("smoothing: expected finite landmark values, found NaN/Inf")
    if not isinstance(window, (int, np.integer)) or window < 0:
        raise InputError(f"--smooth: expected a whole number of frames >= 0, found {window!r}")
    if window <= 1 or v.shape[0] < 3:
        return v.copy()
    half = int(window) // 2
    out = np.empty_like(v)
    breaks = np.flatnonzero(np.diff(f) != step) + 1
    for seg in np.split(np.arange(len(f)), breaks):
        n = len(seg)
        for k in range(n):
            lo, hi = max(0, k - half), min(n, k + half + 1)
            w = _sg_weights(np.arange(lo - k, hi - k), order)
            out[seg[k]] = np.tensordot(w, v[seg[lo:hi]], axes=1)
    return out


def window_for(strength: float) -> int:
    """Savitzky–Golay window (odd frames) for a smoothing ``strength`` in frames (half-width; 0 = off)."""
    if not np.isfinite(strength) or strength < 0:
        raise InputError(f"smoothing: expected a number of frames >= 0, found {strength!r}")
    return 2 * int(round(float(strength))) + 1


def link_tracks(per_frame: dict[int, list[np.ndarray]], iou_min: float = 0.3,
                max_gap: int = 12) -> list[dict[int, np.ndarray]]:
    """Plain-array form of :func:`link`: ``{frame: [468×2|3 points, ...]}`` ->
    ``[{frame: points}, ...]``, one dict per track (tracks in order of appearance)."""
    frames = []
    for f in sorted(per_frame):
        frames.append([FaceObs(frame=f, box=points_box(p), score=1.0, points=np.asarray(p, np.float64))
                       for p in per_frame[f]])
    tracks = link(frames, iou_min, max_gap)
    return [{o.frame: o.points for o in tracks[t]} for t in sorted(tracks)]


def smooth_tracks(tracks, window: int = 9, order: int = 2, step: int = 1, strength: float | None = None):
    """Smooth every track's landmarks with look-ahead (zero-phase).

    * ``{track id: [FaceObs, ...]}`` (from :func:`link`): smoothed in place, the unsmoothed points
      kept in ``raw_points``; returns the same dict.
    * ``[{frame: points}, ...]`` (from :func:`link_tracks`): returns new smoothed dicts.

    ``strength`` (frames, half-width) overrides ``window`` when given: window = 2·strength + 1.
    """
    if strength is not None:
        window = window_for(strength)
    if isinstance(tracks, list):
        out = []
        for tr in tracks:
            frames = sorted(tr)
            sm = smooth_series(frames, np.stack([np.asarray(tr[f], np.float64) for f in frames]), window, order, step)
            out.append({f: p for f, p in zip(frames, sm)})
        return out
    for seq in tracks.values():
        seq.sort(key=lambda o: o.frame)
        pts = np.stack([o.raw_points if o.raw_points is not None else o.points for o in seq])
        sm = smooth_series([o.frame for o in seq], pts, window, order, step)
        for o, p in zip(seq, sm):
            if o.raw_points is None:
                o.raw_points = o.points
            o.points = p
    return tracks


def jitter_rms(series: np.ndarray, truth: np.ndarray) -> float:
    """RMS distance (px) between landmark series T×468×2 and ground truth of the same shape."""
    d = np.asarray(series, np.float64)[..., :2] - np.asarray(truth, np.float64)[..., :2]
    return float(np.sqrt((d ** 2).sum(axis=-1).mean()))
