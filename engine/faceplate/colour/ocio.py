"""OCIO is the one authority for colour-space conversions, so our numbers match Natron's.

The config is ``$OCIO`` when set (inside Natron: Natron's own config, which the nodes hand over),
else OpenImageIO's built-in ACES studio config. Conversions run through
``OpenImageIO.ImageBufAlgo.colorconvert`` (float in, float out, nothing clipped).

Colour-space names differ between configs (the ACES studio config for OCIO 2.1 calls the sRGB
texture space ``sRGB - Texture``; later versions ``sRGB Encoded Rec.709 (sRGB)``), so a name is
found in the config in use by: exact name, role, alias, case, and finally a search by colour
interop id (``srgb_rec709_scene``, ``lin_ap1_scene``...), never assumed to exist.
"""
from __future__ import annotations

import atexit
import difflib
import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from faceplate.errors import ColourError

DEFAULT_CONFIG = "ocio://studio-config-latest"
#: The display-referred space detectors and landmarkers see (an 8-bit-like proxy, clipped to [0, 1]):
#: a request for this name finds the config's sRGB texture space, whatever the config calls it.
PROXY_SPACE = "sRGB Encoded Rec.709 (sRGB)"
#: Well-known names -> colour interop id, to find the same space in a config that names it otherwise.
INTEROP_IDS = {
    "sRGB Encoded Rec.709 (sRGB)": "srgb_rec709_scene", "sRGB - Texture": "srgb_rec709_scene",
    "srgb_tx": "srgb_rec709_scene", "sRGB": "srgb_rec709_scene",
    "ACEScg": "lin_ap1_scene", "lin_ap1": "lin_ap1_scene", "ACES2065-1": "lin_ap0_scene",
    "Linear Rec.709 (sRGB)": "lin_rec709_scene", "lin_rec709": "lin_rec709_scene",
    "Linear P3-D65": "lin_p3d65_scene", "Linear Rec.2020": "lin_rec2020_scene",
    "CIE-XYZ-D65": "lin_ciexyzd65_scene", "Raw": "data",
}


@lru_cache(maxsize=8)
def _load(config: str):
    import OpenImageIO as oiio

    cc = oiio.ColorConfig(config)
    err = cc.geterror() if hasattr(cc, "geterror") else ""
    if err or cc.getNumColorSpaces() == 0:
        raise ColourError(f"OCIO config {config!r}: cannot be loaded ({err.strip() or 'no colour spaces'})")
    names = tuple(cc.getColorSpaceNames())
    interop = {}
    for n in names:
        try:
            interop.setdefault(cc.get_color_interop_id(n), n)
        except Exception:  # noqa: BLE001 - an OpenImageIO without interop ids: name/alias/role only
            break
    interop.pop("", None)
    roles = {}
    for role in ("scene_linear", "color_picking", "data", "compositing_log", "texture_paint", "aces_interchange"):
        n = cc.getColorSpaceNameByRole(role)
        if n:
            roles[role] = n
    return cc, names, roles, interop


def _release_configs() -> None:
    """Drop the cached OpenImageIO ColorConfig objects before the interpreter tears its modules down
    (else nanobind reports them as leaked at every exit)."""
    _load.cache_clear()


