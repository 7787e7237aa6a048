"""Job descriptions for a studio's render farm (OpenCue, Deadline, Tractor, Afanasy):
``faceplate farm-job`` writes the per-chunk command lines of a shot as JSON; the farm manager runs
them (docs/farm.md shows how OpenCue and Deadline do).

Per chunk, in order:

1. ``render``: the engine renders the chunk's passes (``faceplate render … --frames FIRST-LAST
   --skip-existing``), so a chunk the farm runs again resumes;
2. ``comp`` (optional, depends on ``render`` of the same chunk): NatronRenderer, either a Natron
   script the studio gives (``NatronRenderer -b -w WRITE FIRST-LAST SCRIPT``) or the shipped
   headless comp ``install/farm/render_swap.py`` reading the passes job 1 wrote (docs/natron.md).

Each task carries the environment it needs (OCIO config, face assets, Natron plug-in path, the
engine's Python) and a ``template`` with ``{first}``/``{last}`` for managers that expand frame
tokens themselves. Paths are made absolute: every farm node must see the same storage.
"""
from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceplate.cluster.chunks import split
from faceplate.errors import InputError

SCHEMA = "faceplate.farmjob"
VERSION = 1


@dataclass(frozen=True)
class FarmJob:
    """What to put on the farm (see ``faceplate farm-job --help``)."""

    plate: str
    out: str
    frames: list[int]
    chunk: int
    settings: Any  # RenderSettings
    alignments: str | None = None
    separate: bool = False
    name: str = "faceplate"
    engine: str = field(default_factory=lambda: sys.executable)
    natron_script: str | None = None
    natron_write: str = "Write1"
    comp_out: str | None = None
    natron_renderer: str = "NatronRenderer"
    farm_script: str | None = None
    plugin_dir: str | None = None
    timeout: int = 7200


def _abs(p: str) -> str:
    return str(Path(p).expanduser().absolute())


def install_root() -> Path:
    """The checkout (or editable install) the engine runs from: ``plugin/`` and ``install/`` live there."""
    import faceplate

    return Path(faceplate.__file__).resolve().parents[2]


def settings_flags(settings) -> list[str]:
    """CLI flags of the render parameters that differ from their defaults (``--model`` always)."""
    from faceplate.render.settings import RENDER_PARAMS, RenderSettings

    default = RenderSettings()
    out = ["--model", _abs(settings.model)]
    for p in RENDER_PARAMS:
        if p.name == "model":
            continue
        v = getattr(settings, p.name)
        if v == getattr(default, p.name):
            continue
        if p.kind == "bool":
            out.append(p.flag if v else "--no-" + p.flag[2:])
        else:
            out += [p.flag, str(v)]
    return out


def _contiguous(frames: list[int]) -> None:
    if not frames:
        raise InputError("--frames: expected a frame range FIRST-LAST, found none")
    if any(b != a + 1 for a, b in zip(frames, frames[1:])):
        raise InputError(f"--frames: expected a contiguous range FIRST-LAST (farm chunks are FIRST-LAST), found "
                         f"{len(frames)} frames from {frames[0]} to {frames[-1]} with gaps or a step")


def _env(keys: tuple[str, ...]) -> dict[str, str]:
    return {k: os.environ[k] for k in keys if os.environ.get(k)}


