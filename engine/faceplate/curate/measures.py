"""Per-face measures that predict a bad swap, computed from a :class:`~faceplate.faces.faceset.FaceSet`.

=================  =====================================================================  ==========
measure            definition                                                             unit
=================  =====================================================================  ==========
sharpness          variance of the 3×3 Laplacian of **linear** luminance inside the        ratio
                   (eroded) face mask, divided by the squared mean luminance there
                   (so exposure does not count as detail)
dark_fraction      face pixels with linear luminance below 0.18·2⁻⁶ (6 stops under grey)  0..1
clipped_fraction   face pixels at the plate's clip level: ≥ 0.99 in a display-referred    0..1
                   plate space, else on a plateau at the crop's highest value; plus code
                   values the crop encoding clipped
yaw, pitch, roll   head pose from the landmarks in plate pixels (:mod:`.pose`)             degrees
size_px            largest side of the landmarks' bounding box in plate pixels             pixels
crop_scale         crop pixels per plate pixel (> 1: the crop is an enlargement)           ratio
score              detection/landmark confidence recorded by extract                       0..1
presence           FaceMesh face presence (``extra["presence"]``; None when not recorded)  0..1
jitter             RMS of landmark second differences against the previous and next        % of size
                   frames of the same source and track (None without both neighbours)
identity_distance  face-descriptor distance to the set's main person (identity_cluster:    distance
                   its cluster, 0 = main person; :mod:`faceplate.curate.identity`)
dup_cluster        near-duplicate cluster (16×16 normalised luminance thumbnails closer    index
                   than ``dedupe`` in :func:`duplicate_clusters`); dup_count its size
=================  =====================================================================  ==========
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from faceplate.colour.encoding import decode_transfer
from faceplate.colour.ocio import PROXY_SPACE, ColourConfig
from faceplate.curate import pose
from faceplate.errors import InputError
from faceplate.faces.faceset import FaceRecord, FaceSet

MID_GREY = 0.18
DARK_LEVEL = MID_GREY * 2.0 ** -6
DISPLAY_CLIP = 0.99
DEFAULT_DEDUPE = 0.06
THUMB = 16
PREVIEW = 96
CHUNK = 32  # faces read and colour-converted together
# ACEScg (AP1) luminance weights (SMPTE ST 2065-1 / S-2014-004 RGB->XYZ middle row).
_AP1_Y = np.array([0.2722287168, 0.6740817658, 0.0536895174])

#: measures a report can sort by and a selection can threshold on, with their direction of "better"
MEASURES = {
    "sharpness": "higher is sharper",
    "dark_fraction": "lower is better",
    "clipped_fraction": "lower is better",
    "yaw": "degrees, + = nose to image right",
    "pitch": "degrees, + = nose up",
    "roll": "degrees, + = counter-clockwise",
    "size_px": "face size in plate pixels",
    "crop_scale": "crop px per plate px",
    "score": "detection/landmark confidence recorded by extract",
    "presence": "FaceMesh face-presence confidence",
    "identity_distance": "face-descriptor distance to the set's main person (above 0.6: someone else)",
    "jitter": "% of face size, lower is steadier",
    "dup_count": "faces in the near-duplicate cluster",
    "frame": "frame number",
}


@dataclass


class SetMeasures:
    """Measures of every face of one set (rows in the set's order) plus what the set as a whole shows."""
    faceset: FaceSet
    rows: list[dict[str, Any]]
    thumbs: np.ndarray  # N×THUMB² unit vectors (near-duplicate descriptors)
    previews: list[np.ndarray]  # N× PREVIEW×PREVIEW×3 uint8 sRGB pictures of the crops
    summary: dict[str, Any] = field(default_factory=dict)

    def column(self, name: str) -> np.ndarray:
        if self.rows and name not in self.rows[0]:
            raise InputError(f"measure: expected one of {', '.join(self.rows[0])}, found {name!r}")
        return np.array([np.nan if r[name] is None else r[name] for r in self.rows], dtype=np.float64)


def luminance_weights(primaries: str, config: ColourConfig) -> np.ndarray:
    """Weights giving luminance Y from linear RGB in ``primaries`` (through ACEScg)."""
    basis = config.convert(np.eye(3, dtype=np.float32).reshape(1, 3, 3), primaries, "ACEScg").reshape(3, 3)
    return basis.astype(np.float64) @ _AP1_Y


def face_region(masks: np.ndarray, erode_px: int = 2) -> np.ndarray:
    """Boolean face region: the face mask above 0.5, eroded; the central half of the crop if empty."""
    face = (masks[..., 0] > 0.5).astype(np.uint8)
    if erode_px > 0:
        face = cv2.erode(face, np.ones((2 * erode_px + 1,) * 2, np.uint8))
    region = face.astype(bool)
    if region.sum() < 16:
        h, w = region.shape
        region = np.zeros_like(region)
        region[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = True
    return region


def sharpness(lum: np.ndarray, region: np.ndarray) -> float:
    """Variance of the Laplacian of linear luminance ``lum`` (H×W) in ``region`` / mean²."""
    lum = np.asarray(lum, dtype=np.float32)
    if lum.ndim != 2 or region.shape != lum.shape:
        raise InputError(f"sharpness: expected H×W luminance and a mask of the same shape, found {lum.shape}, {region.shape}")
    if not np.isfinite(lum).all():
        raise InputError(f"sharpness: expected finite luminance, found {int((~np.isfinite(lum)).sum())} NaN/Inf value(s)")
    lap = cv2.Laplacian(lum, cv2.CV_32F, ksize=1)
    inner = region.copy()  # the Laplacian at the crop border sees the padding
    inner[[0, -1], :] = False
    inner[:, [0, -1]] = False
    vals = lap[inner].astype(np.float64)
    mean = float(lum[inner].mean()) if inner.any() else 0.0
    if vals.size < 2 or mean <= 0:
        return 0.0
    return float(vals.var() / max(mean, DARK_LEVEL) ** 2)


def is_display_referred(space: str, config: ColourConfig) -> bool:
    """True for display-encoded spaces (sRGB, Rec.709 video), where 1.0 is the clip level."""
    from faceplate.colour.ocio import _load

    cc = _load(config.config)[0]
    name = config.resolve(space, "plate colour space")
    if cc.isColorSpaceLinear(name):
        return False
    family = (cc.getColorSpaceFamilyByName(name) or "").lower()
    return not ("input" in family or "log" in name.lower() or "acescc" in name.lower())


def exposure(lum: np.ndarray, plate_rgb: np.ndarray, code: np.ndarray, region: np.ndarray,
             display_referred: bool) -> tuple[float, float]:
    """(dark fraction, clipped fraction) of the face region."""
    n = max(int(region.sum()), 1)
    dark = float((lum[region] < DARK_LEVEL).sum() / n)
    peak = plate_rgb.max(axis=-1)[region]
    if display_referred:
        clipped = peak >= DISPLAY_CLIP
    else:
        top = float(peak.max()) if peak.size else 0.0
        plateau = peak >= top * 0.998
        clipped = plateau if (top > 0 and plateau.mean() >= 0.005) else np.zeros_like(plateau)
    enc = code[region]
    clipped = clipped | (enc.max(axis=-1) >= 0.9999)
    return dark, float(clipped.sum() / n)


def thumb(code: np.ndarray) -> np.ndarray:
    """Near-duplicate descriptor: 16×16 area-averaged code-value luminance, zero mean, unit norm."""
    g = np.asarray(code, dtype=np.float32).mean(axis=-1)
    t = cv2.resize(g, (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
    t -= t.mean()
    norm = np.linalg.norm(t)
    return t / norm if norm > 1e-9 else t


def convert_many(arrays: list[np.ndarray], src: str, dsts: list[str], config: ColourConfig) -> list[np.ndarray]:
    """Convert each H×W×3 array from ``src`` to its ``dsts`` entry, one OCIO call per destination
    (a call costs ~60 ms whatever its size, so faces are converted together)."""
    out: list[np.ndarray | None] = [None] * len(arrays)
    for dst in sorted(set(dsts)):
        idx = [i for i, d in enumerate(dsts) if d == dst]
        flat = np.concatenate([np.asarray(arrays[i], np.float32).reshape(-1, 1, 3) for i in idx], axis=0)
        conv = config.convert(flat, src, dst)
        pos = 0
        for i in idx:
            n = arrays[i].shape[0] * arrays[i].shape[1]
            out[i] = conv[pos: pos + n].reshape(arrays[i].shape)
            pos += n
    return out  # type: ignore[return-value]


def duplicate_clusters(thumbs: np.ndarray, order: list[int], threshold: float, window: int = 256) -> np.ndarray:
    """Cluster index per face: a face joins the first cluster whose first face is within ``threshold``.

    Distance is ``‖a − b‖ / √2`` of unit descriptors (0 identical, ~1 unrelated); faces are visited
    in ``order`` (source, track, frame), so a static stretch of a shot becomes one cluster. A face is
    compared with the latest ``window`` clusters only, which keeps big sets linear in time.
    """
    if not 0 <= threshold <= 1:
        raise InputError(f"--dedupe: expected a distance in [0, 1], found {threshold}")
    labels = np.full(len(thumbs), -1, dtype=np.int64)
    leaders: list[int] = []
    for i in order:
        if leaders:
            recent = leaders[-window:]
            d = np.linalg.norm(thumbs[recent] - thumbs[i], axis=1) / math.sqrt(2.0)
            j = int(np.argmin(d))
            if d[j] <= threshold:
                labels[i] = labels[recent[j]]
                continue
        labels[i] = len(leaders)
        leaders.append(i)
    return labels


def plate_space(fs: FaceSet, rec: FaceRecord) -> str:
    """The plate colour space a face came from (a merged set records it per face)."""
    extra = rec.extra if isinstance(rec.extra, dict) else {}
    return str(extra.get("plate_colour_space") or fs.plate_colour_space)


def _presence(rec: FaceRecord) -> float | None:
    """FaceMesh's face-presence confidence when extract recorded it (``extra["presence"]``)."""
    v = rec.extra.get("presence") if isinstance(rec.extra, dict) else None
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def _track(rec: FaceRecord) -> Any:
    return rec.extra.get("track", rec.face) if isinstance(rec.extra, dict) else rec.face


def group_key(rec: FaceRecord) -> tuple[str, str]:
    """Which faces form one moving shot: (sequence pattern, track); each still is its own group."""
    from faceplate.plates import Sequence

    extra = rec.extra if isinstance(rec.extra, dict) else {}
    source = str(rec.source)
    if "," in source or Sequence(source).is_still:
        source = str(extra.get("file") or source)
    return source, str(_track(rec))


def jitter(faces: list[FaceRecord], plate_points: list[np.ndarray], sizes: list[float]) -> list[float | None]:
    """Landmark jitter per face, % of face size; None without a previous and a next frame.

    Neighbours are the frames one step away (the smallest frame step of the face's group).
    """
    groups: dict[tuple[str, str], dict[int, int]] = {}
    for i, f in enumerate(faces):
        groups.setdefault(group_key(f), {})[int(f.frame)] = i
    steps = {}
    for key, frames in groups.items():
        diffs = np.diff(sorted(frames))
        steps[key] = int(diffs[diffs > 0].min()) if (diffs > 0).any() else 0
    out: list[float | None] = []
    for i, f in enumerate(faces):
        key = group_key(f)
        step = steps[key]
        prev = groups[key].get(f.frame - step) if step else None
        nxt = groups[key].get(f.frame + step) if step else None
        if prev is None or nxt is None or sizes[i] <= 0:
            out.append(None)
            continue
        resid = plate_points[i] - 0.5 * (plate_points[prev] + plate_points[nxt])
        out.append(float(100.0 * np.sqrt((resid ** 2).sum(axis=1).mean()) / sizes[i]))
    return out


def measure_faceset(fs: FaceSet, config: ColourConfig | None = None, dedupe: float = DEFAULT_DEDUPE,
                    identity: bool = False) -> SetMeasures:
    """Read every face of ``fs`` once and compute all measures (see the module table); ``identity``:
    also the identity clusters (:mod:`faceplate.curate.identity`)."""
    config = config or ColourConfig.from_env(fs.ocio_config or None)
    weights = luminance_weights(fs.crop_encoding.primaries, config)
    display: dict[str, bool] = {}
    rows: list[dict[str, Any]] = []
    thumbs, previews, plate_points, sizes = [], [], [], []
    lin_lo, lin_hi, lum_meds = math.inf, -math.inf, []
    prim = fs.crop_encoding.primaries
    for start in range(0, len(fs.faces), CHUNK):
        recs = fs.faces[start: start + CHUNK]
        read = [fs.read_face(rec) for rec in recs]
        lins = [decode_transfer(code, fs.crop_encoding.transfer) for code, _ in read]
        spaces = [plate_space(fs, rec) for rec in recs]
        for space in spaces:
            if space not in display:
                display[space] = is_display_referred(space, config)
        plates = convert_many(lins, prim, spaces, config)  # one OCIO call per space and chunk
        small = [cv2.resize(np.asarray(lin, np.float32), (PREVIEW, PREVIEW), interpolation=cv2.INTER_AREA) for lin in lins]
        shown = convert_many(small, prim, [PROXY_SPACE] * len(small), config)
        for rec, (code, masks), lin, plate_rgb, space, disp in zip(recs, read, lins, plates, spaces, shown):
            where = f"face set {fs.root}, face {rec.id}"
            lum = (lin.astype(np.float64) @ weights).astype(np.float32)
            region = face_region(masks)
            dark, clipped = exposure(lum, plate_rgb, code, region, display[space])
            pts = np.asarray(rec.landmarks, dtype=np.float64)
            if pts.ndim != 2 or pts.shape[0] != 468:
                raise InputError(f"{where}: expected 468 landmarks, found shape {pts.shape}")
            plate_pts = pose.to_plate(pts[:, :2], np.asarray(rec.transform))
            yaw, pitch, roll = pose.head_pose(plate_pts, where)
            extent = plate_pts.max(axis=0) - plate_pts.min(axis=0)
            size = float(extent.max())
            scale = float(math.sqrt(abs(np.linalg.det(np.asarray(rec.transform, dtype=np.float64)[:, :2]))))
            lin_lo, lin_hi = min(lin_lo, float(lin.min())), max(lin_hi, float(lin.max()))
            lum_meds.append(float(np.median(lum[region])))
            thumbs.append(thumb(code))
            previews.append(np.round(np.clip(disp, 0.0, 1.0) * 255.0).astype(np.uint8))
            plate_points.append(plate_pts)
            sizes.append(size)
            rows.append({
                "id": rec.id, "source": group_key(rec)[0], "frame": rec.frame, "face": rec.face, "track": _track(rec),
                "sharpness": sharpness(lum, region), "dark_fraction": dark, "clipped_fraction": clipped,
                "yaw": yaw, "pitch": pitch, "roll": roll, "size_px": size, "crop_scale": scale,
                "score": float(rec.score), "presence": _presence(rec), "lum_median": lum_meds[-1],
            })
    jit = jitter(fs.faces, plate_points, sizes)
    th = np.array(thumbs) if thumbs else np.zeros((0, THUMB * THUMB))
    order = sorted(range(len(fs.faces)), key=lambda i: (group_key(fs.faces[i]), fs.faces[i].frame))
    labels = duplicate_clusters(th, order, dedupe)
    counts = np.bincount(labels) if len(labels) else np.zeros(0, np.int64)
    for i, row in enumerate(rows):
        row["jitter"] = jit[i]
        row["dup_cluster"] = int(labels[i])
        row["dup_count"] = int(counts[labels[i]])
    if identity:
        from faceplate.curate.identity import identity_measures

        id_rows, id_summary = identity_measures(fs, config)
    else:
        id_rows = [{"identity_cluster": None, "identity_distance": None} for _ in rows]
        id_summary = {"available": False, "reason": "not asked", "mixed": None}
    for row, extra in zip(rows, id_rows):
        row.update(extra)
    summary = {
        "identity": id_summary,
        "faceset": str(fs.root),
        "faces": len(rows),
        "plate_colour_space": fs.plate_colour_space,
        "plate_colour_spaces": sorted(display),
        "plate_display_referred": all(display.values()) if display else None,
        "crop_encoding": fs.crop_encoding.to_dict(),
        "resolution": fs.resolution,
        "linear_range": [lin_lo, lin_hi] if rows else None,
        "linear_space": fs.crop_encoding.primaries,
        "luminance_median": float(np.median(lum_meds)) if lum_meds else None,
        "dedupe_threshold": dedupe,
        "duplicate_clusters": int(sum(1 for c in counts if c > 1)),
        "faces_in_duplicate_clusters": int(sum(c for c in counts if c > 1)),
    }
    return SetMeasures(faceset=fs, rows=rows, thumbs=th, previews=previews, summary=summary)
