"""Benchmark ``faceplate extract`` on scene-linear EXR sequences, next to just reading them.

Cases (``--cases``, default all): ``1080p`` (1920×1080, the astronaut scaled 2×, one face),
``360p`` (640×360, one face) and ``360p-3`` (640×360, three faces: the astronaut, Grace Hopper and
a mirrored astronaut). Each makes ``--frames`` (default 24: one second of footage) ACEScg half-float
EXRs moving across the frame in a temporary folder, then measures, in one run, ``--repeat`` times
(default 3; the best time of each is the figure least disturbed by other work on a shared machine, as
noise only ever adds time; the ratio of each extract to the reads beside it is printed too):

* reading the frames only (OpenImageIO, ``faceplate.plates.read_image``), before the first extract
  and after each: frames per second (the reference of the ratio); and, for comparison, a bare
  OpenImageIO read of the three colour channels (no checks, no copies);
* ``faceplate extract`` on the same frames (in process, the same code path as the CLI, ``--face
  all``; the detector, FaceMesh and identity models are loaded before the clock starts, as model
  loading is not per-frame work): frames per second, **extract time ÷ read time**, and the time per
  stage (read, colour, detect, landmarks, identity, align, write) on extract's own thread from its
  timers (``read``: the time it waits for the reader thread, which reads the next frames and, where
  the detector's run is planned, converts and detects ahead; ``write``: the time it waits for its
  writer threads, which make each face's crop, masks and files), the reader and identity threads'
  own time per stage (it overlaps the table), and the identity model's time per described face (on
  its own thread);
* each face model's ONNX time next to the TFLite reference runtime (``bench/face_models.py``'s
  ``run()``, when present).

    .venv/bin/python bench/extract.py [--frames 24] [--repeat 3] [--threads 2] [--size 256] [--cases 1080p,360p,360p-3]

Needs the face-model assets (``faceplate assets build``; ``$FACEPLATE_ASSETS`` honoured).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import faceplate  # noqa: F401  (before onnxruntime: disables its telemetry)

CASES = {"1080p": (1920, 1080, 1), "360p": (640, 360, 1), "360p-3": (640, 360, 3)}


def make_plate(folder: Path, frames: int, w: int = 1920, h: int = 1080, faces: int = 1) -> str:
    import cv2
    import matplotlib.cbook
    import skimage.data

    from faceplate.colour import ColourConfig
    from faceplate.plates import Image, write_image

    cfg = ColourConfig()
    srgb = skimage.data.astronaut().astype(np.float32) / 255.0
    lin = cfg.convert(srgb, "sRGB Encoded Rec.709 (sRGB)", "ACEScg")
    hop = cv2.cvtColor(cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))),
                       cv2.COLOR_BGR2RGB)[:512].astype(np.float32) / 255.0
    hop = cfg.convert(hop, "sRGB Encoded Rec.709 (sRGB)", "ACEScg")
    k = h / 1080.0
    if faces == 1:
        side = int(1024 * k)
        people = [(cv2.resize(lin, (side, side), interpolation=cv2.INTER_CUBIC), int(300 * k), int(30 * k))]
    else:
        side = int(w / 3)
        people = [(cv2.resize(p, (side, side), interpolation=cv2.INTER_AREA), i * side, int(10 * k))
                  for i, p in enumerate((lin, hop, np.ascontiguousarray(lin[:, ::-1])))]
    for i in range(frames):
        canvas = np.full((h, w, 3), 0.18, np.float32)
        for img, x0, y0 in people:
            x, y = x0 + int(12 * k) * i // (3 if faces > 1 else 1), y0 + int(2 * k) * i
            canvas[y:y + side, x:x + side] = img[: h - y, : w - x][: canvas[y:y + side, x:x + side].shape[0],
                                                                   : canvas[y:y + side, x:x + side].shape[1]]
        write_image(folder / f"plate.{1001 + i:04d}.exr",
                    Image(canvas, ("R", "G", "B"), (0, 0, w, h), (0, 0, w, h)), pixel_type="half")
    return str(folder / "plate.####.exr")


def bench(frames: int, size: int, report=print, case: str = "1080p", repeat: int = 3) -> dict:
    import json

    from faceplate.faces.detect import FaceDetector
    from faceplate.faces.extract import STAGES, ExtractSettings, extract
    from faceplate.faces.landmarks import Landmarker
    from faceplate.plates import Sequence, read_image

    w, h, faces = CASES[case]
    with tempfile.TemporaryDirectory(prefix="faceplate-bench-") as tmp:
        tmp = Path(tmp)
        (tmp / "plate").mkdir()
        pattern = make_plate(tmp / "plate", frames, w, h, faces)
        seq = Sequence(pattern)
        rng = f"1001-{1000 + frames}"
        read_image(seq.path(1001))  # warm the file cache and OIIO

        def read_all() -> float:
            t0 = time.perf_counter()
            for f in range(1001, 1001 + frames):
                read_image(seq.path(f)).rgb()
            return time.perf_counter() - t0

        det, lmk, emb = FaceDetector(), Landmarker(), _embedder()  # model loading is not per-frame work
        # read, extract, read, ``repeat`` times (each extract into a new folder): the reads on both sides
        # of an extract see the machine's load of that moment; the best of each is the figure least
        # disturbed by other work on a shared machine (noise only ever adds time)
        reads, runs = [read_all()], []
        for r in range(repeat):
            t0 = time.perf_counter()
            res = extract([pattern], tmp / f"set{r}", rng, ExtractSettings(size=size, face="all"), detector=det,
                          landmarker=lmk, progress=False, embedder=emb)
            runs.append((time.perf_counter() - t0, res))
            reads.append(read_all())
        t_extract, res = min(runs, key=lambda x: x[0])
        t_read = min(reads)
        t_bare = min(bare_read_all(seq, frames) for _ in range(2))
        each = [runs[r][0] / ((reads[r] + reads[r + 1]) / 2) for r in range(repeat)]
        assert res.written == frames * faces, f"expected {frames * faces} faces, wrote {res.written} (gaps {res.gaps})"
        jitter = landmark_jitter(res.alignments)
        doc = json.loads(Path(res.alignments).read_text())
        described = sum(1 for fr in doc["frames"].values() for f in fr["faces"] if f.get("identity") is not None)
    read_fps, ext_fps = frames / t_read, frames / t_extract
    ratio = t_extract / t_read
    report(f"faceplate extract [{case}], {frames} frames {w}x{h} ACEScg half EXR, {faces} face(s), crop {size}px, "
           f"{os.environ.get('OMP_NUM_THREADS', '?')} threads")
    report(f"{'':24}{'fps':>8}{'ms/frame':>10}")
    report(f"{'read only':24}{read_fps:8.2f}{1000 / read_fps:10.1f}   (best of {len(reads)}: "
           + ", ".join(f"{1000 * t / frames:.1f}" for t in reads) + " ms/frame)")
    report(f"{'extract':24}{ext_fps:8.2f}{1000 / ext_fps:10.1f}   (best of {repeat}: "
           + ", ".join(f"{1000 * t / frames:.1f}" for t, _ in runs) + " ms/frame)")
    report(f"{'bare OpenImageIO read':24}{frames / t_bare:8.2f}{1000 * t_bare / frames:10.1f}   (three colour channels "
           f"straight into an array: no checks, no copies; extract ÷ this: {t_extract / t_bare:.2f}x)")
    report(f"{'extract time / read time':24}{ratio:8.2f}x   (best ÷ best; each extract ÷ the reads beside it: "
           + ", ".join(f"{x:.2f}" for x in each) + ")")
    report("")
    report(f"{'stage':24}{'ms/frame':>10}{'share':>8}")
    total = sum(res.timings.values())
    for s in STAGES:
        v = res.timings.get(s, 0.0)
        report(f"{s:24}{1000 * v / frames:10.1f}{100 * v / total if total else 0:7.1f}%")
    report(f"{'(sum of stages)':24}{1000 * total / frames:10.1f}")
    ahead = res.ahead or {}
    report(f"{'other threads (overlap)':24} " + ", ".join(f"{k} {1000 * v / frames:.1f}" for k, v in ahead.items())
           + " ms/frame")
    id_ms = 1000 * ahead.get("identity", 0.0) / described if described else float("nan")  # the identity thread's
    report(f"identity descriptors: {described} face(s) described of {res.written}, {id_ms:.1f} ms per described face")
    report("")
    report("landmark jitter (RMS 2nd difference over frames, px; the plate moves at constant speed, so 0 is exact)")
    report(f"{'raw FaceMesh':24}{jitter[0]:8.3f}")
    report(f"{'smoothed':24}{jitter[1]:8.3f}   ratio {jitter[1] / jitter[0] if jitter[0] else float('nan'):.2f}")
    report("")
    return {"case": case, "frames": frames, "read_fps": read_fps, "extract_fps": ext_fps, "ratio": ratio,
            "ratios_each": each, "ratio_bare_read": t_extract / t_bare,
            "identity_ms_per_face": id_ms, "stages_ms": {s: 1000 * res.timings.get(s, 0.0) / frames for s in STAGES},
            "reader_ms": {k: 1000 * v / frames for k, v in ahead.items()}}


def bare_read_all(seq, frames: int) -> float:
    """Seconds to read the colour channels of every frame with OpenImageIO alone (the least a reader
    can do; faceplate's readers also check the values and keep the windows)."""
    import OpenImageIO as oiio

    t0 = time.perf_counter()
    for f in range(1001, 1001 + frames):
        inp = oiio.ImageInput.open(str(seq.path(f)))
        inp.read_image(0, 0, 0, 3, "float")
        inp.close()
    return time.perf_counter() - t0


def _embedder():
    """The identity model, loaded before timing like the other models (None when not installed)."""
    try:
        from faceplate.faces.identity import Embedder

        return Embedder.load()
    except ImportError:
        return None


def landmark_jitter(alignments: Path) -> tuple[float, float]:
    """RMS second difference (px) of the chosen face's raw and smoothed landmarks over the shot."""
    import json

    doc = json.loads(Path(alignments).read_text())
    raw, smooth = [], []
    for key in sorted(doc["frames"], key=int):
        faces = [f for f in doc["frames"][key]["faces"] if f["selected"]]
        if faces:
            raw.append(np.asarray(faces[0]["landmarks_raw"])[:, :2])
            smooth.append(np.asarray(faces[0]["landmarks"])[:, :2])
    def acc(a):
        a = np.stack(a)
        return float(np.sqrt(((a[2:] - 2 * a[1:-1] + a[:-2]) ** 2).sum(-1).mean())) if len(a) > 2 else float("nan")
    return acc(raw), acc(smooth)


def face_models(threads: int, report=print) -> list[dict] | None:
    path = Path(__file__).with_name("face_models.py")
    if not path.exists():
        report("bench/face_models.py not found: no per-model ONNX vs TFLite times")
        return None
    spec = importlib.util.spec_from_file_location("bench_face_models", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    report("")
    return mod.run(report, threads=threads, repeats=100)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--repeat", type=int, default=3, help="extracts per case, each between two plain reads; "
                   "the ratio is the best extract over the best read")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cases", default=",".join(CASES), help=f"comma list of {', '.join(CASES)}")
    p.add_argument("--no-models", action="store_true", help="skip the per-model ONNX vs TFLite table")
    a = p.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENCV_FOR_THREADS_NUM"):
        os.environ.setdefault(var, str(a.threads))
    import cv2

    cv2.setNumThreads(a.threads)
    from faceplate.memory import keep_frame_buffers

    keep_frame_buffers()  # as the command line does at start
    rows = [bench(a.frames, a.size, case=c.strip(), repeat=max(1, a.repeat)) for c in a.cases.split(",") if c.strip()]
    print("summary: extract time / read time: " + ", ".join(f"{r['case']} {r['ratio']:.2f}x" for r in rows))
    if not a.no_models:
        face_models(a.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
