"""Movie files (mp4, mov, mkv, …) as a *source* for ``faceplate extract``, read with OpenCV.

Frames are numbered as the movie's frames from 0; they are decoded in order (a seek is a re-open
and a decode up to the frame, so every frame number is exact whatever the codec's key frames).
Pixels are the decoded 8-bit code values as float32 in [0, 1], in the colour space the user declares
(a movie has no scene-linear default). Rendering never reads movies: plates stay image sequences
(:func:`refuse_movie`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from faceplate.errors import InputError, PlateError
from faceplate.plates.image import Image

MOVIE_EXT = (".mp4", ".mov", ".mkv", ".avi", ".m4v", ".webm", ".mxf")


def is_movie(path: str | Path) -> bool:
    return Path(str(path)).suffix.lower() in MOVIE_EXT


def refuse_movie(path: str | Path, what: str = "render") -> None:
    """InputError when ``path`` is a movie: ``what`` needs an image sequence."""
    if is_movie(path):
        raise InputError(
            f"{what}: plate {path} is a movie ({Path(str(path)).suffix}); {what} reads and writes image "
            "sequences only (expected e.g. plate.####.exr): convert the movie to an image sequence first. "
            "Movies are accepted as a source by 'faceplate extract'")


class MovieReader:
    """Sequential, frame-accurate reading of one movie file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(str(path))
        if not self.path.is_file():
            raise PlateError(f"movie {self.path}: file not found")
        self._cap = None
        self._pos = 0
        self._open()
        self.count = self._count()
        if self.count < 1:
            self.close()
            raise PlateError(f"movie {self.path}: cannot be read by OpenCV (no decodable frame; expected an "
                             "mp4/mov/mkv with a codec OpenCV's FFmpeg supports)")

    def _open(self) -> None:
        import cv2

        self.close()
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise PlateError(f"movie {self.path}: cannot be opened by OpenCV (unreadable or unsupported codec; "
                             "expected an mp4/mov/mkv that FFmpeg decodes)")
        self._cap, self._pos = cap, 0

    def _count(self) -> int:
        """Frames in the file, counted by decoding (container headers are often approximate)."""
        n = 0
        while self._cap.grab():
            n += 1
        self._open()
        return n

    @property
    def size(self) -> tuple[int, int]:
        import cv2

        return int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))

    def read(self, frame: int) -> Image:
        """Frame ``frame`` (0-based) as an RGB :class:`Image` of float32 code values in [0, 1]."""
        import cv2

        if not 0 <= frame < self.count:
            raise PlateError(f"movie {self.path}: expected a frame in 0-{self.count - 1}, found {frame}")
        if frame < self._pos:
            self._open()
        while self._pos < frame:
            if not self._cap.grab():
                raise PlateError(f"movie {self.path}, frame {self._pos}: cannot be decoded")
            self._pos += 1
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            raise PlateError(f"movie {self.path}, frame {frame}: cannot be decoded")
        self._pos += 1
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) * np.float32(1.0 / 255.0)
        h, w = rgb.shape[:2]
        win = (0, 0, w, h)
        return Image(rgb, ("R", "G", "B"), win, win, path=f"{self.path}@{frame}")

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass
