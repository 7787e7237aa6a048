"""``faceplate export RUN_DIR --out face.onnx``: one self-describing ONNX file (see
:mod:`faceplate.train.export`)."""
from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "export", help="export a trained run to one ONNX file with its manifest",
        description="Export the encoder and the chosen decoder of a training run to ONNX (input 'face', "
                    "outputs 'swap' and 'mask', dynamic batch, manifest in the metadata), validated "
                    "with onnxruntime against torch.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="run folder made by 'faceplate train' (or a checkpoint file)")
    p.add_argument("--out", required=True, metavar="ONNX", help="ONNX file to write")
    p.add_argument("--direction", choices=("a2b", "b2a"), default="a2b",
                   help="a2b: put B onto faces of A (the shot); b2a: the reverse (default: a2b)")
    p.add_argument("--fp16", action="store_true", help="run the network in float16 (float32 inputs/outputs)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from faceplate.train.export import export

    rep = export(args.run_dir, args.out, direction=args.direction, fp16=args.fp16)
    diffs = ", ".join(f"{k} {v:.2e}" for k, v in rep.max_abs_diff.items())
    print(f"faceplate export: wrote {rep.path} ({rep.manifest.architecture}, {rep.precision}, "
          f"{rep.manifest.resolution}px, {rep.manifest.training_steps} steps); onnxruntime vs torch max abs diff: {diffs}")
    return 0
