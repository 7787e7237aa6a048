"""8-bit previews: a face crop as PNG, and the contact sheet of landmarks and masks over the frames.

Previews are for people, never for training: they come from the display sRGB proxy, drawn with
OpenCV and written atomically as PNG (deterministic bytes). A face's preview is at most
:data:`FACE_PREVIEW` px (a thumbnail to browse a face set; the crop itself is the EXR).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceplate.errors import InputError, OutputError
from faceplate.plates.atomic import write_bytes_atomic

THUMB_WIDTH = 320
#: longest side of a face's preview PNG (a larger crop is area-reduced in linear light first): a quarter
#: of a 256 px crop's pixels to convert and encode (~1.5 ms instead of ~7 ms a face)
FACE_PREVIEW = 128
MAX_TILES = 48
_GREEN, _YELLOW, _CYAN, _MAGENTA, _GREY = (80, 255, 80), (255, 220, 0), (0, 220, 255), (255, 60, 200), (160, 160, 160)


def to_uint8(proxy: np.ndarray) -> np.ndarray:
    """sRGB proxy float [0, 1] (H×W×3) -> uint8, rounded."""
    p = np.asarray(proxy, np.float32)
    if p.ndim != 3 or p.shape[2] != 3:
        raise InputError(f"preview: expected H×W×3 sRGB pixels, found shape {p.shape}")
    return np.round(np.clip(np.nan_to_num(p), 0.0, 1.0) * 255.0).astype(np.uint8)


def face_preview(crop, config, space: str, side: int = FACE_PREVIEW) -> np.ndarray:
    """uint8 H×W×3 preview of a face crop (float32 H×W×3 in ``space``, finite): area-reduced in linear
    light to at most ``side`` px, then the display sRGB proxy (:meth:`ColourConfig.to_proxy8`)."""
    import cv2

    px = np.asarray(crop, np.float32)
    if px.ndim != 3 or px.shape[2] != 3 or min(px.shape[:2]) < 1:
        raise InputError(f"face preview: expected an H×W×3 crop, found shape {px.shape}")
    h, w = px.shape[:2]
    k = min(1.0, side / float(max(h, w)))
    if k < 1.0:
        size = (max(1, int(round(w * k))), max(1, int(round(h * k))))
        px = cv2.resize(px, size, interpolation=cv2.INTER_AREA)
    return config.to_proxy8(px, space)


def write_png(path: Path | str, rgb8: np.ndarray, photo: bool = False, sync: bool = True) -> Path:
    """Write an RGB uint8 image as PNG atomically.

    ``photo``: for photographic content: the "up" row filter and Huffman-only coding, faster than the
    default filters for ~3% more bytes; drawings such as the contact sheet keep deflate's matching,
    which suits flat colour. ``sync=False``: no fsync
    before the rename (the file still appears whole; :func:`faceplate.plates.atomic.write_bytes_atomic`)."""
    import cv2

    # level 1: ~5× faster than 6 for ~5% more bytes
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1]
    if photo:
        params += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP,
                   cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb8[:, :, ::-1]), params)
    if not ok:
        raise OutputError(f"preview {path}: PNG encoding failed")
    write_bytes_atomic(path, buf.tobytes(), "preview", sync=sync)
    return Path(path)


#: quality of a face's JPEG preview: a picture to browse the set by, never read back for training
PREVIEW_QUALITY = 92


def write_jpeg(path: Path | str, rgb8: np.ndarray, quality: int = PREVIEW_QUALITY, sync: bool = False) -> Path:
    """Write an RGB uint8 image as JPEG atomically (a face preview: ~20× faster to encode than the PNG it
    replaced, a quarter of its bytes; no fsync by default, as for :func:`write_png`'s previews)."""
    import cv2

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb8[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise OutputError(f"preview {path}: JPEG encoding failed")
    write_bytes_atomic(path, buf.tobytes(), "preview", sync=sync)
    return Path(path)


@dataclass
class SheetTile:
    """One frame of the contact sheet: a thumbnail (RGB uint8) and what to draw over it."""

    label: str
    thumb: np.ndarray
    scale: float  # thumbnail pixels per plate pixel
    offset: tuple[float, float]  # plate position of the thumbnail's top-left corner
    faces: list[dict] = field(default_factory=list)  # {"points": 468×2 plate px, "selected": bool, "track": int}


def thumbnail(proxy: np.ndarray, offset: tuple[float, float], width: int = THUMB_WIDTH) -> tuple[np.ndarray, float]:
    """Downscaled uint8 thumbnail of a proxy and its scale (thumbnail px per plate px)."""
    import cv2

    h, w = proxy.shape[:2]
    scale = min(1.0, width / float(w))
    tw, th = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    small = cv2.resize(np.asarray(proxy, np.float32), (tw, th), interpolation=cv2.INTER_AREA)
    return to_uint8(small), tw / float(w)


def _poly(img, pts: np.ndarray, colour, closed: bool = True) -> None:
    import cv2

    fixed = np.round((pts - 0.5) * 16).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(img, [fixed], closed, colour, 1, cv2.LINE_AA, shift=4)


def draw_tile(tile: SheetTile) -> np.ndarray:
    """The thumbnail with landmarks (dots), face oval, eye and mouth loops, and the track number."""
    import cv2

    from faceplate.faces import masks

    img = tile.thumb.copy()
    tint = img.copy()
    for face in tile.faces:  # the face masks, tinted
        if face.get("selected", True):
            p = (np.asarray(face["points"], np.float64)[:, :2] - tile.offset) * tile.scale
            for loop, colour in ((masks.FACE_OVAL, _YELLOW), (masks.RIGHT_EYE, _CYAN), (masks.LEFT_EYE, _CYAN),
                                 (masks.LIPS, _MAGENTA)):
                hull = cv2.convexHull(p[list(loop)].astype(np.float32)).reshape(-1, 2)
                cv2.fillConvexPoly(tint, np.round((hull - 0.5) * 16).astype(np.int32), colour, cv2.LINE_AA, shift=4)
    img = cv2.addWeighted(img, 0.75, tint, 0.25, 0.0)
    for face in tile.faces:
        p = (np.asarray(face["points"], np.float64)[:, :2] - tile.offset) * tile.scale
        if not face.get("selected", True):
            _poly(img, p[list(masks.FACE_OVAL)], _GREY)
            continue
        for x, y in p:
            xi, yi = int(x), int(y)
            if 0 <= xi < img.shape[1] and 0 <= yi < img.shape[0]:
                img[yi, xi] = _GREEN
        _poly(img, p[list(masks.FACE_OVAL)], _YELLOW)
        _poly(img, p[list(masks.RIGHT_EYE)], _CYAN)
        _poly(img, p[list(masks.LEFT_EYE)], _CYAN)
        _poly(img, p[list(masks.LIPS)], _MAGENTA)
        top = p[:, 1].min()
        cv2.putText(img, f"#{face.get('track', 0)}", (int(p[:, 0].min()), max(10, int(top) - 3)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35, _YELLOW, 1, cv2.LINE_AA)
    return img


def contact_sheet(tiles: list[SheetTile], columns: int = 6) -> np.ndarray:
    """Grid of labelled tiles (RGB uint8); frames without a face are labelled ``no face``."""
    import cv2

    if not tiles:
        raise InputError("contact sheet: expected at least one frame, found none")
    tw = max(t.thumb.shape[1] for t in tiles)
    th = max(t.thumb.shape[0] for t in tiles)
    label_h = 16
    cols = min(columns, len(tiles))
    rows = (len(tiles) + cols - 1) // cols
    sheet = np.full((rows * (th + label_h), cols * tw, 3), 24, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        y, x = r * (th + label_h), c * tw
        img = draw_tile(t)
        sheet[y:y + img.shape[0], x:x + img.shape[1]] = img
        text = t.label + ("" if t.faces else "  no face")
        cv2.putText(sheet, text, (x + 4, y + th + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
                    (230, 230, 230) if t.faces else (255, 90, 90), 1, cv2.LINE_AA)
    return sheet


def sample_frames(frames: list[int], limit: int = MAX_TILES) -> set[int]:
    """At most ``limit`` frames spread evenly over ``frames`` (first and last included)."""
    if len(frames) <= limit:
        return set(frames)
    idx = np.round(np.linspace(0, len(frames) - 1, limit)).astype(int)
    return {frames[i] for i in idx}
