"""Face detection with MediaPipe's BlazeFace (short- and full-range) run by onnxruntime.

Pure numpy pieces (:func:`ssd_anchors`, :func:`decode`, :func:`weighted_nms`) are separate from the
model runs. :class:`FaceDetector` adds letterboxing, several faces per frame, small faces (the
full-range model, then overlapping tiles when no face is found with confidence) and rotated faces
(90/180/270° retries when still none, boxes and keypoints mapped back).

Coordinates are proxy (= plate) pixels with (0, 0) at the top-left corner of the top-left pixel.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from faceplate.errors import InputError

#: the detector's six keypoints, subject's left/right
KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")


@dataclass(frozen=True)
class DetectorModel:
    """A BlazeFace variant: its asset, input size and SSD anchor layout ((stride, anchors per cell), …)."""

    asset: str
    size: int
    layers: tuple[tuple[int, int], ...]


#: registry of detector models by name
MODELS: dict[str, DetectorModel] = {
    "short": DetectorModel("detector_short", 128, ((8, 2), (16, 6))),
    "full": DetectorModel("detector_full", 192, ((4, 1),)),
}
MODES = ("auto", "short", "full")
#: a face only the tiles find, beside a confident whole-frame face, is kept from this score up (tiles
#: cut through textures and make weak false faces; small real faces score 0.8-0.95 there)
TILE_SCORE = 0.7
#: the smallest face looked for by default (detector box side, px of the image given): a smaller face
#: gives FaceMesh less than a sixth of its 192 px input and a crop mostly made of upscaling
MIN_FACE = 32.0
#: the full-range model finds a face in a tile down to about 11-12 px of its 192 px input (measured on
#: the astronaut and Grace Hopper at 640, 1280 and 1920 px); a tile is at most so large that the
#: smallest face looked for is this many input px (a margin over that), and never smaller than a third
#: of the frame: small frames get fewer, larger tiles (640×360: 2 tiles of 384 px instead of 8 of 213)
TILE_FACE_PX = 16.0


@dataclass(frozen=True)
class Detection:
    """One face: ``box`` [4] = x0, y0, x1, y1 and ``keypoints`` [6, 2] (see :data:`KEYPOINTS`) in plate px."""

    box: np.ndarray
    score: float
    keypoints: np.ndarray = field(repr=False)

    @property
    def size(self) -> float:
        return float(max(self.box[2] - self.box[0], self.box[3] - self.box[1]))

    def to_dict(self) -> dict:
        return {"box": [float(v) for v in self.box], "score": float(self.score),
                "keypoints": [[float(a), float(b)] for a, b in self.keypoints]}


# ------------------------------------------------------------------------------ pure functions
def ssd_anchors(size: int, layers: Sequence[tuple[int, int]]) -> np.ndarray:
    """Anchor centres (N×2, normalised x, y) of MediaPipe's SSD grid with fixed anchor size.

    For each (stride, per_cell) layer, a (size/stride)² grid, row by row, each cell repeated
    ``per_cell`` times, centre ((x + 0.5)/fm, (y + 0.5)/fm).

    >>> ssd_anchors(128, MODELS["short"].layers).shape, ssd_anchors(192, MODELS["full"].layers).shape
    ((896, 2), (2304, 2))
    """
    out = []
    for stride, per_cell in layers:
        fm = int(np.ceil(size / stride))
        ys, xs = np.meshgrid(np.arange(fm), np.arange(fm), indexing="ij")
        centres = np.stack([(xs.ravel() + 0.5) / fm, (ys.ravel() + 0.5) / fm], axis=1)
        out.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(out).astype(np.float64)


def sigmoid_scores(logits: np.ndarray) -> np.ndarray:
    """Score = sigmoid(clip(logit, -100, 100)), float64."""
    x = np.clip(np.asarray(logits, np.float64).reshape(-1), -100.0, 100.0)
    return 1.0 / (1.0 + np.exp(-x))


def decode(raw: np.ndarray, anchors: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode regressors (N×16) into boxes (N×4 x0, y0, x1, y1) and keypoints (N×6×2), normalised.

    Each row: centre x, y, width, height, then 6 keypoints (x, y), in input pixels; divided by
    ``size``; the anchor centre is added to the centre and to each keypoint.
    """
    raw = np.asarray(raw, np.float64).reshape(-1, 16)
    anchors = np.asarray(anchors, np.float64)
    if anchors.shape != (raw.shape[0], 2):
        raise InputError(f"decode: expected anchors of shape ({raw.shape[0]}, 2), found {anchors.shape}")
    v = raw / float(size)
    c = v[:, 0:2] + anchors
    half = v[:, 2:4] / 2.0
    boxes = np.concatenate([c - half, c + half], axis=1)
    kps = v[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]
    return boxes, kps


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one box [4] with boxes N×4 (x0, y0, x1, y1)."""
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, iou_threshold: float = 0.3
) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """MediaPipe's weighted non-maximum suppression.

    Take the best remaining box, group every remaining box whose IoU with it exceeds
    ``iou_threshold``, and average the group's boxes and keypoints weighted by score; the group's
    score is the best one. Ties are broken by index (stable sort), so the result is deterministic.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    if not scores.size:
        return []
    keypoints = np.asarray(keypoints, np.float64).reshape(len(scores), -1, 2)
    order = np.argsort(-scores, kind="stable")
    remaining = order
    out = []
    while remaining.size:
        top = remaining[0]
        overlap = iou(boxes[top], boxes[remaining])
        group = remaining[overlap > iou_threshold]
        group = group if group.size else remaining[:1]
        w = scores[group] / scores[group].sum()
        out.append((w @ boxes[group], float(scores[top]), np.tensordot(w, keypoints[group], axes=1)))
        remaining = remaining[~np.isin(remaining, group)]
    return out


