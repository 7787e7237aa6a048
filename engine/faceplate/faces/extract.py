"""``faceplate extract``: plate -> detected, tracked and aligned face crops, masks and alignments.

1. **analyse** every frame (:mod:`faceplate.faces.analyse`): read, cut test, follow / detect,
   landmarks, identity descriptors. Every frame is read and checked before anything is written, so a
   corrupt or missing frame fails the run with nothing written.
2. **who is who** (:mod:`faceplate.faces.people`): tracks linked inside each shot, split and joined
   by identity, smoothed (never across a cut), grouped into persons; ``--face`` picks
   (:mod:`faceplate.faces.choice`); ``alignments.json`` is made (:mod:`faceplate.faces.alignments`).
3. **write** ``alignments.json`` and the chosen faces (:mod:`faceplate.faces.writer`, on writer
   threads): one EXR per face with the float crop in the crop encoding (the only place values are
   clipped) and the masks (face, eyes, mouth; zero where the crop is outside the image), a PNG
   preview, then ``faceset.json`` and the contact sheet.

Resumable: a rerun with the same settings reuses ``alignments.json`` and skips faces whose files
already exist (every file is written atomically, so an existing file is a complete one).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence as Seq

import numpy as np

from faceplate.errors import InputError, OutputError
from faceplate.faces.alignments import ALIGNMENTS_SCHEMA, ALIGNMENTS_VERSION, face_id  # noqa: F401 (public names)
from faceplate.faces.alignments import load as load_alignments
from faceplate.faces.analyse import STAGES, Timer  # noqa: F401
from faceplate.faces.choice import choose, one_per_frame, parse_face_choice  # noqa: F401
from faceplate.faces.source import Source, open_source, resolve_space  # noqa: F401
from faceplate.params import Param

log = logging.getLogger("faceplate.extract")

EXTRACT_PARAMS: list[Param] = [
    Param("colour_space", "string", None, "Plate colour space",
          "OCIO colour space or role of the plate (default: scene_linear for EXR; other formats and movies must "
          "declare it, e.g. 'sRGB Encoded Rec.709 (sRGB)')"),
    Param("size", "int", 256, "Crop size", "face crop size in pixels (64-1024)", minimum=64, maximum=1024),
    Param("coverage", "float", 0.8, "Coverage", "fraction of the padded face template the crop shows (smaller = tighter)",
          minimum=0.3, maximum=1.0),
    Param("centering", "choice", "face", "Centering", "crop centred on the face or on the whole head",
          choices=("face", "head")),
    Param("crop_primaries", "string", "ACEScg", "Crop primaries", "OCIO linear space of the crop encoding"),
    Param("crop_transfer", "choice", "acescct", "Crop transfer", "transfer function of the crop encoding",
          choices=("acescct", "srgb", "linear")),
    Param("face", "string", "largest", "Face",
          "which face: largest | all | index:N (tracks left to right) | point:X,Y | like:PHOTO[,PHOTO...] "
          "(reference photos of the person); with identities, largest/index/point pick a person over every shot"),
    Param("mask", "choice", "hull", "Face mask", "landmark face mask: hull or components", choices=("hull", "components")),
    Param("smoothing", "float", 2.0, "Smoothing", "landmark smoothing across frames (frames, half-width; 0 = off)",
          minimum=0.0, maximum=50.0),
    Param("track", "bool", True, "Track", "follow faces across frames (turn off for unrelated stills)"),
    Param("min_face", "int", 32, "Smallest face", "smallest face looked for: the detector's box side in plate pixels "
          "(smaller faces make poor landmarks and crops; lower it for faces far away)", minimum=8, maximum=4096),
    Param("detect_every", "int", 10, "Detect every", "also run the detector every N frames to find new faces (0 = only "
          "when a face is lost)", minimum=0, maximum=100000),
    Param("identity", "bool", True, "Identity", "describe each face's identity (dlib face descriptor, the 'identity' "
          "extra) to link and split tracks, merge duplicates and pick people; off: tracks by position only"),
    Param("preview", "bool", False, "Contact sheet", "write contact_sheet.png of landmarks and masks over the frames"),
]


@dataclass(frozen=True)
class ExtractSettings:
    colour_space: str | None = None
    size: int = 256
    coverage: float = 0.8
    centering: str = "face"
    crop_primaries: str = "ACEScg"
    crop_transfer: str = "acescct"
    face: str = "largest"
    mask: str = "hull"
    smoothing: float = 2.0
    track: bool = True
    detect_every: int = 10
    min_face: int = 32
    identity: bool = True
    preview: bool = False
    presence_min: float = 0.5
    cache_mb: int = 1024

    @classmethod
    def from_params(cls, values: dict[str, Any]) -> "ExtractSettings":
        from faceplate.params import collect

        return cls(**collect(EXTRACT_PARAMS, values))

    def analysis_key(self) -> dict[str, Any]:
        """Settings that change the analysis (alignments.json)."""
        return {"face": self.face, "smoothing": self.smoothing, "track": self.track,
                "detect_every": self.detect_every, "min_face": self.min_face, "presence_min": self.presence_min, "identity": self.identity}

    def crop_key(self) -> dict[str, Any]:
        return {"size": self.size, "coverage": self.coverage, "centering": self.centering,
                "crop_primaries": self.crop_primaries, "crop_transfer": self.crop_transfer, "mask": self.mask}


@dataclass
class ExtractResult:
    faceset: Any
    alignments: Path
    frames: list[int]
    gaps: list[int]
    written: int
    skipped: int
    timings: dict[str, float]
    contact_sheet: Path | None = None
    analysed: bool = True  # False when alignments.json was reused
    cuts: list[int] | None = None
    ahead: dict[str, float] | None = None  # seconds of read/colour/detect done on the reader thread


def _settings_doc(source: Source, space: str, config, settings: ExtractSettings) -> dict[str, Any]:
    return {"source": source.label, "frames": [int(f) for f in source.files], "colour_space": space,
            "ocio_config": config.config, "analysis": settings.analysis_key(), "crop": settings.crop_key()}


def _embedder(settings: ExtractSettings, choice: tuple, given=None):
    """The identity model (``given``, else loaded), or None when turned off (or not installed and not needed)."""
    if not settings.identity:
        if choice[0] == "like":
            raise InputError(f"--face {settings.face}: picking a person by reference photos needs --identity on")
        return None
    if given is not None:
        return given
    from faceplate.faces.identity import Embedder

    try:
        return Embedder.load()
    except ImportError:
        if choice[0] == "like":
            raise
        log.warning("face identity is not installed (pip install 'faceplate[identity]'): tracks are linked by "
                    "position only, duplicates and identity switches are not caught")
        return None


def _who_is_who(source: Source, s: ExtractSettings, analysis) -> None:
    """Track ids, shots and persons on every observation (in place)."""
    from faceplate.faces import people, shots
    from faceplate.faces import track as trk

    frames = list(source.files)
    ordered = [analysis.obs_by_frame[f] for f in frames]
    if s.track and source.is_sequence:
        shot_map = shots.shot_of(frames, analysis.cuts)
        tracks = people.link_shots(ordered, shot_map, max_gap=max(12, 3 * source.step))
        described = any(o.embedding is not None for found in ordered for o in found)
        if described:
            tracks = people.split_by_identity(tracks)
        # each piece smoothed on its own: joining pieces below never blends landmarks across a jump
        trk.smooth_tracks(tracks, trk.window_for(s.smoothing), 2, source.step)
        if described:
            tracks = people.merge_fragments(tracks)
        people.persons(tracks)
    else:
        singles, i = {}, 0
        for found in ordered:  # independent frames: faces numbered left to right
            for j, o in enumerate(sorted(found, key=lambda o: (o.box[0], o.box[1]))):
                o.track = j
                singles[i] = [o]
                i += 1
        people.persons(singles)
    for found in ordered:  # exactly the values alignments.json stores, so a resumed run matches
        for o in found:
            o.raw_points = np.round(o.raw_points if o.raw_points is not None else o.points, 4)
            o.points, o.box = np.round(o.points, 4), np.round(o.box, 4)
            if o.embedding is not None:
                o.embedding = np.round(o.embedding, 6)


def select_faces(source: Source, s: ExtractSettings, choice: tuple, obs_by_frame, refs) -> dict[tuple[int, int], Any]:
    """(frame, track) -> observation of the faces ``--face`` picks, at most one per face per frame."""
    selected: dict[tuple[int, int], Any] = {}
    if s.track and source.is_sequence:
        groups: dict[int, list] = {}
        for f in source.files:
            for o in obs_by_frame[f]:
                groups.setdefault(o.track, []).append(o)
        people = {k: g[0].person for k, g in groups.items()}
        keep = set(choose(groups, choice, people, refs))
        for f in source.files:
            for o in obs_by_frame[f]:
                if o.track in keep:
                    selected[(f, o.track)] = o
    else:
        misses = 0
        for f in source.files:
            per = {o.track: [o] for o in obs_by_frame[f]}
            try:
                picked = choose(per, choice, None, refs)
            except InputError:
                misses += 1
                if misses == len(source.files):
                    raise
                continue
            for k in picked:
                selected[(f, k)] = per[k][0]
    return one_per_frame(selected, refs if choice[0] == "like" else None)


# ----------------------------------------------------------------------------------- main entry
def extract(plates: Seq[str], out: Path | str, frames: str | None = None, settings: ExtractSettings | None = None,
            ocio: str | None = None, detector=None, landmarker=None, progress: bool = True,
            every: int = 1, embedder=None) -> ExtractResult:
    """Extract the faces of ``plates`` (a sequence pattern, still files or a movie) into face set ``out``.

    ``detector``, ``landmarker``, ``embedder``: models already loaded (loaded here when None; the
    embedder is used only with ``identity`` on)."""
    from faceplate.colour import ColourConfig, CropEncoding
    from faceplate.faces import align
    from faceplate.plates.atomic import check_writable_folder

    s = settings or ExtractSettings()
    for p in EXTRACT_PARAMS:
        if p.name in ("colour_space",):
            continue
        p.check(getattr(s, p.name))
    choice = parse_face_choice(s.face)
    align.check_crop(s.size, s.coverage, s.centering)
    out = Path(out)
    timer = Timer()
    config = ColourConfig.from_env(ocio)
    source = open_source(plates, frames, every)
    space = resolve_space(config, source, s.colour_space)
    enc = CropEncoding(config.resolve(s.crop_primaries, "--crop-primaries"), s.crop_transfer)
    CropEncoding.from_dict(enc.to_dict())
    created = not out.exists()
    check_writable_folder(out, "face set folder")
    try:
        return _extract(out, source, space, enc, config, s, choice, timer, detector, landmarker, progress, embedder)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # failed before writing anything: leave no trace
        raise


def _extract(out: Path, source: Source, space: str, enc, config, s: ExtractSettings, choice: tuple,
             timer: Timer, detector, landmarker, progress: bool, embedder=None) -> ExtractResult:
    from faceplate.faces import alignments as al
    from faceplate.faces.analyse import Analysis, analyse
    from faceplate.faces.choice import load_references
    from faceplate.faces.writer import write_faces

    settings_doc = _settings_doc(source, space, config, s)
    apath = out / "alignments.json"
    reuse = None
    if apath.exists():
        try:
            old = load_alignments(apath)
        except Exception as exc:
            raise OutputError(f"face set folder {out}: holds an unreadable alignments.json ({exc}); "
                              "choose another --out or delete it") from exc
        if old.get("settings") != settings_doc:
            raise OutputError(
                f"face set folder {out}: holds an extraction with different settings "
                f"(found {json.dumps(old.get('settings'), sort_keys=True)[:300]}); choose another --out or delete it")
        reuse = old

    embedder = _embedder(s, choice, embedder)
    refs = None
    if choice[0] == "like" or reuse is None:
        if detector is None:
            from faceplate.faces.detect import FaceDetector

            detector = FaceDetector()
        if landmarker is None:
            from faceplate.faces.landmarks import Landmarker

            landmarker = Landmarker()
    if choice[0] == "like":
        refs = load_references(choice[1], detector, landmarker, embedder, config)
    if reuse is None:
        analysis = analyse(source, space, config, s, detector, landmarker, timer, embedder, progress)
        t = time.perf_counter()
        _who_is_who(source, s, analysis)
        timer.add("align", t)
    else:
        obs_by_frame, infos = al.observations(reuse)
        analysis = Analysis(obs_by_frame, infos, list(reuse.get("cuts", [])), {}, {})
    selected = select_faces(source, s, choice, analysis.obs_by_frame, refs)
    if not selected:
        raise InputError(f"plate {source.label}: no face found in any of the {len(source.files)} frame(s) "
                         f"{min(source.files)}-{max(source.files)} (with --face {s.face})")
    identity = embedder.info() if embedder is not None else None
    doc = al.build(settings_doc, s, analysis.obs_by_frame, analysis.infos, selected, analysis.cuts, identity, refs)
    # alignments.json is written on a writer thread beside the first faces (a rerun after a crash
    # before it exists analyses again and finds the same faces: every file is written atomically)
    jobs = [(al.write, apath, doc)] if reuse is None else []
    gaps = list(doc["gaps"])
    for g in gaps:
        if analysis.obs_by_frame[g]:
            log.warning("plate %s, frame %d: the chosen face (--face %s) is not in this frame (recorded as a gap)",
                        source.label, g, s.face)
    meta = {"identity": identity, "reference": doc["reference"], "cuts": doc["cuts"]}
    written, skipped, fs, sheet = write_faces(out, source, space, enc, config, s, analysis, selected, gaps, meta,
                                              timer, progress, jobs)
    if gaps:
        log.warning("%d frame(s) without the chosen face: %s", len(gaps),
                    ", ".join(str(g) for g in gaps[:20]) + (" ..." if len(gaps) > 20 else ""))
    return ExtractResult(fs, apath, list(source.files), gaps, written, skipped, dict(timer.t), sheet,
                         analysed=reuse is None, cuts=list(analysis.cuts), ahead=dict(timer.ahead))
