"""Timing helper shared by the benchmarks."""
from __future__ import annotations

import time
from typing import Callable


def interleaved_ms(fns: list[Callable[[], object]], repeats: int, warmup: int = 2) -> list[list[float]]:
    """Each function's times (ms) over ``repeats`` rounds, run round-robin so that load from other
    processes hits all alike, after ``warmup`` untimed rounds."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    ts: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            ts[i].append(1000.0 * (time.perf_counter() - t0))
    return ts
