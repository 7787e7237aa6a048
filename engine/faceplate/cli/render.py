"""``faceplate render PLATE --model face.onnx --frames A-B --out passes.####.exr``: the shot's passes."""
from __future__ import annotations

import argparse
import logging


def add_parser(subparsers) -> None:
    from faceplate.params import add_arguments
    from faceplate.render.settings import RENDER_PARAMS

    p = subparsers.add_parser(
        "render", help="render swap/mask (and comp) passes for a shot",
        description="Render the swap element (premultiplied swap.RGBA), the matte (mask.Y) and optionally the "
                    "comp (RGBA) per frame, in the plate's colour space and windows. Frames without a face get an "
                    "empty swap, a zero mask and comp = plate, and are listed at the end.")
    p.add_argument("plate", help="plate sequence (plate.####.exr) or a still")
    p.add_argument("--frames", help="frame range, e.g. 1001-1100 (default: every frame on disk)")
    p.add_argument("--out", required=True, help="output pattern, e.g. passes.####.exr")
    p.add_argument("--alignments", help="the shot's alignments.json from 'faceplate extract' (else faces are "
                                        "detected and tracked)")
    p.add_argument("--separate", action="store_true", help="one file per pass (name_swap.####.exr, ...) "
                                                           "instead of one multi-layer EXR")
    p.add_argument("--skip-existing", action="store_true", help="leave frames whose outputs exist (resume a chunk)")
    p.add_argument("--workers", type=int, default=2, help="EXR writer threads (or concurrent service requests)")
    p.add_argument("--service", action="store_true", help="render through the engine service (started on demand)")
    p.add_argument("--socket", help="service socket (default: per-user runtime folder)")
    p.add_argument("--timeout", type=float, default=600.0, help="per-frame timeout with --service (seconds)")
    c = p.add_argument_group("cluster (needs faceplate[cluster]; see docs/cluster.md)")
    c.add_argument("--cluster", metavar="ADDRESS", help="render on Ray workers: 'auto' (a local Ray runtime) or "
                                                         "'ray://HOST:PORT' (an existing cluster)")
    c.add_argument("--chunk", type=int, default=10, help="frames per chunk with --cluster")
    c.add_argument("--retries", type=int, default=2, help="extra runs of a failed chunk with --cluster")
    c.add_argument("--cluster-workers", type=int, default=None,
                   help="workers with --cluster (default: one per GPU, else one per machine)")
    add_arguments(p, RENDER_PARAMS)
    p.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace):
    """The render settings of parsed render-parameter flags (a model is required)."""
    from faceplate.errors import InputError
    from faceplate.render.settings import RENDER_PARAMS, RenderSettings

    settings = RenderSettings.from_values({p.name: getattr(args, p.name) for p in RENDER_PARAMS})
    if not settings.model:
        raise InputError("--model: expected a swap model file (.onnx), found none")
    return settings


def run(args: argparse.Namespace) -> int:
    from faceplate.errors import InputError
    from faceplate.plates.sequence import parse_frames
    from faceplate.render.job import ShotRender, describe, render_shot

    settings = settings_from_args(args)
    if args.workers < 1:
        raise InputError(f"--workers: expected >= 1, found {args.workers}")
    job = ShotRender(
        plate=args.plate, out=args.out, settings=settings,
        frames=parse_frames(args.frames) if args.frames else None, alignments=args.alignments,
        separate=args.separate, skip_existing=args.skip_existing, workers=args.workers,
        via_service=args.service, socket=args.socket, timeout=args.timeout)
    log = logging.getLogger("faceplate.render")
    if args.cluster:
        return _run_on_cluster(job, args, log)
    report = render_shot(job)
    for line in describe(report):
        log.info(line)
    return 0


def _run_on_cluster(job, args: argparse.Namespace, log: logging.Logger) -> int:
    import sys

    from faceplate.cluster.chunks import ranges
    from faceplate.cluster.render import ClusterOptions, describe, render_on_cluster
    from faceplate.errors import ClusterError

    options = ClusterOptions(address=args.cluster, chunk=args.chunk, retries=args.retries,
                             workers=args.cluster_workers, progress=sys.stderr.isatty())
    report = render_on_cluster(job, options)
    for line in describe(report):
        log.info(line)
    if report.failed:
        raise ClusterError(f"--out {job.out}: {len(report.failed_frames)} frame(s) not rendered "
                           f"({ranges(report.failed_frames)}) after {args.retries} retr(ies) per chunk; "
                           f"rerun with --skip-existing to finish the shot")
    return 0
