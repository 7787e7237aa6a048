"""Resumable stages: each finished stage leaves ``stages/<name>.json`` (its timing and outputs), so an
interrupted run started again skips what is done (unless asked to redo it)."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from faceplate.errors import FaceplateError
from faceplate.jsonio import dump_json


@dataclass
class StageLog:
    root: Path
    redo: set[str] = field(default_factory=set)
    timings: dict[str, float] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    def marker(self, name: str) -> Path:
        return self.root / "stages" / f"{name}.json"

    def run(self, name: str, title: str, fn: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
        """Run ``fn`` unless its marker exists (and ``name`` is not in ``redo``); record its result."""
        mk = self.marker(name)
        if mk.exists() and name not in self.redo and "all" not in self.redo:
            done = json.loads(mk.read_text())
            self.timings[name] = float(done.get("seconds", 0.0))
            self.results[name] = done.get("result", {})
            print(f"[demo] {title}: done earlier ({self.timings[name]:.1f} s), skipped", file=sys.stderr)
            return self.results[name]
        print(f"[demo] {title} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        result = fn() or {}
        secs = time.perf_counter() - t0
        self.timings[name], self.results[name] = secs, result
        dump_json(mk, {"schema": "faceplate.demo-stage", "version": 1, "stage": name, "seconds": secs,
                       "result": result})
        print(f"[demo] {title}: {secs:.1f} s", file=sys.stderr, flush=True)
        return result


def run_command(argv: list[str]) -> None:
    """Run a ``faceplate`` subcommand in its own process (as a user would: a fresh interpreter per
    stage, so training's data-loader workers never fork a process that holds OpenImageIO or
    onnxruntime threads); a non-zero exit becomes a :class:`FaceplateError`."""
    import subprocess

    rc = subprocess.call([sys.executable, "-m", "faceplate", *argv])
    if rc:
        raise FaceplateError(f"demo: 'faceplate {' '.join(argv)}' failed with exit code {rc} (see the message above)")
