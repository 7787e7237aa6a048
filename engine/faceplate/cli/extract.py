"""``faceplate extract PLATE --frames A-B --out FACESET/``: aligned face crops, masks and alignments."""
from __future__ import annotations

import argparse
import logging

from faceplate.faces.extract import EXTRACT_PARAMS
from faceplate.params import add_arguments

log = logging.getLogger("faceplate.extract")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "extract",
        help="detect, track and align the faces of a plate into a face set",
        description="Read a plate sequence (name.####.exr, name.%04d.exr, name.@.exr) or still images, find "
                    "the faces (BlazeFace + FaceMesh), track and smooth them, and write aligned float crops in "
                    "the crop encoding, masks, JPEG previews, faceset.json and alignments.json. A frame with no "
                    "face is a warning and a recorded gap. Rerunning with the same settings resumes.",
    )
    p.add_argument("plate", nargs="+", metavar="PLATE",
                   help="sequence pattern, one or more still image files, or a movie (mp4/mov/mkv: frames numbered "
                        "from 0; declare --colour-space)")
    p.add_argument("--frames", default=None, help="frame range, e.g. 1001-1100 or 1001-1100x2 (default: all on disk, "
                                                  "or every frame of a movie)")
    p.add_argument("--every", type=int, default=1, metavar="N", help="keep every N-th frame of the range (default: 1)")
    p.add_argument("--out", required=True, help="face set folder to write")
    p.add_argument("--ocio", default=None, help="OCIO config (default: $OCIO, else the built-in ACES studio config)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--cluster", metavar="ADDRESS", default=None,
                   help="extract many sources at once on Ray workers ('auto' = a local Ray runtime, 'ray://HOST:PORT' "
                        "= an existing cluster; needs faceplate[cluster]): each PLATE (a pattern, a still, or a folder "
                        "of them) is one source, and their face sets are merged into --out (see docs/cluster.md)")
    p.add_argument("--retries", type=int, default=2, help="with --cluster: extra runs of a source whose worker died")
    add_arguments(p, EXTRACT_PARAMS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faceplate.faces.extract import ExtractSettings, extract

    settings = ExtractSettings.from_params(args)
    if args.cluster:
        return _run_on_cluster(args, settings)
    res = extract(args.plate, args.out, frames=args.frames, settings=settings, ocio=args.ocio,
                  progress=not args.quiet, every=args.every)
    t = res.timings
    total = sum(t.values())
    log.info("%d face(s) written, %d already there, %d frame(s), %d gap(s), %d cut(s) -> %s%s", res.written,
             res.skipped, len(res.frames), len(res.gaps), len(res.cuts or []), res.faceset.root,
             f"; contact sheet {res.contact_sheet}" if res.contact_sheet else "")
    if total > 0:
        log.debug("time per stage: " + ", ".join(f"{k} {v:.2f}s" for k, v in t.items()))
    return 0


def _run_on_cluster(args: argparse.Namespace, settings) -> int:
    from faceplate.cluster.extract import extract_on_cluster

    rep = extract_on_cluster(args.plate, args.out, address=args.cluster, frames=args.frames, settings=settings,
                             ocio=args.ocio, retries=args.retries, progress=not args.quiet)
    log.info("%d source(s) on the cluster: %d face(s) merged -> %s (per-source sets in %s)%s", len(rep.sources),
             len(rep.faceset.faces), rep.faceset.root, rep.parts[0].parent if rep.parts else "-",
             f"; {len(rep.empty)} source(s) without a face left out" if rep.empty else "")
    return 0
