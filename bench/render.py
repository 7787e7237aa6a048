"""Render benchmark: time per stage, frames per second at 1080p, the two ratios, EXR compressions.

    .venv/bin/python bench/render.py [--frames 8] [--width 1920 --height 1080] [--device cpu|cuda|auto]
                                     [--resolution 256] [--json out.json]

Everything is built in the run (no downloads): a 1080p RGBA half plate sequence made from the
astronaut photo (scene-linear ACEScg), alignments from the alignment template posed on the face,
and a small convolutional ONNX swap model (a few 3×3 convolutions at the model resolution: a
stand-in for a trained model's cost, with the real I/O contract and manifest).

Reported:
- per stage (ms/frame): EXR read, prepare (crop matrix, float warp, encoding, landmark mask),
  inference, finish (decode, colour match, inverse warp, matte, blend), EXR write;
- the pipelined shot render (`render_shot`: reader thread, compute, writer pool): fps;
- ratio A = render time ÷ (EXR read + EXR write alone + inference alone), all per frame: how close the
  overlapped pipeline gets to its I/O + model floor (< 1 means the overlap hides part of that sum);
- ratio B = warm service ÷ cold process, per frame (one-frame `faceplate render` in a fresh process
  vs one request to an already warm `faceplate serve`);
- EXR compressions: write time and size of the passes file, to pick the lossless default.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

import faceplate  # noqa: F401  (before onnxruntime)


def build_conv_model(path: Path, r: int, width: int = 16) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from faceplate.colour.encoding import CropEncoding
    from faceplate.faces import align
    from faceplate.manifest import METADATA_KEY, Manifest

    rng = np.random.default_rng(0)
    inits, nodes = [], []
    chans = [3, width, width, width, 4]
    x = "face"
    for i in range(len(chans) - 1):
        w = (rng.normal(0, 0.2, (chans[i + 1], chans[i], 3, 3))).astype(np.float32)
        b = np.zeros(chans[i + 1], np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes.append(helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1]))
        x = f"c{i}"
        if i < len(chans) - 2:
            nodes.append(helper.make_node("Relu", [x], [f"r{i}"]))
            x = f"r{i}"
    nodes.append(helper.make_node("Sigmoid", [x], ["s"]))
    inits.append(numpy_helper.from_array(np.array([3, 1], np.int64), "split"))
    nodes.append(helper.make_node("Split", ["s", "split"], ["swap", "mask"], axis=1))
    graph = helper.make_graph(
        nodes, "bench_swap", [helper.make_tensor_value_info("face", TensorProto.FLOAT, ["N", 3, r, r])],
        [helper.make_tensor_value_info("swap", TensorProto.FLOAT, ["N", 3, r, r]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", 1, r, r])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    man = Manifest(resolution=r, coverage=0.8, centering="face", crop_encoding=CropEncoding(),
                   template=np.asarray(align.TEMPLATE).tolist(), identities={"source": "bench", "target": "bench"},
                   direction="a2b", architecture="bench-conv", training_steps=0, data_hashes={},
                   faceplate_version=faceplate.__version__)
    helper.set_model_props(model, {METADATA_KEY: man.to_json()})
    onnx.save(model, str(path))


def build_shot(folder: Path, n: int, w: int, h: int) -> tuple[str, Path]:
    import cv2
    import skimage.data

    from faceplate.colour import ColourConfig
    from faceplate.faces import align
    from faceplate.plates.image import Image, write_image

    srgb = skimage.data.astronaut().astype(np.float32) / 255.0
    lin = ColourConfig().convert(srgb, "sRGB Encoded Rec.709 (sRGB)", "ACEScg")
    side = max(w, h)
    big = cv2.resize(lin, (side, side), interpolation=cv2.INTER_CUBIC)[:h, :w]
    rng = np.random.default_rng(0)
    t = np.asarray(align.TEMPLATE, np.float64)
    doc = {"schema": "faceplate.alignments", "version": 1, "frames": {}, "gaps": []}
    k = side / 512.0
    for i in range(n):
        grain = (1.0 + rng.normal(0, 0.02, big.shape)).astype(np.float32)
        px = np.concatenate([big * grain, np.ones((h, w, 1), np.float32)], axis=2)
        f = 1001 + i
        write_image(folder / f"plate.{f}.exr", Image(pixels=px, channels=("R", "G", "B", "A"), data_window=(0, 0, w, h),
                                                     display_window=(0, 0, w, h)), pixel_type="half", compression="zip")
        pts = (t - t.mean(0)) * 140.0 * k + np.array([236.0 * k + i, 124.0 * k])
        doc["frames"][str(f)] = [{"landmarks": np.hstack([pts, np.zeros((468, 1))]).tolist(), "track": 0}]
    (folder / "alignments.json").write_text(json.dumps(doc))
    return str(folder / "plate.####.exr"), folder / "alignments.json"


def ms(xs: list[float]) -> float:
    return 1000.0 * statistics.median(xs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--resolution", type=int, default=256, help="model resolution")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args(argv)

    from faceplate import client
    from faceplate.colour import ColourConfig
    from faceplate.plates import parse_frames, read_image
    from faceplate.plates.image import write_image
    from faceplate.render.facesource import load_alignments, select
    from faceplate.render.frame import finish, prepare
    from faceplate.render.job import ShotRender, plate_arrays, render_shot
    from faceplate.render.model import load_model
    from faceplate.render.passes import pass_images, provenance
    from faceplate.render.settings import RenderSettings

    tmp = Path(tempfile.mkdtemp(prefix="fp-bench-"))
    res: dict = {"size": f"{args.width}x{args.height}", "frames": args.frames, "device": args.device,
                 "model_resolution": args.resolution, "cpus": os.cpu_count()}
    try:
        model_path = tmp / "bench.onnx"
        build_conv_model(model_path, args.resolution)
        plate, al_path = build_shot(tmp, args.frames, args.width, args.height)
        frames = list(range(1001, 1001 + args.frames))
        settings = RenderSettings(model=str(model_path), device=args.device, comp=True)
        config = ColourConfig.from_env()
        space = config.resolve(settings.colour_space)
        model = load_model(model_path, args.device)
        res["providers"] = list(model.providers)
        al = load_alignments(al_path)

        # --- stages, one after another -------------------------------------------------------
        t_read, t_prep, t_inf, t_fin, t_write = [], [], [], [], []
        for f in frames:
            t = time.perf_counter()
            img = read_image(plate.replace("####", str(f)), f)
            t_read.append(time.perf_counter() - t)
            rgb, alpha, offset = plate_arrays(img)
            pts = [x.points for x in select(al[f], settings)]
            t = time.perf_counter()
            crops = prepare(rgb, offset, pts, model, settings, config, space)
            t_prep.append(time.perf_counter() - t)
            t = time.perf_counter()
            swaps, masks = model.run(np.stack([c.code for c in crops]))
            t_inf.append(time.perf_counter() - t)
            t = time.perf_counter()
            passes = finish(rgb, alpha, offset, crops, swaps, masks, model, settings, config, space)
            t_fin.append(time.perf_counter() - t)
            images = pass_images(img, passes, settings, False, provenance(model.sha256, settings, f, 1))
            t = time.perf_counter()
            write_image(tmp / "stage" / f"p.{f}.exr", images["all"], compression=settings.compression)
            t_write.append(time.perf_counter() - t)
        res["stage_ms"] = {"read": ms(t_read), "prepare": ms(t_prep), "inference": ms(t_inf),
                           "finish": ms(t_fin), "write": ms(t_write)}

        # --- EXR compressions on the passes image (lossless ones; pick the default) -----------
        from dataclasses import replace

        plain = replace(settings, comp=False)
        variants = {"swap+mask (default)": pass_images(img, replace(passes, comp=None), plain, False,
                                                       provenance(model.sha256, plain, f, 1))["all"],
                    "comp+swap+mask": images["all"]}
        res["compressions"] = {}
        for label, image in variants.items():
            comp_res = {}
            for comp in ("none", "rle", "zips", "zip", "piz"):
                times, rtimes = [], []
                for _ in range(3):
                    t = time.perf_counter()
                    p = write_image(tmp / "comp" / f"p_{comp}.exr", image, compression=comp)
                    times.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    read_image(p)
                    rtimes.append(time.perf_counter() - t)
                comp_res[comp] = {"write_ms": round(ms(times), 1), "read_ms": round(ms(rtimes), 1),
                                  "MB": round(os.path.getsize(p) / 1e6, 2)}
            res["compressions"][label] = comp_res

        # --- the pipelined shot render ----------------------------------------------------------
        job = ShotRender(plate=plate, out=str(tmp / "shot" / "p.####.exr"), settings=settings,
                         frames=parse_frames(f"1001-{1000 + args.frames}"), alignments=str(al_path),
                         workers=args.workers)
        t = time.perf_counter()
        render_shot(job, config)
        t_render = (time.perf_counter() - t) / args.frames
        res["render_ms_per_frame"] = 1000 * t_render
        res["fps"] = 1.0 / t_render
        floor = statistics.median(t_read) + statistics.median(t_write) + statistics.median(t_inf)
        res["ratio_render_over_io_plus_inference"] = t_render / floor

        # --- warm service vs cold process ---------------------------------------------------------
        env = dict(os.environ)
        cold = []
        for f in frames[:2]:
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "faceplate", "render", plate, "--model", str(model_path),
                            "--frames", str(f), "--out", str(tmp / "cold" / "p.####.exr"), "--alignments",
                            str(al_path), "--device", args.device, "--comp"], check=True, env=env,
                           capture_output=True)
            cold.append(time.perf_counter() - t)
        sock = str(Path(tempfile.mkdtemp(prefix="fp-", dir="/tmp")) / "e.sock")
        client.request({"op": "ping"}, 120, sock, start=True, python=sys.executable)
        sets = {"device": args.device, "comp": True}
        client.render_frame(plate, frames[0], str(tmp / "warm" / "p.####.exr"), str(model_path), sets,
                            alignments=str(al_path), timeout=120, socket_path=sock)  # loads the model
        warm = []
        for f in frames:
            t = time.perf_counter()
            client.render_frame(plate, f, str(tmp / "warm" / "p.####.exr"), str(model_path), sets,
                                alignments=str(al_path), timeout=120, socket_path=sock)
            warm.append(time.perf_counter() - t)
        # concurrent requests through the service (batched)
        t = time.perf_counter()
        ths = [threading.Thread(target=client.render_frame,
                                args=(plate, f, str(tmp / "conc" / "p.####.exr"), str(model_path), sets),
                                kwargs={"alignments": str(al_path), "timeout": 300, "socket_path": sock})
               for f in frames]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        res["service_concurrent_ms_per_frame"] = 1000 * (time.perf_counter() - t) / len(frames)
        client.request({"op": "shutdown"}, 10, sock, start=False)
        res["cold_process_ms_per_frame"] = ms(cold)
        res["warm_service_ms_per_frame"] = ms(warm)
        res["ratio_warm_service_over_cold_process"] = statistics.median(warm) / statistics.median(cold)
        same = all((tmp / "warm" / f"p.{f}.exr").read_bytes() == (tmp / "shot" / f"p.{f}.exr").read_bytes()
                   for f in frames)
        same_conc = all((tmp / "conc" / f"p.{f}.exr").read_bytes() == (tmp / "shot" / f"p.{f}.exr").read_bytes()
                        for f in frames)
        res["service_output_identical_to_in_process"] = same and same_conc
        res["load_average"] = os.getloadavg()[0]
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    text = json.dumps(res, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
