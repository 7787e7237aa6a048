"""Frame chunks of a shot and their bookkeeping across retries (pure, no Ray).

A chunk is a run of frames in render order. A retried chunk renders only its frames that were not
reported written before the failure (each frame's files appear atomically, so a reported frame is a
whole frame on disk).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from faceplate.errors import InputError


def split(frames: list[int], size: int) -> list[list[int]]:
    """``frames`` in chunks of ``size`` (the last may be shorter).

    >>> split([1, 2, 3, 4, 5], 2)
    [[1, 2], [3, 4], [5]]
    """
    if size < 1:
        raise InputError(f"--chunk: expected >= 1 frame per chunk, found {size}")
    return [list(frames[i:i + size]) for i in range(0, len(frames), size)]


def ranges(frames: list[int]) -> str:
    """Compact text of a frame list.

    >>> ranges([1001, 1002, 1003, 1005, 1007, 1008])
    '1001-1003,1005,1007-1008'
    """
    out: list[str] = []
    start = prev = None
    for f in sorted(frames):
        if start is None:
            start = prev = f
        elif f == prev + 1:
            prev = f
        else:
            out.append(f"{start}-{prev}" if prev != start else str(start))
            start = prev = f
    if start is not None:
        out.append(f"{start}-{prev}" if prev != start else str(start))
    return ",".join(out)


@dataclass
class Chunk:
    """One chunk: its frames, those already written, how many times it ran, and its errors."""

    index: int
    frames: list[int]
    done: set[int] = field(default_factory=set)
    attempts: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return ranges(self.frames)

    def remaining(self) -> list[int]:
        return [f for f in self.frames if f not in self.done]
