"""Where a frame's faces come from: the shot's ``alignments.json`` (so render and training data
agree), or detection + landmarks + tracking with look-ahead smoothing over the frames rendered.

A face here is a :class:`ShotFace`: 468×3 landmarks in plate pixels (x, y, z) and a track id.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from faceplate.errors import InputError
from faceplate.jsonio import load_json
from faceplate.render.settings import RenderSettings

ALIGNMENTS_SCHEMA = "faceplate.alignments"


@dataclass
class ShotFace:
    points: np.ndarray  # 468×3 float64 plate pixels
    track: int = 0
    score: float = 1.0
    selected: bool = True  # chosen by 'faceplate extract --face' (what the model was trained on)
    person: int = -1  # identity cluster recorded by extract (-1: unknown)
    embedding: np.ndarray | None = None  # identity descriptor recorded by extract, when any

    @property
    def area(self) -> float:
        p = self.points[:, :2]
        return float(np.ptp(p[:, 0]) * np.ptp(p[:, 1]))


def _face_from_doc(f: dict[str, Any], where: str) -> ShotFace:
    try:
        pts = np.asarray(f["landmarks"], np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{where}: expected 'landmarks' (468×3 plate pixels), found {exc}") from exc
    if pts.ndim != 2 or pts.shape[0] != 468 or pts.shape[1] not in (2, 3) or not np.isfinite(pts).all():
        raise InputError(f"{where}: expected 468×3 finite landmarks, found shape {pts.shape}")
    if pts.shape[1] == 2:
        pts = np.hstack([pts, np.zeros((468, 1))])
    track = f.get("track", f.get("track_id", 0))
    emb = f.get("identity")
    return ShotFace(points=pts, track=int(track if track is not None else 0), score=float(f.get("score", 1.0)),
                    selected=bool(f.get("selected", True)), person=int(f.get("person", -1)),
                    embedding=np.asarray(emb, np.float64) if emb is not None else None)


def load_alignments(path: Path | str) -> dict[int, list[ShotFace]]:
    """frame -> faces, from an ``alignments.json`` written by ``faceplate extract``.

    Frames listed under ``gaps`` without faces map to an empty list (no face). Frames neither listed
    nor in the gaps are absent from the result (the caller reports them). Each face keeps extract's
    ``selected`` flag (true when the file has none).
    """
    doc = load_json(path, ALIGNMENTS_SCHEMA, 1, InputError)
    frames = doc.get("frames")
    items: Iterable[tuple[Any, Any]]
    if isinstance(frames, dict):
        items = frames.items()
    elif isinstance(frames, list):
        items = ((f.get("frame"), f.get("faces", [])) for f in frames if isinstance(f, dict))
    else:
        raise InputError(f"alignments {path}: expected 'frames' (object or list), found {type(frames).__name__}")
    out: dict[int, list[ShotFace]] = {}
    for key, faces in items:
        try:
            frame = int(key)
        except (TypeError, ValueError):
            raise InputError(f"alignments {path}: expected integer frame numbers, found {key!r}") from None
        if isinstance(faces, dict):
            faces = faces.get("faces", [])
        if not isinstance(faces, list):
            raise InputError(f"alignments {path}, frame {frame}: expected a list of faces, found {type(faces).__name__}")
        out[frame] = [_face_from_doc(f, f"alignments {path}, frame {frame}, face {i}") for i, f in enumerate(faces)]
    for g in doc.get("gaps", []) or []:
        try:
            out.setdefault(int(g), [])
        except (TypeError, ValueError):
            raise InputError(f"alignments {path}: expected integer frames in 'gaps', found {g!r}") from None
    return out


def faces_for_frames(path: Path | str, frames: Iterable[int]) -> dict[int, list[ShotFace]]:
    """The alignments of ``frames``; an :class:`InputError` lists frames the file does not cover."""
    al = load_alignments(path)
    frames = list(frames)
    missing = [f for f in frames if f not in al]
    if missing:
        shown = ", ".join(str(f) for f in missing[:10]) + (" ..." if len(missing) > 10 else "")
        have = f"{min(al)}-{max(al)}" if al else "none"
        raise InputError(f"alignments {path}: {len(missing)} requested frame(s) not covered: {shown}; "
                         f"the file covers {have} (re-run 'faceplate extract' over these frames)")
    return {f: al[f] for f in frames}


def select(faces: list[ShotFace], settings: RenderSettings) -> list[ShotFace]:
    """The faces to replace per ``--face``: selected (by extract), all, the largest, or one track id."""
    if not faces:
        return []
    choice = settings.face.strip().lower()
    if choice == "selected" or choice.startswith("like:"):  # like: marked by faceplate.render.identity
        return sorted((f for f in faces if f.selected), key=lambda f: f.track)
    if choice == "largest":
        return [max(faces, key=lambda f: (f.area, -f.track))]
    tid = settings.track_id
    if tid is not None:
        return [f for f in faces if f.track == tid]
    return sorted(faces, key=lambda f: f.track)


class FaceFinder:
    """Detection + landmarks per frame (face-model assets), cached by frame identity, then tracking and
    look-ahead smoothing over a window of neighbouring frames, never across a hard cut
    (:mod:`faceplate.faces.shots`).

    Smoothing a frame uses the ``smoothing`` frames on each side that exist on disk, whatever range is
    being rendered, so a shot rendered in chunks (farm), frame by frame (the service) or in one go
    gets the same landmarks. Thread-safe.
    """

    def __init__(self, max_cached: int = 4096) -> None:
        import threading

        self._detector = None
        self._landmarker = None
        self._cache: dict[Any, list[np.ndarray]] = {}
        self._lock = threading.Lock()
        self.max_cached = max_cached

    def _raw(self, key: Any, read_proxy, frame: int):
        """(landmarks of each face, cut-test signature) of one frame, cached."""
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                return hit
            if self._detector is None:
                from faceplate.faces.detect import FaceDetector
                from faceplate.faces.landmarks import Landmarker

                self._detector, self._landmarker = FaceDetector(), Landmarker()
            proxy, (ox, oy) = read_proxy(frame)
            pts_list = []
            for det in self._detector.detect(proxy):
                p = np.asarray(self._landmarker.from_detection(proxy, det, refine=True).points, np.float64).copy()
                p[:, 0] += ox
                p[:, 1] += oy
                pts_list.append(p)
            from faceplate.faces.shots import signature

            # the cut test's thresholds are in stops of linear light: undo the proxy's display encoding
            sig = signature(np.power(np.clip(np.asarray(proxy, np.float32), 0.0, 1.0), 2.2))
            while len(self._cache) >= self.max_cached:
                del self._cache[next(iter(self._cache))]
            self._cache[key] = (pts_list, sig)
            return pts_list, sig

    def faces(self, read_proxy, frames: Iterable[int], settings: RenderSettings,
              on_disk: Iterable[int] | None = None, key=None) -> dict[int, list[ShotFace]]:
        """Faces of ``frames``. ``read_proxy(frame)`` -> (sRGB proxy H×W×3 in [0, 1], data window
        origin); ``on_disk``: the plate's frames (neighbours used for smoothing); ``key(frame)``: a
        cache key that changes when the frame's file changes (default: the frame number)."""
        from faceplate.faces import track as trackmod

        frames = list(frames)
        half = trackmod.window_for(settings.smoothing) // 2
        avail = set(on_disk) if on_disk is not None else set(frames)
        needed = sorted({g for f in frames for g in range(f - half, f + half + 1) if g in avail} | set(frames))
        key = key or (lambda f: f)
        from faceplate.faces.shots import is_cut

        raw = {g: self._raw(key(g), read_proxy, g) for g in needed}
        # shots: a hard cut between consecutive frames starts a new one; no track crosses a cut
        segments: list[dict[int, list[np.ndarray]]] = []
        prev = None
        for g in needed:
            if prev is None or g != prev + 1 or is_cut(raw[prev][1], raw[g][1]):
                segments.append({})
            segments[-1][g] = raw[g][0]
            prev = g
        tracks = [t for seg in segments
                  for t in trackmod.smooth_tracks(trackmod.link_tracks(seg), strength=settings.smoothing)]
        out: dict[int, list[ShotFace]] = {f: [] for f in frames}
        for tid, tr in enumerate(tracks):
            for frame, pts in tr.items():
                if frame in out:
                    out[frame].append(ShotFace(points=np.asarray(pts, np.float64), track=tid))
        return out
