"""``faceplate extract``: plate -> detected, tracked and aligned face crops, masks and alignments.

Two passes over the shot:

1. **analyse** every frame: read (OpenImageIO), sRGB proxy (OCIO), follow each face from the
   previous frame's landmarks (FaceMesh) and run the detector when a face is lost, every
   ``detect_every`` frames, or when no face is followed. Every frame is read and checked before
   anything is written, so a corrupt or missing frame fails the run with nothing written. Region of
   interest around each face is kept in memory (up to ``cache_mb``) for pass 2.
2. **link, smooth, select** (tracks, look-ahead smoothing, ``--face``), write ``alignments.json``,
   then **extract** the chosen faces: float crop (the crop encoding; the only place values are
   clipped), masks (face, eyes, mouth), PNG preview, and finally ``faceset.json``.

Resumable: a rerun with the same settings reuses ``alignments.json`` and skips faces whose files
already exist (every file is written atomically, so an existing file is a complete one).
"""
from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence as Seq

import numpy as np

from faceplate.errors import InputError, MissingFrameError, OutputError, PlateError
from faceplate.params import Param

log = logging.getLogger("faceplate.extract")

ALIGNMENTS_SCHEMA = "faceplate.alignments"
ALIGNMENTS_VERSION = 1
STAGES = ("read", "colour", "detect", "landmarks", "align", "write")
_IMAGE_EXT = {".exr", ".dpx", ".tif", ".tiff", ".png", ".jpg", ".jpeg", ".hdr", ".cin", ".sgi", ".tga", ".bmp"}

EXTRACT_PARAMS: list[Param] = [
    Param("colour_space", "string", None, "Plate colour space",
          "OCIO colour space or role of the plate (default: scene_linear for EXR; other formats must declare it, "
          "e.g. 'sRGB Encoded Rec.709 (sRGB)')"),
    Param("size", "int", 256, "Crop size", "face crop size in pixels (64-1024)", minimum=64, maximum=1024),
    Param("coverage", "float", 0.8, "Coverage", "fraction of the padded face template the crop shows (smaller = tighter)",
          minimum=0.3, maximum=1.0),
    Param("centering", "choice", "face", "Centering", "crop centred on the face or on the whole head",
          choices=("face", "head")),
    Param("crop_primaries", "string", "ACEScg", "Crop primaries", "OCIO linear space of the crop encoding"),
    Param("crop_transfer", "choice", "acescct", "Crop transfer", "transfer function of the crop encoding",
          choices=("acescct", "srgb", "linear")),
    Param("face", "string", "largest", "Face", "which face: largest | all | index:N (tracks left to right) | point:X,Y"),
    Param("mask", "choice", "hull", "Face mask", "landmark face mask: hull or components", choices=("hull", "components")),
    Param("smoothing", "float", 2.0, "Smoothing", "landmark smoothing across frames (frames, half-width; 0 = off)",
          minimum=0.0, maximum=50.0),
    Param("track", "bool", True, "Track", "follow faces across frames (turn off for unrelated stills)"),
    Param("detect_every", "int", 10, "Detect every", "also run the detector every N frames to find new faces (0 = only "
          "when a face is lost)", minimum=0, maximum=100000),
    Param("preview", "bool", False, "Contact sheet", "write contact_sheet.png of landmarks and masks over the frames"),
]


@dataclass(frozen=True)
class ExtractSettings:
    colour_space: str | None = None
    size: int = 256
    coverage: float = 0.8
    centering: str = "face"
    crop_primaries: str = "ACEScg"
    crop_transfer: str = "acescct"
    face: str = "largest"
    mask: str = "hull"
    smoothing: float = 2.0
    track: bool = True
    detect_every: int = 10
    preview: bool = False
    presence_min: float = 0.5
    cache_mb: int = 1024

    @classmethod
    def from_params(cls, values: dict[str, Any]) -> "ExtractSettings":
        from faceplate.params import collect

        return cls(**collect(EXTRACT_PARAMS, values))

    def analysis_key(self) -> dict[str, Any]:
        """Settings that change the analysis (alignments.json)."""
        return {"face": self.face, "smoothing": self.smoothing, "track": self.track,
                "detect_every": self.detect_every, "presence_min": self.presence_min}

    def crop_key(self) -> dict[str, Any]:
        return {"size": self.size, "coverage": self.coverage, "centering": self.centering,
                "crop_primaries": self.crop_primaries, "crop_transfer": self.crop_transfer, "mask": self.mask}


