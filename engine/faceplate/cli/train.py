"""``faceplate train``: train a swap model on two face sets (see :mod:`faceplate.train.loop`).

Every option can also be set in a TOML file (``--config run.toml``; flags win over the file).
"""
from __future__ import annotations

import argparse


def configure_parser(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The train options (shared with ``python -m faceplate.train.ddp``)."""
    from faceplate.params import add_arguments
    from faceplate.train.config import TRAIN_PARAMS

    p.add_argument("--config", metavar="TOML", default=None, help="read settings from this TOML file")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_arguments(p, TRAIN_PARAMS)
    return p


def config_from_args(args: argparse.Namespace):
    from faceplate.train.config import TRAIN_PARAMS, resolve

    cli = {p.name: getattr(args, p.name, None) for p in TRAIN_PARAMS}
    return resolve(cli, args.config, resume=args.resume)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train a face-swap model on face sets A and B",
        description="Train a face-swap model: A is the face in the shot, B the face to put there. "
                    "Writes config, checkpoints, loss log, previews and TensorBoard logs to --out.",
    )
    configure_parser(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from faceplate.train.loop import train

    cfg = config_from_args(args)
    result = train(cfg, resume=args.resume, progress=not args.quiet)
    print(f"faceplate train: step {result.step}, checkpoint {result.checkpoint}")
    return 130 if result.interrupted else 0
