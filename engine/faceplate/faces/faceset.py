"""The face-set folder written by ``faceplate extract`` and read by training and curation.

Layout::

    FACESET/
      faceset.json        schema "faceplate.faceset" v1: settings + one record per face
      alignments.json     schema "faceplate.alignments" v1: the shot's per-frame detections
      faces/<id>.exr      RGB float32 crop in the crop encoding (code values in [0, 1])
      masks/<id>.exr      float32 channels face, eyes, mouth in [0, 1]
      previews/<id>.png   8-bit preview of the crop (never used for training)

Face ids are ``f<frame>_<face index>`` (``f001001_0``). Landmarks in records are in crop pixels.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from faceplate.colour.encoding import CropEncoding
from faceplate.errors import FaceSetError
from faceplate.jsonio import dump_json, load_json

SCHEMA = "faceplate.faceset"
VERSION = 1
MASK_CHANNELS = ("face", "eyes", "mouth")


@dataclass
class FaceRecord:
    id: str
    frame: int
    face: int
    source: str  # plate pattern or still the face came from
    image: str  # relative path of the crop EXR
    mask: str  # relative path of the mask EXR
    landmarks: list[list[float]]  # 468 × (x, y) in crop pixels
    transform: list[list[float]]  # 2×3 plate -> crop
    box: list[float]  # x0, y0, x1, y1 in plate pixels
    score: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class FaceSet:
    root: Path
    resolution: int
    coverage: float
    centering: str
    plate_colour_space: str
    crop_encoding: CropEncoding
    ocio_config: str
    faces: list[FaceRecord]
    meta: dict[str, Any] = field(default_factory=dict)

    # --- paths -------------------------------------------------------------------
    def image_path(self, rec: FaceRecord) -> Path:
        return self.root / rec.image

    def mask_path(self, rec: FaceRecord) -> Path:
        return self.root / rec.mask

    # --- I/O ---------------------------------------------------------------------
    def to_doc(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "version": VERSION,
            "resolution": self.resolution,
            "coverage": self.coverage,
            "centering": self.centering,
            "plate_colour_space": self.plate_colour_space,
            "crop_encoding": self.crop_encoding.to_dict(),
            "ocio_config": self.ocio_config,
            "meta": self.meta,
            # shallow: the JSON writer reads the records' lists, no deep copy needed (asdict copied them)
            "faces": [{k.name: getattr(f, k.name) for k in fields(f)} for f in self.faces],
        }

    def save(self) -> None:
        dump_json(self.root / "faceset.json", self.to_doc())

    @classmethod
    def load(cls, root: Path | str, check_files: bool = True) -> "FaceSet":
        root = Path(root)
        if not root.is_dir():
            raise FaceSetError(f"face set {root}: expected a folder made by 'faceplate extract', found none")
        doc = load_json(root / "faceset.json", SCHEMA, VERSION, FaceSetError)
        try:
            faces = [FaceRecord(**f) for f in doc["faces"]]
            fs = cls(
                root=root,
                resolution=int(doc["resolution"]),
                coverage=float(doc["coverage"]),
                centering=str(doc["centering"]),
                plate_colour_space=str(doc["plate_colour_space"]),
                crop_encoding=CropEncoding.from_dict(doc["crop_encoding"]),
                ocio_config=str(doc.get("ocio_config", "")),
                faces=faces,
                meta=dict(doc.get("meta", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FaceSetError(f"face set {root / 'faceset.json'}: malformed record ({exc})") from exc
        if check_files:
            missing = [f.image for f in faces if not (root / f.image).exists()]
            missing += [f.mask for f in faces if not (root / f.mask).exists()]
            if missing:
                raise FaceSetError(
                    f"face set {root}: {len(missing)} file(s) listed in faceset.json are missing, e.g. {missing[0]}"
                )
        return fs

    def read_face(self, rec: FaceRecord) -> tuple[np.ndarray, np.ndarray]:
        """(crop code values H×W×3 float32 in the crop encoding, masks H×W×3 float32 face/eyes/mouth)."""
        from faceplate.plates.image import read_image
        from faceplate.errors import PlateError

        try:
            img = read_image(self.image_path(rec))
            msk = read_image(self.mask_path(rec))
            return img.rgb(), msk.channels_array(MASK_CHANNELS)
        except PlateError as exc:
            raise FaceSetError(f"face set {self.root}, face {rec.id}: {exc}") from exc


SELECTION_SCHEMA = "faceplate.selection"
SELECTION_VERSION = 1


def save_selection(path: Path | str, faceset: FaceSet, ids: list[str], criteria: dict[str, Any]) -> None:
    """Write a selection file: a subset of a face set's faces, by id (the set itself is untouched)."""
    known = {f.id for f in faceset.faces}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise FaceSetError(f"selection for {faceset.root}: unknown face id(s) {unknown[:5]}")
    dump_json(path, {
        "schema": SELECTION_SCHEMA,
        "version": SELECTION_VERSION,
        "faceset": str(Path(faceset.root).resolve()),
        "criteria": criteria,
        "faces": list(ids),
    })