@dataclass
class ExtractResult:
    faceset: Any
    alignments: Path
    frames: list[int]
    gaps: list[int]
    written: int
    skipped: int
    timings: dict[str, float]
    contact_sheet: Path | None = None
    analysed: bool = True  # False when alignments.json was reused


# ----------------------------------------------------------------------------------- face choice
def parse_face_choice(text: str) -> tuple:
    """``largest`` | ``all`` | ``index:N`` | ``point:X,Y`` -> a tuple; InputError names ``--face``."""
    t = str(text).strip().lower()
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
    except ValueError:
        pass
    raise InputError(f"--face: expected largest, all, index:N or point:X,Y, found {text!r}")


def _box_distance(box: np.ndarray, x: float, y: float) -> float:
    dx = max(box[0] - x, 0.0, x - box[2])
    dy = max(box[1] - y, 0.0, y - box[3])
    return float(np.hypot(dx, dy))


def choose(groups: dict[int, list], choice: tuple) -> list[int]:
    """Keys of ``groups`` (track id -> observations, sorted by frame) picked by ``choice``."""
    if not groups:
        return []
    keys = sorted(groups)
    if choice[0] == "all":
        return keys
    if choice[0] == "largest":
        return [max(keys, key=lambda k: (float(np.median([o.size for o in groups[k]])), -k))]
    if choice[0] == "index":
        order = sorted(keys, key=lambda k: (groups[k][0].frame, groups[k][0].box[0]))
        return [order[choice[1]]] if choice[1] < len(order) else []
    x, y = choice[1], choice[2]
    return [min(keys, key=lambda k: (_box_distance(groups[k][0].box, x, y),
                                     float(np.hypot(*((groups[k][0].box[:2] + groups[k][0].box[2:]) / 2 - (x, y)))), k))]


# ----------------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class Source:
    """What to read: a frame-numbered sequence, or one or more stills (frames 0..N-1)."""

    label: str
    files: dict[int, Path]
    is_sequence: bool
    step: int = 1


def open_source(plates: Seq[str], frames: str | None) -> Source:
    from faceplate.plates import Sequence, parse_frames

    plates = [str(p) for p in plates]
    if not plates:
        raise InputError("PLATE: expected a sequence pattern or image files, found none")
    if len(plates) == 1 and not Sequence(plates[0]).is_still:
        seq = Sequence(plates[0])
        rng = parse_frames(frames) if frames else seq.default_range()
        seq.check_frames(rng)
        fl = list(rng)
        step = (fl[1] - fl[0]) if len(fl) > 1 and all(b - a == fl[1] - fl[0] for a, b in zip(fl, fl[1:])) else 1
        return Source(plates[0], {f: seq.path(f) for f in fl}, True, step)
    for p in plates:
        if not Sequence(p).is_still:
            raise InputError(f"PLATE: give one sequence pattern or several still files, found pattern {p!r} among {len(plates)}")
        if not Path(p).is_file():
            raise MissingFrameError(f"plate {p}: file not found")
    files = {i: Path(p) for i, p in enumerate(plates)}
    if frames:
        rng = parse_frames(frames)
        bad = [f for f in rng if f not in files]
        if bad:
            raise InputError(f"--frames: stills are numbered 0..{len(plates) - 1}, found {bad[:5]}")
        files = {f: files[f] for f in rng}
    return Source(plates[0] if len(plates) == 1 else ",".join(plates), files, False)


def resolve_space(config, source: Source, declared: str | None) -> str:
    if declared:
        return config.resolve(declared, "--colour-space")
    non_exr = sorted({p.suffix.lower() for p in source.files.values() if p.suffix.lower() != ".exr"})
    if non_exr:
        raise InputError(
            f"--colour-space: plate {source.label} is {', '.join(non_exr)}, which has no scene-linear default; "
            "declare its colour space, e.g. --colour-space 'sRGB Encoded Rec.709 (sRGB)'"
        )
    return config.resolve("scene_linear", "--colour-space")


