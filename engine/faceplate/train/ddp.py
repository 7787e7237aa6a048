"""Distributed data-parallel training, launched by ``torchrun`` (one process per GPU, or per CPU
slot with the gloo backend)::

    torchrun --nproc-per-node 2 -m faceplate.train.ddp --a A --b B --out RUN [train options]

Takes exactly the options of ``faceplate train``. Each process trains on its own share of every
step's samples (``--batch`` per process); gradients are averaged by DDP; rank 0 alone writes the
run folder (one checkpoint, previews, logs). Backend: NCCL on CUDA, gloo on CPU.
"""
from __future__ import annotations

import argparse
import os
import sys

from faceplate.errors import FaceplateError, InputError


def dist_context():
    from faceplate.train.loop import DistContext

    missing = [k for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise InputError(f"faceplate.train.ddp: expected to be started by torchrun (environment {missing} not set); "
                         "run: torchrun --nproc-per-node N -m faceplate.train.ddp --a A --b B --out RUN")
    return DistContext(rank=int(os.environ["RANK"]), world=int(os.environ["WORLD_SIZE"]),
                       local_rank=int(os.environ["LOCAL_RANK"]))


def main(argv: list[str] | None = None) -> int:
    from faceplate.cli.train import config_from_args, configure_parser

    parser = configure_parser(argparse.ArgumentParser(prog="torchrun ... -m faceplate.train.ddp"))
    args = parser.parse_args(argv)
    rank = os.environ.get("RANK", "?")
    try:
        import torch
        import torch.distributed as tdist

        from faceplate.train.loop import pick_device, train

        ctx = dist_context()
        cfg = config_from_args(args)
        device = pick_device(cfg.device, ctx)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        tdist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        try:
            result = train(cfg, resume=args.resume, dist=ctx, progress=not args.quiet)
            # every rank waits for the others (rank 0 writes the last checkpoint and preview) before the
            # group goes: a rank that tears gloo down while its peer still talks aborts ("terminate called
            # without an active exception", seen once under load)
            tdist.barrier()
        finally:
            tdist.destroy_process_group()
    except FaceplateError as exc:
        print(f"faceplate train (rank {rank}): error: {exc}", file=sys.stderr)
        return exc.exit_code
    if ctx.main:
        print(f"faceplate train: {ctx.world} processes, step {result.step}, checkpoint {result.checkpoint}")
    return 130 if result.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
