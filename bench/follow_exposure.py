"""What ``--follow-exposure`` costs the render: the exported swap model with and without it.

Both ONNX models are exported here from the same weights (a model of the bench's size), then run by
onnxruntime on the same batch of crops, round-robin in one process; the ratio is what counts.

    .venv/bin/python bench/follow_exposure.py [--resolution 96] [--width 32] [--model liae] [--batch 8]
"""
from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch

import faceplate  # noqa: F401  (environment defaults before onnxruntime)
from _timing import interleaved_ms
from faceplate.train.export import _to_onnx_bytes
from faceplate.train.models import ModelSpec, SwapNet, build_model


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resolution", type=int, default=96)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--ae-dims", type=int, default=256)
    ap.add_argument("--model", default="liae")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    import onnxruntime as ort

    torch.manual_seed(0)
    spec = ModelSpec(name=args.model, resolution=args.resolution, width=args.width, ae_dims=args.ae_dims)
    plain = build_model(spec).eval()
    following = build_model(ModelSpec(**{**spec.to_dict(), "follow_exposure": True})).eval()
    following.load_state_dict({**plain.state_dict(), "levels": torch.full((2, 3), 0.45)})
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sessions = {name: ort.InferenceSession(_to_onnx_bytes(SwapNet(m, "a2b"), args.resolution), opts,
                                           providers=["CPUExecutionProvider"])
                for name, m in (("without", plain), ("with", following))}
    x = np.random.default_rng(0).random((args.batch, 3, args.resolution, args.resolution), dtype=np.float32)
    runs = [lambda s=s: s.run(None, {"face": x}) for s in sessions.values()]
    times = interleaved_ms(runs, args.repeats)
    med = {name: statistics.median(t) for name, t in zip(sessions, times)}
    print(f"{args.model} {args.resolution} px width {args.width}, batch {args.batch}, {args.repeats} rounds: "
          f"median {med['without']:.2f} ms without, {med['with']:.2f} ms with --follow-exposure; "
          f"ratio with/without {med['with'] / med['without']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
