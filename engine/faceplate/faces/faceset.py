"""The face-set folder written by ``faceplate extract`` and read by training and curation.

Layout::

    FACESET/
      faceset.json        schema "faceplate.faceset" v2: settings + one record per face
      alignments.json     schema "faceplate.alignments" v1: the shot's per-frame detections
      faces/<id>.exr      one two-part EXR per face (:func:`write_face`), each part one tile:
                            part "crop": R, G, B float32, the crop in the crop encoding (code values
                                         in [0, 1]), stored uncompressed
                            part "mask": mask.face, mask.eyes, mask.mouth float32 in [0, 1], RLE
      previews/<id>.jpg   8-bit JPEG preview of the crop (for browsing; never used for training)

A record's ``image`` and ``mask`` name the same file in v2. Version 1 sets (and sets assembled by
hand) keep the masks in a file of their own (``masks/<id>.exr``, channels face, eyes, mouth): they
still read, and a record may mix the two (:meth:`FaceSet.read_face` goes by the channels found).

Face ids are ``f<frame>_<face index>`` (``f001001_0``). Landmarks in records are in crop pixels.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from faceplate.colour.encoding import CropEncoding
from faceplate.errors import FaceSetError
from faceplate.jsonio import dump_json, load_json, pretty
from faceplate.plates.atomic import write_text_atomic

SCHEMA = "faceplate.faceset"
#: 2: crop and masks in one file per face; 1: two files (both read)
VERSION = 2
MASK_CHANNELS = ("face", "eyes", "mouth")
#: the mask channels in a v2 face file (layer ``mask``)
FACE_MASK_CHANNELS = tuple(f"mask.{c}" for c in MASK_CHANNELS)
#: storage of the two parts: the crop is float32 code values whose low mantissa bits are noise, so
#: zip saves ~3% of its bytes for 3-4× the CPU of writing it plain; the masks are mostly runs of 0 and
#: 1: RLE (lossless) stores them in ~90 kB instead of 786 kB at 256 px for half the CPU of zip (~7 kB)
CROP_COMPRESSION, MASK_COMPRESSION = "none", "rle"


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

    def to_json(self) -> str:
        """``faceset.json``'s text: pretty, key-sorted JSON (deterministic bytes)."""
        return pretty(self.to_doc()) + "\n"

    def save(self, text: str | None = None) -> None:
        """Write ``faceset.json`` atomically (``text``: :meth:`to_json` made beforehand)."""
        write_text_atomic(self.root / "faceset.json", self.to_json() if text is None else text, "JSON file")

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
            listed = dict.fromkeys(p for f in faces for p in (f.image, f.mask))
            missing = [p for p in listed if not (root / p).exists()]
            if missing:
                raise FaceSetError(
                    f"face set {root}: {len(missing)} file(s) listed in faceset.json are missing, e.g. {missing[0]}"
                )
        return fs

    def read_face(self, rec: FaceRecord) -> tuple[np.ndarray, np.ndarray]:
        """(crop code values H×W×3 float32 in the crop encoding, masks H×W×3 float32 face/eyes/mouth),
        from one v2 face file or a crop file and a mask file (v1)."""
        from faceplate.errors import PlateError
        from faceplate.plates.image import read_image

        img_path, mask_path = self.image_path(rec), self.mask_path(rec)
        try:
            img = read_image(img_path)
            msk = img if mask_path == img_path else read_image(mask_path)
            code = img.rgb()
        except PlateError as exc:
            raise FaceSetError(f"face set {self.root}, face {rec.id}: {exc}") from exc
        for names in (FACE_MASK_CHANNELS, MASK_CHANNELS):
            if msk.has(*names):
                return code, msk.channels_array(names)
        raise FaceSetError(
            f"face set {self.root}, face {rec.id}: {mask_path}: expected mask channels "
            f"{', '.join(FACE_MASK_CHANNELS)} (or {', '.join(MASK_CHANNELS)} in a mask file of its own), "
            f"found {list(msk.channels)}")


def write_face(path: Path | str, code: np.ndarray, masks: np.ndarray, metadata: dict[str, Any] | None = None) -> Path:
    """Write one face's file (v2) atomically: ``code`` H×W×3 float32 (crop encoding) and ``masks``
    H×W×3 float32 face/eyes/mouth, both kept at float32, as the parts "crop" and "mask"."""
    from faceplate.plates.image import Image, Part, write_parts

    code, masks = np.asarray(code, np.float32), np.asarray(masks, np.float32)
    if code.ndim != 3 or code.shape[2] != 3 or masks.shape != code.shape:
        raise FaceSetError(f"face file {path}: expected a crop H×W×3 and masks of the same shape, "
                           f"found {code.shape} and {masks.shape}")
    win, tile = (0, 0, code.shape[1], code.shape[0]), max(code.shape[:2])  # one tile: the least to write and read
    return write_parts(path, [
        Part("crop", Image(code, ("R", "G", "B"), win, win), "float", CROP_COMPRESSION, tile=tile),
        Part("mask", Image(masks, FACE_MASK_CHANNELS, win, win), "float", MASK_COMPRESSION, tile=tile),
    ], metadata=metadata)


def is_face_file(path: Path | str) -> bool:
    """Whether ``path`` is a v2 face file (crop and masks; headers only are read): an extract resumed
    over a v1 folder writes its faces again rather than listing v1 crops that lack the masks."""
    import OpenImageIO as oiio

    if not Path(path).is_file():
        return False
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        oiio.geterror()
        return False
    try:
        names: set[str] = set()
        sub = 0
        while inp.seek_subimage(sub, 0):
            names.update(inp.spec().channelnames)
            sub += 1
    finally:
        inp.close()
    return names >= {"R", "G", "B", *FACE_MASK_CHANNELS}


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

