"""Plates: image sequences, frame ranges, EXR read/write with windows, layers and metadata."""
from faceplate.plates.atomic import atomic_path, remove_quietly
from faceplate.plates.image import Image, Part, read_image, write_image, write_parts, COMPRESSIONS
from faceplate.plates.sequence import FrameRange, Sequence, parse_frames

__all__ = [
    "COMPRESSIONS",
    "FrameRange",
    "Image",
    "Part",
    "Sequence",
    "atomic_path",
    "parse_frames",
    "read_image",
    "remove_quietly",
    "write_image",
    "write_parts",
]
