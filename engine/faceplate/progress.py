"""The one progress bar of every ``faceplate`` command (extract, train, render, demo): tqdm on stderr.

``bar(label, total)`` returns an object with ``step(n)``, ``set(text)`` and ``close()``; with
``enabled=False`` (``--quiet``, or a library caller) it does nothing, so callers never branch.
"""
from __future__ import annotations

import sys
from typing import Any


class _Null:
    def step(self, n: int = 1) -> None:
        pass

    def set(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "_Null":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Bar(_Null):
    """A tqdm bar: ``label  12/120 [####------] 8.3 frames/s``."""

    def __init__(self, label: str, total: int | None, unit: str = "frame", stream=None) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=label, unit=unit, file=stream if stream is not None else sys.stderr,
                         dynamic_ncols=True, leave=True, mininterval=0.2, smoothing=0.1)

    def step(self, n: int = 1) -> None:
        self._bar.update(n)

    def set(self, text: str) -> None:
        self._bar.set_postfix_str(text, refresh=False)

    def close(self) -> None:
        self._bar.close()


def bar(label: str, total: int | None, enabled: bool = True, unit: str = "frame", stream=None) -> _Null:
    """A progress bar (a do-nothing one when ``enabled`` is false)."""
    return Bar(label, total, unit, stream) if enabled else _Null()
