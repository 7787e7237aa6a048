"""``faceplate farm-job PLATE --model M --frames A-B --chunk N --out passes.####.exr --job job.json``:
the per-chunk command lines of a shot for a render farm (OpenCue, Deadline, …; see docs/farm.md)."""
from __future__ import annotations

import argparse
import logging

log = logging.getLogger("faceplate.farm")


def add_parser(subparsers) -> None:
    from faceplate.params import add_arguments
    from faceplate.render.settings import RENDER_PARAMS

    p = subparsers.add_parser(
        "farm-job", help="write a render-farm job description (JSON) of a shot's per-chunk commands",
        description="Write the per-chunk command lines of a shot as JSON for a farm manager: the engine render "
                    "of each chunk (with --skip-existing, so a chunk run again resumes) and, when a Natron script "
                    "or --comp-out is given, the NatronRenderer job that depends on it, each with the environment "
                    "it needs. Paths are made absolute: every node must see the same storage.")
    p.add_argument("plate", help="plate sequence (plate.####.exr)")
    p.add_argument("--frames", required=True, help="the shot's frames, FIRST-LAST")
    p.add_argument("--chunk", type=int, default=10, help="frames per chunk (one farm task per chunk and job)")
    p.add_argument("--out", required=True, help="passes output pattern, e.g. passes.####.exr")
    p.add_argument("--job", default="-", help="job file to write (default: standard output)")
    p.add_argument("--name", default=None, help="job name (default: the plate's folder name)")
    p.add_argument("--alignments", help="the shot's alignments.json (recommended: faces tracked once per shot)")
    p.add_argument("--separate", action="store_true", help="one file per pass (see faceplate render)")
    p.add_argument("--engine", default=None, help="the engine's Python on the farm nodes (default: this one)")
    n = p.add_argument_group("dependent comp job (NatronRenderer)")
    n.add_argument("--natron-script", help="a Natron project/script to render after each chunk's passes")
    n.add_argument("--natron-write", default="Write1", help="the writer node of --natron-script")
    n.add_argument("--comp-out", help="instead of a script: the shipped headless comp "
                                      "(install/farm/render_swap.py) writes this pattern from the passes")
    n.add_argument("--natron-renderer", default="NatronRenderer", help="the NatronRenderer binary on the nodes")
    n.add_argument("--plugin-dir", default=None, help="Faceplate's Natron plug-in folder on the nodes "
                                                      "(default: this installation's plugin/)")
    n.add_argument("--farm-script", default=None, help="render_swap.py on the nodes (default: this installation's)")
    add_arguments(p, RENDER_PARAMS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from faceplate.cli.render import settings_from_args
    from faceplate.cluster.farmjob import FarmJob, build, write
    from faceplate.errors import InputError
    from faceplate.plates.sequence import parse_frames

    settings = settings_from_args(args)
    if args.chunk < 1:
        raise InputError(f"--chunk: expected >= 1 frame per chunk, found {args.chunk}")
    job = FarmJob(plate=args.plate, out=args.out, frames=list(parse_frames(args.frames)), chunk=args.chunk,
                  settings=settings, alignments=args.alignments, separate=args.separate,
                  name=args.name or Path(args.plate).absolute().parent.name or "faceplate",
                  engine=args.engine or sys.executable, natron_script=args.natron_script,
                  natron_write=args.natron_write, comp_out=args.comp_out, natron_renderer=args.natron_renderer,
                  farm_script=args.farm_script, plugin_dir=args.plugin_dir)
    doc = build(job)
    write(doc, args.job)
    if args.job != "-":
        log.info("%d chunk(s) of %d frame(s), task(s) per chunk: %s -> %s", len(doc["chunks"]), args.chunk,
                 ", ".join(t["name"] for t in doc["tasks"]), args.job)
    return 0
