"""Swap quality the way face-swap papers and supervisors judge it, measured on rendered comps.

Every figure compares a *comp* (the plate with a face rendered over it: the swap, or a baseline made
through the same render path) with the plate's own face, frame by frame:

- **identity**: cosine similarity (and dlib's Euclidean distance) of the comp's face descriptor
  (:mod:`faceplate.faces.identity`) to identity B's and identity A's mean descriptors. A swap must sit
  clearly nearer B than A;
- **pose error**: |yaw|, |pitch|, |roll| difference in degrees between the head pose of FaceMesh's
  landmarks found on the comp and on the plate (:func:`faceplate.curate.pose.head_pose`);
- **expression error**: mean |difference| of mouth opening, mouth width, smile lift and eye opening
  (:func:`faceplate.curate.expression.measures`, each ÷ the eye distance) between the comp's and the
  plate's landmarks;
- **sharpness**: RMS of the Laplacian of Gaussian (σ = 1 px) of linear-light luminance inside the
  matte's core, comp ÷ plate (1 = as much fine detail as the plate's face; grain counts as detail);
- **flicker**: RMS temporal second difference of the face in its own frame (crop space, crop
  encoding code values, low-passed so grain does not count) inside the matte: a steady face moving
  smoothly scores near 0, a face that pops from frame to frame high;
- **follow**: regression slope of the model's frame-to-frame output changes on the reference's
  (the truth's where one exists, else the plate's), in crop space, low-passed, inside the face mask
  (:func:`follow_slope`): 1 = follows every change of the input, 0 = ignores the input (a constant
  face), computed on the model's own output so colour matching does not count. Where the reference
  is the plate (no truth: another person's face), its pixel changes are not what a right swap does:
  a face that moves by a fraction of a pixel in the crop changes each pixel by its *own* gradients,
  and B's gradients are not A's. So next to it (:func:`follow_motion`): **follow (motion)**, the
  slope on the changes the plate asks of *this* face (the plate's per-channel level change plus the
  plate's own fitted affine motion, moved over the output's own image), and **follow ceiling**, the
  plain follow figure that a swap making exactly those changes would score (1 where the reference is
  the truth or the output is the plate itself; below 1 where B's face differs from A's).

Colour: plates and comps are float32 H×W×3 scene-linear in the plate's OCIO space ``space``;
landmarks and identity run on the display proxy (``ColourConfig.to_proxy``), as in extract.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np


from faceplate.curate.expression import MEASURE_NAMES as EXPRESSION_KEYS
from faceplate.curate.expression import measures as expression

#: low-pass of crop-space sequences (px at the metric crop size): sensor grain is not a change
LOWPASS_SIGMA = 1.5
METRIC_CROP = 128


def expression_error(points: np.ndarray, reference: np.ndarray) -> float:
    """Mean |difference| of the expression measures (:func:`faceplate.curate.expression.measures`:
    mouth opening, mouth width, smile lift, eye opening, each ÷ the eye distance) of two faces."""
    a, b = expression(points), expression(reference)
    return float(np.mean([abs(a[k] - b[k]) for k in EXPRESSION_KEYS]))


def pose_error(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """|Δyaw|, |Δpitch|, |Δroll| in degrees between two sets of plate-pixel landmarks."""
    from faceplate.curate.pose import head_pose

    d = np.subtract(head_pose(points), head_pose(reference))
    return np.abs((d + 180.0) % 360.0 - 180.0)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Mean of the channels: a primaries-agnostic luminance for ratios of one image against another."""
    return np.asarray(rgb, np.float32).mean(-1)


def log_energy(rgb: np.ndarray, core: np.ndarray) -> float:
    """RMS of the Laplacian of Gaussian (σ = 1 px) of linear-light luminance over ``core`` (bool)."""
    import cv2

    lum = cv2.GaussianBlur(luminance(rgb), (0, 0), 1.0)
    lap = cv2.Laplacian(lum, cv2.CV_32F, ksize=3)
    return float(np.sqrt(np.mean(lap[core] ** 2))) if core.any() else float("nan")


def matte_core(matte: np.ndarray, level: float = 0.95, erode_px: int = 3) -> np.ndarray:
    """Pixels well inside the matte (the blend edge does not count as the face's own detail)."""
    import cv2

    core = (np.asarray(matte) >= level).astype(np.uint8)
    if erode_px:
        core = cv2.erode(core, np.ones((2 * erode_px + 1,) * 2, np.uint8))
    return core.astype(bool)