def load_for_training(path: Path | str) -> FaceSet:
    """A face set folder, or a selection JSON restricting one, as a :class:`FaceSet`.

    A selection's ``faceset`` path may be absolute or relative to the selection file.
    """
    path = Path(path)
    if path.is_dir():
        return FaceSet.load(path)
    if not path.exists():
        raise FaceSetError(f"face set {path}: not found (expected a face-set folder or a selection .json)")
    doc = load_json(path, SELECTION_SCHEMA, SELECTION_VERSION, FaceSetError)
    root = Path(doc.get("faceset", ""))
    if not root.is_absolute():
        root = (path.parent / root).resolve()
    fs = FaceSet.load(root)
    wanted = list(doc.get("faces", []))
    by_id = {f.id: f for f in fs.faces}
    unknown = [i for i in wanted if i not in by_id]
    if unknown:
        raise FaceSetError(f"selection {path}: {len(unknown)} face id(s) not in face set {root}, e.g. {unknown[0]}")
    if not wanted:
        raise FaceSetError(f"selection {path}: expected at least one face, found an empty selection")
    fs.faces = [by_id[i] for i in wanted]
    fs.meta = dict(fs.meta, selection=str(path))
    return fs


def check_same_colour(a: FaceSet, b: FaceSet) -> None:
    """Refuse two face sets extracted with different plate colour spaces or crop encodings.

    The message names both and the command that re-extracts one to match.
    """
    # Crops are stored in the crop encoding, so sets from plates in different spaces (an ACEScg EXR
    # shot, sRGB stills) agree once both were converted; what must match is the encoding and geometry.
    if (a.crop_encoding, a.resolution, a.coverage, a.centering) == (b.crop_encoding, b.resolution, b.coverage, b.centering):
        return
    src_b = b.faces[0].source if b.faces else "PLATE"
    raise FaceSetError(
        "face sets differ in colour or crop settings and cannot be trained together: "
        f"A {a.root} (plate space {a.plate_colour_space!r}, crop encoding {a.crop_encoding.to_dict()}, "
        f"{a.resolution}px, coverage {a.coverage}, centering {a.centering}) vs "
        f"B {b.root} (plate space {b.plate_colour_space!r}, crop encoding {b.crop_encoding.to_dict()}, "
        f"{b.resolution}px, coverage {b.coverage}, centering {b.centering}). Re-extract B to match A: "
        f"faceplate extract {src_b} --colour-space '{b.plate_colour_space}' --crop-primaries "
        f"'{a.crop_encoding.primaries}' --crop-transfer {a.crop_encoding.transfer} --size {a.resolution} "
        f"--coverage {a.coverage} --centering {a.centering} --out {b.root}"
    )

