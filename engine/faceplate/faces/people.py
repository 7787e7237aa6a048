"""Who is who over a sequence: tracks per shot, split and joined by face identity, and persons.

* :func:`link_shots`: :func:`faceplate.faces.track.link` inside each shot only (no track crosses
  a cut);
* :func:`dedupe_frame`: one observation per face in a frame (two followed faces that drifted onto
  one face, or a detection of a face already followed);
* :func:`split_by_identity`: a track whose descriptors jump (someone else took the place) is split;
* :func:`merge_fragments`: pieces of one person's track in one shot (a lost and re-detected face)
  are joined when they never share a frame and their descriptors agree;
* :func:`persons`: tracks grouped into persons across the whole sequence (descriptor clusters).

Track ids are renumbered in order of appearance (first frame, then left to right): deterministic.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from faceplate.faces import track as trk
from faceplate.faces.identity import SAME_PERSON, clusters, distance, mean_embedding

#: two fragments of a shot are one person below this descriptor distance (stricter than SAME_PERSON)
MERGE_BELOW = 0.45


def dedupe_frame(found: Sequence[trk.FaceObs], iou_max: float = 0.5) -> list[trk.FaceObs]:
    """Faces of one frame without duplicates: of faces whose landmark boxes overlap by more than
    ``iou_max`` the longest-followed (then most confident) is kept. Order of the survivors kept."""
    order = sorted(range(len(found)), key=lambda i: (-found[i].age, -float(found[i].presence), i))
    kept: list[int] = []
    for i in order:
        bi = trk.points_box(found[i].points)
        if all(trk.iou(bi, trk.points_box(found[j].points)) <= iou_max for j in kept):
            kept.append(i)
    return [found[i] for i in sorted(kept)]


def renumber(tracks: dict[int, list[trk.FaceObs]]) -> dict[int, list[trk.FaceObs]]:
    """Tracks renumbered 0, 1, … by (first frame, left edge); each observation's ``track`` updated."""
    seqs = [sorted(s, key=lambda o: o.frame) for s in tracks.values() if s]
    seqs.sort(key=lambda s: (s[0].frame, float(s[0].box[0]), float(s[0].box[1])))
    out = {}
    for i, s in enumerate(seqs):
        for o in s:
            o.track = i
        out[i] = s
    return out


def link_shots(ordered: Sequence[Sequence[trk.FaceObs]], shot: dict[int, int], max_gap: int,
               iou_min: float = 0.3) -> dict[int, list[trk.FaceObs]]:
    """Link faces into tracks inside each shot (``shot``: frame -> shot index); never across a cut."""
    by_shot: dict[int, list] = {}
    for obs in ordered:
        obs = list(obs)
        if obs:
            by_shot.setdefault(shot.get(obs[0].frame, 0), []).append(obs)
    out: dict[int, list[trk.FaceObs]] = {}
    for s in sorted(by_shot):
        for seq in trk.link(by_shot[s], iou_min=iou_min, max_gap=max_gap).values():
            for o in seq:
                o.shot = s
            out[len(out)] = seq
    return renumber(out)


def split_by_identity(tracks: dict[int, list[trk.FaceObs]], threshold: float = SAME_PERSON) -> dict[int, list[trk.FaceObs]]:
    """Split each track where two consecutive descriptors differ by more than ``threshold``.

    The split falls just before the first frame described with the new identity."""
    out: dict[int, list[trk.FaceObs]] = {}
    for seq in tracks.values():
        seq = sorted(seq, key=lambda o: o.frame)
        start, last = 0, None
        for i, o in enumerate(seq):
            if o.embedding is None:
                continue
            if last is not None and float(distance(o.embedding, last)) > threshold:
                out[len(out)] = seq[start:i]
                start = i
            last = o.embedding
        out[len(out)] = seq[start:]
    return renumber(out)


def _mean(seq: Sequence[trk.FaceObs]) -> np.ndarray | None:
    return mean_embedding(o.embedding for o in seq)


def merge_fragments(tracks: dict[int, list[trk.FaceObs]], threshold: float = MERGE_BELOW) -> dict[int, list[trk.FaceObs]]:
    """Join tracks of one shot that never share a frame and whose mean descriptors are closer than
    ``threshold`` (closest pairs first)."""
    groups = {k: list(v) for k, v in tracks.items()}
    while True:
        best = None
        keys = sorted(groups)
        for i, a in enumerate(keys):
            ma = _mean(groups[a])
            if ma is None:
                continue
            fa = {o.frame for o in groups[a]}
            for b in keys[i + 1:]:
                if groups[b][0].shot != groups[a][0].shot:
                    continue
                mb = _mean(groups[b])
                if mb is None or fa & {o.frame for o in groups[b]}:
                    continue
                d = float(distance(ma, mb))
                if d < threshold and (best is None or d < best[0]):
                    best = (d, a, b)
        if best is None:
            return renumber(groups)
        _, a, b = best
        groups[a] = sorted(groups[a] + groups.pop(b), key=lambda o: o.frame)


def persons(tracks: dict[int, list[trk.FaceObs]], threshold: float = SAME_PERSON) -> dict[int, int]:
    """Track -> person (0 = the person with most tracks); tracks without descriptors are their own
    person. Tracks sharing a frame are never one person. Sets ``obs.person``."""
    keys = sorted(tracks)
    described = [k for k in keys if _mean(tracks[k]) is not None]
    labels = clusters([_mean(tracks[k]) for k in described], threshold)
    who = dict(zip(described, labels))
    nxt = max(labels, default=-1) + 1
    # a person is in a frame once: a track clashing with one already of that person gets its own
    frames_of: dict[int, set] = {}
    for k in described:
        p = who[k]
        fr = {o.frame for o in tracks[k]}
        if frames_of.get(p, set()) & fr:
            who[k], nxt = nxt, nxt + 1
            p = who[k]
        frames_of.setdefault(p, set()).update(fr)
    for k in keys:
        if k not in who:
            who[k], nxt = nxt, nxt + 1
        for o in tracks[k]:
            o.person = who[k]
    return who