def lowpass(stack: np.ndarray, sigma: float = LOWPASS_SIGMA) -> np.ndarray:
    """Spatial Gaussian blur of every frame of a T×H×W(×C) stack."""
    import cv2

    return np.stack([cv2.GaussianBlur(np.asarray(f, np.float32), (0, 0), sigma) for f in stack])


def follow_slope(output: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> float:
    """Least-squares slope β of Δoutput ≈ β·Δreference over consecutive frames and the pixels of
    ``mask`` (H×W bool), after a low-pass (grain is not a change to follow).

    ``output``/``reference``: T×H×W×C crop-space sequences in the same code values, T ≥ 2."""
    o, r = lowpass(output), lowpass(reference)
    do, dr = np.diff(o, axis=0)[:, mask], np.diff(r, axis=0)[:, mask]
    den = float((dr * dr).sum())
    return float((do * dr).sum() / den) if den > 0 else float("nan")


def _motion_basis(gx: np.ndarray, gy: np.ndarray, xy: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """(P·C)×6 change of an image with gradients ``gx``, ``gy`` (P×C) under an affine motion
    ``(c0 + c1 x + c2 y, c3 + c4 x + c5 y)`` per unit coefficient (``x``, ``y``: P coordinates from the
    crop's centre): fit a motion with ``lstsq(basis, change)``, apply one with ``basis @ c``."""
    x, y = (v[:, None] for v in xy)
    return np.stack([t.ravel() for t in (gx, gx * x, gx * y, gy, gy * x, gy * y)], axis=1)


def follow_motion(output: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """-> (follow (motion), follow ceiling) of ``output`` against ``reference`` (as :func:`follow_slope`).

    Per pair of consecutive low-passed frames, the reference's change inside ``mask`` is split into
    its per-channel level change and a small affine motion of its face in the crop (fitted by least
    squares on the mid-frame's gradients: sub-pixel shifts, scale and rotation as the crop tracks the
    face; on the demo it explains 95 % of what is not the level). The changes the reference asks of
    the output are that level change plus that motion moved over the *output's* own gradients.
    ``follow (motion)``: least-squares slope of the output's changes on them (1: moves and brightens
    with the reference, 0: ignores it). ``follow ceiling``: :func:`follow_slope`'s figure for an
    output that made exactly them, the most a face other than the reference's can score there."""
    o, r = lowpass(output), lowpass(reference)
    h, w = mask.shape
    yy, xx = np.mgrid[0:h, 0:w]
    xy = ((xx - w / 2)[mask].astype(np.float64), (yy - h / 2)[mask].astype(np.float64))
    got, want, ref_change = [], [], []
    for t in range(len(o) - 1):
        dr, do = (r[t + 1] - r[t])[mask], (o[t + 1] - o[t])[mask]
        level = dr.mean(axis=0, keepdims=True)
        gy_r, gx_r = np.gradient(0.5 * (r[t] + r[t + 1]), axis=(0, 1))
        gy_o, gx_o = np.gradient(0.5 * (o[t] + o[t + 1]), axis=(0, 1))
        c = np.linalg.lstsq(_motion_basis(gx_r[mask], gy_r[mask], xy), (dr - level).ravel().astype(np.float64),
                            rcond=None)[0]
        want.append(level + (_motion_basis(gx_o[mask], gy_o[mask], xy) @ c).reshape(dr.shape))
        got.append(do)
        ref_change.append(dr)
    e, d, dr_all = np.stack(want), np.stack(got), np.stack(ref_change)
    ee, rr = float((e * e).sum()), float((dr_all * dr_all).sum())
    return (float((d * e).sum() / ee) if ee > 0 else float("nan"),
            float((e * dr_all).sum() / rr) if rr > 0 else float("nan"))


def temporal_flicker(stack: np.ndarray, mask: np.ndarray) -> float:
    """RMS temporal second difference of a T×H×W×C crop-space sequence over ``mask`` (H×W bool),
    after a low-pass. Smooth motion and exposure drift give ~0; frame-to-frame pops do not."""
    if len(stack) < 3 or not mask.any():
        return float("nan")
    s = lowpass(stack)
    d2 = s[2:] - 2 * s[1:-1] + s[:-2]
    return float(np.sqrt(np.mean(d2[:, mask] ** 2)))


# --- per-frame face measures -----------------------------------------------------------------------

@dataclass
class FaceLook:
    """What the metrics need of one face in one image: FaceMesh points (image pixels), the head pose,
    the expression measures and the identity descriptor (None without the identity model)."""

    points: np.ndarray
    presence: float
    embedding: np.ndarray | None


def _box(points: np.ndarray, shape: tuple[int, int], pad: float = 0.8) -> tuple[int, int, int, int]:
    lo, hi = points[:, :2].min(0), points[:, :2].max(0)
    m = pad * float(max(hi - lo))
    x0, y0 = np.maximum(np.floor(lo - m), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(hi + m), [shape[1], shape[0]]).astype(int)
    return int(x0), int(y0), int(x1), int(y1)


def look(rgb: np.ndarray, seed_points: np.ndarray, space: str, config, landmarker, embedder=None) -> FaceLook:
    """FaceMesh (started from ``seed_points``, plate pixels) and the identity descriptor of the face in
    ``rgb`` (scene-linear in ``space``), both on the display proxy of a region around the face."""
    pts = np.asarray(seed_points, np.float64)[:, :2]
    x0, y0, x1, y1 = _box(pts, rgb.shape[:2])
    proxy = np.clip(config.to_proxy(np.ascontiguousarray(rgb[y0:y1, x0:x1]), space), 0.0, 1.0)
    found = landmarker.from_points(proxy, pts - (x0, y0))
    local = found.points[:, :2]
    emb = embedder.embed(proxy, local) if embedder is not None else None
    return FaceLook(points=local + (x0, y0), presence=float(found.presence), embedding=emb)


@dataclass
class Variant:
    """One way of making the shot's face: the swap or a baseline, as comps per scored frame."""

    name: str
    comp: Callable[[int], np.ndarray]  # frame -> H×W×3 comp, scene-linear in the plate's space
    output_codes: Callable[[np.ndarray], np.ndarray] | None = None  # crop codes N×3×R×R -> model output


@dataclass
class ShotCase:
    """A shot to score: plate frames, the plate's landmarks, the matte, and the references."""

    frames: list[int]
    plate: Callable[[int], np.ndarray]  # frame -> H×W×3 plate, scene-linear in ``space``
    points: Mapping[int, np.ndarray]  # frame -> 468×2 plate landmarks of the swapped face (alignments)
    matte: Callable[[int], np.ndarray]  # frame -> H×W matte of the swap (the same region for every variant)
    space: str
    config: object
    truth: Callable[[int], np.ndarray] | None = None  # oracle: the right answer per frame
    embedding_a: np.ndarray | None = None  # mean descriptor of identity A
    embedding_b: np.ndarray | None = None  # mean descriptor of identity B
    manifest: object = None  # the model's manifest: crop size, coverage, centering, crop encoding
    extra: dict = field(default_factory=dict)


def _to_crop(case: ShotCase, img: np.ndarray, points: np.ndarray, size: int) -> np.ndarray:
    """``img`` (scene-linear, or a matte H×W) in the face's own frame at ``size`` px; images in the
    model's crop encoding, mattes as they are."""
    from faceplate.faces import align

    man = case.manifest
    m = align.crop_matrix(points, size, man.coverage, man.centering)
    if img.ndim == 2:
        return np.asarray(align.warp_to_crop(img[..., None], m, size), np.float32)[..., 0]
    lin = np.asarray(align.warp_to_crop(img, m, size), np.float32)
    return man.crop_encoding.encode(lin, case.space, case.config)


def score(case: ShotCase, variants: Iterable[Variant], landmarker, embedder=None) -> dict[str, dict]:
    """Every metric for every variant on ``case.frames`` (a dict per variant, means over frames).

    One pass over the frames: each plate, matte and comp is read once."""
    variants = list(variants)
    ref_img = case.truth or case.plate
    frames = [f for f in case.frames if f in case.points]
    crops = case.manifest is not None
    r = case.manifest.resolution if crops else 0
    acc = {v.name: {"ids_b": [], "ids_a": [], "dist_b": [], "dist_a": [], "pose": [], "expr": [], "sharp": [],
                    "bias": {k: [] for k in EXPRESSION_KEYS}, "stack": []} for v in variants}
    ref_stack, follow_in, follow_ref = [], [], []
    keep = np.ones((METRIC_CROP, METRIC_CROP), bool)
    keep_model = np.ones((r, r), bool) if crops else None
    for f in frames:
        pts = case.points[f]
        ref, plate, matte = ref_img(f), case.plate(f), case.matte(f)
        ref_look = look(ref, pts, case.space, case.config, landmarker)
        core = matte_core(matte)
        ref_energy = max(log_energy(ref, core), 1e-12)
        if crops:
            ref_stack.append(_to_crop(case, ref, pts, METRIC_CROP))
            keep &= matte_core(_to_crop(case, matte, pts, METRIC_CROP), 0.95, 2)
            follow_in.append(_to_crop(case, plate, pts, r))
            follow_ref.append(_to_crop(case, ref, pts, r))
            keep_model &= matte_core(_to_crop(case, matte, pts, r), 0.95, 2)
        for v in variants:
            a = acc[v.name]
            comp = v.comp(f)
            lk = look(comp, pts, case.space, case.config, landmarker, embedder)
            a["pose"].append(pose_error(lk.points, ref_look.points))
            a["expr"].append(expression_error(lk.points, ref_look.points))
            e, er = expression(lk.points), expression(ref_look.points)
            for k in EXPRESSION_KEYS:
                a["bias"][k].append(e[k] - er[k])
            a["sharp"].append(log_energy(comp, core) / ref_energy)
            if crops:
                a["stack"].append(_to_crop(case, comp, pts, METRIC_CROP))
            for who, target in (("a", case.embedding_a), ("b", case.embedding_b)):
                if lk.embedding is not None and target is not None:
                    a[f"ids_{who}"].append(cosine(lk.embedding, target))
                    a[f"dist_{who}"].append(float(np.linalg.norm(lk.embedding - target)))
    out: dict[str, dict] = {}
    codes = np.ascontiguousarray(np.stack(follow_in).transpose(0, 3, 1, 2)) if crops and frames else None
    for v in variants:
        a = acc[v.name]
        row: dict = {}
        for who in ("b", "a"):
            if a[f"ids_{who}"]:
                row[f"identity_cos_{who}"] = float(np.mean(a[f"ids_{who}"]))
                row[f"identity_dist_{who}"] = float(np.mean(a[f"dist_{who}"]))
        if a["ids_a"] and a["ids_b"]:
            row["identity_margin_cos"] = row["identity_cos_b"] - row["identity_cos_a"]
            row["identity_margin_dist"] = row["identity_dist_a"] - row["identity_dist_b"]
        p = np.asarray(a["pose"])
        row["pose_error_deg"] = {"yaw": float(p[:, 0].mean()), "pitch": float(p[:, 1].mean()),
                                 "roll": float(p[:, 2].mean())}
        row["expression_error"] = float(np.mean(a["expr"]))
        row["expression_bias"] = {k: float(np.mean(d)) for k, d in a["bias"].items()}
        row["sharpness_ratio"] = float(np.nanmean(a["sharp"]))
        if crops and len(frames) >= 3:
            row["flicker"] = temporal_flicker(np.stack(a["stack"]), keep)
        if v.output_codes is not None and codes is not None and len(frames) >= 2:
            outp = np.asarray(v.output_codes(codes), np.float32).transpose(0, 2, 3, 1)
            region = keep_model if keep_model.any() else np.ones((r, r), bool)
            row["follow"] = follow_slope(outp, np.stack(follow_ref), region)
            row["follow_motion"], row["follow_ceiling"] = follow_motion(outp, np.stack(follow_ref), region)
        out[v.name] = row
    if crops and len(frames) >= 3:
        out["_reference"] = {"flicker": temporal_flicker(np.stack(ref_stack), keep)}
    return out


def mean_descriptor(embedder, images: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray | None:
    """Mean identity descriptor of ``(proxy, 468 points)`` pairs."""
    from faceplate.faces.identity import mean_embedding

    return mean_embedding(embedder.embed(p, pts) for p, pts in images)


def faceset_faces(faceset, config, limit: int | None = None):
    """``(proxy, points)`` of a face set's crops (display proxy of the decoded crop, crop pixels)."""
    recs = faceset.faces if limit is None else faceset.faces[:limit]
    for rec in recs:
        code, _ = faceset.read_face(rec)
        lin = faceset.crop_encoding.decode(code, faceset.crop_encoding.primaries, config)
        proxy = np.clip(config.to_proxy(lin, faceset.crop_encoding.primaries), 0.0, 1.0)
        yield proxy, np.asarray(rec.landmarks, np.float64)[:, :2]
