"""Frame chunks of a shot and their bookkeeping across retries (pure, no Ray).

A chunk is a run of frames in render order. A retried chunk renders only its frames that were not
reported written before the failure (each frame's files appear atomically, so a reported frame is a
whole frame on disk).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from faceplate.errors import InputError
from faceplate.plates.sequence import format_frames


def split(frames: list[int], size: int) -> list[list[int]]:
    """``frames`` in chunks of ``size`` (the last may be shorter).

    >>> split([1, 2, 3, 4, 5], 2)
    [[1, 2], [3, 4], [5]]
    """
    if size < 1:
        raise InputError(f"--chunk: expected >= 1 frame per chunk, found {size}")
    return [list(frames[i:i + size]) for i in range(0, len(frames), size)]


def ranges(frames: list[int]) -> str:
    """``1001-1003,1005`` (see :func:`faceplate.plates.sequence.format_frames`)."""
    return format_frames(frames)


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
