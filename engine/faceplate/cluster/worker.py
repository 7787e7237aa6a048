"""The long-lived render worker that runs on each cluster node (one per GPU, or per CPU slot).

A plain class: :mod:`faceplate.cluster.render` makes it a Ray actor. It keeps models loaded between
chunks and renders a chunk with the same in-process pipeline as ``faceplate render``
(:func:`faceplate.render.job.render_frames`), given the faces the caller computed once for the whole
shot, so a chunk's frames are bit-identical to a single-machine render.

:meth:`RenderWorker.render_chunk` is a generator of plain records, one per frame as its files appear
(so the caller's progress bar and retry bookkeeping follow frame by frame), then one closing record:

* ``{"kind": "frame", "frame": F, "faces": N, "pid": P, "host": H}``
* ``{"kind": "done", "seconds": {...}, "pid": P, "host": H}`` or
  ``{"kind": "error", "message": "...", "pid": P, "host": H}`` (the message names the file, frame or
  parameter, e.g. a path this node cannot see).
"""
from __future__ import annotations

import os
import queue
import threading
from pathlib import Path
from typing import Any, Iterator

_END = object()


class RenderWorker:
    """Renders chunks of a shot; models stay loaded across chunks (keyed by file and device)."""

    def __init__(self) -> None:
        from faceplate.render.model import ModelCache

        self._models = ModelCache(max_models=2)

    def identity(self) -> dict[str, Any]:
        from faceplate.cluster.runtime import node_name

        return {"pid": os.getpid(), "host": node_name()}

    def render_chunk(self, spec: dict[str, Any], frames: list[int], faces: dict[int, list]) -> Iterator[dict]:
        """Render ``frames`` per ``spec`` (plate, out, settings, separate, writers, queue_size, ocio)
        with ``faces`` (frame -> :class:`~faceplate.render.facesource.ShotFace` list)."""
        me = self.identity()
        events: queue.Queue = queue.Queue()
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["seconds"] = self._render(spec, frames, faces,
                                                 lambda f, n: events.put({"kind": "frame", "frame": int(f),
                                                                          "faces": int(n), **me}))
            except Exception as exc:  # noqa: BLE001 - every failure goes back to the caller as a record
                from faceplate.errors import FaceplateError

                text = str(exc) if isinstance(exc, FaceplateError) else f"{type(exc).__name__}: {exc}"
                result["error"] = text
            finally:
                events.put(_END)

        t = threading.Thread(target=run, name="faceplate-chunk", daemon=True)
        t.start()
        while True:
            item = events.get()
            if item is _END:
                break
            yield item
        t.join()
        if "error" in result:
            yield {"kind": "error", "message": result["error"], **me}
        else:
            yield {"kind": "done", "seconds": result.get("seconds", {}), **me}

    def render_chunk_list(self, spec: dict[str, Any], frames: list[int], faces: dict[int, list]) -> list[dict]:
        """:meth:`render_chunk` as one list at the end (for Ray Client, which has no streaming results)."""
        return list(self.render_chunk(spec, frames, faces))

    def _render(self, spec: dict[str, Any], frames: list[int], faces: dict[int, list], on_written) -> dict:
        from faceplate.colour.ocio import ColourConfig
        from faceplate.plates.atomic import check_writable_folder
        from faceplate.render.job import RenderReport, ShotRender, render_frames
        from faceplate.render.settings import RenderSettings

        settings = RenderSettings.from_values(spec["settings"])
        job = ShotRender(plate=spec["plate"], out=spec["out"], settings=settings, separate=spec["separate"],
                         workers=spec["writers"], queue_size=spec["queue_size"])
        config = ColourConfig.from_env(spec.get("ocio"))
        check_writable_folder(Path(job.out).parent)
        model = self._models.get(settings.model, settings.device)
        report = RenderReport()
        render_frames(job, frames, faces, model, config, report, on_written)
        return dict(report.seconds)


__all__ = ["RenderWorker"]
