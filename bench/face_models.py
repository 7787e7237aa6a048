"""Face models: onnxruntime vs the TFLite reference runtime (XNNPACK), same inputs, same thread count.

For each model (BlazeFace short/full range, FaceMesh) the median time of one inference in
* TFLite (``ai_edge_litert``, XNNPACK delegate),
* the straight ``tflite2onnx`` conversion in onnxruntime (graph optimisation ALL), "before",
* the installed, rewritten graph (``faceplate.faces.assets.optimise_model``) with Faceplate's session
  options, "after",
and the ratios ONNX/TFLite (medians, and 10th percentiles as the steadier figure on a busy machine). Inputs are the astronaut photo prepared as each model's input (the
build's verification inputs); the largest output difference against TFLite is printed too.

    .venv/bin/python bench/face_models.py [--threads 2] [--repeats 200]

Then the per-face costs of extract's steps (``pipeline_costs``): FaceMesh with one pass and with the
second pass from its own points, and the identity descriptor (onnxruntime when its asset is built, else
dlib; ``bench/identity.py`` compares the two).

``run(report)`` is the entry point for other benchmarks (bench/extract.py): ``report`` is called
with each line of the table, and the rows are returned as dicts.
"""
from __future__ import annotations

import argparse
import os
from typing import Callable

import numpy as np

import faceplate  # noqa: F401  (before onnxruntime: disables its telemetry)


def _interleaved_ms(fns: list[Callable[[], object]], repeats: int, warmup: int = 10) -> list[tuple[float, float]]:
    """(median, 10th percentile) time of each function in ms, run round-robin so that load from other
    processes hits all alike (the 10th percentile is the steadier figure on a busy machine)."""
    from _timing import interleaved_ms

    return [(float(np.median(t)), float(np.percentile(t, 10))) for t in interleaved_ms(fns, repeats, warmup)]


def run(report: Callable[[str], None] = print, threads: int = 2, repeats: int = 200) -> list[dict]:
    """Time every face model in TFLite and onnxruntime (before/after optimisation); report a table."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    from faceplate.faces import assets
    from faceplate.faces.onnxrt import CPU, session_options

    photo = assets.verification_photo()
    src_dir = assets.source_dir()
    rows = []
    report(f"face models, median of {repeats} runs, {threads} CPU threads, onnxruntime {ort.__version__}")
    report(f"{'model':15s} {'TFLite ms':>9s} {'ONNX before':>11s} {'ratio':>6s} {'ONNX after':>10s} {'ratio':>6s} "
           f"{'speed-up':>8s} {'max|diff|':>9s}")
    for name, sp in assets.ASSETS.items():
        if name in assets.DLIB_ASSETS:  # no TFLite source: bench/identity.py times it against dlib
            continue
        src = src_dir / sp.source
        x = assets.verification_input(sp, photo)
        it = Interpreter(model_path=str(src), num_threads=threads)
        it.allocate_tensors()
        inp = it.get_input_details()[0]["index"]
        outs = [d["index"] for d in it.get_output_details()]

        def tflite():
            it.set_tensor(inp, x)
            it.invoke()
            return [it.get_tensor(o) for o in outs]

        raw = assets.canonicalise(assets.convert_tflite(src))
        opt, _ = assets.optimise_model(assets.canonicalise(assets.convert_tflite(src)))
        xn = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        runs = [tflite]
        for model in (raw, opt):
            s = ort.InferenceSession(model.SerializeToString(), session_options(threads), providers=[CPU])
            runs.append(lambda s=s, feed={s.get_inputs()[0].name: xn}: s.run(None, feed))
        (t_tfl, p_tfl), *both = _interleaved_ms(runs, repeats)
        times = [m for m, _ in both]
        p10 = [p for _, p in both]
        diffs = assets.compare_outputs(assets.tflite_outputs(src, x, threads),
                                       assets.onnx_outputs(opt.SerializeToString(), x, threads), name)
        row = {"model": name, "tflite_ms": t_tfl, "onnx_before_ms": times[0], "onnx_after_ms": times[1],
               "ratio_before": times[0] / t_tfl, "ratio_after": times[1] / t_tfl,
               "speedup": times[0] / times[1], "max_abs_diff": max(diffs.values()),
               "p10_tflite_ms": p_tfl, "p10_onnx_before_ms": p10[0], "p10_onnx_after_ms": p10[1],
               "p10_ratio_before": p10[0] / p_tfl, "p10_ratio_after": p10[1] / p_tfl}
        rows.append(row)
        report(f"{name:15s} {t_tfl:9.2f} {times[0]:11.2f} {row['ratio_before']:5.2f}x {times[1]:10.2f} "
               f"{row['ratio_after']:5.2f}x {row['speedup']:7.2f}x {row['max_abs_diff']:9.1e}   "
               f"(10th percentile: {p_tfl:.2f} / {p10[0]:.2f} / {p10[1]:.2f} ms, "
               f"ratios {row['p10_ratio_before']:.2f}x -> {row['p10_ratio_after']:.2f}x)")
    report("ratio = ONNX time / TFLite time (lower is better, 1.00x = parity); speed-up = before / after")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    report(f"load average while measuring: {load:.1f} on {os.cpu_count()} CPUs (numbers are noisy when it exceeds the CPUs)")
    return rows


def pipeline_costs(report: Callable[[str], None] = print, repeats: int = 30) -> dict:
    """Per-face costs of extract's landmark and identity steps on the astronaut: FaceMesh from a
    detection (one pass), with the second pass from its own points (two passes), and the identity
    descriptor (dlib's ResNet in the runtime ``Embedder.load`` picks, chip included)."""
    import skimage.data

    from faceplate.faces.detect import FaceDetector
    from faceplate.faces.landmarks import Landmarker

    img = np.ascontiguousarray(skimage.data.astronaut().astype(np.float32) / 255.0)
    det = FaceDetector().detect(img)[0]
    mesh = Landmarker()
    fns = [lambda: mesh.from_detection(img, det), lambda: mesh.from_detection(img, det, refine=True)]
    names = ["FaceMesh, one pass", "FaceMesh, two passes"]
    try:
        from faceplate.faces.identity import Embedder

        emb = Embedder.load()
        pts = mesh.from_detection(img, det, refine=True).points
        fns.append(lambda: emb.embed(img, pts))
        names.append(f"identity ({emb.runtime})")
    except ImportError as exc:
        report(f"identity descriptor: not installed ({exc})")
    times = _interleaved_ms(fns, repeats, warmup=3)
    report(f"per-face costs, median of {repeats} runs (10th percentile)")
    out = {}
    for n, (med, p10) in zip(names, times):
        report(f"{n:24s} {med:8.2f} ms  ({p10:.2f})")
        out[n] = med
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=200)
    a = p.parse_args(argv)
    run(print, a.threads, a.repeats)
    pipeline_costs(print)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
