"""Reading and writing images with OpenImageIO, keeping everything a compositor cares about.

Convention: :class:`Image` holds float32 pixels H×W×C covering the **data window**; the
display window, pixel aspect, channel names (with layers, e.g. ``swap.R``, ``mask.Y``),
per-channel storage type and metadata travel with it. Colour values are never clipped.
Multi-part EXRs are read across all parts (Natron writes a multi-layer image as parts that are
not named after the layers, so the colour is not always in part 0).
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from faceplate.errors import OutputError, PlateError
from faceplate.plates.atomic import atomic_path

Window = tuple[int, int, int, int]  # x, y, width, height

COMPRESSIONS = ("none", "rle", "zip", "zips", "piz", "pxr24", "b44", "b44a", "dwaa", "dwab")
_LOSSY = {"pxr24", "b44", "b44a", "dwaa", "dwab"}

# Metadata OpenImageIO sets itself on read, or that must not be copied to a new file.
_SKIP_META = {
    "oiio:subimages", "oiio:ColorSpace", "oiio:BitsPerSample", "compression", "name", "chunkCount",
    "version", "type", "openexr:chunkCount", "openexr:lineOrder", "PixelAspectRatio",
    "screenWindowCenter", "screenWindowWidth", "oiio:subimagename", "oiio:RowsPerChunk",
}


def rgb_names(channels: Sequence[str], path: str = "") -> tuple[str, str, str]:
    """The colour channels among ``channels``: ``R,G,B`` or the first layer that has ``.R/.G/.B``;
    :class:`PlateError` naming ``path`` when there are none."""
    if all(c in channels for c in ("R", "G", "B")):
        return ("R", "G", "B")
    for c in channels:
        if c.endswith(".R"):
            layer = c[:-2]
            names = (f"{layer}.R", f"{layer}.G", f"{layer}.B")
            if all(n in channels for n in names):
                return names  # type: ignore[return-value]
    raise PlateError(f"image {path or '<memory>'}: expected RGB channels (R,G,B or layer.R/G/B), "
                     f"found {list(channels)}")


@dataclass
class Image:
    """Float32 pixels over the data window plus what must survive a read–process–write cycle."""

    pixels: np.ndarray  # float32, H×W×C, data window
    channels: tuple[str, ...]
    data_window: Window
    display_window: Window
    pixel_aspect: float = 1.0
    metadata: dict[str, Any] = field(default_factory=dict)
    channel_types: tuple[str, ...] = ()  # "half" | "float" per channel ("" = unknown)
    path: str = ""

    def __post_init__(self) -> None:
        px = self.pixels
        if px.ndim != 3 or px.shape[2] != len(self.channels):
            raise PlateError(
                f"image {self.path or '<memory>'}: expected H×W×{len(self.channels)} pixels for channels "
                f"{list(self.channels)}, found shape {px.shape}"
            )
        if not self.channel_types:
            self.channel_types = ("float",) * len(self.channels)

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    def has(self, *names: str) -> bool:
        return all(n in self.channels for n in names)

    def index(self, name: str) -> int:
        try:
            return self.channels.index(name)
        except ValueError:
            raise PlateError(
                f"image {self.path or '<memory>'}: expected a channel {name!r}, found {list(self.channels)}"
            ) from None

    def channels_array(self, names: Sequence[str]) -> np.ndarray:
        """Stack the named channels into H×W×len(names) float32 (a copy)."""
        idx = [self.index(n) for n in names]
        return np.ascontiguousarray(self.pixels[:, :, idx])

    def rgb_names(self) -> tuple[str, str, str]:
        """The names of the colour channels: ``R,G,B`` or the first layer that has ``.R/.G/.B``."""
        return rgb_names(self.channels, self.path)

    def rgb(self) -> np.ndarray:
        """Colour as float32 H×W×3 (a copy), in the image's own colour space."""
        return self.channels_array(self.rgb_names())

    def with_pixels(self, pixels: np.ndarray, channels: Sequence[str], types: Sequence[str] | None = None) -> "Image":
        return replace(
            self, pixels=np.asarray(pixels, dtype=np.float32), channels=tuple(channels),
            channel_types=tuple(types) if types else ("float",) * len(channels),
        )

    def full_frame_coords(self) -> tuple[int, int]:
        """Offset of the data window inside the display window (x, y)."""
        return self.data_window[0] - self.display_window[0], self.data_window[1] - self.display_window[1]


def _type_name(fmt) -> str:
    s = str(fmt)
    return "half" if "half" in s else ("float" if "float" in s else s)


