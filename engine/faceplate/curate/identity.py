"""Who is in a face set: identity clusters over its faces, and the faces that are someone else.

Descriptors (:mod:`faceplate.faces.identity`) come from ``faceset.json`` (``extra["identity"]``,
recorded by extract where it described the face); a face without one takes the one recorded nearest
in time on the same source and track (extract splits tracks where the identity changes), and a face
with neither (an older or hand-made set) is described from its own crop. Faces are clustered
(:func:`faceplate.faces.identity.clusters`); cluster 0 is the main person. A set is *mixed* when
another cluster holds at least 2 faces and 5% of the set: it holds two people, which training would
blend. Each face's distance to the main person's mean descriptor is a measure
(``identity_distance``; above 0.6: someone else).
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from faceplate.faces.faceset import FaceSet

log = logging.getLogger("faceplate.curate")

MIXED_MIN_FACES = 2
MIXED_MIN_FRACTION = 0.05


def _describe_from_crop(fs: FaceSet, idx: list[int], embedder, config) -> dict[int, np.ndarray]:
    from faceplate.colour.encoding import decode_transfer
    from faceplate.colour.ocio import PROXY_SPACE

    out = {}
    for i in idx:
        rec = fs.faces[i]
        code, _ = fs.read_face(rec)
        lin = decode_transfer(code, fs.crop_encoding.transfer)
        proxy = config.convert(np.asarray(lin, np.float32), fs.crop_encoding.primaries, PROXY_SPACE)
        pts = np.asarray(rec.landmarks, np.float64)
        try:
            out[i] = embedder.embed(proxy, pts)
        except Exception as exc:  # a degenerate crop: no descriptor
            log.debug("face %s: no identity descriptor (%s)", rec.id, exc)
    return out


def descriptors(fs: FaceSet, config=None, embedder=None) -> list[np.ndarray | None]:
    """One descriptor per face of ``fs`` (None where none can be had)."""
    n = len(fs.faces)
    got: dict[int, np.ndarray] = {}
    for i, rec in enumerate(fs.faces):
        v = (rec.extra or {}).get("identity")
        if v is not None:
            got[i] = np.asarray(v, np.float64)
    by_track: dict[tuple, list[int]] = {}
    for i, rec in enumerate(fs.faces):
        t = (rec.extra or {}).get("track")
        if t is not None:
            by_track.setdefault((rec.source, t), []).append(i)
    out: list[np.ndarray | None] = [got.get(i) for i in range(n)]
    for members in by_track.values():
        have = [i for i in members if i in got]
        if not have:
            continue
        for i in members:
            if out[i] is None:
                j = min(have, key=lambda j: (abs(fs.faces[j].frame - fs.faces[i].frame), j))
                out[i] = got[j]
    missing = [i for i in range(n) if out[i] is None]
    if missing:
        if embedder is None:
            from faceplate.faces.identity import Embedder

            embedder = Embedder.load()
        if config is None:
            from faceplate.colour.ocio import ColourConfig

            config = ColourConfig.from_env(fs.ocio_config or None)
        for i, v in _describe_from_crop(fs, missing, embedder, config).items():
            out[i] = v
    return out


def identity_measures(fs: FaceSet, config=None, embedder=None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(per-face ``identity_cluster``/``identity_distance``, set summary ``identity``).

    Without the identity extra installed the values are None and the summary says why."""
    from faceplate.faces.identity import SAME_PERSON, clusters, distance

    n = len(fs.faces)
    try:
        vecs = descriptors(fs, config, embedder)
    except ImportError as exc:
        rows = [{"identity_cluster": None, "identity_distance": None} for _ in range(n)]
        return rows, {"available": False, "reason": str(exc), "mixed": None}
    have = [i for i in range(n) if vecs[i] is not None]
    labels = clusters([vecs[i] for i in have])
    lab = dict(zip(have, labels))
    counts = np.bincount(labels) if labels else np.zeros(0, np.int64)
    main = np.mean([vecs[i] for i in have if lab[i] == 0], axis=0) if have else None
    rows = []
    for i in range(n):
        if vecs[i] is None:
            rows.append({"identity_cluster": None, "identity_distance": None})
        else:
            rows.append({"identity_cluster": int(lab[i]), "identity_distance": round(float(distance(vecs[i], main)), 4)})
    others = [int(c) for c in counts[1:]]
    big_other = [c for c in others if c >= MIXED_MIN_FACES and c >= MIXED_MIN_FRACTION * n]
    outliers = [fs.faces[i].id for i in have if lab[i] != 0]
    summary = {
        "available": True, "clusters": int(len(counts)), "cluster_sizes": [int(c) for c in counts],
        "described": len(have), "outliers": len(outliers), "outlier_ids": outliers[:50],
        "mixed": bool(big_other), "same_person_below": SAME_PERSON,
    }
    return rows, summary
