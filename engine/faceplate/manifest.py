"""The swap model's manifest, stored as JSON in the ONNX file's metadata (key ``faceplate.manifest``).

The render path validates it on load and refuses an incompatible model with a message that says what
differs. I/O contract of every Faceplate swap model:

- input ``face``: float32 N×3×R×R, code values in the manifest's crop encoding, in [0, 1];
- outputs ``swap``: float32 N×3×R×R (same encoding) and ``mask``: float32 N×1×R×R in [0, 1].
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from faceplate.colour.encoding import CropEncoding
from faceplate.errors import ModelError

METADATA_KEY = "faceplate.manifest"
SCHEMA = "faceplate.model"
VERSION = 1
INPUT_NAME = "face"
OUTPUT_NAMES = ("swap", "mask")


@dataclass
class Manifest:
    resolution: int
    coverage: float
    centering: str
    crop_encoding: CropEncoding
    template: list[list[float]]  # canonical landmark template the crops were aligned to
    identities: dict[str, str]  # {"source": "A name", "target": "B name"}
    direction: str  # "a2b" | "b2a"
    architecture: str
    training_steps: int
    data_hashes: dict[str, str]
    faceplate_version: str
    precision: str = "fp32"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        d = asdict(self)
        d["crop_encoding"] = self.crop_encoding.to_dict()
        d["schema"], d["version"] = SCHEMA, VERSION
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str = "model") -> "Manifest":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(f"{where}: manifest is not valid JSON ({exc})") from exc
        if d.get("schema") != SCHEMA:
            raise ModelError(f"{where}: expected a {SCHEMA} manifest, found schema {d.get('schema')!r}")
        if d.get("version") != VERSION:
            raise ModelError(f"{where}: expected manifest version {VERSION}, found {d.get('version')!r}")
        d.pop("schema"), d.pop("version")
        try:
            d["crop_encoding"] = CropEncoding.from_dict(d["crop_encoding"])
            return cls(**d)
        except (KeyError, TypeError) as exc:
            raise ModelError(f"{where}: manifest is missing or has unexpected fields ({exc})") from exc

    def check_compatible(self, *, resolution: int | None = None, crop_encoding: CropEncoding | None = None,
                         where: str = "model") -> None:
        """Raise :class:`ModelError` listing every field that differs from what the caller needs."""
        diffs = []
        if resolution is not None and resolution != self.resolution:
            diffs.append(f"resolution: expected {resolution}, model has {self.resolution}")
        if crop_encoding is not None and crop_encoding != self.crop_encoding:
            diffs.append(f"crop encoding: expected {crop_encoding.to_dict()}, model has {self.crop_encoding.to_dict()}")
        if diffs:
            raise ModelError(f"{where}: incompatible model: " + "; ".join(diffs))
