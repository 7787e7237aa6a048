"""``--face``: which faces of a shot to extract (or render).

``largest`` | ``all`` | ``index:N`` (tracks left to right) | ``point:X,Y`` | ``like:PHOTO[,PHOTO…]``
(reference photos of the person: the faces whose identity matches them, see
:mod:`faceplate.faces.identity`). With identities known, ``largest``, ``index`` and ``point`` pick a
person: every track of that person, over every shot.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceplate.errors import InputError

log = logging.getLogger("faceplate.extract")


def parse_face_choice(text: str) -> tuple:
    """``largest`` | ``all`` | ``index:N`` | ``point:X,Y`` | ``like:P1[,P2…]`` -> a tuple; InputError names ``--face``."""
    raw = str(text).strip()
    t = raw.lower()
    if t in ("largest", "all"):
        return (t,)
    try:
        if t.startswith("index:"):
            n = int(t[6:])
            if n < 0:
                raise ValueError
            return ("index", n)
        if t.startswith("point:"):
            x, y = (float(v) for v in t[6:].split(","))
            if not (np.isfinite(x) and np.isfinite(y)):
                raise ValueError
            return ("point", x, y)
        if t.startswith("like:"):
            paths = tuple(p.strip() for p in raw[5:].split(",") if p.strip())
            if not paths:
                raise ValueError
            return ("like", paths)
    except ValueError:
        pass
    raise InputError(f"--face: expected largest, all, index:N, point:X,Y or like:PHOTO[,PHOTO...], found {text!r}")


@dataclass(frozen=True)
class Reference:
    """A reference photo's face descriptor."""

    path: str
    embedding: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.path, "embedding": np.round(self.embedding, 6).tolist()}


def load_references(paths, detector, landmarker, embedder, config=None) -> list[Reference]:
    """Descriptors of the largest face of each reference photo (EXR: scene-linear; others: display sRGB).

    InputError names the photo when it cannot be read or shows no face."""
    from faceplate.errors import FaceplateError
    from faceplate.plates import read_image

    refs = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise InputError(f"--face like: reference photo {p}: file not found")
        try:
            img = read_image(path)
            rgb = img.rgb()
        except FaceplateError as exc:
            raise InputError(f"--face like: reference photo {p}: cannot be read ({exc})") from exc
        if path.suffix.lower() == ".exr":
            from faceplate.colour import ColourConfig

            cfg = config or ColourConfig()
            proxy = cfg.to_proxy(rgb, cfg.resolve("scene_linear", "--face like:"))
        else:
            proxy = np.clip(np.nan_to_num(rgb), 0.0, 1.0).astype(np.float32)
        dets = detector.detect(proxy)
        faces = []
        for d in dets:
            lm = landmarker.from_detection(proxy, d, refine=True)
            if lm.presence >= 0.5:
                faces.append((float(d.size), lm.points))
        if not faces:
            raise InputError(f"--face like: reference photo {p}: no face found (expected a photo showing the "
                             "person's face, at least ~40 px across)")
        if len(faces) > 1:
            log.warning("--face like: reference photo %s shows %d faces; using the largest", p, len(faces))
        pts = max(faces, key=lambda f: f[0])[1]
        refs.append(Reference(str(p), embedder.embed(proxy, pts)))
    return refs


def _box_distance(box: np.ndarray, x: float, y: float) -> float:
    dx = max(box[0] - x, 0.0, x - box[2])
    dy = max(box[1] - y, 0.0, y - box[3])
    return float(np.hypot(dx, dy))


def track_distance(obs: list, refs: list[Reference]) -> float:
    """Median distance of a track's descriptors to the nearest reference (inf without descriptors)."""
    from faceplate.faces.identity import distance

    embs = [o.embedding for o in obs if o.embedding is not None]
    if not embs or not refs:
        return float("inf")
    r = np.stack([ref.embedding for ref in refs])
    return float(np.median([distance(e[None], r).min() for e in embs]))


def choose(groups: dict[int, list], choice: tuple, people: dict[int, int] | None = None,
           refs: list[Reference] | None = None) -> list[int]:
    """Keys of ``groups`` (track id -> observations, sorted by frame) picked by ``choice``.

    ``people`` (track -> person) widens a pick to the person's every track; ``refs`` are the
    reference descriptors of ``like:``. InputError when ``like:`` matches no track.
    """
    from faceplate.faces.identity import SAME_PERSON

    if not groups:
        return []
    keys = sorted(groups)
    if choice[0] == "all":
        return keys
    if choice[0] == "like":
        dist = {k: track_distance(groups[k], refs or []) for k in keys}
        hits = [k for k in keys if dist[k] < SAME_PERSON]
        if not hits:
            best = min(dist.values())
            raise InputError(
                f"--face like:{','.join(choice[1])}: the reference matches no face of the shot (expected a "
                f"descriptor distance below {SAME_PERSON}, the nearest face is at "
                f"{'none (no face descriptor)' if not np.isfinite(best) else f'{best:.3f}'})")
        return hits
    if choice[0] == "largest":
        picked = [max(keys, key=lambda k: (float(np.median([o.size for o in groups[k]])), -k))]
    elif choice[0] == "index":
        order = sorted(keys, key=lambda k: (groups[k][0].frame, groups[k][0].box[0]))
        picked = [order[choice[1]]] if choice[1] < len(order) else []
    else:
        x, y = choice[1], choice[2]
        picked = [min(keys, key=lambda k: (_box_distance(groups[k][0].box, x, y),
                                           float(np.hypot(*((groups[k][0].box[:2] + groups[k][0].box[2:]) / 2 - (x, y)))),
                                           k))]
    if people and picked:
        who = {people.get(k) for k in picked} - {None, -1}
        picked = sorted(set(picked) | {k for k in keys if people.get(k) in who})
    return picked


def one_per_frame(selected: dict[tuple[int, int], Any], refs: list[Reference] | None = None,
                  iou_max: float = 0.5) -> dict[tuple[int, int], Any]:
    """Drop selected faces that duplicate another in the same frame (boxes overlapping by more than
    ``iou_max``, or with ``refs``: a second face of the referenced person, keeping the nearest)."""
    from faceplate.faces import track as trk
    from faceplate.faces.identity import distance

    by_frame: dict[int, list] = {}
    for (f, k), o in selected.items():
        by_frame.setdefault(f, []).append((k, o))
    out = {}
    for f, items in by_frame.items():
        if refs:
            r = np.stack([ref.embedding for ref in refs])

            def d(o):
                return float(distance(o.embedding[None], r).min()) if o.embedding is not None else 9.0
            items = [min(items, key=lambda ko: (d(ko[1]), ko[0]))]
        kept: list = []
        for k, o in sorted(items, key=lambda ko: (-float(ko[1].presence), ko[0])):
            if all(trk.iou(o.box, ko.box) <= iou_max for _, ko in kept):
                kept.append((k, o))
        for k, o in kept:
            out[(f, k)] = o
    return out
