"""Writing a frame's passes: one multi-layer EXR (default) or one file per pass, with provenance.

Layers of the multi-layer file (in this order): ``R,G,B,A`` (the comp, when asked for),
``swap.R/G/B/A`` (premultiplied swap element), ``mask.Y`` (the matte). Separate files hold
``R,G,B,A`` (comp, swap) or ``Y`` (mask) and are named ``<name>_<pass>.####.exr``.
Every file carries ``faceplate:synthetic = 1`` (the frame contains a synthetic face), the model's
sha256, the Faceplate version and the pixel-affecting settings. Outputs keep the plate's data and
display windows, pixel aspect and metadata.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from faceplate import __version__
from faceplate.errors import OutputError
from faceplate.plates.atomic import remove_quietly
from faceplate.plates.image import Image, write_image
from faceplate.plates.sequence import Sequence
from faceplate.render.frame import Passes
from faceplate.render.settings import RenderSettings
from faceplate.wire import separate_pattern

HALF_MAX = 65504.0


def output_patterns(out: str, settings: RenderSettings, separate: bool) -> dict[str, str]:
    """Pass name -> file pattern (``{"all": out}`` for the multi-layer file)."""
    if not separate:
        return {"all": out}
    names = (["comp"] if settings.comp else []) + ["swap", "mask"]
    return {n: separate_pattern(out, n) for n in names}


def frame_paths(out: str, frame: int, settings: RenderSettings, separate: bool) -> list[Path]:
    return [Sequence(p).path(frame) for p in output_patterns(out, settings, separate).values()]


def provenance(model_sha256: str, settings: RenderSettings, frame: int, faces: int) -> dict[str, Any]:
    return {
        "faceplate:synthetic": 1,
        "faceplate:model_sha256": model_sha256,
        "faceplate:version": __version__,
        "faceplate:settings": settings.pixel_json(),
        "faceplate:frame": int(frame),
        "faceplate:faces": int(faces),
    }


def _types(plate: Image, rgb_names: tuple[str, ...], settings: RenderSettings) -> tuple[str, list[str]]:
    """(type of swap/mask channels, types of the comp's R,G,B,A)."""
    if settings.pixel_type != "auto":
        return settings.pixel_type, [settings.pixel_type] * 4
    plate_types = [plate.channel_types[plate.index(n)] for n in rgb_names]
    plate_types = [t if t in ("half", "float") else "float" for t in plate_types]
    alpha_t = plate.channel_types[plate.index("A")] if plate.has("A") else plate_types[0]
    # computed passes (swap, mask) are float; the comp keeps the plate's own types, so it stays bit-exact
    return "float", plate_types + [alpha_t if alpha_t in ("half", "float") else "float"]


def pass_images(plate: Image, passes: Passes, settings: RenderSettings, separate: bool,
                meta: dict[str, Any]) -> dict[str, Image]:
    """Output images (pass name or ``all`` -> :class:`Image`) over the plate's windows."""
    pass_t, comp_t = _types(plate, plate.rgb_names(), settings)
    layers: list[tuple[str, np.ndarray, list[str], list[str]]] = []
    if passes.comp is not None:
        layers.append(("comp", passes.comp, ["R", "G", "B", "A"], comp_t))
    layers.append(("swap", passes.swap, ["swap.R", "swap.G", "swap.B", "swap.A"], [pass_t] * 4))
    layers.append(("mask", passes.mask[..., None], ["mask.Y"], [pass_t]))
    base = dict(plate.metadata)
    base.update(meta)

    def make(px: np.ndarray, names: list[str], types: list[str]) -> Image:
        px = np.ascontiguousarray(px, np.float32)
        half = [i for i, t in enumerate(types) if t == "half"]
        if half and np.abs(px[..., half]).max(initial=0.0) > HALF_MAX:
            px = px.copy()  # half cannot hold these: clamp instead of writing Inf
            px[..., half] = np.clip(px[..., half], -HALF_MAX, HALF_MAX)
        return Image(pixels=px, channels=tuple(names),
                     data_window=plate.data_window, display_window=plate.display_window,
                     pixel_aspect=plate.pixel_aspect, metadata=dict(base), channel_types=tuple(types))

    if not separate:
        return {"all": make(np.concatenate([l[1] for l in layers], axis=2),
                            sum((l[2] for l in layers), []), sum((l[3] for l in layers), []))}
    out = {}
    for name, px, names, types in layers:
        plain = ["Y"] if name == "mask" else ["R", "G", "B", "A"]
        out[name] = make(px, plain, types)
    return out


def write_passes(out: str, frame: int, plate: Image, passes: Passes, settings: RenderSettings, separate: bool,
                 model_sha256: str, extra_meta: dict[str, Any] | None = None) -> list[Path]:
    """Write the frame's files; each appears atomically, and on failure none of them is left behind.
    ``extra_meta`` is added to the provenance (e.g. ``faceplate:baseline`` for a quality baseline)."""
    meta = provenance(model_sha256, settings, frame, passes.faces)
    meta.update(extra_meta or {})
    images = pass_images(plate, passes, settings, separate, meta)
    patterns = output_patterns(out, settings, separate)
    written: list[Path] = []
    try:
        for name, img in images.items():
            path = Sequence(patterns[name]).path(frame)
            try:
                write_image(path, img, compression=settings.compression)
            except OSError as exc:  # e.g. ENOSPC raised below OpenImageIO; the temporary file is gone
                raise OutputError(f"output {path} (frame {frame}): write failed ({exc.strerror or exc}); "
                                  f"nothing was left for this frame") from exc
            written.append(path)
    except BaseException:
        for p in written:
            remove_quietly(p)
        raise
    return written
