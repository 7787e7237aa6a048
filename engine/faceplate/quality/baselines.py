"""Baselines a swap must beat, rendered through the real render path with the real model's matte.

A baseline replaces the model's face (its RGB output, code values in the model's crop encoding)
with one that needs no learning, and keeps the *real model's* learned mask, so every comp is cut with
the same matte and only the face inside it differs. Baselines, by name (:data:`BASELINES`):

============  ===========================================================================================
name          face it puts in every crop
============  ===========================================================================================
``constant``  the mean of B's face-set crops (ignores the input: what a model that learned nothing but
              B's average face would give)
``nearest``   B's face-set crop whose landmarks are nearest (RMS, crop pixels) to the plate face's
              ("paste B's nearest face-set image": what a lookup without a model would give)
``truth``     the right answer's own crop at the model's resolution, cut with the same crop matrix from
              the truth frame: what a perfect model *of that resolution* could score (the ceiling)
============  ===========================================================================================

"Do nothing" needs no render: it is the plate itself.

:class:`BaselineModel` is model-like (``manifest``, ``sha256``, ``path``, ``resolution``, ``run``) so it
goes through :func:`faceplate.render.frame.prepare`/``finish``/``render_frame`` unchanged;
:func:`render_baseline` writes a baseline's passes for frames of a plate with the same layers, metadata
and atomic files as ``faceplate render --comp``. Code values are float32 N×3×R×R in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from faceplate.colour.ocio import ColourConfig
from faceplate.errors import InputError
from faceplate.faces.faceset import FaceSet


@dataclass(frozen=True)
class FaceContext:
    """One face of a frame as the model sees it: the crop matrix and the landmarks in the crop."""

    frame: int
    matrix: np.ndarray  # 2×3 float64 plate -> crop (model resolution)
    landmarks: np.ndarray  # 468×2 float64 crop pixels (model resolution)


class Baseline(Protocol):
    name: str

    def faces(self, contexts: Sequence[FaceContext], codes: np.ndarray) -> np.ndarray:
        """Code values N×3×R×R of the faces to put in ``codes``' crops (one context per crop)."""
        ...


def face_contexts(frame: int, faces: Sequence[np.ndarray], manifest: Any) -> list[FaceContext]:
    """Contexts of ``faces`` (468×2/3 plate pixels each), with the crop matrix the render computes."""
    from faceplate.faces import align

    out = []
    for pts in faces:
        pts = np.asarray(pts, np.float64)
        m = np.asarray(align.crop_matrix(pts[:, :2], manifest.resolution, manifest.coverage, manifest.centering),
                       np.float64)
        out.append(FaceContext(frame=int(frame), matrix=m, landmarks=align.transform_points(pts[:, :2], m)))
    return out


