"""A two-identity swap case built from photos, for ``bench/quality.py``.

A's shot is one photo of A animated like the demo plate (a slow camera move, exposure drift, sensor
noise: :func:`faceplate.demo.plate.render_frame`), with A's other photos as extra stills; B's set is
seeded variants (:func:`faceplate.demo.identity.variant`) of B's photos. Every photo is first framed
like the demo's astronaut (the face's size and place in a 512 px square), so the demo's camera path
frames every identity alike.

Photos: ``../shared/data/faces`` when present (A = obama*.jpg, B = biden*.jpg: two people with several
shots each), else the packaged photos (A = skimage's astronaut, B = matplotlib's Grace Hopper).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from faceplate.plates import Image, Sequence, write_image

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"
#: where the demo camera expects the face in its 512 px source: centre (x, y) and width (px)
FACE_CENTRE, FACE_WIDTH, SIDE = (226.0, 140.0), 125.0, 512


def photo_sets() -> tuple[str, list[Path], str, list[Path]]:
    """(name of A, A's photos, name of B, B's photos); the first of A's photos is the shot."""
    if (SHARED / "obama.jpg").exists() and (SHARED / "biden.jpg").exists():
        return ("obama", [SHARED / "obama.jpg", SHARED / "obama2.jpg", SHARED / "obama-1080p.jpg"],
                "biden", [SHARED / "biden.jpg", SHARED / "biden2.jpg"])
    from faceplate.demo.sources import astronaut_path, grace_hopper_path

    return "astronaut", [astronaut_path()], "grace_hopper", [grace_hopper_path()]


def framed_photo(path: Path, config, space: str) -> np.ndarray:
    """The photo as 512×512 float32 scene-linear ``space``, its (largest) face placed like the
    astronaut's in hers. Raises when the photo shows no face."""
    import cv2

    from faceplate.demo.sources import load_photo_linear
    from faceplate.faces.detect import FaceDetector

    lin = load_photo_linear(path, config, space)
    proxy = config.to_proxy(lin, space)
    found = FaceDetector().detect(np.ascontiguousarray(proxy))
    if not found:
        raise SystemExit(f"quality bench: expected a face in {path}, found none")
    box = max(found, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1])).box
    k = FACE_WIDTH / float(box[2] - box[0])
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    m = np.array([[k, 0, FACE_CENTRE[0] - k * cx], [0, k, FACE_CENTRE[1] - k * cy]], np.float64)
    return cv2.warpAffine(lin, m, (SIDE, SIDE), flags=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE).astype(np.float32)  # no mirrored copies of the face


def _write(path: Path, px: np.ndarray, note: str) -> None:
    h, w = px.shape[:2]
    write_image(path, Image(px, ("R", "G", "B"), (0, 0, w, h), (0, 0, w, h), metadata={"faceplate:bench": note}),
                pixel_type="half", compression="zip")


def make_photo_case(out: Path, frames: int, config, space: str, width: int = 1280, height: int = 720,
                    first: int = 1001, b_variants: int = 12) -> dict:
    """Write A's shot, A's extra stills and B's stills under ``out``; skip files already there.

    Returns the sequences: ``plate`` (A's shot, ``first``.. ``first + frames - 1``), ``a_stills`` (A's
    other photos, or None), ``b_stills``, and the names."""
    from faceplate.demo import plate as demo_plate
    from faceplate.demo.identity import variant

    name_a, photos_a, name_b, photos_b = photo_sets()
    plate = Sequence(str(out / "plate" / "plate.####.exr"))
    a_stills = Sequence(str(out / "a_stills" / "a.####.exr")) if len(photos_a) > 1 else None
    b_stills = Sequence(str(out / "b_stills" / "b.####.exr"))
    shot = None
    for i in range(frames):
        if not plate.path(first + i).exists():
            shot = shot if shot is not None else framed_photo(photos_a[0], config, space)
            _write(plate.path(first + i), demo_plate.render_frame(shot, i, frames, seed=3, width=width, height=height),
                   f"{name_a} shot")
    if a_stills is not None:
        for j, p in enumerate(photos_a[1:]):
            if not a_stills.path(1 + j).exists():
                _write(a_stills.path(1 + j), framed_photo(p, config, space), f"{name_a} still {p.name}")
    n = 0
    for p in photos_b:
        base = None
        for i in range(b_variants):
            n += 1
            if not b_stills.path(n).exists():
                base = base if base is not None else framed_photo(p, config, space)
                _write(b_stills.path(n), variant(base, i, seed=5 + n), f"{name_b} variant {i} of {p.name}")
    return {"name_a": name_a, "name_b": name_b, "plate": plate, "a_stills": a_stills, "b_stills": b_stills,
            "b_count": n, "a_still_count": len(photos_a) - 1}


