"""The sources of ``faceplate extract --cluster``: one task per source.

Each ``PLATE`` argument is a source: a sequence pattern (``shot/plate.####.exr``), a still image,
or a folder, whose frame-numbered files (``name.1001.exr``…) become one sequence source per name and
whose other image files become one source each (photos of B). Folders are read in name order, so a
run is repeatable.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from faceplate.errors import InputError, MissingFrameError

#: file types ``faceplate extract`` reads (OpenImageIO)
IMAGE_EXT = (".exr", ".dpx", ".tif", ".tiff", ".png", ".jpg", ".jpeg", ".hdr", ".cin", ".sgi", ".tga", ".bmp")
_NUMBERED = re.compile(r"^(?P<stem>.+)\.(?P<digits>\d+)(?P<ext>\.[^.]+)$")


@dataclass(frozen=True)
class ExtractSource:
    """One source: what to pass to :func:`faceplate.faces.extract.extract` and a short name."""

    plate: str
    is_sequence: bool

    @property
    def name(self) -> str:
        return Path(self.plate).name.replace("#", "").replace("..", ".").strip(".") or "source"


def _from_folder(folder: Path) -> list[ExtractSource]:
    seqs: dict[tuple[str, str, int], None] = {}
    stills: list[ExtractSource] = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not p.is_file() or p.suffix.lower() not in IMAGE_EXT:
            continue
        m = _NUMBERED.match(p.name)
        if m:
            seqs[(m["stem"], m["ext"], len(m["digits"]))] = None
        else:
            stills.append(ExtractSource(str(p), False))
    out = [ExtractSource(str(folder / f"{stem}.{'#' * pad}{ext}"), True) for stem, ext, pad in seqs]
    return sorted(out + stills, key=lambda s: s.plate)


def expand(args: list[str]) -> list[ExtractSource]:
    """The sources named by the ``PLATE`` arguments, in order; an :class:`InputError` names a bad one."""
    from faceplate.plates import Sequence

    if not args:
        raise InputError("PLATE: expected sequence patterns, stills or folders, found none")
    out: list[ExtractSource] = []
    for a in args:
        p = Path(a)
        if p.is_dir():
            found = _from_folder(p)
            if not found:
                raise InputError(f"PLATE {a}: expected image files ({', '.join(IMAGE_EXT)}) in the folder, found none")
            out.extend(found)
        elif not Sequence(a).is_still:
            out.append(ExtractSource(a, True))
        elif p.is_file():
            out.append(ExtractSource(a, False))
        else:
            raise MissingFrameError(f"plate {a}: file not found")
    seen: set[str] = set()
    dupes = [s.plate for s in out if s.plate in seen or seen.add(s.plate)]
    if dupes:
        raise InputError(f"PLATE: each source once, found {dupes[0]!r} more than once")
    return out
