"""Pass 1 of ``faceplate extract``: every frame read once, its faces found, followed and described.

Per frame: read (OpenImageIO / OpenCV for movies), an area-reduced copy for the detector and the cut
test (:mod:`faceplate.faces.shots`), made ahead on reader threads (:mod:`faceplate.faces.readahead`;
the ``read`` stage is the time spent waiting for them), then faces are *followed* from the previous
frame's landmarks (FaceMesh on the region they were in) and the *detector* runs on the first frame of
every shot, when a face is lost, every ``detect_every`` frames and on contact-sheet frames. A detected
face gets two FaceMesh passes (the second from the first pass's points). Duplicates in a frame are dropped
(:func:`faceplate.faces.people.dedupe_frame`). Faces are described by their identity
(:mod:`faceplate.faces.identity`, on a thread of its own) when detected and every :data:`DESCRIBE_EVERY`
frames (or ``detect_every``, if longer) while followed.

Only the face regions and the detector's reduced frame are converted to the sRGB proxy. Where the
detector runs whatever is found (the first frame, every ``detect_every`` frames, stills), a reader
thread converts the reduced frame and runs the detector ahead of time (the ``read``, ``colour`` and
``detect`` stages count the calling thread's time; :attr:`Timer.ahead` the readers'). A region of
interest around each face stays in memory (up to ``cache_mb``) so pass 2 need not read the frame again.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger("faceplate.extract")

STAGES = ("read", "colour", "detect", "landmarks", "identity", "align", "write")
#: longest side of the detector's proxy: the detectors see the frame at 192 px and tiles of a third of the
#: frame at 192 px, so 3 × 192 loses little they would see (a margin on top)
DETECT_SIDE = 640
#: FaceMesh region proxies are area-reduced to this many pixels per FaceMesh input pixel (192 px over
#: 1.5 × the face): above 1, the model's own warp still samples finer than its input
MESH_OVERSAMPLE = 1.0
#: pixels kept around the square FaceMesh reads (its bilinear taps, and the region's whole-pixel bounds)
MESH_MARGIN = 3.0
#: a followed face is described (identity) at most every this many frames; a detected one always
DESCRIBE_EVERY = 24
#: frames prepared ahead of the one being analysed (at least, at most, and the memory they may hold:
#: a planned detector run takes a few frames' analysis, so it must start that many frames early), and
#: the reader threads preparing them
READ_AHEAD, READ_AHEAD_MOST, READ_AHEAD_MB, READ_WORKERS = 2, 8, 512, 2
#: threads running the detector's passes side by side
DETECT_THREADS = 2


class Timer:
    """Seconds spent per stage (:data:`STAGES`) on the calling thread (``t``), and the work done for it
    on the reader and identity threads (``ahead``: read, colour, detect, identity), which overlaps ``t``."""

    def __init__(self) -> None:
        self.t = {s: 0.0 for s in STAGES}
        self.ahead = {s: 0.0 for s in ("read", "colour", "detect", "identity")}

    def add(self, stage: str, t0: float) -> float:
        now = time.perf_counter()
        self.t[stage] += now - t0
        return now


@dataclass
class FrameInfo:
    data_window: tuple
    display_window: tuple
    path: str


@dataclass
class Analysis:
    """What pass 1 found: faces per frame, frame infos, cuts (frames that start a shot), the ROI
    cache for pass 2 and contact-sheet thumbnails."""

    obs_by_frame: dict
    infos: dict
    cuts: list
    cache: dict
    tiles: dict


def reduce(rgb: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """Area-averaged copy whose longer side is at most ``side``, and its scale (small px per plate px)."""
    import cv2

    h, w = rgb.shape[:2]
    k = min(1.0, side / float(max(h, w)))
    if k >= 1.0:
        return rgb, 1.0
    nw, nh = max(1, int(round(w * k))), max(1, int(round(h * k)))
    return cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA), nw / float(w)


def proxies(config, space: str, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """sRGB proxies of several H×W×3 arrays through one OCIO call (one array: converted as it is,
    without the copies that join several; the values are the same)."""
    if not arrays:
        return []
    if len(arrays) == 1:
        return [config.to_proxy(arrays[0], space)]
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


def region(rgb: np.ndarray, centre, half: float, face_side: float):
    """The square region ``centre`` ± ``half`` of ``rgb`` (clipped to the frame), area-reduced to what
    FaceMesh needs for a face of ``face_side`` px; returns (pixels, origin (x, y), scale)."""
    import cv2

    h, w = rgb.shape[:2]
    x0, y0 = int(max(0, np.floor(centre[0] - half))), int(max(0, np.floor(centre[1] - half)))
    x1, y1 = int(min(w, np.ceil(centre[0] + half))), int(min(h, np.ceil(centre[1] + half)))
    if x1 <= x0 or y1 <= y0:
        x0, y0, x1, y1 = 0, 0, w, h
    px = rgb[y0:y1, x0:x1]
    k = min(1.0, MESH_OVERSAMPLE * 192.0 / (1.5 * max(face_side, 1.0)))
    if k < 1.0:
        nw, nh = max(1, int(round((x1 - x0) * k))), max(1, int(round((y1 - y0) * k)))
        px = cv2.resize(px, (nw, nh), interpolation=cv2.INTER_AREA)
        k = nw / float(x1 - x0)
    return px, (x0, y0), k


def mesh_window(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre and half side of the square (axis-aligned) that holds the turned square FaceMesh reads
    when it follows the face with landmarks ``points`` (:func:`faceplate.faces.landmarks.region_from_points`),
    plus :data:`MESH_MARGIN` px: only these pixels are converted to the proxy."""
    from faceplate.faces.landmarks import region_from_points

    centre, side, angle = region_from_points(points)
    return np.asarray(centre, np.float64), 0.5 * side * (abs(np.cos(angle)) + abs(np.sin(angle))) + MESH_MARGIN