atexit.register(_release_configs)


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
        """The config's colour-space name for ``name``: a space, a role (``scene_linear``, the default),
        an alias, the same name in another case, or a well-known space found by its interop id."""
        cc, names, roles, interop = _load(self.config)
        name = name or "scene_linear"
        if name in names:
            return name
        if name in roles:
            return roles[name]
        try:
            found = cc.resolve(name)  # aliases (OCIO v2 configs)
        except Exception:  # noqa: BLE001
            found = ""
        if found in names:
            return found
        lower = {n.lower(): n for n in names}
        if name.lower() in lower:
            return lower[name.lower()]
        wanted = INTEROP_IDS.get(name)
        if wanted and wanted in interop:
            return interop[wanted]
        close = difflib.get_close_matches(name, list(names) + list(roles), n=5, cutoff=0.4)
        hint = f"; did you mean: {', '.join(close)}" if close else ""
        raise ColourError(
            f"{param}: expected a colour space or role of the OCIO config {self.config}, found {name!r}{hint}"
        )

    @property
    def proxy_space(self) -> str:
        """The config's sRGB texture space (what detectors see), or the ``color_picking`` role."""
        try:
            return self.resolve(PROXY_SPACE, "detector proxy space")
        except ColourError:
            roles = self.roles
            if "color_picking" in roles:
                return roles["color_picking"]
            raise ColourError(f"OCIO config {self.config}: no sRGB texture space found (by name, alias, interop "
                              f"id srgb_rec709_scene or the color_picking role); the detectors need one") from None

    def _converted(self, arr: np.ndarray, src_n: str, dst_n: str):
        """OpenImageIO ImageBuf of float32 ``arr`` (H×W×C) converted from ``src_n`` to ``dst_n``."""
        import OpenImageIO as oiio

        buf = oiio.ImageBuf(np.ascontiguousarray(arr))
        if _same_config(self.config, _oiio_default_config()):
            # the overload without a config uses OpenImageIO's cached processors (~0.1 ms a call)
            out = oiio.ImageBufAlgo.colorconvert(buf, src_n, dst_n, False)
        else:  # any other config is parsed again on every call (~60 ms)
            out = oiio.ImageBufAlgo.colorconvert(buf, src_n, dst_n, unpremult=False, colorconfig=self.config)
        if out.has_error:
            raise ColourError(f"colour conversion {src_n} -> {dst_n}: {out.geterror().strip()}")
        return out

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
            img = arr
        else:  # pixel lists: wide rows (a one-pixel-wide image converts very slowly)
            flat = arr.reshape(-1, shape[-1])
            width = max(1, min(len(flat), 1024))
            rows = -(-len(flat) // width)
            img = np.zeros((rows * width, shape[-1]), np.float32)
            img[: len(flat)] = flat
            img = img.reshape(rows, width, shape[-1])
        res = np.asarray(self._converted(img, src_n, dst_n).get_pixels(oiio.FLOAT), dtype=np.float32)
        if arr.ndim != 3:
            res = res.reshape(-1, shape[-1])[: int(np.prod(shape[:-1]))]
        return res.reshape(shape)

    def to_proxy(self, pixels: np.ndarray, src: str) -> np.ndarray:
        """Display-referred sRGB proxy in [0, 1] (float32) of ``pixels`` in ``src``: what detectors see."""
        return np.clip(self.convert(pixels, src, self.proxy_space), 0.0, 1.0)

    def to_proxy8(self, pixels: np.ndarray, src: str) -> np.ndarray:
        """The sRGB proxy of H×W×3 ``pixels`` (finite, in ``src``) as uint8 (H×W×3): the same bytes as
        ``round(to_proxy(pixels, src) * 255)`` (clipped, rounded half to even), converted to 8 bits by
        OpenImageIO on the way out of the conversion (no float copy, clip or rounding pass in numpy)."""
        import OpenImageIO as oiio

        arr = np.asarray(pixels, dtype=np.float32)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise ColourError(f"8-bit proxy: expected H×W×3 pixels, found shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise ColourError("8-bit proxy: expected finite pixel values, found NaN or infinity")
        src_n, dst_n = self.resolve(src), self.proxy_space
        if src_n == dst_n:
            buf = oiio.ImageBuf(np.ascontiguousarray(arr))
        else:
            buf = self._converted(arr, src_n, dst_n)
        return np.asarray(buf.get_pixels(oiio.UINT8), dtype=np.uint8).reshape(arr.shape)


def _same_config(a: str, b: str) -> bool:
    if a == b:
        return True
    if a.startswith("ocio://") or b.startswith("ocio://"):
        return False
    return os.path.realpath(a) == os.path.realpath(b)
