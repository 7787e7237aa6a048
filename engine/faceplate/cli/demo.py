"""``faceplate demo``: the whole chain on the built-in example shot (resumable)."""
from __future__ import annotations

import argparse

#: the demo's training budget (faceplate.demo.run.DemoSettings.steps; kept here so --help does not import torch)
DEMO_STEPS = 1000


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="run extract -> train -> export -> render on the built-in example shot",
                       description=__doc__)
    p.add_argument("--out", default="faceplate-demo", help="output folder (default: ./faceplate-demo)")
    p.add_argument("--steps", type=int, default=DEMO_STEPS,
                   help=f"training budget in steps (default {DEMO_STEPS}; the same on every machine, so the "
                        "same model and figures on every run of one machine: about 7 minutes on a CPU with native "
                        "bf16, 17 in fp32 on 2 cores)")
    p.add_argument("--minutes", type=float, default=0.0,
                   help="also stop training after this many minutes (default 0: no time cap)")
    p.add_argument("--frames", type=int, default=48, help="plate length in frames (default 48)")
    p.add_argument("--stills", type=int, default=24, help="identity B stills (default 24)")
    p.add_argument("--resolution", type=int, default=96, help="model resolution in pixels (default 96)")
    p.add_argument("--width", type=int, default=32, help="model width: encoder base channels (default 32)")
    p.add_argument("--model", default="original", help="model architecture (default original)")
    p.add_argument("--batch", type=int, default=8, help="training batch size (default 8)")
    p.add_argument("--expressions", default="b", choices=("off", "b", "a", "both"),
                   help="synthesized expressions in training (default b: B's stills are one photo, one expression)")
    p.add_argument("--expression-match", type=float, default=None,
                   help="share of the synthesized expressions that copy the shot's (faceplate train "
                        "--expression-match; default: the demo's)")
    p.add_argument("--follow-exposure", action=argparse.BooleanOptionalAction, default=True,
                   help="the model carries the plate's exposure drift across the swap (faceplate train "
                        "--follow-exposure; default on)")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=False,
                   help="random horizontal flips in training (faceplate train --flip; default off: the "
                        "shot's faces are never mirrored)")
    p.add_argument("--losses", default=None,
                   help="training loss terms name:weight (faceplate train --losses; default: faceplate train's)")
    p.add_argument("--metrics", action=argparse.BooleanOptionalAction, default=True,
                   help="score the swap next to its baselines: identity (dlib), pose, expression, follow, "
                        "sharpness, flicker (default on; a minute or two)")
    p.add_argument("--redo", default="", help="comma-separated stages to run again (or 'all')")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faceplate.demo.run import DemoSettings, demo_ok, run_demo
    from faceplate.errors import InputError
    from faceplate.train.config import TRAIN_PARAMS, parse_losses

    if args.frames < 4 or args.stills < 2 or args.steps < 1 or args.minutes < 0:
        raise InputError(f"demo: expected --frames >= 4, --stills >= 2, --steps >= 1, --minutes >= 0; found "
                         f"{args.frames}, {args.stills}, {args.steps}, {args.minutes}")
    match = DemoSettings.expression_match if args.expression_match is None else args.expression_match
    # faceplate train's own range check, here so a bad value fails before the plate and the extracts
    next(q for q in TRAIN_PARAMS if q.name == "expression_match").check(match)
    losses = args.losses or DemoSettings.losses
    parse_losses(losses)  # a bad --losses fails here, not after the plate and the extracts
    summary = run_demo(DemoSettings(out=args.out, steps=args.steps, minutes=args.minutes, frames=args.frames, stills=args.stills,
                                    resolution=args.resolution, model=args.model, width=args.width, batch=args.batch,
                                    expressions=args.expressions, expression_match=match, follow_exposure=args.follow_exposure,
                                    flip=args.flip, losses=losses, metrics=args.metrics,
                                    redo=frozenset(x for x in args.redo.split(",") if x)))
    return 0 if demo_ok(summary) else 1
