"""Natron live path vs ``faceplate render``: frames per second on the same frames, in one run.

    .venv/bin/python bench/natron_live.py [--frames 12] [--width 1920 --height 1080] [--detect]

The live path is run exactly as Natron's RunScript runs it: the FaceplateSwap node's script text
(built by the node code against the fake host, knobs at their defaults plus the model and, unless
``--detect``, the alignments) written to a file and executed once per frame, one frame at a time
(RunScript never runs two scripts at once), each frame's passes file as ``$1``; the engine service
is warm (started and used for one frame first), as it is after the first frame in a session.
``faceplate render`` runs over the same frames with the flags the node gives the pre-render, twice:
as a CLI process (start-up included, as a TD runs it) and in this process with its imports and model
already loaded (no start-up: the stricter baseline). Reported: fps of each, the ratios live ÷ render
(the issue asks ≥ 0.8; against the warm render: the median of ``--rounds`` alternating rounds, so both
sides see the same machine load), and whether the outputs are identical (pixels of every frame).

Everything is built in the run: the 1080p plate and the small convolutional model of
``bench/render.py``.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def node_script(plate: str, model: Path, alignments: Path | None, work: Path) -> tuple[str, str, list]:
    """(RunScript text, passes pattern, cli args) of a FaceplateSwap set up like a user would."""
    for p in (ROOT / "tests" / "natron" / "fake_natron", ROOT / "plugin", ROOT / "nodes"):
        sys.path.insert(0, str(p))
    os.environ["NATRON_PLUGIN_PATH"] = f"{ROOT / 'plugin'}:{ROOT / 'nodes'}"
    import NatronEngine
    import faceplate_node

    natron = NatronEngine.PyCoreApplication().start()
    app = NatronEngine.App(natron)
    group = app.createNode("io.faceplate.FaceplateSwap")
    group.getParam("workFolder").setValue(str(work))
    group.getParam("model").setValue(str(model))
    if alignments is not None:
        group.getParam("alignments").setValue(str(alignments))
    group.connectInput(0, app.createReader(plate))
    status = group.getParam("status").getValue()
    if status.startswith("error"):
        raise SystemExit(f"node: {status}")
    run = group.getNode("RunScript")
    return run.getParam("script").getValue(), run.getParam("filename1").getValue(), \
        faceplate_node.settings(group)["cli_args"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--detect", action="store_true", help="detect faces instead of reading alignments")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of warm render and live path")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)

    bench_render = _load("faceplate_bench_render", ROOT / "bench" / "render.py")
    tmp = Path(tempfile.mkdtemp(prefix="fp-natron-live-"))
    run_dir = Path(tempfile.mkdtemp(prefix="fpl-", dir="/tmp"))
    os.chmod(run_dir, 0o700)
    sock = str(run_dir / "engine.sock")
    env = dict(os.environ, FACEPLATE_SOCKET=sock, FACEPLATE_ENGINE_PYTHON=sys.executable,
               PYTHONNOUSERSITE="1", PYTHONPATH="/nonexistent/natron/lib")  # what Natron's children get
    try:
        plate, al = bench_render.build_shot(tmp / "plate", args.frames + 1, args.width, args.height)
        model = tmp / "model.onnx"
        bench_render.build_conv_model(model, 128)
        script, passes, cli_args = node_script(plate, model, None if args.detect else al, tmp / "work")
        frames = list(range(1001, 1001 + args.frames + 1))
        warm, timed = frames[0], frames[1:]

        # faceplate render over the timed frames (a fresh process, as a TD runs it)
        ref = tmp / "ref" / "passes.####.exr"
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "faceplate", "render", plate, "--frames", f"{timed[0]}-{timed[-1]}",
                            "--out", str(ref)] + cli_args, capture_output=True, text=True)
        cli_s = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(r.stderr)

        # the same render in this process with its imports and model warm (no start-up in the time)
        from faceplate.cli.main import main as cli_main

        warm_ref = tmp / "ref-warm" / "passes.####.exr"
        if cli_main(["render", plate, "--frames", f"{warm}-{warm}", "--out", str(warm_ref)] + cli_args) != 0:
            raise SystemExit("in-process render failed")

        path = tmp / "runscript"
        path.write_text(script)
        path.chmod(0o700)

        def one(frame: int) -> None:
            out = passes.replace("####", "%04d" % frame)
            p = subprocess.run([str(path), out], env=env, capture_output=True, text=True)
            if p.returncode != 0 or not os.path.exists(out):
                raise SystemExit(f"live frame {frame}: {p.stderr.strip()}")

        one(warm)  # the service starts and loads the model: warm from here on
        rounds = []  # (warm render s, live s), alternating so that both see the same machine load
        for _ in range(max(1, args.rounds)):
            t0 = time.perf_counter()
            if cli_main(["render", plate, "--frames", f"{timed[0]}-{timed[-1]}", "--out", str(warm_ref)]
                        + cli_args) != 0:
                raise SystemExit("in-process render failed")
            warm_s = time.perf_counter() - t0
            one(warm)  # back to the start of the shot, as a viewer would
            t0 = time.perf_counter()
            for f in timed:
                one(f)
            rounds.append((warm_s, time.perf_counter() - t0))
        ratios = sorted(w / lv for w, lv in rounds)
        warm_s, live_s = sorted(rounds, key=lambda r: r[0] / r[1])[len(rounds) // 2]
        log = (tmp / "work" / "faceplate.log").read_text().splitlines()[-len(timed):]
        service_s = sum(float(ln.rsplit(", ", 1)[-1].rstrip("s")) for ln in log if " ok, " in ln)

        from faceplate.plates import read_image

        same = all(np.array_equal(read_image(passes.replace("####", "%04d" % f)).pixels,
                                  read_image(str(ref).replace("####", "%04d" % f)).pixels) for f in timed)
        fig = {"frames": len(timed), "size": f"{args.width}x{args.height}", "faces": "detected" if args.detect
               else "alignments", "render_fps": len(timed) / cli_s, "live_fps": len(timed) / live_s,
               "live_over_render": cli_s / live_s, "render_warm_fps": len(timed) / warm_s,
               "live_over_render_warm": warm_s / live_s, "live_over_render_warm_each_round": ratios,
               "live_service_share": service_s / live_s, "load_average": os.getloadavg()[0],
               "identical_pixels": same}
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else [round(x, 3) for x in v] if isinstance(v, list)
                          else v for k, v in fig.items()}, indent=1))
        if args.json:
            Path(args.json).write_text(json.dumps(fig, indent=1))
        return 0
    finally:
        subprocess.run([sys.executable, "-m", "faceplate.client", "shutdown", "--socket", sock, "--timeout", "5"],
                       capture_output=True, env=env)
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
