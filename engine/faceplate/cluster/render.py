"""``faceplate render … --cluster ADDRESS``: one shot rendered by long-lived Ray workers.

At the caller: plan the shot (as ``faceplate render``), find the faces **once for the whole shot**
(the ``--alignments`` file, or detection + tracking + smoothing over the whole range), split the
frames into chunks. On the cluster: one :class:`~faceplate.cluster.worker.RenderWorker` actor per
GPU (``num_gpus=1``; one per machine where there is no GPU) that keeps the model loaded; each renders
the chunks handed to it with the same pipeline as a single-machine render, so every frame is
bit-identical to it, and reports each frame as its files appear.

A chunk that fails (its worker died, or an error such as a path the node cannot see) is run again,
up to ``retries`` more times, for the frames it had not written; Ray restarts a dead worker. The
caller shows one progress bar for the shot and returns a :class:`ClusterReport`.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from faceplate.cluster.chunks import Chunk, ranges, split
from faceplate.errors import InputError

log = logging.getLogger("faceplate.cluster")


@dataclass
class ClusterReport:
    """Frames written, skipped (existing), without a face; chunks retried and failed (with causes)."""

    written: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    no_face: list[int] = field(default_factory=list)
    retried: dict[str, int] = field(default_factory=dict)  # chunk label -> extra runs
    failed: dict[str, str] = field(default_factory=dict)  # chunk label -> last cause
    failed_frames: list[int] = field(default_factory=list)
    chunks: int = 0
    workers: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class ClusterOptions:
    """``--cluster``, ``--chunk``, ``--retries``, ``--cluster-workers``."""

    address: str = "auto"
    chunk: int = 10
    retries: int = 2
    workers: int | None = None
    progress: bool = True

    def check(self) -> None:
        from faceplate.cluster.runtime import check_address

        check_address(self.address)
        if self.chunk < 1:
            raise InputError(f"--chunk: expected >= 1 frame per chunk, found {self.chunk}")
        if self.retries < 0:
            raise InputError(f"--retries: expected >= 0, found {self.retries}")
        if self.workers is not None and self.workers < 1:
            raise InputError(f"--cluster-workers: expected >= 1, found {self.workers}")


def render_on_cluster(job, options: ClusterOptions, config=None,
                      on_frame: Callable[[dict], None] | None = None) -> ClusterReport:
    """Render ``job`` (a :class:`~faceplate.render.job.ShotRender`) on the cluster ``options.address``.

    ``on_frame(record)`` is called at the caller for each frame written (``frame``, ``faces``,
    ``pid``, ``host`` of the worker). Failed chunks are in the report (the CLI turns them into an
    error); nothing here raises for a chunk's failure.
    """
    from faceplate.cluster import runtime
    from faceplate.colour.ocio import ColourConfig
    from faceplate.render.job import RenderReport, plan, shot_faces

    options.check()
    runtime.ray_module()  # the missing extra is named before any work
    if job.via_service:
        raise InputError("--cluster and --service: expected one of them, found both")
    t0 = time.perf_counter()
    config = config or ColourConfig.from_env()
    planned = RenderReport()
    seq, todo = plan(job, planned)
    config.resolve(job.settings.colour_space, "--colour-space")
    report = ClusterReport(skipped=list(planned.skipped))
    if not todo:
        return report
    faces = shot_faces(job, seq, todo, config)  # once per shot: chunk borders change nothing
    chunks = [Chunk(i, c) for i, c in enumerate(split(todo, options.chunk))]
    report.chunks = len(chunks)
    settings = job.settings.to_dict()
    settings["model"] = _absolute(settings["model"])  # workers run elsewhere: paths made absolute here
    spec = {"plate": _absolute(job.plate), "out": _absolute(job.out), "settings": settings,
            "separate": job.separate, "writers": job.workers, "queue_size": job.queue_size, "ocio": config.config}
    with runtime.connect(options.address) as res:
        n = min(options.workers or res.default_workers(), len(chunks))
        if n > res.capacity():
            log.warning("--cluster-workers %d: the cluster can place %d worker(s) (%s); using %d", n,
                        res.capacity(), "one per GPU" if res.gpus >= 1 else "one per CPU", res.capacity())
            n = res.capacity()
        report.workers = n
        _drive(chunks, spec, faces, n, res, options, report, on_frame)
    report.written.sort()
    report.no_face.sort()
    report.failed_frames.sort()
    report.seconds = time.perf_counter() - t0
    return report


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().absolute()) if path else path


def _drive(chunks: list[Chunk], spec: dict, faces: dict, n: int, res, options: ClusterOptions,
           report: ClusterReport, on_frame) -> None:
    """Hand the chunks to ``n`` workers (one caller thread per worker) and collect their records."""
    from tqdm import tqdm

    from faceplate.cluster import runtime
    from faceplate.cluster.worker import RenderWorker

    ray = runtime.ray_module()
    actor_cls = ray.remote(max_restarts=options.retries, max_task_retries=0)(RenderWorker)
    opts: dict[str, Any] = dict(res.worker_options())
    env = runtime.worker_env()
    if env:
        opts["runtime_env"] = {"env_vars": env}
    actors = [actor_cls.options(**opts).remote() for _ in range(n)]
    streaming = not runtime.is_client()
    pending: deque[Chunk] = deque(chunks)
    state = {"in_flight": 0}
    cond = threading.Condition()
    events: queue.Queue = queue.Queue()
    dead: list[dict] = []  # identities (pid, host) of workers that died

    def next_chunk() -> Chunk | None:
        with cond:
            while not pending and state["in_flight"] > 0:
                cond.wait()
            if not pending:
                return None
            state["in_flight"] += 1
            return pending.popleft()

    def finish(chunk: Chunk, error: str | None) -> None:
        with cond:
            state["in_flight"] -= 1
            if error is not None and chunk.remaining():  # (an error after its last frame changes nothing)
                chunk.errors.append(error)
                if chunk.attempts <= options.retries:
                    pending.append(chunk)
                    events.put(("retry", chunk, error))
                else:
                    events.put(("failed", chunk, error))
            else:
                events.put(("done", chunk, None))
            cond.notify_all()

    def drive(actor) -> None:
        deaths = 0
        ident: dict | None = None
        try:
            while deaths <= options.retries:
                if ident is None:  # placed and alive (again after a restart) before taking a chunk;
                    try:  # its process (pid, host) is kept for the clean-up
                        ident = ray.get(actor.identity.remote())
                    except ray.exceptions.RayActorError:
                        deaths += 1
                        continue
                chunk = next_chunk()
                if chunk is None:
                    return
                chunk.attempts += 1
                frames = chunk.remaining()
                error: str | None = None
                args = (spec, frames, {f: faces.get(f, []) for f in frames})
                try:
                    if streaming:  # one record per frame as its files appear
                        records = (ray.get(ref) for ref in actor.render_chunk.remote(*args))
                    else:  # Ray Client: the chunk's records arrive together at its end
                        records = iter(ray.get(actor.render_chunk_list.remote(*args)))
                    for rec in records:
                        if rec["kind"] == "frame":
                            with cond:
                                chunk.done.add(rec["frame"])
                            events.put(("frame", chunk, rec))
                        elif rec["kind"] == "error":
                            error = f"on {rec['host']}: {rec['message']}"
                except ray.exceptions.RayActorError as exc:
                    deaths += 1
                    if ident is not None:
                        with cond:
                            dead.append(ident)
                    ident = None
                    error = f"the worker died ({type(exc).__name__})"
                except Exception as exc:  # noqa: BLE001 - any other failure fails the chunk, named
                    error = f"{type(exc).__name__}: {exc}"
                if error is None and chunk.remaining():
                    error = f"the worker ended without frames {ranges(chunk.remaining())}"
                finish(chunk, error)
        finally:
            events.put(("worker-exit", None, None))

    threads = [threading.Thread(target=drive, args=(a,), name=f"faceplate-cluster-{i}", daemon=True)
               for i, a in enumerate(actors)]
    bar = tqdm(total=sum(len(c.frames) for c in chunks), unit="frame", desc="render (cluster)",
               disable=not options.progress, leave=True)
    for t in threads:
        t.start()
    live, resolved = len(threads), 0
    try:
        while live and resolved < len(chunks):  # (a worker the cluster cannot place never answers)
            kind, chunk, info = events.get()
            if kind == "worker-exit":
                live -= 1
            elif kind == "done":
                resolved += 1
            elif kind == "frame":
                report.written.append(info["frame"])
                if info["faces"] == 0:
                    report.no_face.append(info["frame"])
                bar.update(1)
                if on_frame is not None:
                    on_frame(info)
            elif kind == "retry":
                report.retried[chunk.label] = report.retried.get(chunk.label, 0) + 1
                log.warning("chunk %s failed (%s); running it again for frames %s", chunk.label, info,
                            ranges(chunk.remaining()))
            elif kind == "failed":
                resolved += 1
                report.failed[chunk.label] = info
                report.failed_frames.extend(chunk.remaining())
    finally:
        bar.close()
        for a in actors:
            ray.kill(a)
        for t in threads:
            t.join(timeout=5)
    _remove_temporaries(spec, dead)
    for chunk in pending:  # every worker gave up (died more than --retries times)
        report.failed[chunk.label] = "no worker left: " + ("; ".join(chunk.errors[-1:]) or "workers died")
        report.failed_frames.extend(chunk.remaining())


def _remove_temporaries(spec: dict, dead: list[dict]) -> None:
    """Remove the hidden temporary files that workers of this run left when they died mid-write
    (``.NAME.tmp-PID-TOKEN.exr``, see :mod:`faceplate.plates.atomic`); every worker of the run is idle
    by now. Only workers on this machine: a PID says nothing about another machine's processes."""
    from faceplate.cluster.runtime import node_name
    from faceplate.plates.atomic import remove_quietly
    from faceplate.render.passes import output_patterns
    from faceplate.render.settings import RenderSettings

    here = node_name()
    pids = {d["pid"] for d in dead if d.get("host") == here}
    if not pids:
        return
    patterns = output_patterns(spec["out"], RenderSettings.from_values(spec["settings"]), spec["separate"])
    for folder in {Path(p).parent for p in patterns.values()}:
        for pid in pids:
            for tmp in folder.glob(f".*.tmp-{pid}-*"):
                remove_quietly(tmp)


def describe(report: ClusterReport) -> list[str]:
    """The final report: frames done, retried, failed, without a face."""
    lines = [f"cluster: {report.workers} worker(s), {report.chunks} chunk(s): wrote {len(report.written)} frame(s), "
             f"skipped {len(report.skipped)} existing, {report.seconds:.1f}s"]
    if report.retried:
        lines.append(f"retried {len(report.retried)} chunk(s): "
                     + ", ".join(f"{k} ({v}x)" for k, v in sorted(report.retried.items())))
    if report.failed:
        lines.append(f"failed {len(report.failed_frames)} frame(s) in {len(report.failed)} chunk(s): "
                     + "; ".join(f"chunk {k}: {v}" for k, v in sorted(report.failed.items())))
    if report.no_face:
        lines.append(f"no face found in {len(report.no_face)} frame(s): {ranges(report.no_face)} "
                     f"(empty swap, zero mask, comp = plate)")
    return lines


__all__ = ["ClusterOptions", "ClusterReport", "describe", "render_on_cluster"]