def _spec_meta(spec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in spec.extra_attribs:
        if p.name in _SKIP_META:
            continue
        try:
            out[p.name] = p.value
        except Exception:  # pragma: no cover - exotic attribute types
            continue
    return out


def _open(path: str, frame: int | None):
    """(OpenImageIO ImageInput of ``path``, the "plate PATH (frame N)" that errors start with)."""
    import OpenImageIO as oiio

    where = f"plate {path}" + (f" (frame {frame})" if frame is not None else "")
    if not os.path.exists(path):
        raise PlateError(f"{where}: file not found")
    inp = oiio.ImageInput.open(path)
    if inp is None:
        raise PlateError(f"{where}: cannot be read as an image ({oiio.geterror().strip() or 'unknown format'})")
    return inp, where


def read_image(path: str | os.PathLike, frame: int | None = None, check_finite: bool = True) -> Image:
    """Read every channel of every part of ``path`` as float32.

    Errors (:class:`PlateError`) name the file and frame: missing, unreadable/corrupt/truncated,
    empty data window, deep data, NaN/Inf pixels (when ``check_finite``).
    """
    path = str(path)
    inp, where = _open(path, frame)
    try:
        parts = []
        sub = 0
        while inp.seek_subimage(sub, 0):
            spec = inp.spec()
            if spec.deep:
                raise PlateError(f"{where}: expected a flat image, found deep data in part {sub}")
            if spec.width <= 0 or spec.height <= 0:
                raise PlateError(f"{where}: empty data window in part {sub} ({spec.width}x{spec.height})")
            px = inp.read_image(sub, 0, 0, spec.nchannels, "float")
            if px is None or inp.has_error:
                raise PlateError(
                    f"{where}: corrupt or truncated image data in part {sub} ({inp.geterror().strip()})"
                )
            px = np.asarray(px, dtype=np.float32).reshape(spec.height, spec.width, spec.nchannels)
            types = spec.channelformats or [spec.format] * spec.nchannels
            parts.append((spec, px, [_type_name(t) for t in types]))
            sub += 1
        if not parts:
            raise PlateError(f"{where}: file holds no image")
        spec0 = parts[0][0]
        # Union of the parts' data windows (they are almost always equal).
        x0 = min(s.x for s, _, _ in parts)
        y0 = min(s.y for s, _, _ in parts)
        x1 = max(s.x + s.width for s, _, _ in parts)
        y1 = max(s.y + s.height for s, _, _ in parts)
        names: list[str] = []
        types_all: list[str] = []
        arrays = []
        for spec, px, types in parts:
            for c in range(spec.nchannels):
                name = spec.channelnames[c]
                if name in names:
                    continue
                plane = np.zeros((y1 - y0, x1 - x0), np.float32)
                plane[spec.y - y0: spec.y - y0 + spec.height, spec.x - x0: spec.x - x0 + spec.width] = px[:, :, c]
                arrays.append(plane)
                names.append(name)
                types_all.append(types[c] if c < len(types) else "float")
        pixels = np.stack(arrays, axis=-1)
        meta: dict[str, Any] = {}
        for spec, _, _ in reversed(parts):
            meta.update(_spec_meta(spec))
    finally:
        inp.close()
    if check_finite:
        bad = ~np.isfinite(pixels)
        if bad.any():
            ys, xs, cs = np.nonzero(bad)
            raise PlateError(
                f"{where}: expected finite pixel values, found {int(bad.sum())} NaN/Inf value(s), "
                f"first at x={xs[0] + x0}, y={ys[0] + y0}, channel {names[cs[0]]}"
            )
    return Image(
        pixels=pixels,
        channels=tuple(names),
        data_window=(x0, y0, x1 - x0, y1 - y0),
        display_window=(spec0.full_x, spec0.full_y, spec0.full_width, spec0.full_height),
        pixel_aspect=float(spec0.get_float_attribute("PixelAspectRatio", 1.0)),
        metadata=meta,
        channel_types=tuple(types_all),
        path=path,
    )


def read_rgb(path: str | os.PathLike, frame: int | None = None) -> Image:
    """Only the colour channels of ``path`` (:func:`rgb_names`) as float32 H×W×3, with its windows,
    in one pass over the pixels: OpenImageIO decodes them straight into the array. The same values,
    windows and errors as ``read_image(path, frame)`` followed by :meth:`Image.rgb`, except that only
    the colour channels are checked for NaN/Inf; other channels and metadata are not kept. A
    multi-part file, or colour channels that are not side by side, is read whole (:func:`read_image`)."""
    path = str(path)
    inp, where = _open(path, frame)
    try:
        spec = inp.spec()
        names = tuple(spec.channelnames)
        try:
            rgb = rgb_names(names, path)
        except PlateError:
            rgb = None
        first = names.index(rgb[0]) if rgb else -1
        simple = (rgb is not None and names[first:first + 3] == rgb and not spec.deep and spec.width > 0
                  and spec.height > 0 and not inp.seek_subimage(1, 0))
        if simple:
            inp.seek_subimage(0, 0)
            px = inp.read_image(0, 0, first, first + 3, "float")
            if px is None or inp.has_error:
                raise PlateError(f"{where}: corrupt or truncated image data in part 0 ({inp.geterror().strip()})")
            types = spec.channelformats or [spec.format] * spec.nchannels
            img = Image(np.asarray(px, dtype=np.float32).reshape(spec.height, spec.width, 3), rgb,
                        (spec.x, spec.y, spec.width, spec.height),
                        (spec.full_x, spec.full_y, spec.full_width, spec.full_height),
                        float(spec.get_float_attribute("PixelAspectRatio", 1.0)), {},
                        tuple(_type_name(t) for t in types[first:first + 3]), path)
    finally:
        inp.close()
    if not simple:
        full = read_image(path, frame)
        return full.with_pixels(full.rgb(), full.rgb_names(), [full.channel_types[full.index(n)]
                                                                 for n in full.rgb_names()])
    bad = ~np.isfinite(img.pixels)
    if bad.any():
        ys, xs, cs = np.nonzero(bad)
        raise PlateError(f"{where}: expected finite pixel values, found {int(bad.sum())} NaN/Inf value(s), "
                         f"first at x={xs[0] + img.data_window[0]}, y={ys[0] + img.data_window[1]}, "
                         f"channel {rgb[cs[0]]}")
    return img


def _set_attr(spec, key: str, value: Any) -> None:
    if isinstance(value, (bool, np.bool_)):
        spec.attribute(key, int(value))
    elif isinstance(value, (int, np.integer)):
        spec.attribute(key, int(value))
    elif isinstance(value, (float, np.floating)):
        spec.attribute(key, float(value))
    elif isinstance(value, str):
        spec.attribute(key, value)
    elif isinstance(value, (list, tuple, dict)):
        import json

        spec.attribute(key, json.dumps(value, sort_keys=True))
    else:  # numpy arrays and matrices OIIO gave us on read
        try:
            spec.attribute(key, value)
        except Exception:
            spec.attribute(key, str(value))


def _spec(path: Path, image: Image, pixel_type, compression: str, metadata, zip_level):
    """The OpenImageIO spec that writes ``image`` (see :func:`write_image`) and its float32 pixels."""
    import OpenImageIO as oiio

    if compression not in COMPRESSIONS:
        raise OutputError(f"output {path}: unknown EXR compression {compression!r}; choose from {', '.join(COMPRESSIONS)}")
    px = np.ascontiguousarray(image.pixels, dtype=np.float32)
    h, w, c = px.shape
    if pixel_type is None:
        types = list(image.channel_types)
    elif isinstance(pixel_type, str):
        types = [pixel_type] * c
    else:
        types = list(pixel_type)
    fmt = {"half": oiio.HALF, "float": oiio.FLOAT}
    if any(t not in fmt for t in types):
        types = ["float" if t not in fmt else t for t in types]
    uniform = len(set(types)) == 1
    spec = oiio.ImageSpec(w, h, c, fmt[types[0]] if uniform else oiio.FLOAT)
    spec.channelnames = tuple(image.channels)
    if path.suffix.lower() == ".exr":
        if not uniform:
            spec.channelformats = tuple(fmt[t] for t in types)
        if zip_level is not None and compression in ("zip", "zips"):
            if not isinstance(zip_level, int) or not 1 <= zip_level <= 9:
                raise OutputError(f"output {path}: zip level must be a whole number 1-9, found {zip_level!r}")
            spec.attribute("compression", f"{compression}:{zip_level}")
        else:
            spec.attribute("compression", compression)
    spec.x, spec.y = image.data_window[0], image.data_window[1]
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = image.display_window
    spec.attribute("PixelAspectRatio", float(image.pixel_aspect))
    meta = dict(image.metadata)
    meta.update(metadata or {})
    # OpenImageIO stamps the current time unless DateTime is set; an empty value omits it,
    # so the same inputs give the same bytes (determinism).
    meta.setdefault("DateTime", "")
    for k, v in meta.items():
        _set_attr(spec, k, v)
    if compression in _LOSSY:
        spec.attribute("openexr:dwaCompressionLevel", 45.0)
    return spec, px


def _write(path: Path, specs: list, pixels: list[np.ndarray]) -> Path:
    """Write one image (one spec) or the parts of a multi-part EXR, atomically."""
    import OpenImageIO as oiio

    with atomic_path(path, "output") as tmp:
        out = oiio.ImageOutput.create(str(tmp))
        if out is None:
            raise OutputError(f"output {path}: no writer for this file type ({oiio.geterror().strip()})")
        try:
            opened = out.open(str(tmp), specs[0]) if len(specs) == 1 else out.open(str(tmp), specs)
            if not opened:
                raise OutputError(f"output {path}: cannot open for writing ({out.geterror().strip()})")
            for i, px in enumerate(pixels):
                if i and not out.open(str(tmp), specs[i], "AppendSubimage"):
                    raise OutputError(f"output {path}: cannot start part {i} ({out.geterror().strip()})")
                if not out.write_image(px):
                    raise OutputError(f"output {path}: write failed ({out.geterror().strip()})")
        finally:
            ok = out.close()
        if not ok or out.has_error:
            raise OutputError(f"output {path}: write failed on close ({out.geterror().strip()})")
    return path


def write_image(
    path: str | os.PathLike,
    image: Image,
    *,
    pixel_type: str | Sequence[str] | None = None,
    compression: str = "zip",
    metadata: Mapping[str, Any] | None = None,
    zip_level: int | None = None,
) -> Path:
    """Write ``image`` to ``path`` atomically (temporary name in the same folder, then rename).

    ``pixel_type`` is ``"half"``, ``"float"``, one per channel, or ``None`` to keep the image's own
    channel types. EXR keeps data/display windows, pixel aspect, all channels as one part, and
    metadata (``image.metadata`` updated with ``metadata``). ``zip_level`` (1-9, ``zip``/``zips`` only;
    None: OpenEXR's default) trades CPU for size; the pixels are the same. Raises :class:`OutputError`.
    """
    path = Path(path)
    spec, px = _spec(path, image, pixel_type, compression, metadata, zip_level)
    return _write(path, [spec], [px])


@dataclass(frozen=True)
class Part:
    """One part of a multi-part EXR (:func:`write_parts`): a name, its image and how it is stored
    (``tile``: 0 for scanlines, else tiles of ``tile``×``tile`` pixels; one tile for the whole image
    costs the least to write and read)."""

    name: str
    image: Image
    pixel_type: str | Sequence[str] | None = None
    compression: str = "zip"
    zip_level: int | None = None
    tile: int = 0


def write_parts(path: str | os.PathLike, parts: Sequence[Part], *, metadata: Mapping[str, Any] | None = None) -> Path:
    """Write a multi-part EXR atomically: each :class:`Part` keeps its own channels, pixel types and
    compression (e.g. incompressible float colour stored plain beside a zip-compressed matte), all
    parts share ``metadata``. Channel names must differ between parts (:func:`read_image` joins the
    parts back into one :class:`Image`). Raises :class:`OutputError`.
    """
    path = Path(path)
    if path.suffix.lower() != ".exr":
        raise OutputError(f"output {path}: multi-part images are EXR files, found suffix {path.suffix!r}")
    if not parts:
        raise OutputError(f"output {path}: expected at least one part, found none")
    names = [c for p in parts for c in p.image.channels]
    if len(set(names)) != len(names):
        raise OutputError(f"output {path}: expected distinct channel names across parts, found {names}")
    if len({p.name for p in parts}) != len(parts) or not all(p.name for p in parts):
        raise OutputError(f"output {path}: expected distinct, non-empty part names, found {[p.name for p in parts]}")
    if len({bool(p.tile) for p in parts}) != 1:
        raise OutputError(f"output {path}: expected all parts tiled or all in scanlines (OpenEXR), found "
                          f"tiles {[p.tile for p in parts]}")
    specs, pixels = [], []
    for p in parts:
        spec, px = _spec(path, p.image, p.pixel_type, p.compression, metadata, p.zip_level)
        spec.attribute("name", p.name)
        if p.tile:
            if not isinstance(p.tile, int) or p.tile < 1:
                raise OutputError(f"output {path}: tile size must be a whole number >= 1, found {p.tile!r}")
            spec.tile_width = spec.tile_height = p.tile
        specs.append(spec)
        pixels.append(px)
    return _write(path, specs, pixels)


@contextlib.contextmanager
def exr_threads(n: int) -> Iterator[None]:
    """Inside the block, OpenEXR's own codec threads are ``n`` (-1: none: each file is compressed or
    decompressed in the thread that writes or reads it); the previous setting comes back after.

    It is an OpenImageIO attribute, so it holds for the whole process: for a stage that runs its own
    reader or writer threads (extract's face writers), where the codec's thread pool only adds
    hand-overs between threads (for a 256 px face file, about as much CPU as the compression)."""
    import OpenImageIO as oiio

    if not isinstance(n, int) or n < -1:
        raise OutputError(f"exr_threads: expected a whole number >= -1, found {n!r}")
    before = oiio.get_int_attribute("exr_threads", 0)
    oiio.attribute("exr_threads", n)
    try:
        yield
    finally:
        oiio.attribute("exr_threads", before)
