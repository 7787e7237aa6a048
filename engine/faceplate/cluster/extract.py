"""``faceplate extract SOURCES… --cluster ADDRESS --out FACESET``: many sources at once.

One Ray task per source (:mod:`faceplate.cluster.sources`) runs the ordinary
:func:`faceplate.faces.extract.extract` into its own face set under ``FACESET.sources/`` (each keeps
its ``alignments.json``, which ``faceplate render --alignments`` uses for that shot), then the sets
are merged in source order by :func:`faceplate.curate.merge.merge` (``faces merge`` semantics: every
face records its source plate or still and the set it came from). The result equals extracting each
source on one machine and merging.

A source whose task fails is named with its cause, nothing is merged, and the finished per-source
sets stay: a rerun resumes them (extract resumes a set written with the same settings).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceplate.cluster.sources import ExtractSource, expand
from faceplate.errors import ClusterError, InputError, OutputError

log = logging.getLogger("faceplate.cluster")


@dataclass
class ClusterExtractReport:
    faceset: Any = None  # the merged FaceSet
    sources: list[str] = field(default_factory=list)
    parts: list[Path] = field(default_factory=list)
    faces: dict[str, int] = field(default_factory=dict)  # source -> faces written or reused
    gaps: dict[str, int] = field(default_factory=dict)
    empty: dict[str, str] = field(default_factory=dict)  # source -> why it holds no face (not merged)
    seconds: float = 0.0


def parts_folder(out: Path) -> Path:
    """Where the per-source face sets of ``out`` are written: ``OUT.sources/`` beside it."""
    return out.parent / f"{out.name}.sources"


def extract_one(plate: str, is_sequence: bool, part: str, frames: str | None, settings, ocio: str | None) -> dict:
    """Extract one source into ``part`` (runs in a Ray task; plain values in and out)."""
    from faceplate.errors import FaceplateError
    from faceplate.faces.extract import extract

    try:
        res = extract([plate], part, frames=frames if is_sequence else None, settings=settings, ocio=ocio,
                      progress=False)
    except FaceplateError as exc:
        if "no face found in any" in str(exc):  # a photo or shot without the face: left out, not fatal
            return {"empty": str(exc)}
        return {"error": str(exc)}
    return {"faces": res.written + res.skipped, "gaps": len(res.gaps)}


def extract_on_cluster(plates: list[str], out: Path | str, address: str = "auto", frames: str | None = None,
                       settings=None, ocio: str | None = None, retries: int = 2,
                       progress: bool = True) -> ClusterExtractReport:
    """Extract every source of ``plates`` on the cluster and merge them into the face set ``out``."""
    from tqdm import tqdm

    from faceplate.cluster import runtime
    from faceplate.curate.merge import merge
    from faceplate.faces.extract import ExtractSettings

    t0 = time.perf_counter()
    if retries < 0:
        raise InputError(f"--retries: expected >= 0, found {retries}")
    ray = runtime.ray_module()
    out = Path(out).expanduser().absolute()  # workers run elsewhere: every path absolute
    plates = [str(Path(p).expanduser().absolute()) for p in plates]
    if ocio and Path(ocio).expanduser().exists():
        ocio = str(Path(ocio).expanduser().absolute())
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputError(f"face set {out}: expected a new or empty folder for the merged set, found existing content")
    sources: list[ExtractSource] = expand(plates)
    settings = settings or ExtractSettings()
    parts_root = parts_folder(out)
    parts = [parts_root / f"{k:03d}-{s.name}" for k, s in enumerate(sources)]
    report = ClusterExtractReport(sources=[s.plate for s in sources], parts=parts)
    failed: dict[str, str] = {}
    with runtime.connect(address) as res:
        opts: dict[str, Any] = {"num_cpus": 1, "max_retries": retries, "retry_exceptions": False}
        env = runtime.worker_env()
        if env:
            opts["runtime_env"] = {"env_vars": env}
        task = ray.remote(extract_one).options(**opts)
        refs = {task.remote(s.plate, s.is_sequence, str(p), frames, settings, ocio): k
                for k, (s, p) in enumerate(zip(sources, parts))}
        bar = tqdm(total=len(refs), unit="source", desc="extract (cluster)", disable=not progress)
        waiting = list(refs)
        try:
            while waiting:
                done, waiting = ray.wait(waiting, num_returns=1)
                k = refs[done[0]]
                try:
                    result = ray.get(done[0])
                except ray.exceptions.RayError as exc:
                    result = {"error": f"the task failed after {retries} retr(ies) ({type(exc).__name__}: {exc})"}
                if "error" in result:
                    failed[sources[k].plate] = result["error"]
                elif "empty" in result:
                    report.empty[sources[k].plate] = result["empty"]
                    log.warning("%s: no face found; left out of the merged set", sources[k].plate)
                else:
                    report.faces[sources[k].plate] = result["faces"]
                    report.gaps[sources[k].plate] = result["gaps"]
                bar.update(1)
        finally:
            bar.close()
            for ref in waiting:  # interrupted: stop the sources still running on the cluster
                ray.cancel(ref)
    if failed:
        raise ClusterError(f"extract --cluster: {len(failed)} of {len(sources)} source(s) failed, nothing merged "
                           f"into {out} (finished sources stay in {parts_root} and are reused by a rerun): "
                           + "; ".join(f"{k}: {v}" for k, v in failed.items()))
    keep = [p for s, p in zip(sources, parts) if s.plate in report.faces]
    if not keep:
        raise ClusterError(f"extract --cluster: no face found in any of the {len(sources)} source(s); nothing "
                           f"written to {out}")
    report.faceset = merge(keep, out)
    report.seconds = time.perf_counter() - t0
    return report


__all__ = ["ClusterExtractReport", "extract_on_cluster", "extract_one", "parts_folder"]
