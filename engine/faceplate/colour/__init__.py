"""Colour: OCIO conversions (through OpenImageIO's OpenColorIO) and the model's crop encodings.

Every array that crosses a function boundary here is named with its colour space. Scene-linear
values are never clipped, except inside the model's own encoded crop.
"""
from faceplate.colour.encoding import TRANSFERS, CropEncoding, decode_transfer, encode_transfer
from faceplate.colour.ocio import ColourConfig, DEFAULT_CONFIG

__all__ = [
    "ColourConfig",
    "CropEncoding",
    "DEFAULT_CONFIG",
    "TRANSFERS",
    "decode_transfer",
    "encode_transfer",
]
