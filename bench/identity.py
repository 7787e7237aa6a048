"""Face identity descriptor: dlib vs onnxruntime, same chips, same process.

The same network (dlib's ResNet, ``dlib_face_recognition_resnet_model_v1``) run by
* dlib (``face_recognition_model_v1.compute_face_descriptor``; the wheel's own threads and BLAS, if any),
* onnxruntime on the converted asset ``identity`` (CPU, ``--threads`` intra-op threads, default 1 as
  ``Embedder.load`` uses),
on the astronaut's and Grace Hopper's face chips (FaceMesh points -> ``Embedder.chip``), interleaved,
``--repeats`` runs each (default 20). Prints the median ms per descriptor of each runtime (10th
percentile beside it), the ratio ORT ÷ dlib, and how far apart the two runtimes' descriptors are.
The chip (dlib's ``get_face_chip``, the same for both) is made once and not timed.

    .venv/bin/python bench/identity.py [--threads 1] [--repeats 20]

Needs the face-model assets with ``identity`` built (``faceplate assets build``; ``$FACEPLATE_ASSETS``
honoured) and the identity extra.
"""
from __future__ import annotations

import argparse
import os
from typing import Callable

import numpy as np

import faceplate  # noqa: F401  (before onnxruntime: disables its telemetry)


def _chips() -> dict[str, np.ndarray]:
    """Face chips of the astronaut and Grace Hopper, from our detector and FaceMesh points."""
    import cv2
    import matplotlib.cbook
    import skimage.data

    from faceplate.faces.detect import FaceDetector
    from faceplate.faces.identity import face_chip
    from faceplate.faces.landmarks import Landmarker, to_ibug68

    det, mesh = FaceDetector(), Landmarker()
    hopper = cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))[:512, :, ::-1]
    chips = {}
    for name, rgb in (("astronaut", skimage.data.astronaut()), ("hopper", hopper)):
        img = np.ascontiguousarray(rgb.astype(np.float32) / 255.0)
        pts = mesh.from_detection(img, det.detect(img)[0], refine=True).points
        chips[name] = face_chip(img, to_ibug68(pts))  # what Embedder.chip does
    return chips


def run(report: Callable[[str], None] = print, threads: int = 1, repeats: int = 20) -> dict:
    """Time dlib and onnxruntime per descriptor; report and return the numbers."""
    import dlib
    import onnxruntime

    from _timing import interleaved_ms

    from faceplate.faces.identity import Embedder, distance
    from faceplate.faces.onnxrt import CPU

    ref = Embedder.load(runtime="dlib")
    ort = Embedder.load(runtime="onnxruntime", providers=[CPU], threads=threads)
    chips = _chips()
    out: dict = {"threads": threads, "repeats": repeats, "chips": {}}
    report(f"identity descriptor, median of {repeats} runs per chip (10th percentile), onnxruntime "
           f"{onnxruntime.__version__} CPU with {threads} thread(s) vs dlib {dlib.__version__}")
    report(f"{'chip':10s} {'dlib ms':>9s} {'ORT ms':>9s} {'ORT÷dlib':>9s} {'max|diff|':>10s} {'distance':>10s}")
    all_d, all_o = [], []
    for name, chip in chips.items():
        td, to = interleaved_ms([lambda c=chip: ref.describe(c), lambda c=chip: ort.describe(c)], repeats)
        all_d += td
        all_o += to
        a, b = ref.describe(chip), ort.describe(chip)
        md, mo = float(np.median(td)), float(np.median(to))
        row = {"dlib_ms": md, "ort_ms": mo, "ratio": mo / md, "max_abs_diff": float(np.abs(a - b).max()),
               "distance": float(distance(a, b)), "p10_dlib_ms": float(np.percentile(td, 10)),
               "p10_ort_ms": float(np.percentile(to, 10))}
        out["chips"][name] = row
        report(f"{name:10s} {md:9.2f} {mo:9.2f} {row['ratio']:8.3f}x {row['max_abs_diff']:10.1e} "
               f"{row['distance']:10.1e}"
               f"   ({row['p10_dlib_ms']:.2f} / {row['p10_ort_ms']:.2f})")
    md, mo = float(np.median(all_d)), float(np.median(all_o))
    out.update(dlib_ms=md, ort_ms=mo, ratio=mo / md)
    report(f"{'all':10s} {md:9.2f} {mo:9.2f} {mo / md:8.3f}x")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    report(f"load average while measuring: {load:.1f} on {os.cpu_count()} CPUs "
           "(numbers are noisy when it exceeds the CPUs)")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (default 1)")
    p.add_argument("--repeats", type=int, default=20, help="timed runs per chip and runtime (default 20)")
    a = p.parse_args(argv)
    run(threads=a.threads, repeats=a.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