def _cmd(*argv: str) -> None:
    import subprocess
    import sys

    rc = subprocess.call([sys.executable, "-m", "faceplate", *argv])
    if rc:
        raise SystemExit(f"quality bench: 'faceplate {' '.join(argv)}' failed with exit code {rc}")


def have_faceset(folder: Path, size: int) -> bool:
    """True when ``folder`` holds a face set of ``size`` px (cached: not extracted again); stops with
    a message naming both sizes when it holds another (training would resample it)."""
    from faceplate.faces.faceset import FaceSet

    if not (folder / "faceset.json").exists():
        return False
    have = FaceSet.load(folder, check_files=False).resolution
    if have != size:
        raise SystemExit(f"quality bench: {folder} holds {have} px faces, --resolution asks for {size} px; "
                         f"choose another --out (face sets and models are cached per output folder)")
    return True


def _frames_of(folder: Path) -> list[int]:
    import json

    return sorted({int(r["frame"]) for r in json.loads((folder / "faceset.json").read_text())["faces"]})


def run_photo_case(out: Path, frames: int, train_argv: list[str], size: int, config, space: str) -> dict:
    """The two-identity case end to end: A's shot and stills, B's stills, face sets (A from every
    other frame of the shot plus A's stills, B from B's stills), the oracle's training plus synthesized
    B expressions (``--expressions b``, as the demo: B's set is sparse), a
    render of the held-out frames with the render's defaults, and every metric next to the baselines."""
    import hashlib
    import json

    from faceplate.plates.sequence import format_frames
    from faceplate.quality.evaluate import format_table, score_shot, verdicts

    first = 1001
    case = make_photo_case(out, frames, config, space, first=first)
    last = first + frames - 1
    sz = ["--size", str(size)]
    if not have_faceset(out / "fs_a_shot", size):
        _cmd("extract", case["plate"].pattern, "--frames", f"{first}-{last}", "--out", str(out / "fs_a_shot"),
             "--quiet", "--colour-space", space, *sz)
    parts = [("fs_a", case["plate"].pattern, ["--frames", f"{first}-{last}x2"])]
    if case["a_stills"] is not None:
        parts.append(("fs_a_stills", case["a_stills"].pattern, ["--frames", f"1-{case['a_still_count']}",
                                                                 "--no-track"]))
    parts.append(("fs_b", case["b_stills"].pattern, ["--frames", f"1-{case['b_count']}", "--no-track"]))
    for name, pattern, extra in parts:
        if not have_faceset(out / name, size):
            _cmd("extract", pattern, *extra, "--out", str(out / name), "--quiet", "--colour-space", space, *sz)
    fs_a = out / "fs_a"
    if case["a_stills"] is not None:
        fs_a = out / "fs_a_all"
        if not (fs_a / "faceset.json").exists():
            _cmd("faces", "merge", str(out / "fs_a"), str(out / "fs_a_stills"), "--out", str(fs_a))
    # B's set is a few photos with one or two expressions: trained like the demo, with synthesized ones,
    # and with flips whatever the oracle uses (measured: without them the swap was no nearer biden than
    # obama, identity distance 0.63 / 0.64, against 0.58 / 0.71 with them; docs/quality.md); half the
    # synthesized expressions copy the shot's (named here: models are cached by their arguments)
    train_argv = [*train_argv, "--expressions", "b", "--expression-match", "0.5", "--flip"]
    tag = hashlib.sha256(json.dumps(train_argv).encode()).hexdigest()[:10]
    mdir = out / "models" / tag
    model = mdir / "model.onnx"
    if not model.exists():
        _cmd("train", "--a", str(fs_a), "--b", str(out / "fs_b"), "--out", str(mdir / "run"), "--preview-every", "0",
             "--save-every", "0", *train_argv)
        _cmd("export", str(mdir / "run"), "--out", str(model))
    alignments = out / "fs_a_shot" / "alignments.json"
    trained = set(_frames_of(out / "fs_a"))
    scored = [f for f in range(first, last + 1) if f not in trained]
    passes = mdir / "swap" / "passes.####.exr"
    from faceplate.plates import Sequence

    _cmd("render", case["plate"].pattern, "--model", str(model), "--frames", format_frames(scored), "--out",
         str(passes), "--alignments", str(alignments), "--comp", "--skip-existing", "--colour-space", space)
    result = score_shot(case["plate"], Sequence(str(passes)), alignments, model, scored, space, config,
                        mdir / "baselines", faceset_a=fs_a, faceset_b=out / "fs_b")
    result["case"] = {"a": case["name_a"], "b": case["name_b"], "held_out": True, "model": str(model)}
    result["table"] = format_table(result)
    result["verdicts"] = verdicts(result)
    return result
