"""Cluster benchmark: frames per second of `render --cluster` with 1 and 2 Ray workers on this machine,
against an in-process render of the same frames, and the overhead per chunk (ratios, one run).

    .venv/bin/python bench/cluster.py [--frames 16] [--chunk 4] [--width 1920 --height 1080]
                                      [--resolution 256] [--cpus 2] [--json out.json]

Everything is built in the run (bench/render.py's 1080p half-float plate from the astronaut photo,
alignments, and its convolutional ONNX stand-in model). One local Ray runtime (``--cpus`` CPUs) is
started first and its start-up time reported apart; each cluster render then includes making its
workers (actors) and loading the model in them, as a real run does.

Reported:
- fps: local (``render_shot`` in this process), cluster with 1 worker, cluster with 2 workers;
- ratio 1w/local: cluster (1 worker) fps ÷ local fps (the price of going through Ray on one machine);
- ratio 2w/1w: 2 workers ÷ 1 worker (scaling; on a 2-core machine both share the same cores);
- overhead per chunk = (cluster 1-worker time − local time) ÷ chunks, also as a fraction of the local
  time of one chunk's frames;
- every cluster frame is compared bit for bit with the local render (must be identical).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import faceplate  # noqa: F401  (before onnxruntime)


def _bench_render():
    """bench/render.py's builders (its plate sequence and stand-in model), loaded under a unique name."""
    spec = importlib.util.spec_from_file_location("faceplate_bench_render", Path(__file__).with_name("render.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def same_frames(a: Path, b: Path) -> bool:
    from faceplate.plates.image import read_image

    names = sorted(p.name for p in a.glob("*.exr"))
    if names != sorted(p.name for p in b.glob("*.exr")):
        return False
    for n in names:
        x, y = read_image(a / n), read_image(b / n)
        if x.channels != y.channels or not np.array_equal(np.ascontiguousarray(x.pixels).view(np.uint16 if x.pixels.dtype == np.float16 else np.uint32),
                                                          np.ascontiguousarray(y.pixels).view(np.uint16 if y.pixels.dtype == np.float16 else np.uint32)):
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--chunk", type=int, default=4)
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--resolution", type=int, default=256, help="model resolution")
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray runtime")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args(argv)

    import ray

    from faceplate.cluster.render import ClusterOptions, render_on_cluster
    from faceplate.plates import parse_frames
    from faceplate.render.job import ShotRender, render_shot
    from faceplate.render.settings import RenderSettings

    br = _bench_render()
    tmp = Path(tempfile.mkdtemp(prefix="faceplate-bench-cluster-"))
    try:
        plate, alignments = br.build_shot(tmp / "shot", args.frames, args.width, args.height)
        model = tmp / "model.onnx"
        br.build_conv_model(model, args.resolution)
        frames = f"1001-{1000 + args.frames}"
        settings = RenderSettings(model=str(model), device="cpu", comp=True)

        def job(out: str, rng: str = frames) -> ShotRender:
            return ShotRender(plate=plate, out=str(tmp / out / "passes.####.exr"), settings=settings,
                              frames=parse_frames(rng), alignments=str(alignments))

        render_shot(job("warm", "1001-1002"))  # OCIO, onnxruntime and the page cache warm, as for the others
        t = time.perf_counter()
        render_shot(job("local"))
        t_local = time.perf_counter() - t

        engine = str(Path(faceplate.__file__).resolve().parents[1])
        t = time.perf_counter()
        ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False,
                 object_store_memory=256 << 20,
                 runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(
                     p for p in (engine, os.environ.get("PYTHONPATH", "")) if p)}})
        t_ray = time.perf_counter() - t
        try:
            times, reports = {}, {}
            for n in (1, 2):
                t = time.perf_counter()
                reports[n] = render_on_cluster(job(f"cluster{n}"),
                                               ClusterOptions(chunk=args.chunk, workers=n, progress=False))
                times[n] = time.perf_counter() - t
        finally:
            ray.shutdown()
        chunks = reports[1].chunks
        identical = all(same_frames(tmp / f"cluster{n}", tmp / "local") for n in (1, 2))
        failed = any(r.failed for r in reports.values())
        res = {
            "frames": args.frames, "chunk": args.chunk, "chunks": chunks, "size": f"{args.width}x{args.height}",
            "ray_cpus": args.cpus, "ray_start_s": round(t_ray, 2),
            "fps_local": round(args.frames / t_local, 3),
            "fps_cluster_1_worker": round(args.frames / times[1], 3),
            "fps_cluster_2_workers": round(args.frames / times[2], 3),
            "ratio_1w_over_local": round(t_local / times[1], 3),
            "ratio_2w_over_1w": round(times[1] / times[2], 3),
            "overhead_per_chunk_s": round((times[1] - t_local) / chunks, 3),
            "overhead_per_chunk_over_local_chunk": round(((times[1] - t_local) / chunks) / (t_local / chunks), 3),
            "bit_identical": identical, "failed_chunks": failed,
        }
        print(f"cluster benchmark: {args.frames} frames {res['size']} in {chunks} chunk(s) of {args.chunk}, "
              f"Ray runtime with {args.cpus} CPUs (start-up {res['ray_start_s']} s, not counted)")
        print(f"  local render          {res['fps_local']:7.3f} fps")
        print(f"  cluster, 1 worker     {res['fps_cluster_1_worker']:7.3f} fps   ratio to local "
              f"{res['ratio_1w_over_local']:.3f}")
        print(f"  cluster, 2 workers    {res['fps_cluster_2_workers']:7.3f} fps   ratio to 1 worker "
              f"{res['ratio_2w_over_1w']:.3f}")
        print(f"  overhead per chunk    {res['overhead_per_chunk_s']:7.3f} s     = "
              f"{res['overhead_per_chunk_over_local_chunk']:.3f} × the local time of one chunk")
        print(f"  bit-identical to the local render: {identical}")
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
        return 0 if identical and not failed else 1
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