class BaselineModel:
    """A loaded swap model whose RGB output is replaced by ``baseline``'s faces.

    ``run(codes)`` -> (baseline faces N×3×R×R, the real model's mask N×1×R×R); ``contexts`` describe the
    crops of the frame being rendered, in the order the render stacks them (:func:`bind` per frame).
    """

    def __init__(self, model: Any, baseline: Baseline, contexts: Sequence[FaceContext] = ()) -> None:
        self.model, self.baseline, self.contexts = model, baseline, list(contexts)

    manifest = property(lambda self: self.model.manifest)
    sha256 = property(lambda self: self.model.sha256)
    path = property(lambda self: self.model.path)
    resolution = property(lambda self: self.model.manifest.resolution)

    def bind(self, contexts: Sequence[FaceContext]) -> "BaselineModel":
        return BaselineModel(self.model, self.baseline, contexts)

    def run(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _, mask = self.model.run(codes)
        n, r = codes.shape[0], self.resolution
        if len(self.contexts) != n:
            raise InputError(f"baseline {self.baseline.name}: expected one face context per crop ({n}), "
                             f"found {len(self.contexts)}")
        rgb = np.asarray(self.baseline.faces(self.contexts, codes), np.float32)
        if rgb.shape != (n, 3, r, r):
            raise InputError(f"baseline {self.baseline.name}: expected faces {(n, 3, r, r)}, found {rgb.shape}")
        return np.clip(np.nan_to_num(rgb, nan=0.0), 0.0, 1.0), mask


def _resize(img: np.ndarray, r: int) -> np.ndarray:
    """H×W×C float32 -> r×r×C, as training resizes face-set crops."""
    if img.shape[0] == r and img.shape[1] == r:
        return np.asarray(img, np.float32)
    import cv2

    interp = cv2.INTER_AREA if img.shape[0] > r else cv2.INTER_CUBIC
    out = cv2.resize(np.ascontiguousarray(img, np.float32), (r, r), interpolation=interp)
    return out.reshape(r, r, -1)


def _crops(fs: FaceSet, r: int) -> np.ndarray:
    """Every crop of ``fs`` as code values n×3×r×r (float32, clipped to [0, 1])."""
    if not fs.faces:
        raise InputError(f"face set {fs.root}: expected at least one face, found none")
    out = np.empty((len(fs.faces), 3, r, r), np.float32)
    for i, rec in enumerate(fs.faces):
        img, _ = fs.read_face(rec)
        out[i] = np.clip(_resize(img, r), 0.0, 1.0).transpose(2, 0, 1)
    return out


class ConstantFace:
    """The mean of B's face-set crops, for every face."""

    name = "constant"

    def __init__(self, faceset_b: FaceSet, resolution: int) -> None:
        self.face = _crops(faceset_b, resolution).astype(np.float64).mean(0).astype(np.float32)

    def faces(self, contexts: Sequence[FaceContext], codes: np.ndarray) -> np.ndarray:
        return np.repeat(self.face[None], codes.shape[0], axis=0)


class NearestFace:
    """B's face-set crop whose landmarks are nearest (RMS over the 468 points) to the plate face's."""

    name = "nearest"

    def __init__(self, faceset_b: FaceSet, resolution: int) -> None:
        self.crops = _crops(faceset_b, resolution)
        k = resolution / float(faceset_b.resolution)
        lms = []
        for rec in faceset_b.faces:
            p = np.asarray(rec.landmarks, np.float64)
            if p.ndim != 2 or p.shape[0] != 468 or p.shape[1] < 2 or not np.isfinite(p).all():
                raise InputError(f"face set {faceset_b.root}, face {rec.id}: expected 468×2 finite landmarks "
                                 f"(crop pixels), found shape {p.shape}"
                                 + ("" if p.ndim != 2 or np.isfinite(p).all() else " with non-finite values"))
            lms.append(p[:, :2] * k)
        self.landmarks = np.stack(lms)  # n×468×2, crop pixels at the model's resolution
        self.ids = [rec.id for rec in faceset_b.faces]

    def index(self, landmarks: np.ndarray) -> int:
        """Index of the record nearest to ``landmarks`` (468×2 crop pixels)."""
        d = np.sqrt(((self.landmarks - np.asarray(landmarks, np.float64)[None, :, :2]) ** 2).sum(-1).mean(-1))
        return int(np.argmin(d))

    def faces(self, contexts: Sequence[FaceContext], codes: np.ndarray) -> np.ndarray:
        return np.stack([self.crops[self.index(c.landmarks)] for c in contexts]) if contexts else \
            np.zeros((0,) + self.crops.shape[1:], np.float32)


class TruthCrop:
    """The crop of the truth frame (same crop matrix, the model's resolution and encoding)."""

    name = "truth"

    def __init__(self, truth: str, manifest: Any, config: ColourConfig, space: str) -> None:
        from faceplate.plates.sequence import Sequence as PlateSequence

        self.seq, self.manifest, self.config, self.space = PlateSequence(truth), manifest, config, space

    def faces(self, contexts: Sequence[FaceContext], codes: np.ndarray) -> np.ndarray:
        from faceplate.faces import align
        from faceplate.plates.image import read_image

        r = self.manifest.resolution
        out = np.empty((len(contexts), 3, r, r), np.float32)
        cache: dict[int, Any] = {}
        for i, c in enumerate(contexts):
            if c.frame not in cache:
                cache[c.frame] = read_image(self.seq.path(c.frame), c.frame)
            img = cache[c.frame]
            ref = align.warp_to_crop(img.rgb(), c.matrix, r, offset=(img.data_window[0], img.data_window[1]))
            out[i] = self.manifest.crop_encoding.encode(np.asarray(ref, np.float32), self.space,
                                                        self.config).transpose(2, 0, 1)
        return out


def _constant(**kw: Any) -> Baseline:
    return ConstantFace(_need(kw, "faceset_b", "constant"), _need(kw, "model", "constant").manifest.resolution)


def _nearest(**kw: Any) -> Baseline:
    return NearestFace(_need(kw, "faceset_b", "nearest"), _need(kw, "model", "nearest").manifest.resolution)


def _truth(**kw: Any) -> Baseline:
    return TruthCrop(_need(kw, "truth", "truth"), _need(kw, "model", "truth").manifest, _need(kw, "config", "truth"),
                     _need(kw, "space", "truth"))


def _need(kw: dict[str, Any], key: str, name: str) -> Any:
    if kw.get(key) is None:
        raise InputError(f"baseline {name}: expected {key}=..., found none")
    return kw[key]


#: name -> factory(model=, faceset_b=, truth=, config=, space=) -> Baseline
BASELINES: dict[str, Callable[..., Baseline]] = {"constant": _constant, "nearest": _nearest, "truth": _truth}


def make_baseline(name: str, **kw: Any) -> Baseline:
    """The baseline ``name`` (see :data:`BASELINES`); an unknown name is answered with the valid ones."""
    if name not in BASELINES:
        raise InputError(f"baseline: expected one of {', '.join(BASELINES)}, found {name!r}")
    return BASELINES[name](**kw)


def render_baseline(baseline: Baseline, model: Any, plate: str, alignments: Path | str, frames: Sequence[int],
                    out: str, settings: Any, config: ColourConfig | None = None) -> list[int]:
    """Write ``baseline``'s passes (``out`` pattern, one multi-layer EXR per frame, atomically) for
    ``frames`` of ``plate``, with ``model``'s matte and ``settings`` (a
    :class:`~faceplate.render.settings.RenderSettings`, e.g. ``comp=True``); returns the frames written.
    Each file's metadata names the baseline (``faceplate:baseline``)."""
    from faceplate.plates.image import read_image
    from faceplate.plates.sequence import Sequence as PlateSequence
    from faceplate.render.facesource import faces_for_frames, select
    from faceplate.render.frame import render_frame
    from faceplate.render.job import plate_arrays
    from faceplate.render.passes import write_passes

    config = config or ColourConfig.from_env()
    space = config.resolve(settings.colour_space, "--colour-space")
    seq = PlateSequence(plate)
    faces = faces_for_frames(alignments, frames)
    wrapped = BaselineModel(model, baseline)
    written = []
    for f in frames:
        img = read_image(seq.path(f), f)
        rgb, alpha, offset = plate_arrays(img)
        pts = [fc.points for fc in select(faces[f], settings)]
        bound = wrapped.bind(face_contexts(f, pts, model.manifest))
        passes = render_frame(rgb, alpha, offset, pts, bound, settings, config, space)
        write_passes(out, f, img, passes, settings, False, model.sha256,
                     extra_meta={"faceplate:baseline": baseline.name})
        written.append(f)
    return written