# ----------------------------------------------------------------------------------- progress
class Progress:
    """``label  12/120 [####------]  8.3 fps`` on stderr, redrawn in place."""

    def __init__(self, label: str, total: int, stream=None, width: int = 24) -> None:
        self.label, self.total, self.width = label, max(total, 1), width
        self.stream = stream if stream is not None else sys.stderr
        self.t0 = time.perf_counter()
        self.done = 0

    def step(self, n: int = 1) -> None:
        self.done += n
        dt = time.perf_counter() - self.t0
        fps = self.done / dt if dt > 0 else 0.0
        fill = int(self.width * self.done / self.total)
        end = "\n" if self.done >= self.total else ""
        self.stream.write(f"\r{self.label} {self.done:>5}/{self.total} [{'#' * fill}{'-' * (self.width - fill)}] "
                          f"{fps:6.2f} fps{end}")
        self.stream.flush()


class _Timer:
    def __init__(self) -> None:
        self.t = {s: 0.0 for s in STAGES}

    def add(self, stage: str, t0: float) -> float:
        now = time.perf_counter()
        self.t[stage] += now - t0
        return now


# ----------------------------------------------------------------------------------- analysis
@dataclass
class _FrameInfo:
    data_window: tuple
    display_window: tuple
    path: str


def _read_frame(source: Source, frame: int):
    from faceplate.plates import read_image

    path = source.files[frame]
    img = read_image(path, frame if source.is_sequence else None)
    rgb = img.rgb()
    if rgb.size == 0:
        raise PlateError(f"plate {path} (frame {frame}): empty data window")
    return img, rgb


def _roi_for(points: np.ndarray, settings: ExtractSettings, offset, shape) -> tuple[int, int, int, int]:
    """Plate-array box (x0, y0, x1, y1) that holds the face's crop footprint with a 25% margin."""
    from faceplate.faces import align

    m = align.crop_matrix(points, settings.size, settings.coverage, settings.centering)
    x0, y0, x1, y1 = align.footprint(m, settings.size, offset, shape[:2])
    mx, my = int(0.25 * (x1 - x0)) + 8, int(0.25 * (y1 - y0)) + 8
    h, w = shape[:2]
    return max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my)


#: longest side of the detector's proxy: the detectors see the frame at 192 px and tiles of half the
#: frame at 192 px, so 2 × 192 loses nothing they would see (a margin on top)
DETECT_SIDE = 480
#: FaceMesh region proxies are area-reduced to this many pixels per FaceMesh input pixel (192 px over
#: 1.5 × the face): above 1, the model's own warp still samples finer than its input
MESH_OVERSAMPLE = 1.0


def _reduce(rgb: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """Area-averaged copy whose longer side is at most ``side``, and its scale (small px per plate px)."""
    import cv2

    h, w = rgb.shape[:2]
    k = min(1.0, side / float(max(h, w)))
    if k >= 1.0:
        return rgb, 1.0
    nw, nh = max(1, int(round(w * k))), max(1, int(round(h * k)))
    return cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA), nw / float(w)


