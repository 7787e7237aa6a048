"""A small bounded pool of writer threads: file writes overlap the next face's compute.

Each job writes its own files (atomically, :mod:`faceplate.plates.atomic`), so the order jobs finish
in changes nothing on disk: the output is the same as writing them one after another. At most
``pending`` jobs wait (memory stays bounded); the first failure is raised in the caller, in
submission order, and no job starts after it. OpenImageIO, OpenCV and OCIO release the GIL while
they encode and convert, so the threads run alongside the caller's numpy work.
"""
from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

#: writer threads (0: every job runs at once in the caller)
THREADS = 2
#: jobs submitted but not finished before :meth:`WriteQueue.submit` waits for the oldest
PENDING = 4


class WriteQueue:
    """``with WriteQueue() as q: q.submit(fn, *args)``; leaving the block waits for every job.

    ``waited``: seconds the caller spent blocked on the writers (the extract's ``write`` stage).
    """

    def __init__(self, threads: int = THREADS, pending: int = PENDING) -> None:
        self.threads = max(0, int(threads))
        self.pending = max(1, int(pending))
        self.waited = 0.0
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="faceplate-write") if self.threads else None
        self._inflight: deque[Future] = deque()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._pool is None:
            t = time.perf_counter()
            fn(*args)
            self.waited += time.perf_counter() - t
            return
        self._inflight.append(self._pool.submit(fn, *args))
        while len(self._inflight) > self.pending:
            self._wait_oldest()

    def _wait_oldest(self) -> None:
        t = time.perf_counter()
        try:
            self._inflight.popleft().result()
        finally:
            self.waited += time.perf_counter() - t

    def drain(self) -> None:
        """Wait for every submitted job; the first failure is raised."""
        while self._inflight:
            self._wait_oldest()

    def close(self, failed: bool = False) -> None:
        """Stop the threads; with ``failed``, jobs not started yet are cancelled (running ones finish)."""
        if failed:
            for f in self._inflight:
                f.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._inflight.clear()

    def __enter__(self) -> "WriteQueue":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.close(failed=True)
            return
        try:
            self.drain()
        except BaseException:
            self.close(failed=True)
            raise
        self.close()
