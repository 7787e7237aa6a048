"""``faceplate render --face like:PHOTO[,PHOTO…]``: replace the person in the reference photos.

Faces of the shot are grouped (with ``--alignments``: by the person extract recorded, else by
track; when detecting: by track) and each group is described (:mod:`faceplate.faces.identity`: the
descriptors extract recorded, or one computed on the group's largest face). Groups closer to a
reference than :data:`~faceplate.faces.identity.SAME_PERSON` are marked ``selected``; at most one face
per frame (the nearest). A reference with no face, or matching no face of the shot, is an
:class:`~faceplate.errors.InputError` naming the photo.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from faceplate.errors import InputError
from faceplate.render.facesource import ShotFace
from faceplate.render.settings import RenderSettings


def mark_like(faces: dict[int, list[ShotFace]], settings: RenderSettings,
              read_proxy: Callable[[int], tuple[np.ndarray, tuple[int, int]]], config=None) -> dict[int, list[ShotFace]]:
    """Set ``selected`` on the faces of the referenced person (in place); returns ``faces``."""
    from faceplate.faces.choice import load_references
    from faceplate.faces.detect import FaceDetector
    from faceplate.faces.identity import SAME_PERSON, Embedder, distance
    from faceplate.faces.landmarks import Landmarker

    paths = settings.like_paths
    if not paths:
        return faces
    embedder = Embedder.load()
    refs = load_references(paths, FaceDetector(), Landmarker(), embedder, config)
    r = np.stack([ref.embedding for ref in refs])
    groups: dict[tuple, list[tuple[int, ShotFace]]] = {}
    for f, lst in faces.items():
        for fc in lst:
            key = ("person", fc.person) if fc.person >= 0 else ("track", fc.track)
            groups.setdefault(key, []).append((f, fc))
    dist: dict[tuple, float] = {}
    for key, members in groups.items():
        embs = [fc.embedding for _, fc in members if fc.embedding is not None]
        if not embs:
            f, fc = max(members, key=lambda m: (m[1].area, -m[0]))
            proxy, (ox, oy) = read_proxy(f)
            try:
                embs = [embedder.embed(proxy, fc.points - [ox, oy, 0.0])]
            except InputError:
                embs = []
        dist[key] = float(np.median([distance(e[None], r).min() for e in embs])) if embs else float("inf")
    hits = {k for k, d in dist.items() if d < SAME_PERSON}
    if not hits:
        best = min(dist.values(), default=float("inf"))
        raise InputError(f"--face like:{','.join(paths)}: the reference matches no face of the shot (expected a "
                         f"descriptor distance below {SAME_PERSON}, the nearest face is at "
                         f"{'none' if not np.isfinite(best) else f'{best:.3f}'})")
    for f, lst in faces.items():
        best_face = None
        for fc in lst:
            key = ("person", fc.person) if fc.person >= 0 else ("track", fc.track)
            fc.selected = False
            if key in hits and (best_face is None or dist[key] < best_face[0]):
                best_face = (dist[key], fc)
        if best_face is not None:
            best_face[1].selected = True
    return faces
