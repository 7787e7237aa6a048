"""Pass 1's frames read ahead, on background threads, while the current one is analysed.

Reading a frame (:func:`faceplate.faces.source.read_frame`), its detector-sized copy, its cut
signature (:mod:`faceplate.faces.shots`) and, on frames where the detector runs whatever is found
(the first, every ``detect_every``, every frame of stills; contact-sheet frames for their thumbnail),
the detector's sRGB proxy and the detections depend on nothing pass 1 finds, so they are made for the
next frames while the current one's models run: OpenImageIO, numpy, OpenCV and onnxruntime release
the GIL while they decode, copy, resize, convert and infer. Frames come back in order and are the
same as made in line; a frame that fails to read raises its error when that frame is reached (pass 1
stops there, before anything is written). At most ``ahead`` frames beyond the one being analysed
wait in memory.
"""
from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np


@dataclass
class Frame:
    """One frame ready for pass 1: where it came from (the image's windows and path; its other
    channels are not kept), its RGB pixels (plate space), a copy area-reduced for the detector
    (``small``, ``scale`` = small px per plate px), its cut signature (sequences only), when asked
    for the sRGB proxy of ``small`` (``proxy``) and the detector's faces in it (``detections``, in
    ``small``'s pixels), else None; ``seconds``: time spent per stage (read, colour, detect)."""

    frame: int
    data_window: tuple
    display_window: tuple
    path: str
    rgb: np.ndarray
    small: np.ndarray
    scale: float
    signature: Any = None
    proxy: np.ndarray | None = None
    detections: list | None = None
    seconds: dict = field(default_factory=dict)


def prepare(source, frame: int, detect_side: int, config=None, space: str = "", proxy: bool = False,
            detector=None, pool=None, min_face: float | None = None) -> Frame:
    """Read ``frame`` of ``source`` and make its reduced copy and cut signature; with ``proxy`` the
    reduced copy's sRGB proxy (``config.to_proxy`` from ``space``), and with a ``detector`` too its
    detections (``detector.detect``, its passes run side by side on ``pool`` when given; no face
    smaller than ``min_face`` plate px, default the detector's)."""
    from faceplate.faces import shots
    from faceplate.faces.analyse import reduce
    from faceplate.faces.source import read_frame

    t0 = time.perf_counter()
    img, rgb = read_frame(source, frame)
    small, k = reduce(rgb, detect_side)
    sig = shots.signature(small) if source.is_sequence else None
    t1 = time.perf_counter()
    seconds = {"read": t1 - t0}
    px = dets = None
    if proxy:
        px = config.to_proxy(small, space)
        t2 = time.perf_counter()
        seconds["colour"] = t2 - t1
        if detector is not None:
            dets = list(detector.detect(px, pool, None if min_face is None else min_face * k))
            seconds["detect"] = time.perf_counter() - t2
    return Frame(frame, tuple(img.data_window), tuple(img.display_window), str(img.path), rgb, small, k, sig, px,
                 dets, seconds)


class ReadAhead:
    """``for f in ReadAhead(frames, load): ...``: ``load(frame)`` run on ``workers`` background threads
    (each frame on one; 1 keeps the loads in frame order, as a movie decoder needs), up to ``ahead``
    frames ahead of the caller, results yielded in order (errors raised in order too). With
    ``budget`` (bytes) and ``size_of(result)``, the window grows after the first frame to as many
    frames as ``budget`` holds, up to ``most``, so that slow frames (a detector run) start early
    enough. ``ahead=0`` loads each frame in the caller. Leaving early (``close()``, also on error)
    cancels what has not started and waits for the loads in progress."""

    def __init__(self, frames: Iterable[int], load: Callable[[int], Any], ahead: int = 2, workers: int = 1,
                 budget: int = 0, size_of: Callable[[Any], int] | None = None, most: int = 8) -> None:
        self._frames = list(frames)
        self._load = load
        self._ahead = max(0, int(ahead))
        self._budget, self._size_of, self._most = int(budget), size_of, max(self._ahead, int(most))
        n = max(1, min(int(workers), self._ahead))
        self._pool = ThreadPoolExecutor(n, thread_name_prefix="faceplate-read") if self._ahead else None
        self._pending: deque[Future] = deque()
        self._next = 0

    def _submit(self) -> None:
        if self._next < len(self._frames):
            self._pending.append(self._pool.submit(self._load, self._frames[self._next]))
            self._next += 1

    def __iter__(self) -> Iterator[Any]:
        if self._pool is None:
            for f in self._frames:
                yield self._load(f)
            return
        try:
            while len(self._pending) < max(1, self._ahead) and self._next < len(self._frames):
                self._submit()
            sized = not (self._budget and self._size_of is not None)
            while self._pending:
                item = self._pending.popleft().result()
                if not sized:  # the first frame tells how many fit in the budget
                    sized, per = True, max(1, int(self._size_of(item)))
                    self._ahead = max(self._ahead, min(self._most, self._budget // per))
                while len(self._pending) < self._ahead and self._next < len(self._frames):
                    self._submit()  # ``ahead`` frames are read while the caller works on this one
                yield item
        finally:
            self.close()

    def close(self) -> None:
        for f in self._pending:
            f.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
