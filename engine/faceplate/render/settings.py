"""Render parameters, declared once: CLI flags, Natron knobs and the service protocol all use them.

:data:`RENDER_PARAMS` is plain data (``faceplate params --json`` dumps it for the Natron nodes).
:class:`RenderSettings` is the one frozen object the render functions receive; only the fields that
change pixels go into the output's ``faceplate:settings`` metadata.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from faceplate.errors import InputError
from faceplate.params import Param, collect
from faceplate.plates.image import COMPRESSIONS

LOSSLESS_COMPRESSIONS = ("none", "rle", "zip", "zips", "piz")
#: Chosen from bench/render.py at 1080p half (2 shared CPU cores): for the default passes (swap.RGBA +
#: mask.Y, zero outside the face) zip wrote in ~130 ms vs ~250 ms for piz and made the smallest file
#: (0.7 MB vs 0.8 MB piz, 1.2 MB rle, 21 MB none); with the comp layer zip was also as fast or faster
#: than piz and smaller (7.6 vs 8.9 MB). Both are lossless; piz stays one flag away.
DEFAULT_COMPRESSION = "zip"
COLOUR_MATCH_MODES = ("none", "meanstd", "reinhard", "histogram")
MATTE_MODES = ("both", "learned", "landmark")

RENDER_PARAMS: tuple[Param, ...] = (
    Param("model", "file", "", "Model", "swap model exported by 'faceplate export' (.onnx)"),
    Param("face", "string", "selected", "Face",
          "which faces to replace: 'selected' (the faces 'faceplate extract' selected; every face when "
          "detecting), 'all', 'largest', a track id from the alignments (e.g. 0), or like:PHOTO[,PHOTO...] "
          "(the person in these reference photos, by face identity)"),
    Param("colour_match", "choice", "reinhard", "Colour match",
          "match the new face's colour to the plate inside the matte, in linear light: none, meanstd "
          "(per channel), reinhard (Oklab mean/std), histogram (per channel)", choices=COLOUR_MATCH_MODES),
    Param("colour_amount", "float", 1.0, "Colour match amount", "blend between no match (0) and full match (1)",
          minimum=0.0, maximum=1.0),
    Param("matte", "choice", "both", "Matte",
          "blend matte: both (learned mask ∩ landmark mask), learned, landmark", choices=MATTE_MODES),
    Param("landmark_mask", "choice", "hull", "Landmark mask", "landmark mask method",
          choices=("hull", "components")),
    Param("erode", "float", 2.0, "Erode", "shrink the matte by this many plate pixels", minimum=-100.0,
          maximum=200.0),
    Param("erode_top", "float", 0.0, "Erode top", "extra erosion of the matte's top edge (the face's forehead "
          "side), plate pixels; negative grows it", minimum=-100.0, maximum=100.0),
    Param("erode_bottom", "float", 0.0, "Erode bottom", "extra erosion of the matte's bottom (chin) edge, plate "
          "pixels; negative grows it", minimum=-100.0, maximum=100.0),
    Param("erode_left", "float", 0.0, "Erode left", "extra erosion of the matte's left edge (as seen in the "
          "face-aligned crop), plate pixels; negative grows it", minimum=-100.0, maximum=100.0),
    Param("erode_right", "float", 0.0, "Erode right", "extra erosion of the matte's right edge, plate pixels; "
          "negative grows it", minimum=-100.0, maximum=100.0),
    Param("feather", "float", 4.0, "Feather", "soften the matte edge over this many plate pixels",
          minimum=0.0, maximum=200.0),
    Param("mask_floor", "float", 0.05, "Mask floor",
          "learned-mask values below this are treated as 0 (stabilises the matte against flicker)",
          minimum=0.0, maximum=0.5),
    Param("smoothing", "float", 2.0, "Smoothing",
          "landmark smoothing across frames when faces are detected (frames; 0 = off)", minimum=0.0,
          maximum=50.0),
    Param("colour_space", "string", "scene_linear", "Plate colour space",
          "OCIO colour space (or role) of the plate; outputs are written in the same space"),
    Param("comp", "bool", False, "Comp layer", "also write the comp (the plate with the face replaced) as R,G,B,A"),
    Param("compression", "choice", DEFAULT_COMPRESSION, "EXR compression", "EXR compression of the passes",
          choices=COMPRESSIONS),
    Param("pixel_type", "choice", "auto", "Pixel type",
          "EXR pixel type: auto (swap and mask in float, the comp in the plate's own types), half or float", choices=("auto", "half", "float")),
    Param("device", "choice", "auto", "Device", "where the swap model runs: auto (CUDA when present), cpu, cuda",
          choices=("auto", "cpu", "cuda")),
)

PARAMS_BY_NAME = {p.name: p for p in RENDER_PARAMS}

#: Fields that change the pixels written (recorded in each output's metadata).
PIXEL_FIELDS = ("face", "colour_match", "colour_amount", "matte", "landmark_mask", "erode", "erode_top",
                "erode_bottom", "erode_left", "erode_right", "feather",
                "mask_floor", "smoothing", "colour_space", "comp", "pixel_type")


@dataclass(frozen=True)
class RenderSettings:
    """Checked render parameters (see :data:`RENDER_PARAMS`)."""

    model: str = ""
    face: str = "selected"
    colour_match: str = "reinhard"
    colour_amount: float = 1.0
    matte: str = "both"
    landmark_mask: str = "hull"
    erode: float = 2.0
    erode_top: float = 0.0
    erode_bottom: float = 0.0
    erode_left: float = 0.0
    erode_right: float = 0.0
    feather: float = 4.0
    mask_floor: float = 0.05
    smoothing: float = 2.0
    colour_space: str = "scene_linear"
    comp: bool = False
    compression: str = DEFAULT_COMPRESSION
    pixel_type: str = "auto"
    device: str = "auto"

    def __post_init__(self) -> None:
        f = self.face.strip().lower()
        if f.startswith("like:"):
            if not self.like_paths:
                raise InputError(f"--face: expected like:PHOTO[,PHOTO...] (reference photos), found {self.face!r}")
        elif f not in ("selected", "all", "largest") and not f.lstrip("-").isdigit():
            raise InputError(f"--face: expected 'selected', 'all', 'largest', a track id (integer) or "
                             f"like:PHOTO[,PHOTO...], found {self.face!r}")

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> "RenderSettings":
        """Settings from CLI args / request JSON; unknown keys are an :class:`InputError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(k for k, v in dict(values).items() if k not in known and v is not None)
        if unknown:
            raise InputError(f"render settings: unknown parameter(s) {unknown}; expected some of {sorted(known)}")
        return cls(**collect(RENDER_PARAMS, values))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def pixel_json(self) -> str:
        """Deterministic JSON of the fields that change pixels (metadata ``faceplate:settings``)."""
        d = asdict(self)
        return json.dumps({k: d[k] for k in PIXEL_FIELDS}, sort_keys=True)

    @property
    def track_id(self) -> int | None:
        f = self.face.strip().lower()
        return None if f in ("selected", "all", "largest") or f.startswith("like:") else int(f)

    @property
    def like_paths(self) -> tuple[str, ...]:
        """The reference photos of ``--face like:P1,P2`` (empty for the other choices)."""
        f = self.face.strip()
        if not f.lower().startswith("like:"):
            return ()
        return tuple(p.strip() for p in f[5:].split(",") if p.strip())


def params_json() -> str:
    """``faceplate params --json``: every render parameter as JSON (for the Natron nodes)."""
    return json.dumps({"schema": "faceplate.params", "version": 1,
                       "render": [p.to_dict() for p in RENDER_PARAMS]}, indent=1, sort_keys=True)
