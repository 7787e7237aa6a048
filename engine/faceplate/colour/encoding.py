"""The model's crop encoding: primaries and transfer function kept separate.

A crop is converted (OCIO) from the plate's space to the encoding's linear **primaries** space,
then the **transfer** function maps linear light to code values, clipped to [0, 1] — the only
place Faceplate clips (the model's own encoded crop).

=============  ===========================  =======================
transfer       linear range kept            notes
=============  ===========================  =======================
``acescct``    [-0.0069, 222.9]             ACEScct curve (S-2016-001)
``srgb``       [0, 1]                       IEC 61966-2-1, display-like
``linear``     [0, 1]                       identity
=============  ===========================  =======================
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from faceplate.colour.ocio import ColourConfig
from faceplate.errors import ColourError

_CCT_A, _CCT_B, _CCT_BREAK_LIN, _CCT_BREAK_CCT = 10.5402377416545, 0.0729055341958355, 0.0078125, 0.155251141552511


def _acescct_encode(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    y = np.maximum(x, _CCT_BREAK_LIN, out=np.empty_like(x))  # the log branch in place, the toe where it applies
    np.log2(y, out=y)
    y += 9.72
    y /= 17.52
    low = x <= _CCT_BREAK_LIN
    if low.any():
        y[low] = _CCT_A * x[low] + _CCT_B
    return y


def _acescct_decode(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    lin = np.where(y <= _CCT_BREAK_CCT, (y - _CCT_B) / _CCT_A, np.exp2(np.minimum(y, 1.5) * 17.52 - 9.72))
    return np.minimum(lin, 65504.0)


def _srgb_encode(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    v = np.where(a <= 0.0031308, 12.92 * a, 1.055 * np.power(np.maximum(a, 1e-12), 1 / 2.4) - 0.055)
    return np.sign(x) * v


def _srgb_decode(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    a = np.abs(y)
    v = np.where(a <= 0.04045, a / 12.92, np.power((a + 0.055) / 1.055, 2.4))
    return np.sign(y) * v


def _identity(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


#: name -> (encode: linear -> code value, decode: code value -> linear); neither clips.
TRANSFERS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "acescct": (_acescct_encode, _acescct_decode),
    "srgb": (_srgb_encode, _srgb_decode),
    "linear": (_identity, _identity),
}


def _transfer(name: str):
    try:
        return TRANSFERS[name]
    except KeyError:
        raise ColourError(f"transfer function: expected one of {', '.join(TRANSFERS)}, found {name!r}") from None


def encode_transfer(linear: np.ndarray, name: str) -> np.ndarray:
    """Linear light -> code values with transfer ``name`` (float32, not clipped)."""
    return _transfer(name)[0](linear).astype(np.float32)


def decode_transfer(code: np.ndarray, name: str) -> np.ndarray:
    """Code values -> linear light with transfer ``name`` (float32)."""
    return _transfer(name)[1](code).astype(np.float32)


@dataclass(frozen=True)
class CropEncoding:
    """How a face crop is presented to the model: OCIO linear ``primaries`` space + ``transfer``."""

    primaries: str = "ACEScg"
    transfer: str = "acescct"

    def to_dict(self) -> dict[str, str]:
        return {"primaries": self.primaries, "transfer": self.transfer}

    @classmethod
    def from_dict(cls, d: dict) -> "CropEncoding":
        try:
            enc = cls(primaries=str(d["primaries"]), transfer=str(d["transfer"]))
        except (KeyError, TypeError) as exc:
            raise ColourError(f"crop encoding: expected {{'primaries', 'transfer'}}, found {d!r}") from exc
        _transfer(enc.transfer)
        return enc

    def encode(self, pixels: np.ndarray, src_space: str, config: ColourConfig) -> np.ndarray:
        """Pixels (…×3, linear or any OCIO space ``src_space``) -> model input in [0, 1] (clipped)."""
        lin = config.convert(pixels, src_space, self.primaries)
        return np.clip(encode_transfer(lin, self.transfer), 0.0, 1.0)

    def decode(self, code: np.ndarray, dst_space: str, config: ColourConfig) -> np.ndarray:
        """Model output code values (…×3) -> pixels in ``dst_space`` (not clipped)."""
        lin = decode_transfer(code, self.transfer)
        return config.convert(lin, self.primaries, dst_space)