def scale_detection(det, k: float):
    if k == 1.0:
        return det
    return dataclasses.replace(det, box=np.asarray(det.box, np.float64) * k,
                               keypoints=np.asarray(det.keypoints, np.float64) * k)


def shift_detection(det, dx: float, dy: float):
    return dataclasses.replace(det, box=np.asarray(det.box, np.float64) + [dx, dy, dx, dy],
                               keypoints=np.asarray(det.keypoints, np.float64) + [dx, dy])


def roi_for(points: np.ndarray, settings, offset, shape) -> tuple[int, int, int, int]:
    """Plate-array box (x0, y0, x1, y1) that holds the face's crop footprint with a 25% margin."""
    from faceplate.faces import align

    m = align.crop_matrix(points, settings.size, settings.coverage, settings.centering)
    x0, y0, x1, y1 = align.footprint(m, settings.size, offset, shape[:2])
    mx, my = int(0.25 * (x1 - x0)) + 8, int(0.25 * (y1 - y0)) + 8
    h, w = shape[:2]
    return max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my)


def _frame_bytes(f) -> int:
    """Memory a prepared frame (:class:`faceplate.faces.readahead.Frame`) holds."""
    arrays = {id(a): a for a in (f.rgb, f.small, f.proxy) if a is not None}
    return sum(a.nbytes for a in arrays.values())


def _embed(embedder, sub: np.ndarray, pts_sub: np.ndarray):
    """(descriptor or None, seconds it took)."""
    t = time.perf_counter()
    try:
        return embedder.embed(sub, pts_sub), time.perf_counter() - t
    except Exception as exc:  # a degenerate face (e.g. mostly outside the frame): no descriptor
        log.debug("no identity descriptor: %s", exc)
        return None, time.perf_counter() - t


