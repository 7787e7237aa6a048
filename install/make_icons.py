"""Draw the Faceplate node icons (32×32 RGBA PNGs, standard library only).

    python install/make_icons.py     # writes nodes/FaceplateSwap.png, nodes/FaceplateMask.png, plugin/faceplate.png
"""
from __future__ import annotations

import os
import struct
import sys
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 32


def png(pixels) -> bytes:
    """RGBA rows (lists of 4-tuples of 0..255) -> PNG bytes."""
    raw = b"".join(b"\0" + bytes(c for px in row for c in px) for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", len(pixels[0]), len(pixels), 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def face_icon(left, right, background=(0, 0, 0, 0)):
    """An oval face split down the middle: ``left`` and ``right`` colours, soft 1-px edge."""
    rows = []
    cx, cy, rx, ry = 15.5, 15.5, 11.0, 14.0
    for y in range(SIZE):
        row = []
        for x in range(SIZE):
            d = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2
            cover = max(0.0, min(1.0, (1.0 - d) * 8.0))
            colour = left if x < cx else right
            eye = (abs(y - 12) < 1.5 and (abs(x - 11) < 1.5 or abs(x - 20) < 1.5)) or (abs(y - 21) < 1 and abs(x - cx) < 4)
            if eye:
                colour = (30, 30, 30, 255)
            a = int(round(colour[3] * cover))
            row.append((colour[0], colour[1], colour[2], a) if a else background)
        rows.append(row)
    return rows


ICONS = {
    os.path.join("nodes", "FaceplateSwap.png"): face_icon((240, 160, 60, 255), (90, 170, 240, 255)),
    os.path.join("nodes", "FaceplateMask.png"): face_icon((235, 235, 235, 255), (235, 235, 235, 255)),
    os.path.join("plugin", "faceplate.png"): face_icon((240, 160, 60, 255), (235, 235, 235, 255)),
}


def main() -> int:
    for rel, pixels in ICONS.items():
        with open(os.path.join(ROOT, rel), "wb") as f:
            f.write(png(pixels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
