"""Face identity: a 128-D embedding per face, so tracks can be linked, split and matched to a person.

The model is dlib's ResNet face descriptor (``dlib_face_recognition_resnet_model_v1``, Davis King),
shipped inside the PyPI package ``face-recognition-models`` (package MIT; the model released by its
author into the public domain, per the dlib-models README) and run by ``dlib`` (``dlib-bin`` wheel,
Boost licence). Two faces of the same person are closer than :data:`SAME_PERSON` (Euclidean distance
between descriptors; the model was trained so one identity fits a ball of radius 0.6).

Alignment: dlib's own face chip (150 px, padding 0.25) from the 68 iBUG points taken from our 468
FaceMesh points (:data:`faceplate.faces.landmarks.IBUG68`), so no dlib detector or shape predictor
runs. Input: the display sRGB proxy (float32 H×W×3 in [0, 1]) the landmarker saw.

Install: ``pip install 'faceplate[identity]'`` (``dlib-bin``, ``face-recognition-models``).
"""
from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from faceplate.errors import InputError

MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
MODEL_NAME = "dlib_face_recognition_resnet_model_v1"
MODEL_LICENCE = ("model: public domain (released by Davis King, dlib-models README; trained on FaceScrub, VGG "
                 "and web images); package face-recognition-models: MIT; runtime dlib: Boost Software Licence 1.0")
#: Euclidean distance below which two descriptors are taken as the same person (dlib's own threshold)
SAME_PERSON = 0.6
DIM = 128
CHIP_SIZE = 150
CHIP_PADDING = 0.25


def _missing(what: str) -> ImportError:
    from faceplate.errors import MissingDependencyError

    return MissingDependencyError(f"face identity needs {what}, which is not installed; install it with: "
                                  "pip install 'faceplate[identity]' (dlib-bin and face-recognition-models)")


def model_path() -> Path:
    """Path of the descriptor model inside the installed ``face_recognition_models`` package.

    Found without importing the package (its ``__init__`` needs ``pkg_resources``)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise _missing("the face-recognition-models package")
    for folder in spec.submodule_search_locations:
        p = Path(folder) / "models" / MODEL_FILE
        if p.is_file():
            return p
    raise _missing(f"{MODEL_FILE} (not found in face_recognition_models)")


def _sha256(path: Path) -> str:
    """The file's SHA-256, computed once per process for a given (path, size, mtime)."""
    st = path.stat()
    return _sha256_cached(str(path), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=4)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Embedder:
    """dlib's face descriptor; :meth:`embed` maps (proxy, 468 landmarks) to a 128-D float64 vector."""

    model: object
    path: Path
    sha256: str

    @classmethod
    def load(cls) -> "Embedder":
        try:
            import dlib
        except ImportError:
            raise _missing("dlib") from None
        path = model_path()
        return cls(dlib.face_recognition_model_v1(str(path)), path, _sha256(path))

    def info(self) -> dict:
        """What alignments.json / faceset.json record about the model."""
        import dlib

        return {"model": MODEL_NAME, "sha256": self.sha256, "runtime": f"dlib {dlib.__version__}",
                "licence": MODEL_LICENCE, "metric": "euclidean", "same_person_below": SAME_PERSON}

    def chip(self, proxy: np.ndarray, points: np.ndarray) -> np.ndarray:
        """dlib's aligned 150×150 uint8 face chip of the face with 468 ``points`` (proxy pixels)."""
        import dlib

        from faceplate.faces.landmarks import to_ibug68

        pts = to_ibug68(points)
        if not np.isfinite(pts).all():
            raise InputError("identity: expected finite landmarks, found NaN or infinity")
        img = np.asarray(proxy)
        if img.ndim != 3 or img.shape[2] != 3:
            raise InputError(f"identity: expected an H×W×3 sRGB proxy, found shape {img.shape}")
        if img.dtype != np.uint8:
            img = (np.clip(np.nan_to_num(img, nan=0.0), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        lo, hi = pts.min(0), pts.max(0)
        rect = dlib.rectangle(int(lo[0]), int(lo[1]), int(np.ceil(hi[0])), int(np.ceil(hi[1])))
        shape = dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y))) for x, y in pts])
        return np.asarray(dlib.get_face_chip(np.ascontiguousarray(img), shape, CHIP_SIZE, CHIP_PADDING))

    def embed(self, proxy: np.ndarray, points: np.ndarray) -> np.ndarray:
        """128-D descriptor of the face with 468 ``points`` in ``proxy`` (H×W×3 sRGB in [0, 1] or uint8)."""
        return np.asarray(self.model.compute_face_descriptor(self.chip(proxy, points)), np.float64)


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance between descriptors ``a`` (…×128) and ``b`` (…×128), broadcast."""
    return np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=-1)


def mean_embedding(vectors: Iterable[np.ndarray]) -> np.ndarray | None:
    """Mean of descriptors (None when there are none)."""
    vs = [np.asarray(v, np.float64) for v in vectors if v is not None]
    return np.mean(vs, axis=0) if vs else None


def clusters(vectors: Sequence[np.ndarray], threshold: float = SAME_PERSON) -> list[int]:
    """Label per vector: average-linkage agglomerative clustering, merging while the mean distance
    between two clusters is below ``threshold``. Labels are numbered by cluster size (0 = largest),
    ties by first member, so the result is deterministic. Above 64 vectors: :func:`leader_clusters`."""
    n = len(vectors)
    if n == 0:
        return []
    if n > 64:
        return leader_clusters(vectors, threshold)
    x = np.stack([np.asarray(v, np.float64) for v in vectors])
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    groups: list[list[int]] = [[i] for i in range(n)]
    while len(groups) > 1:
        best, pair = threshold, None
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                m = float(d[np.ix_(groups[i], groups[j])].mean())
                if m < best:
                    best, pair = m, (i, j)
        if pair is None:
            break
        i, j = pair
        groups[i] = sorted(groups[i] + groups[j])
        del groups[j]
    groups.sort(key=lambda g: (-len(g), g[0]))
    labels = [0] * n
    for k, g in enumerate(groups):
        for i in g:
            labels[i] = k
    return labels


def leader_clusters(vectors: Sequence[np.ndarray], threshold: float = SAME_PERSON) -> list[int]:
    """Label per vector, in one pass: each joins the nearest cluster whose running mean is closer than
    ``threshold``, else starts one. Labels numbered by size (0 = largest), ties by first member."""
    centres: list[np.ndarray] = []
    members: list[list[int]] = []
    for i, v in enumerate(vectors):
        v = np.asarray(v, np.float64)
        if centres:
            d = distance(np.stack(centres), v[None])
            j = int(np.argmin(d))
            if d[j] < threshold:
                members[j].append(i)
                centres[j] = centres[j] + (v - centres[j]) / len(members[j])
                continue
        centres.append(v.copy())
        members.append([i])
    order = sorted(range(len(members)), key=lambda k: (-len(members[k]), members[k][0]))
    labels = [0] * len(vectors)
    for rank, k in enumerate(order):
        for i in members[k]:
            labels[i] = rank
    return labels