def analyse(source, space: str, config, settings, detector, landmarker, timer: Timer, embedder=None,
            progress: bool = True) -> Analysis:
    """Pass 1 over ``source`` (a :class:`faceplate.faces.source.Source`)."""
    from faceplate.faces import people, shots
    from faceplate.faces import track as trk
    from faceplate.faces.preview import SheetTile, sample_frames, thumbnail
    from faceplate.faces.readahead import ReadAhead, prepare
    from faceplate.progress import bar as progress_bar

    frames = list(source.files)
    obs_by_frame: dict[int, list[trk.FaceObs]] = {}
    infos: dict[int, FrameInfo] = {}
    cache: dict[tuple[int, int], tuple[np.ndarray, tuple[int, int]]] = {}
    cache_bytes, cache_limit = 0, settings.cache_mb * (1 << 20)
    sheet_frames = sample_frames(frames) if settings.preview else set()
    tiles: dict[int, Any] = {}
    cuts: list[int] = []
    every = max(DESCRIBE_EVERY, settings.detect_every)
    pbar = progress_bar("extract: analyse", len(frames), progress)
    prev: list[trk.FaceObs] = []
    prev_sig = None
    shot = 0
    index = {f: i for i, f in enumerate(frames)}

    def detect_planned(f: int) -> bool:  # the detector runs there whatever the previous frame found
        n = index[f]
        return (n == 0 or not (settings.track and source.is_sequence)
                or bool(settings.detect_every and n % settings.detect_every == 0))

    # the detector's passes (whole frame, tiles) run side by side: the first frame's detections are
    # awaited with nothing else to do
    detect_pool = ThreadPoolExecutor(DETECT_THREADS, thread_name_prefix="faceplate-detect")
    # identity descriptors are made on their own thread, beside the next frames (nothing in this pass
    # reads them; onnxruntime releases the GIL while it runs, dlib, the fallback, does not)
    describe_pool = ThreadPoolExecutor(1, thread_name_prefix="faceplate-identity") if embedder is not None else None
    described: list = []

    def load(f: int):
        det = detect_planned(f)
        return prepare(source, f, DETECT_SIDE, config, space, det or f in sheet_frames, detector if det else None,
                       detect_pool, settings.min_face)

    # image files are read two at a time (a frame's planned detection runs beside the next frame's read);
    # a movie decodes in order, on one thread
    ahead = ReadAhead(frames, load, ahead=READ_AHEAD, workers=1 if source.is_movie else READ_WORKERS,
                      budget=READ_AHEAD_MB << 20, size_of=_frame_bytes, most=READ_AHEAD_MOST)
    reader = iter(ahead)
    try:
        for n, frame in enumerate(frames):
            t = time.perf_counter()
            got = next(reader)
            t = timer.add("read", t)
            for stage, sec in got.seconds.items():
                timer.ahead[stage] += sec
            rgb, small, k = got.rgb, got.small, got.scale
            ox, oy = got.data_window[0], got.data_window[1]
            infos[frame] = FrameInfo(got.data_window, got.display_window, got.path)
            cut = False
            if source.is_sequence:
                sig = got.signature
                cut = shots.is_cut(prev_sig, sig)
                prev_sig = sig
                if cut:
                    cuts.append(int(frame))
                    shot += 1
            follow = bool(settings.track and source.is_sequence and prev and not cut
                          and prev[0].frame == frame - source.step)
            periodic = bool(settings.detect_every and n % settings.detect_every == 0)
            describe = embedder is not None and n % every == 0
            want_det = not follow or periodic or frame in sheet_frames
            regions = []
            if follow:
                for p in prev:
                    local = p.points - [ox, oy, 0.0]
                    extent = float(max(np.ptp(local[:, 0]), np.ptp(local[:, 1])))
                    centre, half = mesh_window(local)
                    regions.append((p, local) + region(rgb, centre, half, extent))
            convert_small = want_det and got.proxy is None  # a detection nobody planned (a face lost, a cut)
            converted = proxies(config, space, ([small] if convert_small else []) + [r[2] for r in regions])
            det_proxy = converted.pop(0) if convert_small else (got.proxy if want_det else None)
            t = timer.add("colour", t)
            found: list[trk.FaceObs] = []
            lost = False
            to_describe = []
            for (p, local, _, (rx, ry), kk), sub in zip(regions, converted):
                lm = landmarker.from_points(sub, (local - [rx, ry, 0.0]) * kk)
                pts_local = lm.points / kk + [rx, ry, 0.0]
                if lm.presence >= settings.presence_min and trk.plausible(local, pts_local):
                    pts = pts_local + [ox, oy, 0.0]
                    o = trk.FaceObs(frame, trk.points_box(pts), float(lm.presence), pts, float(lm.presence),
                                    source="track", shot=shot, age=p.age + 1)
                    found.append(o)
                    if describe:
                        to_describe.append((o, sub, lm.points))
                else:
                    lost = True
            t = timer.add("landmarks", t)
            if not found or lost or periodic or not follow:
                if det_proxy is None:
                    det_proxy = config.to_proxy(small, space)
                    t = timer.add("colour", t)
                dets = []
                planned = got.detections
                if planned is None:
                    planned = detector.detect(det_proxy, detect_pool, settings.min_face * k)
                for d in planned:
                    d = scale_detection(d, 1.0 / k)
                    if not any(trk.iou(np.asarray(d.box, np.float64) + [ox, oy, ox, oy], o.box) > 0.3 for o in found):
                        dets.append(d)
                t = timer.add("detect", t)
                dregs = []
                for d in dets:
                    side = float(max(d.box[2] - d.box[0], d.box[3] - d.box[1]))
                    dregs.append((d,) + region(rgb, (np.asarray(d.box[:2]) + d.box[2:]) / 2, 1.1 * side + 4, side))
                subs = proxies(config, space, [r[1] for r in dregs])
                t = timer.add("colour", t)
                for (det, _, (rx, ry), kk), sub in zip(dregs, subs):
                    lm = landmarker.from_detection(sub, scale_detection(shift_detection(det, -rx, -ry), kk),
                                                   refine=True, presence_min=settings.presence_min)
                    if lm.presence < settings.presence_min:
                        continue
                    pts = lm.points / kk + [rx + ox, ry + oy, 0.0]
                    box = np.asarray(det.box, np.float64) + [ox, oy, ox, oy]
                    o = trk.FaceObs(frame, box, float(det.score), pts, float(lm.presence), source="detect", shot=shot)
                    found.append(o)
                    if embedder is not None:
                        to_describe.append((o, sub, lm.points))
                t = timer.add("landmarks", t)
            found = people.dedupe_frame(found)
            for o, sub, pts_sub in to_describe:
                if any(o is f for f in found):
                    described.append((o, describe_pool.submit(_embed, embedder, sub, pts_sub)))
            t = timer.add("identity", t)
            for i, o in enumerate(found):
                if cache_bytes < cache_limit:
                    x0, y0, x1, y1 = roi_for(o.points, settings, (ox, oy), rgb.shape)
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
            pbar.step()
        t = time.perf_counter()
        for o, job in described:
            o.embedding, sec = job.result()
            timer.ahead["identity"] += sec
        timer.add("identity", t)
    finally:
        ahead.close()
        detect_pool.shutdown(wait=True)
        if describe_pool is not None:
            describe_pool.shutdown(wait=True, cancel_futures=True)
    pbar.close()
    if cuts:
        log.info("plate %s: %d hard cut(s), shots start at frame(s) %s", source.label, len(cuts),
                 ", ".join(str(c) for c in cuts[:20]) + (" ..." if len(cuts) > 20 else ""))
    return Analysis(obs_by_frame, infos, cuts, cache, tiles)
