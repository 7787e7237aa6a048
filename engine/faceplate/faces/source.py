"""What ``faceplate extract`` reads: a frame-numbered image sequence, still files, or a movie.

* a sequence pattern (``plate.####.exr``): frames as numbered on disk;
* still files: frames 0..N-1, each its own source, never tracked across;
* a movie (mp4/mov/mkv…, :mod:`faceplate.plates.movie`): frames numbered as the movie's, from 0,
  in a colour space the user declares.

``--frames`` picks frames, ``--every N`` keeps every N-th of them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence as Seq

from faceplate.errors import InputError, MissingFrameError, PlateError


@dataclass(frozen=True)
class Source:
    """What to read: ``files`` maps each frame to its file (a movie: the movie for every frame)."""

    label: str
    files: dict[int, Path]
    is_sequence: bool
    step: int = 1
    movie: object | None = field(default=None, compare=False, repr=False)  # a MovieReader

    @property
    def is_movie(self) -> bool:
        return self.movie is not None

    def origin(self, frame: int) -> str:
        """What a face of ``frame`` records as its source: the pattern/movie, or a still's own file."""
        return self.label if self.is_sequence else str(self.files[frame])


def _step_of(frames: list[int]) -> int:
    if len(frames) > 1 and all(b - a == frames[1] - frames[0] for a, b in zip(frames, frames[1:])):
        return frames[1] - frames[0]
    return 1


def _every(frames: list[int], every: int) -> list[int]:
    if not isinstance(every, int) or every < 1:
        raise InputError(f"--every: expected a whole number >= 1, found {every!r}")
    return frames[::every]


def open_source(plates: Seq[str], frames: str | None, every: int = 1) -> Source:
    """The :class:`Source` of the PLATE arguments; InputError/PlateError name the file and what is wrong."""
    from faceplate.plates import Sequence, parse_frames
    from faceplate.plates.movie import MovieReader, is_movie

    plates = [str(p) for p in plates]
    if not plates:
        raise InputError("PLATE: expected a sequence pattern, image files or a movie, found none")
    if any(is_movie(p) for p in plates):
        if len(plates) != 1:
            raise InputError(f"PLATE: give one movie on its own, found {len(plates)} plates including a movie")
        movie = MovieReader(plates[0])
        fl = list(parse_frames(frames)) if frames else list(range(movie.count))
        bad = [f for f in fl if not 0 <= f < movie.count]
        if bad:
            raise InputError(f"--frames: movie {plates[0]} has frames 0-{movie.count - 1}, found {bad[:5]}")
        fl = _every(fl, every)
        return Source(plates[0], {f: Path(plates[0]) for f in fl}, True, _step_of(fl), movie)
    if len(plates) == 1 and not Sequence(plates[0]).is_still:
        seq = Sequence(plates[0])
        rng = parse_frames(frames) if frames else seq.default_range()
        seq.check_frames(rng)
        fl = _every(list(rng), every)
        return Source(plates[0], {f: seq.path(f) for f in fl}, True, _step_of(fl))
    for p in plates:
        if not Sequence(p).is_still:
            raise InputError(f"PLATE: give one sequence pattern or several still files, found pattern {p!r} among {len(plates)}")
        if not Path(p).is_file():
            raise MissingFrameError(f"plate {p}: file not found")
    files = {i: Path(p) for i, p in enumerate(plates)}
    if frames:
        rng = parse_frames(frames)
        bad = [f for f in rng if f not in files]
        if bad:
            raise InputError(f"--frames: stills are numbered 0..{len(plates) - 1}, found {bad[:5]}")
        files = {f: files[f] for f in rng}
    keep = _every(list(files), every)
    return Source(plates[0] if len(plates) == 1 else ",".join(plates), {f: files[f] for f in keep}, False)


def resolve_space(config, source: Source, declared: str | None) -> str:
    """The plate's OCIO colour space: declared, else ``scene_linear`` for EXR (others must declare)."""
    if declared:
        return config.resolve(declared, "--colour-space")
    non_exr = sorted({p.suffix.lower() for p in source.files.values() if p.suffix.lower() != ".exr"})
    if non_exr:
        kind = "a movie" if source.is_movie else ", ".join(non_exr)
        raise InputError(
            f"--colour-space: plate {source.label} is {kind}, which has no scene-linear default; "
            "declare its colour space, e.g. --colour-space 'sRGB Encoded Rec.709 (sRGB)'"
        )
    return config.resolve("scene_linear", "--colour-space")


def read_frame(source: Source, frame: int):
    """(Image, RGB float32 H×W×3) of ``frame``; PlateError names the file and frame."""
    from faceplate.plates.image import read_rgb

    if source.movie is not None:
        img = source.movie.read(frame)
        rgb = img.rgb()
    else:
        img = read_rgb(source.files[frame], frame if source.is_sequence else None)
        rgb = img.pixels
    if rgb.size == 0:
        raise PlateError(f"plate {img.path} (frame {frame}): empty data window")
    return img, rgb
