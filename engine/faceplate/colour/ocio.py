"""OCIO is the one authority for colour-space conversions, so our numbers match Natron's.

The config is ``$OCIO`` when set, else OpenImageIO's built-in ACES studio config. Conversions run
through ``OpenImageIO.ImageBufAlgo.colorconvert`` (float in, float out, nothing clipped).
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from faceplate.errors import ColourError

DEFAULT_CONFIG = "ocio://studio-config-latest"
#: The display-referred space detectors and landmarkers see (an 8-bit-like proxy, clipped to [0, 1]).
PROXY_SPACE = "sRGB Encoded Rec.709 (sRGB)"


@lru_cache(maxsize=8)
def _load(config: str):
    import OpenImageIO as oiio

    cc = oiio.ColorConfig(config)
    err = cc.geterror() if hasattr(cc, "geterror") else ""
    if err or cc.getNumColorSpaces() == 0:
        raise ColourError(f"OCIO config {config!r}: cannot be loaded ({err.strip() or 'no colour spaces'})")
    names = tuple(cc.getColorSpaceNames())
    roles = {}
    for role in ("scene_linear", "color_picking", "data", "compositing_log", "texture_paint", "aces_interchange"):
        n = cc.getColorSpaceNameByRole(role)
        if n:
            roles[role] = n
    return cc, names, roles


@lru_cache(maxsize=1)
def _oiio_default_config() -> str:
    """The config OpenImageIO uses when given none (its processors are cached across calls)."""
    import OpenImageIO as oiio

    return oiio.ColorConfig("").configname()


@dataclass(frozen=True)
class ColourConfig:
    """An OCIO config, by path or ``ocio://`` URI. ``ColourConfig.from_env()`` honours ``$OCIO``."""

    config: str = DEFAULT_CONFIG

    @classmethod
    def from_env(cls, override: str | None = None) -> "ColourConfig":
        return cls(override or os.environ.get("OCIO") or DEFAULT_CONFIG)

    @property
    def spaces(self) -> tuple[str, ...]:
        return _load(self.config)[1]

    @property
    def roles(self) -> dict[str, str]:
        return dict(_load(self.config)[2])

    def resolve(self, name: str | None, param: str = "colour space") -> str:
        """The colour-space name for ``name`` (a space, a role such as ``scene_linear``, or ``None`` = scene_linear)."""
        _, names, roles = _load(self.config)
        name = name or "scene_linear"
        if name in names:
            return name
        if name in roles:
            return roles[name]
        lower = {n.lower(): n for n in names}
        if name.lower() in lower:
            return lower[name.lower()]
        close = difflib.get_close_matches(name, list(names) + list(roles), n=5, cutoff=0.4)
        hint = f"; did you mean: {', '.join(close)}" if close else ""
        raise ColourError(
            f"{param}: expected a colour space or role of the OCIO config {self.config}, found {name!r}{hint}"
        )

    def convert(self, pixels: np.ndarray, src: str, dst: str) -> np.ndarray:
        """Convert float pixels (…×3 or …×4, alpha untouched) from ``src`` to ``dst``; never clips."""
        src_n, dst_n = self.resolve(src), self.resolve(dst)
        arr = np.asarray(pixels, dtype=np.float32)
        if src_n == dst_n:
            return arr.copy()
        if arr.shape[-1] not in (3, 4):
            raise ColourError(f"colour conversion {src_n} -> {dst_n}: expected …×3 or …×4 pixels, found shape {arr.shape}")
        import OpenImageIO as oiio

        shape = arr.shape
        if arr.ndim == 3:
            img = np.ascontiguousarray(arr)
        else:  # pixel lists: wide rows (a one-pixel-wide image converts very slowly)
            flat = arr.reshape(-1, shape[-1])
            width = max(1, min(len(flat), 1024))
            rows = -(-len(flat) // width)
            img = np.zeros((rows * width, shape[-1]), np.float32)
            img[: len(flat)] = flat
            img = img.reshape(rows, width, shape[-1])
        buf = oiio.ImageBuf(img)
        if self.config == _oiio_default_config():
            # the overload without a config uses OpenImageIO's cached processors (~0.1 ms a call)
            out = oiio.ImageBufAlgo.colorconvert(buf, src_n, dst_n, False)
        else:  # any other config is parsed again on every call (~60 ms)
            out = oiio.ImageBufAlgo.colorconvert(buf, src_n, dst_n, unpremult=False, colorconfig=self.config)
        if out.has_error:
            raise ColourError(f"colour conversion {src_n} -> {dst_n}: {out.geterror().strip()}")
        res = np.asarray(out.get_pixels(oiio.FLOAT), dtype=np.float32)
        if arr.ndim != 3:
            res = res.reshape(-1, shape[-1])[: int(np.prod(shape[:-1]))]
        return res.reshape(shape)

    def to_proxy(self, pixels: np.ndarray, src: str) -> np.ndarray:
        """Display-referred sRGB proxy in [0, 1] (float32) of ``pixels`` in ``src``: what detectors see."""
        return np.clip(self.convert(pixels, src, PROXY_SPACE), 0.0, 1.0)