def task_templates(job: FarmJob) -> list[dict[str, Any]]:
    """The task kinds of one chunk, with ``{first}`` and ``{last}`` in their command lines."""
    render = [job.engine, "-m", "faceplate", "render", _abs(job.plate), "--frames", "{first}-{last}",
              "--out", _abs(job.out), "--skip-existing", *settings_flags(job.settings)]
    if job.alignments:
        render += ["--alignments", _abs(job.alignments)]
    if job.separate:
        render.append("--separate")
    if job.comp_out and "--comp" not in render:  # the shipped comp job writes the engine's comp layer
        render = [a for a in render if a != "--no-comp"] + ["--comp"]
    tasks = [{"name": "render", "depends_on": None, "argv": render,
              "env": _env(("OCIO", "FACEPLATE_ASSETS")),
              "note": "GPU nodes when there are any; CPU nodes give the same output, slower"}]
    if job.natron_script and job.comp_out:
        raise InputError("--natron-script and --comp-out: expected one of them (a studio Natron script, or the "
                         "shipped headless comp writing --comp-out), found both")
    plugin = job.plugin_dir or str(install_root() / "plugin")
    nodes = str(Path(plugin).parent / "nodes")
    # both folders, ':'-separated: the separator that works on Linux (';' does not; natron-api.md)
    natron_env = {"NATRON_PLUGIN_PATH": f"{plugin}:{nodes}", "FACEPLATE_ENGINE_PYTHON": job.engine, **_env(("OCIO",))}
    if job.natron_script:
        script = _abs(job.natron_script)
        if not Path(script).is_file():
            raise InputError(f"--natron-script {script}: file not found")
        tasks.append({"name": "comp", "depends_on": "render", "env": natron_env,
                      "argv": [job.natron_renderer, "-b", "-w", job.natron_write, "{first}-{last}", script]})
    elif job.comp_out:
        farm = Path(job.farm_script) if job.farm_script else install_root() / "install" / "farm" / "render_swap.py"
        if not farm.is_file():
            raise InputError(f"--farm-script {farm}: file not found (the shipped install/farm/render_swap.py)")
        env = {**natron_env, "FACEPLATE_PLATE": _abs(job.plate), "FACEPLATE_MODEL": _abs(job.settings.model),
               "FACEPLATE_FRAMES": "{first}-{last}", "FACEPLATE_PASSES": _abs(job.out),
               "FACEPLATE_OUT": _abs(job.comp_out), "FACEPLATE_COLOUR_SPACE": job.settings.colour_space}
        if job.alignments:
            env["FACEPLATE_ALIGNMENTS"] = _abs(job.alignments)
        tasks.append({"name": "comp", "depends_on": "render", "env": env, "stdin": "/dev/null",
                      "argv": ["timeout", "-k", "60", str(job.timeout), job.natron_renderer, "-t", str(farm)]})
    return tasks


def _fill(value: Any, first: int, last: int) -> Any:
    if isinstance(value, str):
        return value.replace("{first}", str(first)).replace("{last}", str(last))
    if isinstance(value, list):
        return [_fill(v, first, last) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, first, last) for k, v in value.items()}
    return value


def build(job: FarmJob) -> dict[str, Any]:
    """The job description: task templates and, per chunk, each task's exact command and environment."""
    _contiguous(job.frames)
    chunks = split(job.frames, job.chunk)
    templates = task_templates(job)
    doc: dict[str, Any] = {
        "schema": SCHEMA, "version": VERSION, "name": job.name,
        "frames": f"{job.frames[0]}-{job.frames[-1]}", "chunk": job.chunk,
        "tasks": [{**t, "command": shlex.join(t["argv"])} for t in templates],
        "chunks": [],
    }
    for c in chunks:
        first, last = c[0], c[-1]
        doc["chunks"].append({
            "frames": f"{first}-{last}", "first": first, "last": last,
            "tasks": [{"name": t["name"], "depends_on": t["depends_on"], "argv": _fill(t["argv"], first, last),
                       "command": shlex.join(_fill(t["argv"], first, last)), "env": _fill(t["env"], first, last),
                       **({"stdin": t["stdin"]} if "stdin" in t else {})} for t in templates],
        })
    return doc


def write(doc: dict[str, Any], path: str) -> None:
    """``path`` (atomically) or standard output for ``-``."""
    from faceplate.plates.atomic import write_text_atomic

    text = json.dumps(doc, indent=1) + "\n"
    if path == "-":
        sys.stdout.write(text)
    else:
        write_text_atomic(Path(path), text, "job file")


__all__ = ["FarmJob", "build", "settings_flags", "task_templates", "write", "SCHEMA", "VERSION"]
