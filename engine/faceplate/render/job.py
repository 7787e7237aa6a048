"""Rendering a shot: reading, computing and writing overlap across frames.

One reader thread fills a bounded queue of decoded plates, the calling thread runs the swap, and a
pool of writer threads encodes the EXRs (the codec, not the models, bounds a CPU render). At most
``queue_size`` plates and ``2 × writers`` finished frames are in memory at once, never the shot.
Each frame's files appear atomically, so many machines may render chunks of the same output
pattern; ``skip_existing`` resumes a chunk. ``via_service`` sends each frame to the engine service
instead (identical output).
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceplate.colour.ocio import ColourConfig
from faceplate.errors import InputError
from faceplate.plates.atomic import check_writable_folder
from faceplate.plates.image import Image, read_image
from faceplate.plates.sequence import FrameRange, Sequence, format_frames
from faceplate.render.facesource import FaceFinder, ShotFace, faces_for_frames, select
from faceplate.render.frame import Passes, render_frame
from faceplate.render.model import SwapModel, load_model
from faceplate.render.passes import frame_paths, write_passes
from faceplate.render.settings import RenderSettings

log = logging.getLogger("faceplate.render")


@dataclass
class ShotRender:
    """What to render (see ``faceplate render --help``)."""

    plate: str
    out: str
    settings: RenderSettings
    frames: FrameRange | None = None
    alignments: str | None = None
    separate: bool = False
    skip_existing: bool = False
    workers: int = 2
    queue_size: int = 3
    via_service: bool = False
    socket: str | None = None
    timeout: float = 600.0


@dataclass
class RenderReport:
    written: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    no_face: list[int] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: {"read": 0.0, "compute": 0.0, "write": 0.0, "total": 0.0})


def plate_arrays(img: Image) -> tuple[np.ndarray, np.ndarray | None, tuple[int, int]]:
    """(RGB H×W×3, alpha H×W or None, data window origin) of a plate."""
    alpha = img.channels_array(["A"])[..., 0] if img.has("A") else None
    return img.rgb(), alpha, (img.data_window[0], img.data_window[1])


def compute_passes(img: Image, faces: list[ShotFace], model: SwapModel, settings: RenderSettings,
                   config: ColourConfig) -> Passes:
    rgb, alpha, offset = plate_arrays(img)
    space = config.resolve(settings.colour_space, "--colour-space")
    pts = [f.points for f in select(faces, settings)]
    return render_frame(rgb, alpha, offset, pts, model, settings, config, space)


def frame_key(seq: Sequence, frame: int, space: str) -> tuple:
    """Identity of a plate frame for caches: path, size, mtime, colour space."""
    p = seq.path(frame)
    try:
        st = p.stat()
        return (str(p.resolve()), st.st_size, st.st_mtime_ns, space)
    except OSError:
        return (str(p), 0, 0, space)


def detect_shot_faces(finder: FaceFinder, seq: Sequence, frames: list[int], settings: RenderSettings,
                      config: ColourConfig) -> dict[int, list[ShotFace]]:
    """Detected, tracked and smoothed faces of ``frames`` (neighbours on disk used for smoothing)."""
    space = config.resolve(settings.colour_space, "--colour-space")

    def read_proxy(frame: int):
        img = read_image(seq.path(frame), frame)
        return config.to_proxy(img.rgb(), space), (img.data_window[0], img.data_window[1])

    return finder.faces(read_proxy, frames, settings, on_disk=seq.frames_on_disk(),
                        key=lambda f: frame_key(seq, f, space))


def shot_faces(job: ShotRender, seq: Sequence, frames: list[int], config: ColourConfig) -> dict[int, list[ShotFace]]:
    """Faces per frame: from the alignments file, else detected and tracked; ``--face like:`` marks
    the referenced person's (:mod:`faceplate.render.identity`)."""
    if job.alignments:
        faces = faces_for_frames(job.alignments, frames)
    else:
        faces = detect_shot_faces(FaceFinder(), seq, frames, job.settings, config)
    if job.settings.like_paths:
        from faceplate.render.identity import mark_like

        space = config.resolve(job.settings.colour_space, "--colour-space")

        def read_proxy(frame: int):
            img = read_image(seq.path(frame), frame)
            return config.to_proxy(img.rgb(), space), (img.data_window[0], img.data_window[1])

        mark_like(faces, job.settings, read_proxy, config)
    return faces


def _plan(job: ShotRender, report: RenderReport) -> tuple[Sequence, list[int]]:
    from faceplate.plates.movie import refuse_movie

    refuse_movie(job.plate, "render")  # plates stay image sequences
    seq = Sequence(job.plate)
    frames = job.frames if job.frames is not None else seq.default_range()
    seq.check_frames(frames)
    Sequence(job.out).path(frames.first)  # checks the output pattern
    if not seq.is_still and Sequence(job.out).is_still and len(frames) > 1:
        raise InputError(f"--out {job.out}: expected a frame token (####) to render {len(frames)} frames")
    check_writable_folder(Path(job.out).parent)
    todo = []
    for f in frames:
        if job.skip_existing and all(p.exists() for p in frame_paths(job.out, f, job.settings, job.separate)):
            report.skipped.append(f)
        else:
            todo.append(f)
    return seq, todo


def plan(job: ShotRender, report: RenderReport) -> tuple[Sequence, list[int]]:
    """Check ``job`` (plate frames on disk, output pattern and folder) and list the frames to render;
    frames skipped by ``skip_existing`` go to ``report.skipped``."""
    return _plan(job, report)


