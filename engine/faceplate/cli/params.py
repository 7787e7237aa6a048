"""``faceplate params --json``: every render parameter's declaration (the Natron knobs are built from it)."""
from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("params", help="print the render parameter declarations",
                              description="Print the render parameters (name, kind, default, range, help, flag).")
    p.add_argument("--json", action="store_true", help="machine-readable JSON (for the Natron nodes)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faceplate.render.settings import RENDER_PARAMS, params_json

    if args.json:
        print(params_json())
        return 0
    for p in RENDER_PARAMS:
        rng = f" [{p.minimum}..{p.maximum}]" if p.minimum is not None or p.maximum is not None else ""
        ch = f" {{{', '.join(p.choices)}}}" if p.choices else ""
        print(f"{p.flag:18s} {p.kind:7s} default {p.default!r}{rng}{ch}: {p.help}")
    return 0
