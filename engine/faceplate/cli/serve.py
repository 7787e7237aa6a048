"""``faceplate serve``: the engine service (models stay loaded; frames rendered over a Unix socket)."""
from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "serve", help="run the engine service for per-frame callers (Natron)",
        description="Keep swap models loaded and render frames requested over a Unix socket (mode 0600, in a "
                    "per-user runtime folder). Concurrent requests are batched; exits after an idle period.")
    p.add_argument("--socket", help="socket path (default: one per OCIO config, $XDG_RUNTIME_DIR/faceplate/engine-KEY.sock or "
                                    "/tmp/faceplate-$UID/engine-KEY.sock)")
    p.add_argument("--idle-timeout", type=float, default=600.0, help="exit after this many idle seconds")
    p.add_argument("--max-batch", type=int, default=16, help="most faces per inference call")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faceplate.errors import InputError
    from faceplate.render.service import serve

    if args.idle_timeout <= 0:
        raise InputError(f"--idle-timeout: expected > 0 seconds, found {args.idle_timeout}")
    if args.max_batch < 1:
        raise InputError(f"--max-batch: expected >= 1, found {args.max_batch}")
    return serve(args.socket, args.idle_timeout, args.max_batch)
