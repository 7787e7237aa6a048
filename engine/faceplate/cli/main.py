"""``faceplate`` entry point. Maps :class:`FaceplateError` to a one-line message and exit code 2.

Subcommands live in ``faceplate.cli.<module>``; each module defines ``add_parser(subparsers)``
(which sets ``func``) and is imported only when present, so the render path never imports torch.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from faceplate import __version__
from faceplate.errors import FaceplateError

#: subcommand modules in help order
COMMANDS = ("extract", "faces", "train", "export", "render", "farmjob", "serve", "assets", "params", "demo", "check")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faceplate",
        description="Face replacement for VFX compositing: extract faces, train, export, render passes.",
    )
    parser.add_argument("--version", action="version", version=f"faceplate {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"faceplate.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"faceplate.cli.{name}":
                continue
            raise
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="faceplate: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    from faceplate.memory import keep_frame_buffers

    keep_frame_buffers()  # our own process: frame buffers are reused, not faulted in anew every frame
    try:
        rc = args.func(args)
    except FaceplateError as exc:
        print(f"faceplate {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"faceplate {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
