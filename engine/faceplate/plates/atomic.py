"""Files appear atomically: write to a hidden temporary name in the same folder, then rename."""
from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Iterator

from faceplate.errors import OutputError


def temp_name(path: Path) -> Path:
    """A hidden sibling of ``path`` that keeps its extension (writers pick the format by it).

    The name starts with a dot and contains ``.tmp-``, so no sequence pattern matches it.
    """
    path = Path(path)
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    return path.with_name(f".{path.stem}.tmp-{token}{path.suffix}")


def remove_quietly(path: Path | str) -> None:
    with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
        os.unlink(path)


def check_writable_folder(folder: Path, what: str = "output folder") -> None:
    """Raise :class:`OutputError` unless ``folder`` exists (or can be made) and is writable."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{what} {folder}: cannot be created ({exc.strerror or exc})") from exc
    if not folder.is_dir():
        raise OutputError(f"{what} {folder}: expected a folder, found a file")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {folder}: expected a writable folder, found it read-only")


@contextlib.contextmanager
def atomic_path(path: Path | str, what: str = "output") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("hi")
    >>> (d / "a.txt").read_text(), sorted(p.name for p in d.iterdir())
    ('hi', ['a.txt'])
    """
    path = Path(path)
    check_writable_folder(path.parent, f"{what} folder")
    tmp = temp_name(path)
    try:
        yield tmp
        if not tmp.exists():
            raise OutputError(f"{what} {path}: the writer produced no file")
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise


def write_bytes_atomic(path: Path | str, data: bytes, what: str = "output", sync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (fsync before the rename with ``sync``; without it the file
    still appears whole or not at all, but a power cut may lose it: for files that can be made again,
    such as previews, where the fsync would cost more than the write)."""
    with atomic_path(path, what) as tmp:
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                if sync:
                    os.fsync(fh.fileno())
        except OSError as exc:
            raise OutputError(f"{what} {path}: write failed ({exc.strerror or exc})") from exc


def write_text_atomic(path: Path | str, text: str, what: str = "output") -> None:
    write_bytes_atomic(path, text.encode("utf-8"), what)