def rotate_points_back(pts: np.ndarray, k: int, h: int, w: int) -> np.ndarray:
    """Map points found in ``np.rot90(img, k)`` back to ``img`` (H×W), pixel-edge coordinates."""
    pts = np.asarray(pts, np.float64)
    x, y = pts[..., 0], pts[..., 1]
    k %= 4
    if k == 0:
        back = (x, y)
    elif k == 1:
        back = (w - y, x)
    elif k == 2:
        back = (w - x, h - y)
    else:
        back = (y, h - x)
    return np.stack(back, axis=-1)


def check_proxy(proxy: np.ndarray, what: str = "proxy", values: bool = True) -> np.ndarray:
    """The proxy as float32 H×W×3 in [0, 1] (clipped); InputError on bad shape or NaN/inf.

    ``values=False`` checks only shape and dtype (the caller checks and clips the pixels it uses).
    """
    arr = np.asarray(proxy)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError(f"{what}: expected a float32 H×W×3 sRGB image, found shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise InputError(f"{what}: expected float values in [0, 1], found dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if not values:
        return arr
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{what}: expected finite values, found NaN or infinity")
    return np.clip(arr, 0.0, 1.0)


def tile_side(longer: int, min_face: float) -> int:
    """Side of the detector's tiles on an image whose longer side is ``longer`` px: a third of it (at
    least the model's 192 px input), or larger, up to the whole side, as long as a face of
    ``min_face`` px still spans :data:`TILE_FACE_PX` of the model's input.

    >>> tile_side(640, 32), tile_side(1024, 17), tile_side(1024, 32), tile_side(300, 32)
    (384, 341, 384, 300)
    """
    size = MODELS["full"].size
    return int(max(size, longer // 3, min(longer, size * min_face / TILE_FACE_PX)))


def _check_min_face(v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v < 1e6:
        raise InputError(f"min_face: expected a face size in pixels >= 0, found {v!r}")
    return float(v)


# ------------------------------------------------------------------------------------ detector
@dataclass(frozen=True)
class _View:
    """A rectangle of the frame resized (aspect kept) and centred in the model input."""

    x0: int
    y0: int
    sx: float
    sy: float
    px: int
    py: int

    def to_frame(self, pts_model_px: np.ndarray) -> np.ndarray:
        p = np.asarray(pts_model_px, np.float64)
        return np.stack([self.x0 + (p[..., 0] - self.px) / self.sx, self.y0 + (p[..., 1] - self.py) / self.sy], -1)


def _prepare(img: np.ndarray, rect: tuple[int, int, int, int], size: int) -> tuple[np.ndarray, _View]:
    """Crop ``rect`` (x0, y0, w, h, inside the image), fit it into size×size (letterbox), scale to [-1, 1], NCHW."""
    import cv2

    x0, y0, w, h = rect
    crop = img[y0:y0 + h, x0:x0 + w]
    s = size / max(w, h)
    nw, nh = max(1, min(size, int(round(w * s)))), max(1, min(size, int(round(h * s))))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    small = cv2.resize(crop, (nw, nh), interpolation=interp) if (nw, nh) != (w, h) else crop
    px, py = (size - nw) // 2, (size - nh) // 2
    canvas = np.zeros((size, size, 3), np.float32)
    canvas[py:py + nh, px:px + nw] = small.reshape(nh, nw, 3)
    x = canvas * 2.0 - 1.0
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None]), _View(x0, y0, nw / w, nh / h, px, py)


def tiles(w: int, h: int, side: int, step_fraction: float = 0.5) -> list[tuple[int, int, int, int]]:
    """Overlapping square tiles of ``side`` px, ``step_fraction`` × side apart (0.5: 50% overlap),
    covering a w×h frame (clipped to it)."""
    side = max(1, min(side, max(w, h)))
    step = max(1, int(side * step_fraction))

    def starts(n: int) -> list[int]:
        if n <= side:
            return [0]
        s = list(range(0, n - side, step)) + [n - side]
        return sorted(set(s))

    return [(x, y, min(side, w - x), min(side, h - y)) for y in starts(h) for x in starts(w)]


class FaceDetector:
    """BlazeFace face detection on a display sRGB proxy.

    ``model``: "auto" (short- and full-range together), "short" or "full".
    ``score_threshold``: keep detections scoring above it (0–1). ``iou_threshold``: weighted-NMS grouping.
    ``work_size``: frames whose longer side exceeds it are first shrunk to it (area averaging; the
    models see at most 192 px, so nothing is lost, and the retries stay cheap).
    ``tile``: also run the full-range model on tiles (25% overlap; small faces; merged with the
    whole-frame result), whatever the best score: tiles of a third of the frame's longer side, or
    larger where the smallest face looked for still fills :data:`TILE_FACE_PX` of the model's input
    (:func:`tile_side`). ``min_face``: faces whose box is smaller (px of the image given to
    :meth:`detect`) are not looked for and not returned. ``retry_below``: when no face scores at least this (0–1), the
    detector retries ``rotate``: on the frame turned by 90/180/270°,
    keeping the turn with the best score (an upside-down face is often found, weakly and with bad
    keypoints). ``providers``/``threads``: onnxruntime session settings. ``assets``: asset folder
    (default :func:`faceplate.faces.assets.asset_dir`).
    """

    def __init__(
        self,
        model: str = "auto",
        score_threshold: float = 0.5,
        iou_threshold: float = 0.3,
        tile: bool = True,
        rotate: bool = True,
        retry_below: float = 0.75,
        work_size: int = 1024,
        min_face: float = MIN_FACE,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        assets: Path | str | None = None,
    ) -> None:
        from faceplate.faces.assets import session

        if model not in MODES:
            raise InputError(f"detector model: expected one of {', '.join(MODES)}, found {model!r}")
        for name, v in (("score_threshold", score_threshold), ("iou_threshold", iou_threshold),
                        ("retry_below", retry_below)):
            if not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise InputError(f"{name}: expected a number in [0, 1], found {v!r}")
        if not isinstance(work_size, int) or work_size < 256:
            raise InputError(f"work_size: expected a whole number >= 256, found {work_size!r}")
        _check_min_face(min_face)
        self.min_face = float(min_face)
        self.model = model
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.tile = tile
        self.rotate = rotate
        self.retry_below = float(retry_below)
        self.work_size = work_size
        folder = Path(assets) if assets else None
        names = ("short", "full") if model == "auto" else (model,)
        self._models = {n: (MODELS[n], ssd_anchors(MODELS[n].size, MODELS[n].layers),
                            session(MODELS[n].asset, providers, threads, folder)) for n in names}

    def _candidates(self, img: np.ndarray, rect, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        boxes, scores, kps = [np.zeros((0, 4))], [np.zeros(0)], [np.zeros((0, 6, 2))]
        for name in names:
            spec, anchors, sess = self._models[name]
            x, view = _prepare(img, rect, spec.size)
            outs = sess.run(None, {sess.get_inputs()[0].name: x})
            reg, cls = (outs[0], outs[1]) if outs[0].shape[-1] == 16 else (outs[1], outs[0])
            sc = sigmoid_scores(cls)
            keep = sc > self.score_threshold
            if not keep.any():
                continue
            b, k = decode(reg.reshape(-1, 16)[keep], anchors[keep], spec.size)
            boxes.append(view.to_frame(b.reshape(-1, 2, 2) * spec.size).reshape(-1, 4))
            scores.append(sc[keep])
            kps.append(view.to_frame(k * spec.size))
        return np.concatenate(boxes), np.concatenate(scores), np.concatenate(kps)

    def _merge(self, parts) -> list[Detection]:
        b = np.concatenate([p[0] for p in parts])
        s = np.concatenate([p[1] for p in parts])
        k = np.concatenate([p[2] for p in parts])
        dets = [Detection(box, score, kp) for box, score, kp in weighted_nms(b, s, k, self.iou_threshold)]
        return sorted(dets, key=lambda d: -d.score)

    def _weak(self, dets: list[Detection]) -> bool:
        return not dets or dets[0].score < self.retry_below

    def _detect_work(self, img: np.ndarray, pool=None, min_face: float = MIN_FACE) -> list[Detection]:
        h, w = img.shape[:2]
        # Tiles whatever the best score: one confident face must not hide small ones beside it. The
        # cost is bounded: tiles of a third of the longer side (larger where min_face allows, none
        # where one tile would be the whole frame) at 25% overlap, at most 4×4 model runs (8 on a
        # 16:9 frame), and extract runs the detector only every few frames.
        jobs = [((0, 0, w, h), list(self._models))]
        side = tile_side(max(w, h), min_face)
        tiled = self.tile and max(w, h) >= 2 * MODELS["full"].size and side < max(w, h)
        if tiled:
            names = ["full"] if "full" in self._models else list(self._models)
            jobs += [(r, names) for r in tiles(w, h, side, 0.75)]

        def run(job):
            return self._candidates(img, *job)

        done = list(pool.map(run, jobs)) if pool is not None else [run(j) for j in jobs]  # independent runs
        whole, parts = done[0], done[1:]
        dets = self._merge([whole])
        # Faces the whole frame found with confidence keep their whole-frame boxes; tiles add the faces
        # that do not overlap them. Without a confident face, everything is merged (as a retry).
        if tiled:
            if self._weak(dets):
                dets = self._merge([whole] + parts)
            else:
                extra = [d for d in self._merge(parts) if d.score >= TILE_SCORE
                         and not any(iou(d.box, k.box[None])[0] > self.iou_threshold for k in dets)]
                dets = sorted(dets + extra, key=lambda d: -d.score)
        if self._weak(dets) and self.rotate:
            for k in (1, 2, 3):
                rot = np.ascontiguousarray(np.rot90(img, k))
                found = self._merge([self._candidates(rot, (0, 0, rot.shape[1], rot.shape[0]), list(self._models))])
                if found and (not dets or found[0].score > dets[0].score):
                    dets = [self._unrotate(d, k, h, w) for d in found]
        return dets

    def detect(self, proxy: np.ndarray, pool=None, min_face: float | None = None) -> list[Detection]:
        """Faces in ``proxy`` (float32 H×W×3 display sRGB in [0, 1]), best score first, none smaller
        than ``min_face`` px (default: the detector's ``min_face``).

        ``pool``: an executor (``concurrent.futures``) whose ``map`` runs the whole-frame pass and the
        tiles side by side; the detections are the same as without it."""
        import cv2

        least = self.min_face if min_face is None else _check_min_face(min_face)
        img = check_proxy(proxy)
        h, w = img.shape[:2]
        if max(h, w) <= self.work_size:
            found = self._detect_work(img, pool, least)
        else:
            f = self.work_size / max(h, w)
            nw, nh = max(1, int(round(w * f))), max(1, int(round(h * f)))
            small = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
            sx, sy = nw / w, nh / h
            scale = np.array([sx, sy])
            found = [Detection(d.box / np.tile(scale, 2), d.score, d.keypoints / scale)
                     for d in self._detect_work(small, pool, least * nw / w)]
        return [d for d in found if d.size >= least]

    @staticmethod
    def _unrotate(d: Detection, k: int, h: int, w: int) -> Detection:
        x0, y0, x1, y1 = d.box
        corners = rotate_points_back(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), k, h, w)
        box = np.concatenate([corners.min(0), corners.max(0)])
        return Detection(box, d.score, rotate_points_back(d.keypoints, k, h, w))
