"""Face identity: a 128-D embedding per face, so tracks can be linked, split and matched to a person.

The model is dlib's ResNet face descriptor (``dlib_face_recognition_resnet_model_v1``, Davis King),
shipped inside the PyPI package ``face-recognition-models`` (package MIT; the model released by its
author into the public domain, per the dlib-models README) and run by ``dlib`` (``dlib-bin`` wheel,
Boost licence). Two faces of the same person are closer than :data:`SAME_PERSON` (Euclidean distance
between descriptors; the model was trained so one identity fits a ball of radius 0.6).

Alignment: dlib's own face chip (150 px, padding 0.25) from the 68 iBUG points taken from our 468
FaceMesh points (:data:`faceplate.faces.landmarks.IBUG68`), so no dlib detector or shape predictor
runs. Input: the display sRGB proxy (float32 H×W×3 in [0, 1]) the landmarker saw.

Runtimes: the same network runs in onnxruntime when ``faceplate assets build`` has converted it
(asset ``identity``, built from the installed ``.dat`` by :mod:`faceplate.faces.identity_onnx` and
checked against dlib on real faces), else in dlib. onnxruntime is several times faster and releases
the GIL while it runs (dlib holds it for the whole 80-130 ms), so other threads of ``faceplate
extract`` keep working. Descriptors of the two runtimes agree to about 1e-6 (installs are refused
above 1e-3 per value or 0.01 in distance, far below :data:`SAME_PERSON`), so they can be mixed;
:meth:`Embedder.info` records which one made them. The chip is always made by dlib.

Install: ``pip install 'faceplate[identity]'`` (``dlib-bin``, ``face-recognition-models``).
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from faceplate.errors import AssetError, InputError

log = logging.getLogger(__name__)

MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
MODEL_NAME = "dlib_face_recognition_resnet_model_v1"
MODEL_LICENCE = ("model: public domain (released by Davis King, dlib-models README; trained on FaceScrub, VGG "
                 "and web images); package face-recognition-models: MIT; runtime dlib: Boost Software Licence 1.0")
#: Euclidean distance below which two descriptors are taken as the same person (dlib's own threshold)
SAME_PERSON = 0.6
DIM = 128
CHIP_SIZE = 150
CHIP_PADDING = 0.25
#: name of the converted model in the face-model assets (:mod:`faceplate.faces.assets`)
ASSET = "identity"
#: ``Embedder.load(runtime=...)``: "auto" = onnxruntime when the asset is built from this ``.dat``, else dlib
RUNTIMES = ("auto", "onnxruntime", "dlib")


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


def model_sha256() -> str:
    """SHA-256 of the installed descriptor model (:func:`model_path`), computed once per process."""
    return _sha256(model_path())


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


def face_chip(image: np.ndarray, ibug68: np.ndarray) -> np.ndarray:
    """dlib's aligned 150×150 uint8 RGB face chip (``get_face_chip``, padding 0.25) from 68 iBUG points.

    ``image``: H×W×3 sRGB, float in [0, 1] or uint8; ``ibug68``: 68×2 (or more columns) pixel positions."""
    import dlib

    pts = np.asarray(ibug68, np.float64)
    if pts.ndim != 2 or pts.shape[0] != 68 or pts.shape[1] < 2:
        raise InputError(f"identity: expected 68 iBUG points (68×2), found shape {pts.shape}")
    pts = pts[:, :2]
    if not np.isfinite(pts).all():
        raise InputError("identity: expected finite landmarks, found NaN or infinity")
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise InputError(f"identity: expected an H×W×3 sRGB proxy, found shape {img.shape}")
    if img.dtype != np.uint8:
        img = (np.clip(np.nan_to_num(img, nan=0.0), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    lo, hi = pts.min(0), pts.max(0)
    rect = dlib.rectangle(int(lo[0]), int(lo[1]), int(np.ceil(hi[0])), int(np.ceil(hi[1])))
    shape = dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y))) for x, y in pts])
    return np.asarray(dlib.get_face_chip(np.ascontiguousarray(img), shape, CHIP_SIZE, CHIP_PADDING))


def check_chip(chip: np.ndarray) -> np.ndarray:
    """``chip`` checked: a 150×150×3 uint8 RGB face chip as :func:`face_chip` makes it."""
    c = np.asarray(chip)
    if c.shape != (CHIP_SIZE, CHIP_SIZE, 3) or c.dtype != np.uint8:
        raise InputError(f"identity: expected a {CHIP_SIZE}×{CHIP_SIZE}×3 uint8 face chip, found {c.dtype} {c.shape}")
    return c


def _dlib_model(path: Path):
    try:
        import dlib
    except ImportError:
        raise _missing("dlib") from None
    return dlib.face_recognition_model_v1(str(path))


def _onnx_session(sha256: str, providers, threads: int | None, assets: Path | None):
    """(session, onnx sha256) of the converted model, after checking it was built from this ``.dat``."""
    from faceplate.faces.assets import FACE_MODEL_THREADS, REBUILD_HINT, asset_path, load_manifest
    from faceplate.faces.onnxrt import make_session

    path = asset_path(ASSET, assets)  # hash-checked against assets.json
    entry = load_manifest(path.parent)["assets"][ASSET]
    if entry.get("source_sha256") != sha256:
        raise AssetError(f"face model {ASSET!r}: {path} was converted from another {MODEL_FILE} (sha256 expected "
                         f"{sha256[:16]}…, found {str(entry.get('source_sha256'))[:16]}…); {REBUILD_HINT}")
    return (make_session(path.read_bytes(), f"face model {ASSET!r} ({path})", providers,
                         FACE_MODEL_THREADS if threads is None else threads), entry["sha256"])


@dataclass(frozen=True)
class Embedder:
    """dlib's face descriptor; :meth:`embed` maps (proxy, 468 landmarks) to a 128-D float64 vector.

    ``model`` is an onnxruntime session (``runtime`` "onnxruntime") or dlib's model ("dlib")."""

    model: object
    path: Path
    sha256: str
    runtime: str = "dlib"
    onnx_sha256: str | None = None

    @classmethod
    def load(cls, runtime: str = "auto", providers: Sequence[str] | None = None, threads: int | None = None,
             assets: Path | str | None = None) -> "Embedder":
        """The descriptor model. ``runtime``: one of :data:`RUNTIMES`; "auto" takes onnxruntime when the
        asset ``identity`` in ``assets`` (default: the asset folder) is built from the installed ``.dat``,
        else dlib (logged). ``providers``/``threads``: onnxruntime session settings (threads: default
        :data:`faceplate.faces.assets.FACE_MODEL_THREADS`, as for the other face models)."""
        if runtime not in RUNTIMES:
            raise InputError(f"identity runtime: expected one of {', '.join(RUNTIMES)}, found {runtime!r}")
        try:
            import dlib  # noqa: F401  (the chip is always dlib's)
        except ImportError:
            raise _missing("dlib") from None
        path = model_path()
        sha = _sha256(path)
        if runtime != "dlib":
            try:
                session, onnx_sha = _onnx_session(sha, providers, threads, Path(assets) if assets else None)
                return cls(session, path, sha, "onnxruntime", onnx_sha)
            except AssetError as exc:
                if runtime == "onnxruntime":
                    raise
                log.warning("face identity runs in dlib (%s); it is several times slower and holds the GIL", exc)
        return cls(_dlib_model(path), path, sha)

    def info(self) -> dict:
        """What alignments.json / faceset.json record about the model, and the runtime that ran it."""
        if self.runtime == "onnxruntime":
            import onnxruntime

            where = self.model.get_providers()[0]  # type: ignore[attr-defined]
            run = {"runtime": f"onnxruntime {onnxruntime.__version__} {where}", "onnx_sha256": self.onnx_sha256}
        else:
            import dlib

            run = {"runtime": f"dlib {dlib.__version__}"}
        return {"model": MODEL_NAME, "sha256": self.sha256, **run,
                "licence": MODEL_LICENCE, "metric": "euclidean", "same_person_below": SAME_PERSON}

    def chip(self, proxy: np.ndarray, points: np.ndarray) -> np.ndarray:
        """dlib's aligned 150×150 uint8 face chip of the face with 468 ``points`` (proxy pixels)."""
        from faceplate.faces.landmarks import to_ibug68

        return face_chip(proxy, to_ibug68(points))

    def describe(self, chip: np.ndarray) -> np.ndarray:
        """128-D float64 descriptor of a face chip (150×150×3 uint8 RGB, see :meth:`chip`)."""
        c = check_chip(chip)
        if self.runtime == "onnxruntime":
            from faceplate.faces.identity_onnx import INPUT_NAME, to_input

            out = self.model.run(None, {INPUT_NAME: to_input(c)})  # type: ignore[attr-defined]
            return out[0][0].astype(np.float64)
        return np.asarray(self.model.compute_face_descriptor(c), np.float64)  # type: ignore[attr-defined]

    def embed(self, proxy: np.ndarray, points: np.ndarray) -> np.ndarray:
        """128-D descriptor of the face with 468 ``points`` in ``proxy`` (H×W×3 sRGB in [0, 1] or uint8)."""
        return self.describe(self.chip(proxy, points))


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