def _proxies(config, space: str, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """sRGB proxies of several H×W×3 arrays through one OCIO call."""
    if not arrays:
        return []
    flat = np.concatenate([a.reshape(-1, 3) for a in arrays])
    width = 1024  # OCIO through OpenImageIO works per scanline: keep the lines long
    rows = -(-flat.shape[0] // width)
    padded = np.zeros((rows * width, 3), np.float32)
    padded[: flat.shape[0]] = flat
    conv = config.to_proxy(padded.reshape(rows, width, 3), space).reshape(-1, 3)
    out, i = [], 0
    for a in arrays:
        n = a.shape[0] * a.shape[1]
        out.append(np.ascontiguousarray(conv[i:i + n].reshape(a.shape)))
        i += n
    return out


def _region(rgb: np.ndarray, centre, half: float, face_side: float):
    """The square region ``centre`` ± ``half`` of ``rgb`` (clipped to the frame), area-reduced to what
    FaceMesh needs for a face of ``face_side`` px; returns (pixels, origin (x, y), scale)."""
    import cv2

    h, w = rgb.shape[:2]
    x0, y0 = int(max(0, np.floor(centre[0] - half))), int(max(0, np.floor(centre[1] - half)))
    x1, y1 = int(min(w, np.ceil(centre[0] + half))), int(min(h, np.ceil(centre[1] + half)))
    if x1 <= x0 or y1 <= y0:
        x0, y0, x1, y1 = 0, 0, w, h
    region = rgb[y0:y1, x0:x1]
    k = min(1.0, MESH_OVERSAMPLE * 192.0 / (1.5 * max(face_side, 1.0)))
    if k < 1.0:
        nw, nh = max(1, int(round((x1 - x0) * k))), max(1, int(round((y1 - y0) * k)))
        region = cv2.resize(region, (nw, nh), interpolation=cv2.INTER_AREA)
        k = nw / float(x1 - x0)
    return region, (x0, y0), k


def _scale_detection(det, k: float):
    import dataclasses

    if k == 1.0:
        return det
    return dataclasses.replace(det, box=np.asarray(det.box, np.float64) * k,
                               keypoints=np.asarray(det.keypoints, np.float64) * k)


def _shift_detection(det, dx: float, dy: float):
    import dataclasses

    return dataclasses.replace(det, box=np.asarray(det.box, np.float64) + [dx, dy, dx, dy],
                               keypoints=np.asarray(det.keypoints, np.float64) + [dx, dy])


def analyse(source: Source, space: str, config, settings: ExtractSettings, detector, landmarker, timer: _Timer,
            progress: bool = True):
    """Pass 1. Returns (observations per frame, frame infos, ROI cache, sheet thumbnails)."""
    from faceplate.faces import track as trk
    from faceplate.faces.preview import SheetTile, sample_frames, thumbnail

    frames = list(source.files)
    obs_by_frame: dict[int, list[trk.FaceObs]] = {}
    infos: dict[int, _FrameInfo] = {}
    cache: dict[tuple[int, int], tuple[np.ndarray, tuple[int, int]]] = {}
    cache_bytes, cache_limit = 0, settings.cache_mb * (1 << 20)
    sheet_frames = sample_frames(frames) if settings.preview else set()
    tiles: dict[int, Any] = {}
    bar = Progress("extract: analyse", len(frames)) if progress else None
    prev: list[trk.FaceObs] = []
    for n, frame in enumerate(frames):
        t = time.perf_counter()
        img, rgb = _read_frame(source, frame)
        t = timer.add("read", t)
        # The detector sees a reduced proxy (its inputs are 128-192 px, tiles half the frame); FaceMesh
        # sees area-reduced proxies of the face regions only; each frame's conversions are batched
        # into one OCIO call where possible (a call has a large fixed cost).
        ox, oy = img.data_window[0], img.data_window[1]
        infos[frame] = _FrameInfo(tuple(img.data_window), tuple(img.display_window), str(img.path))
        small, k = _reduce(rgb, DETECT_SIDE)
        follow = bool(settings.track and source.is_sequence and prev and prev[0].frame == frame - source.step)
        periodic = bool(settings.detect_every and n % settings.detect_every == 0)
        want_det = not follow or periodic or frame in sheet_frames
        regions = []
        if follow:
            for p in prev:
                local = p.points - [ox, oy, 0.0]
                extent = float(max(np.ptp(local[:, 0]), np.ptp(local[:, 1])))
                centre = (local[:, :2].min(axis=0) + local[:, :2].max(axis=0)) / 2
                regions.append((local,) + _region(rgb, centre, 1.15 * extent + 4, extent))
        converted = _proxies(config, space, ([small] if want_det else []) + [r[1] for r in regions])
        det_proxy = converted.pop(0) if want_det else None
        t = timer.add("colour", t)
        found: list[trk.FaceObs] = []
        lost = False
        for (local, _, (rx, ry), kk), sub in zip(regions, converted):
            lm = landmarker.from_points(sub, (local - [rx, ry, 0.0]) * kk)
            pts_local = lm.points / kk + [rx, ry, 0.0]
            if lm.presence >= settings.presence_min and trk.plausible(local, pts_local):
                pts = pts_local + [ox, oy, 0.0]
                found.append(trk.FaceObs(frame, trk.points_box(pts), float(lm.presence), pts, float(lm.presence),
                                         source="track"))
            else:
                lost = True
        t = timer.add("landmarks", t)
        if not found or lost or periodic or not follow:
            if det_proxy is None:
                det_proxy = config.to_proxy(small, space)
                t = timer.add("colour", t)
            dets = []
            for d in detector.detect(det_proxy):
                d = _scale_detection(d, 1.0 / k)
                if not any(trk.iou(np.asarray(d.box, np.float64) + [ox, oy, ox, oy], o.box) > 0.3 for o in found):
                    dets.append(d)
            t = timer.add("detect", t)
            dregs = []
            for d in dets:
                side = float(max(d.box[2] - d.box[0], d.box[3] - d.box[1]))
                dregs.append((d,) + _region(rgb, (np.asarray(d.box[:2]) + d.box[2:]) / 2, 1.1 * side + 4, side))
            subs = _proxies(config, space, [r[1] for r in dregs])
            t = timer.add("colour", t)
            for (det, _, (rx, ry), kk), sub in zip(dregs, subs):
                lm = landmarker.from_detection(sub, _scale_detection(_shift_detection(det, -rx, -ry), kk))
                if lm.presence < settings.presence_min:
                    continue
                pts = lm.points / kk + [rx + ox, ry + oy, 0.0]
                box = np.asarray(det.box, np.float64) + [ox, oy, ox, oy]
                found.append(trk.FaceObs(frame, box, float(det.score), pts, float(lm.presence), source="detect"))
            t = timer.add("landmarks", t)
        for i, o in enumerate(found):
            if cache_bytes < cache_limit:
                x0, y0, x1, y1 = _roi_for(o.points, settings, (ox, oy), rgb.shape)
                if x1 > x0 and y1 > y0:
                    roi = np.ascontiguousarray(rgb[y0:y1, x0:x1])
                    cache[(frame, i)] = (roi, (ox + x0, oy + y0))
                    cache_bytes += roi.nbytes
        if frame in sheet_frames:
            thumb, scale = thumbnail(det_proxy, (ox, oy))  # det_proxy exists: sheet frames ask for it
            tiles[frame] = SheetTile(f"{frame}", thumb, scale * k, (ox, oy))
        if not found:
            log.warning("plate %s, frame %d: no face found (recorded as a gap)", infos[frame].path, frame)
        obs_by_frame[frame] = found
        prev = found
        timer.add("align", t)
        if bar:
            bar.step()
    return obs_by_frame, infos, cache, tiles


def _settings_doc(source: Source, space: str, config, settings: ExtractSettings) -> dict[str, Any]:
    return {"source": source.label, "frames": [int(f) for f in source.files], "colour_space": space,
            "ocio_config": config.config, "analysis": settings.analysis_key(), "crop": settings.crop_key()}


def _r(a, nd: int = 4) -> list:
    return np.round(np.asarray(a, np.float64), nd).tolist()


def face_id(frame: int, face: int) -> str:
    return f"f{frame:06d}_{face}"


def build_alignments(source, space, config, settings, obs_by_frame, infos, selected: dict) -> dict[str, Any]:
    from faceplate.faces import align

    doc: dict[str, Any] = {"schema": ALIGNMENTS_SCHEMA, "version": ALIGNMENTS_VERSION,
                           "settings": _settings_doc(source, space, config, settings), "frames": {}, "gaps": []}
    for frame, found in obs_by_frame.items():
        faces = []
        for o in found:
            m = align.crop_matrix(o.points, settings.size, settings.coverage, settings.centering)
            is_sel = (frame, o.track) in selected
            faces.append({
                "track": int(o.track), "box": _r(o.box), "score": round(float(o.score), 6),
                "presence": round(float(o.presence), 6), "source": o.source,
                "landmarks": _r(o.points), "landmarks_raw": _r(o.raw_points if o.raw_points is not None else o.points),
                "transform": _r(m, 8), "selected": is_sel, "id": face_id(frame, o.track) if is_sel else None,
            })
        info = infos[frame]
        doc["frames"][str(frame)] = {"file": info.path, "data_window": list(info.data_window),
                                     "display_window": list(info.display_window), "faces": faces}
        if not any(f["selected"] for f in faces):
            doc["gaps"].append(int(frame))
    return doc


def _obs_from_alignments(doc: dict[str, Any]):
    from faceplate.faces import track as trk

    obs_by_frame, infos = {}, {}
    for key, fr in doc["frames"].items():
        frame = int(key)
        infos[frame] = _FrameInfo(tuple(fr["data_window"]), tuple(fr["display_window"]), fr["file"])
        lst = []
        for f in fr["faces"]:
            o = trk.FaceObs(frame, np.asarray(f["box"], np.float64), float(f["score"]),
                            np.asarray(f["landmarks"], np.float64), float(f["presence"]), int(f["track"]), f["source"],
                            np.asarray(f["landmarks_raw"], np.float64))
            lst.append(o)
        obs_by_frame[frame] = lst
    return obs_by_frame, infos


def write_alignments(path: Path, doc: dict[str, Any]) -> None:
    from faceplate.plates.atomic import write_text_atomic

    write_text_atomic(path, json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n",
                      "alignments")


def load_alignments(path: Path | str) -> dict[str, Any]:
    """Read and check an ``alignments.json`` (schema faceplate.alignments v1)."""
    from faceplate.errors import FaceSetError
    from faceplate.jsonio import load_json

    doc = load_json(path, ALIGNMENTS_SCHEMA, ALIGNMENTS_VERSION, FaceSetError)
    if not isinstance(doc.get("frames"), dict) or not isinstance(doc.get("gaps"), list):
        raise FaceSetError(f"{path}: expected 'frames' and 'gaps', found keys {sorted(doc)}")
    return doc


# ----------------------------------------------------------------------------------- main entry
def extract(plates: Seq[str], out: Path | str, frames: str | None = None, settings: ExtractSettings | None = None,
            ocio: str | None = None, detector=None, landmarker=None, progress: bool = True) -> ExtractResult:
    """Extract the faces of ``plates`` (one sequence pattern, or still files) into face set ``out``."""
    from faceplate.colour import ColourConfig, CropEncoding
    from faceplate.faces import align
    from faceplate.plates.atomic import check_writable_folder

    s = settings or ExtractSettings()
    for p in EXTRACT_PARAMS:
        if p.name in ("colour_space",):
            continue
        p.check(getattr(s, p.name))
    choice = parse_face_choice(s.face)
    align.check_crop(s.size, s.coverage, s.centering)
    out = Path(out)
    timer = _Timer()
    config = ColourConfig.from_env(ocio)
    source = open_source(plates, frames)
    space = resolve_space(config, source, s.colour_space)
    enc = CropEncoding(config.resolve(s.crop_primaries, "--crop-primaries"), s.crop_transfer)
    CropEncoding.from_dict(enc.to_dict())
    created = not out.exists()
    check_writable_folder(out, "face set folder")
    try:
        return _extract(out, source, space, enc, config, s, choice, timer, detector, landmarker, progress)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # failed before writing anything: leave no trace
        raise


def _extract(out: Path, source: Source, space: str, enc, config, s: ExtractSettings, choice: tuple,
             timer: _Timer, detector, landmarker, progress: bool) -> ExtractResult:
    from faceplate.faces import align, masks
    from faceplate.faces import track as trk
    from faceplate.faces.faceset import FaceRecord, FaceSet, MASK_CHANNELS
    from faceplate.faces.preview import to_uint8, write_png
    from faceplate.plates import Image, write_image

    settings_doc = _settings_doc(source, space, config, s)

    apath = out / "alignments.json"
    reuse = None
    if apath.exists():
        try:
            old = load_alignments(apath)
        except Exception as exc:
            raise OutputError(f"face set folder {out}: holds an unreadable alignments.json ({exc}); "
                              "choose another --out or delete it") from exc
        if old.get("settings") != settings_doc:
            raise OutputError(
                f"face set folder {out}: holds an extraction with different settings "
                f"(found {json.dumps(old.get('settings'), sort_keys=True)[:300]}); choose another --out or delete it")
        reuse = old

    cache: dict = {}
    tiles: dict = {}
    if reuse is None:
        if detector is None:
            from faceplate.faces.detect import FaceDetector

            detector = FaceDetector()
        if landmarker is None:
            from faceplate.faces.landmarks import Landmarker

            landmarker = Landmarker()
        obs_by_frame, infos, cache, tiles = analyse(source, space, config, s, detector, landmarker, timer, progress)
        t = time.perf_counter()
        ordered = [obs_by_frame[f] for f in source.files]
        if s.track and source.is_sequence:
            tracks = trk.link(ordered, max_gap=max(12, 3 * source.step), iou_min=0.3)
            trk.smooth_tracks(tracks, trk.window_for(s.smoothing), 2, source.step)
        else:
            for found in ordered:  # independent frames: faces numbered left to right
                for i, o in enumerate(sorted(found, key=lambda o: (o.box[0], o.box[1]))):
                    o.track = i
        for found in ordered:  # exactly the values alignments.json stores, so a resumed run matches
            for o in found:
                o.raw_points = np.round(o.raw_points if o.raw_points is not None else o.points, 4)
                o.points, o.box = np.round(o.points, 4), np.round(o.box, 4)
        timer.add("align", t)
    else:
        obs_by_frame, infos = _obs_from_alignments(reuse)
    # selection
    selected: dict[tuple[int, int], Any] = {}
    if s.track and source.is_sequence:
        groups: dict[int, list] = {}
        for f in source.files:
            for o in obs_by_frame[f]:
                groups.setdefault(o.track, []).append(o)
        keep = set(choose(groups, choice))
        for f in source.files:
            for o in obs_by_frame[f]:
                if o.track in keep:
                    selected[(f, o.track)] = o
    else:
        for f in source.files:
            per = {o.track: [o] for o in obs_by_frame[f]}
            for k in choose(per, choice):
                selected[(f, k)] = per[k][0]
    if not selected:
        raise InputError(f"plate {source.label}: no face found in any of the {len(source.files)} frame(s) "
                         f"{min(source.files)}-{max(source.files)} (with --face {s.face})")
    doc = build_alignments(source, space, config, s, obs_by_frame, infos, selected)
    if reuse is None:
        write_alignments(apath, doc)
    gaps = list(doc["gaps"])
    for g in gaps:
        if obs_by_frame[g]:
            log.warning("plate %s, frame %d: the chosen face (--face %s) is not in this frame (recorded as a gap)",
                        source.label, g, s.face)

    # pass 2: crops
    records: list[FaceRecord] = []
    written = skipped = 0
    bar = Progress("extract: write  ", len(source.files)) if progress else None
    pending: list[tuple[Path, np.ndarray]] = []  # previews, converted in batches (one OCIO call each)

    def flush() -> None:
        t0 = time.perf_counter()
        for (path, _), px in zip(pending, _proxies(config, space, [c for _, c in pending])):
            write_png(path, to_uint8(px))
        pending.clear()
        timer.add("write", t0)

    by_frame: dict[int, list] = {}
    for (f, k), o in selected.items():
        by_frame.setdefault(f, []).append((k, o))
    for frame in source.files:
        todo = sorted(by_frame.get(frame, []), key=lambda ko: ko[0])
        full = None
        for k, o in todo:
            fid = face_id(frame, k)
            paths = {"image": f"faces/{fid}.exr", "mask": f"masks/{fid}.exr", "preview": f"previews/{fid}.png"}
            t = time.perf_counter()
            m = align.crop_matrix(o.points, s.size, s.coverage, s.centering)
            crop_pts = align.transform_points(o.points[:, :2], m)
            origin = source.label if source.is_sequence else str(source.files[frame])  # a still: its own file
            records.append(FaceRecord(
                id=fid, frame=int(frame), face=int(k), source=origin, image=paths["image"], mask=paths["mask"],
                landmarks=_r(crop_pts), transform=_r(m, 8), box=_r(o.box), score=round(float(o.score), 6),
                extra={"track": int(k), "preview": paths["preview"], "file": infos[frame].path,
                       "presence": round(float(o.presence), 6)},
            ))
            if all((out / p).exists() for p in paths.values()):
                skipped += 1
                continue
            idx = next((i for i, x in enumerate(obs_by_frame[frame]) if x is o), None)
            hit = cache.get((frame, idx)) if idx is not None else None
            if hit is not None and not _inside(m, s.size, hit[1], hit[0].shape[:2]):
                hit = None  # the smoothed crop left the cached region: read the frame again
            src_px, off = hit if hit is not None else (None, None)
            if hit is None:
                if full is None:
                    t = time.perf_counter()
                    img, rgb = _read_frame(source, frame)
                    full = (rgb, tuple(img.data_window[:2]))
                    t = timer.add("read", t)
                src_px, off = full
            crop = align.warp_to_crop(src_px, m, s.size, offset=off)
            code = enc.encode(crop, space, config)
            ms = masks.landmark_masks(crop_pts, s.size, s.mask)
            t = timer.add("align", t)
            meta = {"faceplate:frame": int(frame), "faceplate:source": origin,
                    "faceplate:transform": json.dumps(_r(m, 8)), "faceplate:crop_encoding": json.dumps(enc.to_dict())}
            win = (0, 0, s.size, s.size)
            write_image(out / paths["mask"], Image(np.stack([ms[c] for c in MASK_CHANNELS], -1), MASK_CHANNELS, win, win),
                        pixel_type="float", metadata=meta)
            write_image(out / paths["image"], Image(code.astype(np.float32), ("R", "G", "B"), win, win),
                        pixel_type="float", metadata=meta)
            timer.add("write", t)
            pending.append((out / paths["preview"], crop))
            if len(pending) >= 32:
                flush()
            written += 1
        if bar:
            bar.step()
    flush()
    fs = FaceSet(root=out, resolution=s.size, coverage=float(s.coverage), centering=s.centering,
                 plate_colour_space=space, crop_encoding=enc, ocio_config=config.config, faces=records,
                 meta={"tool": "faceplate extract", "source": source.label, "frames": [int(f) for f in source.files],
                       "mask": s.mask, "face": s.face, "gaps": gaps, "alignments": "alignments.json",
                       # the alignment template travels to the model's manifest (render checks it)
                       "template": np.round(np.asarray(align.TEMPLATE, np.float64), 6).tolist()})
    fs.save()
    sheet_path = None
    if s.preview:
        t = time.perf_counter()
        sheet_path = _write_sheet(out, source, obs_by_frame, selected, tiles, config, space)
        timer.add("write", t)
    if gaps:
        log.warning("%d frame(s) without the chosen face: %s", len(gaps),
                    ", ".join(str(g) for g in gaps[:20]) + (" ..." if len(gaps) > 20 else ""))
    return ExtractResult(fs, apath, list(source.files), gaps, written, skipped, dict(timer.t), sheet_path,
                         analysed=reuse is None)


def _inside(m: np.ndarray, size: int, off, shape) -> bool:
    """Whether the crop's footprint lies inside the cached region (no border replication needed)."""
    from faceplate.faces import align

    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    p = align.transform_points(corners, align.invert(m)) - np.asarray(off, np.float64)
    return bool(p[:, 0].min() >= 2 and p[:, 1].min() >= 2 and p[:, 0].max() <= shape[1] - 2 and p[:, 1].max() <= shape[0] - 2)


def _write_sheet(out: Path, source: Source, obs_by_frame, selected, tiles, config, space) -> Path:
    from faceplate.faces.preview import SheetTile, contact_sheet, sample_frames, thumbnail, write_png


    wanted = sorted(sample_frames(list(source.files)))
    for f in wanted:
        if f not in tiles:  # resumed run: make the thumbnail again
            img, rgb = _read_frame(source, f)
            thumb, scale = thumbnail(config.to_proxy(rgb, space), img.data_window[:2])
            tiles[f] = SheetTile(f"{f}", thumb, scale, tuple(img.data_window[:2]))
    for f in wanted:
        tiles[f].faces = [{"points": o.points, "selected": (f, o.track) in selected, "track": o.track}
                          for o in obs_by_frame[f]]
    return write_png(out / "contact_sheet.png", contact_sheet([tiles[f] for f in wanted]))