def render_frames(job: ShotRender, frames: list[int], faces: dict[int, list[ShotFace]], model: SwapModel,
                  config: ColourConfig, report: RenderReport, on_written=None) -> None:
    """Render ``frames`` of ``job`` in process with the given faces (e.g. computed once for the whole
    shot by the caller of a cluster chunk); ``on_written(frame, faces)`` is called as each frame's
    files appear."""
    _render_in_process(job, Sequence(job.plate), frames, faces, model, report, config, on_written)


def render_shot(job: ShotRender, config: ColourConfig | None = None) -> RenderReport:
    """Render ``job``; raises a :class:`FaceplateError` on the first failing frame (no partial files)."""
    t0 = time.perf_counter()
    config = config or ColourConfig.from_env()
    report = RenderReport()
    seq, todo = _plan(job, report)
    config.resolve(job.settings.colour_space, "--colour-space")
    if not todo:
        log.info("nothing to render: %d frame(s) already exist", len(report.skipped))
        return report
    if job.via_service:
        _render_via_service(job, seq, todo, report, config)
    else:
        model = load_model(job.settings.model, job.settings.device)
        faces = shot_faces(job, seq, todo, config)
        _render_in_process(job, seq, todo, faces, model, report, config)
    report.written.sort()
    report.no_face.sort()
    report.seconds["total"] = time.perf_counter() - t0
    return report


def _render_in_process(job: ShotRender, seq: Sequence, todo: list[int], faces: dict[int, list[ShotFace]],
                       model: SwapModel, report: RenderReport, config: ColourConfig, on_written=None) -> None:
    q: queue.Queue = queue.Queue(maxsize=max(1, job.queue_size))
    stop = threading.Event()
    lock = threading.Lock()

    def reader() -> None:
        for f in todo:
            if stop.is_set():
                return
            t = time.perf_counter()
            try:
                item = (f, read_image(seq.path(f), f), None)
            except BaseException as exc:  # handed to the main thread
                item = (f, None, exc)
            with lock:
                report.seconds["read"] += time.perf_counter() - t
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if item[2] is not None:
                return

    def write(f: int, img: Image, passes: Passes) -> int:
        t = time.perf_counter()
        write_passes(job.out, f, img, passes, job.settings, job.separate, model.sha256)
        with lock:
            report.seconds["write"] += time.perf_counter() - t
        if on_written is not None:
            on_written(f, passes.faces)
        return f

    import sys

    from faceplate.progress import bar

    pbar = bar("render", len(todo), sys.stderr.isatty())  # a terminal only: farm logs stay line-based
    slots = threading.Semaphore(2 * max(1, job.workers))
    pending: list[Future] = []
    rt = threading.Thread(target=reader, name="faceplate-reader", daemon=True)
    rt.start()
    try:
        with ThreadPoolExecutor(max_workers=max(1, job.workers), thread_name_prefix="faceplate-writer") as pool:
            try:
                for _ in todo:
                    f, img, exc = q.get()
                    if exc is not None:
                        raise exc
                    t = time.perf_counter()
                    passes = compute_passes(img, faces.get(f, []), model, job.settings, config)
                    report.seconds["compute"] += time.perf_counter() - t
                    if passes.faces == 0:
                        report.no_face.append(f)
                    slots.acquire()
                    fut = pool.submit(write, f, img, passes)
                    fut.add_done_callback(lambda _f: (slots.release(), pbar.step()))
                    pending.append(fut)
                    done = [p for p in pending if p.done()]
                    for p in done:
                        report.written.append(p.result())
                        pending.remove(p)
                for p in pending:
                    report.written.append(p.result())
            except BaseException:
                stop.set()
                for p in pending:
                    p.cancel()
                raise
    finally:
        stop.set()
        rt.join(timeout=30)
        pbar.close()


def _render_via_service(job: ShotRender, seq: Sequence, todo: list[int], report: RenderReport,
                        config: ColourConfig) -> None:
    from faceplate import client

    faces_doc: dict[int, list] = {}
    if job.alignments and job.settings.like_paths:
        raise InputError(f"--face {job.settings.face}: with --service, pick the person without --alignments "
                         "(faces are then matched here and sent to the service), or render in process")
    if not job.alignments:
        faces = shot_faces(job, seq, todo, config)
        faces_doc = {f: [fc.points.tolist() for fc in faces[f] if fc.selected or not job.settings.like_paths]
                     for f in todo}
    settings = job.settings.to_dict()

    def one(f: int) -> tuple[int, int]:
        resp = client.render_frame(
            plate=str(seq.path(f)), frame=f, out=job.out, model=job.settings.model, settings=settings,
            alignments=job.alignments, faces=faces_doc.get(f) if not job.alignments else None,
            separate=job.separate, timeout=job.timeout, socket_path=job.socket)
        return f, int(resp.get("faces", 0))

    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, job.workers), thread_name_prefix="faceplate-client") as pool:
        futures = [pool.submit(one, f) for f in todo]
        try:
            for fut in futures:
                f, n = fut.result()
                report.written.append(f)
                if n == 0:
                    report.no_face.append(f)
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    report.seconds["compute"] += time.perf_counter() - t


def describe(report: RenderReport) -> list[str]:
    """Summary lines for the end of a run (lists the frames without a face)."""
    lines = [f"wrote {len(report.written)} frame(s), skipped {len(report.skipped)} existing, "
             f"{report.seconds['total']:.1f}s"]
    if report.no_face:
        lines.append(f"no face found in {len(report.no_face)} frame(s): {format_frames(report.no_face)} "
                     f"(empty swap, zero mask, comp = plate)")
    return lines


__all__ = ["RenderReport", "ShotRender", "compute_passes", "describe", "plan", "render_frames", "render_shot"]
