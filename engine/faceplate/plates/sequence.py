"""Sequence patterns (``name.####.exr``, ``name.%04d.exr``, ``name.@.exr``) and frame ranges.

Padding follows Natron/Nuke: each ``#`` or ``@`` is one digit (``####`` = 4 digits,
``@`` = unpadded), ``%0Nd`` is N digits. Frame ranges: ``1001``, ``1001-1100``,
``1001-1100x2``, and comma-separated lists of those.
"""
from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from faceplate.errors import InputError, MissingFrameError

_TOKEN = re.compile(r"(#+|@+|%0?(\d*)d)")
_RANGE = re.compile(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*(?:[x:]\s*(\d+))?)?\s*$")


@dataclass(frozen=True)
class FrameRange:
    """An ordered list of frames parsed from ``A``, ``A-B``, ``A-BxN`` (comma lists allowed)."""

    frames: tuple[int, ...]

    def __iter__(self) -> Iterator[int]:
        return iter(self.frames)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def first(self) -> int:
        return self.frames[0]

    @property
    def last(self) -> int:
        return self.frames[-1]

    def __str__(self) -> str:
        f = self.frames
        if len(f) > 1:
            step = f[1] - f[0]
            if step > 0 and all(b - a == step for a, b in zip(f, f[1:])):
                return f"{f[0]}-{f[-1]}" + (f"x{step}" if step != 1 else "")
        return ",".join(str(x) for x in f)


def format_frames(frames) -> str:
    """Frame numbers as the shortest ``--frames`` text: ``1001-1003,1005,1007-1008``.

    >>> format_frames([1001, 1002, 1003, 1005, 1007, 1008])
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


def parse_frames(text: str | int, param: str = "--frames") -> FrameRange:
    """Parse a frame range.

    >>> parse_frames("1001-1005x2").frames
    (1001, 1003, 1005)
    >>> parse_frames("1,4-5").frames
    (1, 4, 5)
    """
    if isinstance(text, int):
        return FrameRange((text,))
    frames: list[int] = []
    for part in str(text).split(","):
        m = _RANGE.match(part)
        if not m:
            raise InputError(
                f"{param}: expected a frame range like 1001-1100 or 1001-1100x2, found {text!r}"
            )
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) is not None else a
        step = int(m.group(3)) if m.group(3) else 1
        if b < a or step < 1:
            raise InputError(f"{param}: expected first <= last and step >= 1, found {part.strip()!r}")
        frames.extend(range(a, b + 1, step))
    seen: set[int] = set()
    ordered = tuple(x for x in frames if not (x in seen or seen.add(x)))
    return FrameRange(ordered)


@dataclass(frozen=True)
class Sequence:
    """A frame-numbered file pattern. A pattern without a frame token is a single still."""

    pattern: str

    def _token(self) -> re.Match | None:
        matches = list(_TOKEN.finditer(Path(self.pattern).name))
        if len(matches) > 1:
            raise InputError(
                f"sequence {self.pattern}: expected one frame token (####, %04d or @), found {len(matches)}"
            )
        return matches[0] if matches else None

    @property
    def is_still(self) -> bool:
        return self._token() is None

    @property
    def padding(self) -> int:
        m = self._token()
        if m is None:
            return 0
        tok = m.group(1)
        if tok.startswith("%"):
            return int(m.group(2) or 1)
        return len(tok) if tok[0] == "#" else (1 if len(tok) == 1 else len(tok))

    def path(self, frame: int) -> Path:
        """The file of ``frame`` (a still ignores the frame)."""
        p = Path(self.pattern)
        m = self._token()
        if m is None:
            return p
        num = f"{frame:0{self.padding}d}" if frame >= 0 else f"-{-frame:0{self.padding}d}"
        name = p.name[: m.start()] + num + p.name[m.end():]
        return p.with_name(name)

    def glob_pattern(self) -> str:
        p = Path(self.pattern)
        m = self._token()
        if m is None:
            return str(p)
        return str(p.with_name(glob.escape(p.name[: m.start()]) + "*" + glob.escape(p.name[m.end():])))

    def frames_on_disk(self) -> list[int]:
        """Frames whose files exist, sorted."""
        p = Path(self.pattern)
        m = self._token()
        if m is None:
            return [0] if p.exists() else []
        head, tail = p.name[: m.start()], p.name[m.end():]
        rx = re.compile(re.escape(head) + r"(-?\d+)" + re.escape(tail) + "$")
        out = []
        for f in glob.glob(self.glob_pattern()):
            mm = rx.match(Path(f).name)
            if mm and (self.padding <= 1 or len(mm.group(1).lstrip("-")) >= self.padding):
                out.append(int(mm.group(1)))
        return sorted(set(out))

    def default_range(self) -> FrameRange:
        """All frames on disk; an error naming the pattern when none match."""
        frames = self.frames_on_disk()
        if not frames:
            raise MissingFrameError(
                f"plate {self.pattern}: the pattern matches no file (looked for {self.glob_pattern()})"
            )
        return FrameRange(tuple(frames))

    def check_frames(self, frames: FrameRange) -> None:
        """Raise :class:`MissingFrameError` listing every requested frame missing on disk."""
        if self.is_still:
            if not Path(self.pattern).exists():
                raise MissingFrameError(f"plate {self.pattern}: file not found")
            return
        missing = [f for f in frames if not self.path(f).exists()]
        if missing:
            on_disk = self.frames_on_disk()
            found = f"{on_disk[0]}-{on_disk[-1]} ({len(on_disk)} files)" if on_disk else "no files"
            shown = ", ".join(str(f) for f in missing[:10]) + (" ..." if len(missing) > 10 else "")
            raise MissingFrameError(
                f"plate {self.pattern}: {len(missing)} requested frame(s) missing: {shown}; found {found}"
            )
