"""``alignments.json``: every face of every analysed frame, its track, shot, person and descriptor,
the hard cuts, and the identity model and references (schema ``faceplate.alignments`` v1).

Per frame: file, data/display windows and faces (``track``, ``shot``, ``person``, box, scores,
smoothed and raw landmarks, crop transform, ``selected`` and the face id, ``identity``: the 128-D
descriptor or null). Top level: ``settings``, ``gaps`` (frames without a chosen face), ``cuts``
(frames that start a new shot), ``shots`` ([first, last] frame of each), ``identity`` (the model, or
null) and ``reference`` (the ``--face like:`` photos and descriptors, or null).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

ALIGNMENTS_SCHEMA = "faceplate.alignments"
ALIGNMENTS_VERSION = 1


def _r(a, nd: int = 4) -> list:
    return np.round(np.asarray(a, np.float64), nd).tolist()


def face_id(frame: int, face: int) -> str:
    return f"f{frame:06d}_{face}"


def shot_ranges(frames: list[int], cuts: list[int]) -> list[list[int]]:
    """[first, last] frame of each shot."""
    from faceplate.faces.shots import shot_of

    of = shot_of(frames, cuts)
    out: dict[int, list[int]] = {}
    for f in sorted(frames):
        out.setdefault(of[f], [f, f])[1] = f
    return [out[k] for k in sorted(out)]


def build(settings_doc: dict, settings, obs_by_frame, infos, selected: dict, cuts: list[int],
          identity: dict | None, references: list | None) -> dict[str, Any]:
    from faceplate.faces import align

    frames = [int(f) for f in obs_by_frame]
    doc: dict[str, Any] = {"schema": ALIGNMENTS_SCHEMA, "version": ALIGNMENTS_VERSION, "settings": settings_doc,
                           "frames": {}, "gaps": [], "cuts": [int(c) for c in cuts],
                           "shots": shot_ranges(frames, cuts), "identity": identity,
                           "reference": [r.to_dict() for r in references] if references else None}
    for frame, found in obs_by_frame.items():
        faces = []
        for o in found:
            m = align.crop_matrix(o.points, settings.size, settings.coverage, settings.centering)
            is_sel = (frame, o.track) in selected
            faces.append({
                "track": int(o.track), "shot": int(o.shot), "person": int(o.person), "box": _r(o.box),
                "score": round(float(o.score), 6), "presence": round(float(o.presence), 6), "source": o.source,
                "landmarks": _r(o.points), "landmarks_raw": _r(o.raw_points if o.raw_points is not None else o.points),
                "transform": _r(m, 8), "selected": is_sel, "id": face_id(frame, o.track) if is_sel else None,
                "identity": _r(o.embedding, 6) if o.embedding is not None else None,
            })
        info = infos[frame]
        doc["frames"][str(frame)] = {"file": info.path, "data_window": list(info.data_window),
                                     "display_window": list(info.display_window), "faces": faces}
        if not any(f["selected"] for f in faces):
            doc["gaps"].append(int(frame))
    return doc


def observations(doc: dict[str, Any]):
    """(faces per frame, frame infos) read back from a document (a resumed run)."""
    from faceplate.faces import track as trk
    from faceplate.faces.analyse import FrameInfo

    obs_by_frame, infos = {}, {}
    for key, fr in doc["frames"].items():
        frame = int(key)
        infos[frame] = FrameInfo(tuple(fr["data_window"]), tuple(fr["display_window"]), fr["file"])
        lst = []
        for f in fr["faces"]:
            emb = f.get("identity")
            o = trk.FaceObs(frame, np.asarray(f["box"], np.float64), float(f["score"]),
                            np.asarray(f["landmarks"], np.float64), float(f["presence"]), int(f["track"]), f["source"],
                            np.asarray(f["landmarks_raw"], np.float64), shot=int(f.get("shot", 0)),
                            embedding=np.asarray(emb, np.float64) if emb is not None else None,
                            person=int(f.get("person", -1)))
            lst.append(o)
        obs_by_frame[frame] = lst
    return obs_by_frame, infos


def write(path: Path, doc: dict[str, Any]) -> None:
    from faceplate.plates.atomic import write_text_atomic

    write_text_atomic(path, json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n",
                      "alignments")


def load(path: Path | str) -> dict[str, Any]:
    """Read and check an ``alignments.json`` (schema faceplate.alignments v1)."""
    from faceplate.errors import FaceSetError
    from faceplate.jsonio import load_json

    doc = load_json(path, ALIGNMENTS_SCHEMA, ALIGNMENTS_VERSION, FaceSetError)
    if not isinstance(doc.get("frames"), dict) or not isinstance(doc.get("gaps"), list):
        raise FaceSetError(f"{path}: expected 'frames' and 'gaps', found keys {sorted(doc)}")
    return doc
