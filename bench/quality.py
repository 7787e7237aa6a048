"""Swap quality against a known right answer, on held-out frames, next to baselines.

Identity B is made a known, smooth transform T of identity A: inside the face, a change of skin tone
(linear-light gains under a feathered face-oval matte) and of geometry (eyes enlarged, mouth widened by
smooth local warps around the landmarks). The truth shot is T applied to every frame of A's shot, so the
correct swap exists for every pose. Both face sets are extracted from every other frame only (A from the
plate, B from the truth shot: ``--frames FIRST-LASTx2``); a model is trained on them with a fixed budget,
and only the frames neither face set holds are rendered and scored (``"held_out": true``).

Every comp is scored inside the same matte (the real model's, ``mask.Y > 0.5``), against the truth:
masked PSNR (dB, crop-encoding code values) and SSIM (display proxy luminance) of

- ``swap``: the model's comp (``faceplate render --comp``);
- ``do_nothing``: the plate itself;
- ``constant_mean_b``: the mean of B's face-set crops pasted on every face (the input ignored);
- ``nearest_b``: B's face-set crop with the nearest landmarks pasted (a lookup, no model);
- ``ceiling``: the truth's own crop at the model's resolution pasted through the same path (what a
  perfect model of that resolution could score).

The baselines are rendered by :mod:`faceplate.quality.baselines` through the real render path, with
the real model's matte, as passes EXRs like the swap's. With colour_match=none (the honest figure: B's
skin tone differs from A's) and reinhard (the render default, which pulls the tone back towards A's).

Every metric of :mod:`faceplate.quality` (identity similarity to B and to A, head-pose error, expression
error, how much the swap follows the input, sharpness against the plate, flicker), each next to the same
baselines, on three cases: the oracle's held-out frames (against the truth); a two-identity case built
from photos (``bench/quality_cases.py``: A's shot animated from one photo of A plus A's other photos, B's
set from B's photos only, trained with the same budget, held-out frames scored against the plate;
``--no-photo-case`` skips it); and, with ``--demo DIR``, a finished demo.

Also reported: landmark jitter (px RMS about each point's mean) on a still face with sensor noise, raw
and smoothed; matte flicker on that still face; the largest comp-vs-plate difference outside the matte
(must be 0); the colour round-trip error of the crop encoding; training time and samples/s.
With --demo DIR it also reports the figures that apply to a finished `faceplate demo` folder.

Data (plate, truth, face sets) is cached in --out and reused; each set of training settings gets its
own folder ``OUT/models/TAG`` (TAG: --tag, else a hash of the settings), so experiments re-train only:

    .venv/bin/python bench/quality.py --out /tmp/fp-quality [--steps 1500] [--train-args "--warp-strength 0.01"]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import faceplate  # noqa: F401  (environment defaults before OpenImageIO/onnxruntime)
from faceplate.colour import ColourConfig, CropEncoding
from faceplate.demo import plate as demo_plate
from faceplate.demo.run import colour_round_trip
from faceplate.demo.sheet import pass_through_error
from faceplate.demo.sources import astronaut_path, load_photo_linear
from faceplate.faces.landmarks import FACE_OVAL, LEFT_EYE, MOUTH, RIGHT_EYE
from faceplate.quality.evaluate import format_table, score_shot, verdicts
from faceplate.plates import Image, Sequence, read_image, write_image
from faceplate.plates.sequence import format_frames
from quality_cases import have_faceset

SPACE = "ACEScg"
SKIN_GAIN = np.array([1.18, 0.97, 0.82], np.float32)  # warmer, darker-blue skin in linear light
#: training settings of the bench: the winners of docs/quality.md's experiments (the demo trains 1,000
#: steps with its own settings, faceplate.demo.run.DemoSettings)
DEFAULT_LR = 5e-4
DEFAULT_TRAIN_ARGS = ("--model liae --schedule cosine --warmup-steps 100 --lr-end 0.02 --grad-clip 1 --follow-exposure "
                      "--no-flip --losses l1:1,ssim:1,edge:1,mask:1")
#: comp sources scored, in report order: name -> passes folder (None: the plate itself)
SOURCES = ("swap", "do_nothing", "constant_mean_b", "nearest_b", "ceiling")
BASELINE_OF = {"constant_mean_b": "constant", "nearest_b": "nearest", "ceiling": "truth"}


def faceplate_cmd(*argv: str) -> None:
    rc = subprocess.call([sys.executable, "-m", "faceplate", *argv])
    if rc:
        raise SystemExit(f"quality bench: 'faceplate {' '.join(argv)}' failed with exit code {rc}")


def selected_landmarks(alignments: Path) -> dict[int, np.ndarray]:
    doc = json.loads(alignments.read_text())
    out = {}
    for key, fr in doc["frames"].items():
        faces = [f for f in fr["faces"] if f.get("selected")]
        if faces:
            out[int(key)] = np.asarray(faces[0]["landmarks"], np.float64)[:, :2]
    return out


def _bulge(h: int, w: int, centre: np.ndarray, radius: float, sx: float, sy: float):
    """Backward map of a smooth local magnification (sx, sy > 0 enlarge) around ``centre``."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xs - centre[0], ys - centre[1]
    k = np.exp(-(dx * dx + dy * dy) / (radius * radius)).astype(np.float32)
    return xs - dx * sx * k, ys - dy * sy * k


def truth_transform(frame: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """T: skin tone and eye/mouth geometry changed inside the face; identical far outside it."""
    import cv2

    h, w = frame.shape[:2]
    # a region around the face (the transform is exactly the identity outside it)
    x0, y0 = np.floor(pts.min(0) - 0.3 * np.ptp(pts, 0)).astype(int)
    x1, y1 = np.ceil(pts.max(0) + 0.3 * np.ptp(pts, 0)).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    roi = frame[y0:y1, x0:x1]
    local = pts - (x0, y0)
    rh, rw = roi.shape[:2]
    eye_w = np.linalg.norm(local[33] - local[133])
    mapx, mapy = np.mgrid[0:rh, 0:rw][::-1].astype(np.float32)
    for centre, radius, sx, sy in (
        (local[list(RIGHT_EYE)].mean(0), 1.1 * eye_w, 0.22, 0.22),
        (local[list(LEFT_EYE)].mean(0), 1.1 * eye_w, 0.22, 0.22),
        (local[list(MOUTH)].mean(0), 1.6 * eye_w, 0.16, 0.05),
    ):
        bx, by = _bulge(rh, rw, centre, radius, sx, sy)
        mapx += bx - np.mgrid[0:rh, 0:rw][1]
        mapy += by - np.mgrid[0:rh, 0:rw][0]
    warped = cv2.remap(roi, mapx, mapy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)
    matte = np.zeros((rh, rw), np.float32)
    cv2.fillPoly(matte, [np.round(local[list(FACE_OVAL)] * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
    matte = cv2.GaussianBlur(matte, (0, 0), 0.08 * eye_w * 4)
    changed = warped * (1 + matte[..., None] * (SKIN_GAIN - 1))
    # blend the geometric change in with a wide matte too, so T is smooth and local
    wide = cv2.GaussianBlur(cv2.dilate(matte, None, iterations=int(eye_w)), (0, 0), eye_w)
    out = frame.copy()
    out[y0:y1, x0:x1] = roi * (1 - wide[..., None]) + changed * wide[..., None]
    return out


def write_sequence(seq: Sequence, frames: dict[int, np.ndarray]) -> None:
    for f, px in frames.items():
        h, w = px.shape[:2]
        write_image(seq.path(f), Image(px, ("R", "G", "B"), (0, 0, w, h), (0, 0, w, h)), pixel_type="half",
                    compression="piz")


def masked_metrics(comps: dict[str, Sequence | None], plate: Sequence, matte: Sequence, truth: Sequence,
                   frames: list[int], config) -> dict:
    """Mean per-frame masked PSNR and SSIM of each comp (None: the plate) against the truth, inside
    ``matte``'s ``mask.Y > 0.5`` (the same pixels for every comp)."""
    from skimage.metrics import structural_similarity

    enc = CropEncoding()
    res: dict[str, dict[str, list]] = {k: {"psnr": [], "ssim": []} for k in comps}
    for f in frames:
        mask = read_image(matte.path(f)).channels_array(["mask.Y"])[..., 0] > 0.5
        if mask.sum() < 100:
            continue
        tru = read_image(truth.path(f)).rgb()
        ys, xs = np.nonzero(mask)
        box = np.s_[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
        t_code = enc.encode(tru[box], SPACE, config)
        t_lum = config.to_proxy(tru[box], SPACE).mean(-1)
        m = mask[box]
        for name, seq in comps.items():
            img = read_image(plate.path(f)).rgb() if seq is None else read_image(seq.path(f)).channels_array(
                ["R", "G", "B"])
            code = enc.encode(img[box], SPACE, config)
            mse = float(((code - t_code) ** 2)[m].mean())
            res[name]["psnr"].append(10 * np.log10(1.0 / max(mse, 1e-12)))
            _, smap = structural_similarity(config.to_proxy(img[box], SPACE).mean(-1), t_lum, data_range=1.0,
                                            full=True)
            res[name]["ssim"].append(float(smap[m].mean()))
    out = {k: {m: round(float(np.mean(v)), 4) for m, v in d.items()} for k, d in res.items()}
    for k in out:
        out[k]["frames"] = len(res[k]["psnr"])
    return out


def _noise_px(series: list[np.ndarray]) -> float:
    """Per-frame landmark noise (px) from second differences: a smooth path (camera move) has ~0
    second difference, white noise of σ gives var(d²) = 6σ²."""
    a = np.stack(series)
    d2 = a[2:] - 2 * a[1:-1] + a[:-2]
    return float(np.sqrt((d2 ** 2).sum(-1).mean() / 6.0))


def jitter(alignments: Path) -> dict:
    doc = json.loads(alignments.read_text())
    raw, smooth = [], []
    for fr in doc["frames"].values():
        faces = [f for f in fr["faces"] if f.get("selected")]
        if faces:
            raw.append(np.asarray(faces[0]["landmarks_raw"], np.float64)[:, :2])
            smooth.append(np.asarray(faces[0]["landmarks"], np.float64)[:, :2])

    def rms(series):
        a = np.stack(series)
        return float(np.sqrt(((a - a.mean(0)) ** 2).sum(-1).mean()))

    return {"raw_px_rms_about_mean": round(rms(raw), 4), "smoothed_px_rms_about_mean": round(rms(smooth), 4),
            "raw_noise_px": round(_noise_px(raw), 4), "smoothed_noise_px": round(_noise_px(smooth), 4)}


def flicker(passes: Sequence, frames: list[int]) -> float:
    masks = [read_image(passes.path(f)).channels_array(["mask.Y"])[..., 0] for f in frames]
    union = np.max(np.stack(masks), axis=0) > 0.01
    if not union.any():
        return float("nan")
    ys, xs = np.nonzero(union)
    box = np.s_[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    return float(np.mean([np.abs(b[box] - a[box]).mean() for a, b in zip(masks, masks[1:])]))


def faceset_frames(folder: Path) -> list[int]:
    return sorted({int(f["frame"]) for f in json.loads((folder / "faceset.json").read_text())["faces"]})


def train_log_figures(run: Path, batch: int) -> dict:
    """Training seconds (the loop's clock) and samples/s from the run's loss log."""
    rows = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines() if line.strip()]
    if not rows:
        return {}
    t = rows[-1]["time"]
    return {"steps": rows[-1]["step"], "seconds": round(t, 1), "samples_per_s": round(2 * batch * len(rows) / t, 2),
            "final_loss": round(rows[-1]["total"], 5)}


def render_baselines(out_dir: Path, model_path: Path, plate: Sequence, alignments: Path, truth: Sequence,
                     fs_b: Path, frames: list[int], match: str, config) -> dict[str, Sequence]:
    """Passes of every baseline (comp layer) for ``frames``; existing frames are kept."""
    from faceplate.faces.faceset import FaceSet
    from faceplate.quality.baselines import make_baseline, render_baseline
    from faceplate.render.model import load_model
    from faceplate.render.settings import RenderSettings

    model = load_model(model_path, device="cpu")
    settings = RenderSettings.from_values({"model": str(model_path), "comp": True, "colour_match": match,
                                           "colour_space": SPACE, "device": "cpu"})
    faceset_b = FaceSet.load(fs_b)
    seqs = {}
    for source, name in BASELINE_OF.items():
        seq = Sequence(str(out_dir / f"{source}_{match}" / "passes.####.exr"))
        todo = [f for f in frames if not seq.path(f).exists()]
        if todo:
            base = make_baseline(name, model=model, faceset_b=faceset_b, truth=truth.pattern, config=config,
                                 space=SPACE)
            render_baseline(base, model, plate.pattern, alignments, todo, seq.pattern, settings, config)
        seqs[source] = seq
    return seqs


def oracle_metrics(mdir: Path, model: Path, plate: Sequence, passes: Sequence, alignments: Path, truth: Sequence,
                   out: Path, scored: list[int], base: dict[str, Sequence], config) -> dict:
    """Every swap metric (faceplate.quality) on the held-out frames, against the truth, next to the
    baselines already rendered with colour_match=none."""
    from faceplate.render.settings import RenderSettings

    settings = RenderSettings.from_values({"model": str(model), "comp": True, "colour_match": "none",
                                           "colour_space": SPACE, "device": "cpu"})
    return score_shot(plate, passes, alignments, model, scored, SPACE, config, mdir / "metrics",
                      faceset_a=out / "fs_a", faceset_b=out / "fs_b", truth=truth, settings=settings,
                      rendered={k: v for k, v in base.items() if k in ("constant_mean_b", "nearest_b")})


def demo_metrics(folder: Path, config) -> dict:
    """The metrics of a finished demo folder: its summary's when it has them, else scored now."""
    summary = folder / "summary.json"
    if summary.exists():
        doc = json.loads(summary.read_text())
        if doc.get("metrics"):
            return doc["metrics"]
    passes = Sequence(str(folder / "passes" / "passes.####.exr"))
    return score_shot(Sequence(str(folder / "plate" / "plate.####.exr")), passes,
                      folder / "faceset_a" / "alignments.json", folder / "face.onnx", passes.frames_on_disk(), SPACE,
                      config, folder / "baselines", faceset_a=folder / "faceset_a", faceset_b=folder / "faceset_b")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/faceplate-quality")
    ap.add_argument("--frames", type=int, default=48, help="frames in the shot; every other one is held out")
    ap.add_argument("--steps", type=int, default=1500, help="fixed training budget in steps")
    ap.add_argument("--max-time", type=float, default=0.0, help="training budget in seconds instead (0: steps)")
    ap.add_argument("--resolution", type=int, default=128,
                    help="crop and training resolution (default 128: at about the time of 96 px with batch 13, "
                    "0.8 dB higher on the oracle; docs/quality.md)")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8,
                    help="batch size (default 8; 128 px at batch 8 in bf16, which --precision auto picks on CPUs "
                    "with native bf16, takes about what 96 px at batch 13 does; docs/quality.md)")
    ap.add_argument("--lr", type=float, default=DEFAULT_LR, help="peak learning rate")
    ap.add_argument("--train-args", default=DEFAULT_TRAIN_ARGS,
                    help=f"more 'faceplate train' flags, one string (default: {DEFAULT_TRAIN_ARGS!r})")
    ap.add_argument("--tag", default="", help="name of this model's folder under OUT/models (default: a hash "
                    "of the training settings)")
    ap.add_argument("--no-still", action="store_true", help="skip the still-face jitter/flicker figures")
    ap.add_argument("--no-photo-case", action="store_true",
                    help="skip the two-identity case from photos (a second training of the same budget)")
    ap.add_argument("--demo", default=None, help="a finished faceplate demo folder to report on too")
    args = ap.parse_args()
    out = Path(args.out)
    config = ColourConfig.from_env()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    W, H, first = 1280, 720, demo_plate.FIRST_FRAME
    frames = list(range(first, first + args.frames))
    shot = f"{first}-{frames[-1]}"
    every_other = f"{first}-{frames[-1]}x2"
    size = ["--size", str(args.resolution)]

    # 1. A's shot (moving camera) and its alignments over every frame (for the truth and the render)
    plate = demo_plate.make_plate(out / "a", args.frames, config, SPACE, width=W, height=H)
    alignments = out / "fs_a_shot" / "alignments.json"
    if not have_faceset(out / "fs_a_shot", args.resolution):
        faceplate_cmd("extract", plate.pattern, "--frames", shot, "--out", str(out / "fs_a_shot"), "--quiet", *size)
    lms = selected_landmarks(alignments)
    # 2. the truth shot T(A); the training face sets from every other frame only
    truth = Sequence(str(out / "truth" / "truth.####.exr"))
    if not all(truth.path(f).exists() for f in frames):
        write_sequence(truth, {f: truth_transform(read_image(plate.path(f)).rgb(), lms[f]) for f in frames if f in lms})
    for name, seq in (("fs_a", plate), ("fs_b", truth)):
        if not have_faceset(out / name, args.resolution):
            faceplate_cmd("extract", seq.pattern, "--frames", every_other, "--out", str(out / name), "--quiet", *size)
    trained_on = sorted(set(faceset_frames(out / "fs_a")) | set(faceset_frames(out / "fs_b")))
    scored = [f for f in frames if f not in trained_on and f in lms]
    if not scored:
        raise SystemExit("quality bench: no held-out frame with a face to score")
    timings["data"] = time.perf_counter() - t0

    # 3. train with a fixed budget, export, render the held-out frames
    budget = ["--max-time", str(args.max_time)] if args.max_time else ["--max-steps", str(args.steps)]
    train_argv = ["--resolution", str(args.resolution), "--width", str(args.width), "--batch", str(args.batch),
                  *budget, "--lr", str(args.lr), "--seed", "1", *shlex.split(args.train_args)]
    tag = args.tag or hashlib.sha256(json.dumps(train_argv).encode()).hexdigest()[:10]
    mdir = out / "models" / tag
    mdir.mkdir(parents=True, exist_ok=True)
    (mdir / "train_args.json").write_text(json.dumps(train_argv) + "\n")
    model = mdir / "model.onnx"
    t = time.perf_counter()
    if not model.exists():
        faceplate_cmd("train", "--a", str(out / "fs_a"), "--b", str(out / "fs_b"), "--out", str(mdir / "run"),
                      "--preview-every", "0", "--save-every", "0", *train_argv)
        faceplate_cmd("export", str(mdir / "run"), "--out", str(model))
    timings["train+export"] = time.perf_counter() - t
    report: dict = {"settings": {**vars(args), "tag": tag, "train_argv": train_argv}, "held_out": True,
                    "training_frames": format_frames(trained_on), "scored_frames": scored,
                    "train": train_log_figures(mdir / "run", args.batch), "swap_vs_truth": {}}
    # B differs from A in skin tone as well: colour matching to the plate (the default, for real shots
    # lit differently from B's material) pulls the swap back towards A's tone, so both are reported
    for match in ("none", "reinhard"):
        t = time.perf_counter()
        passes = Sequence(str(mdir / f"swap_{match}" / "passes.####.exr"))
        faceplate_cmd("render", plate.pattern, "--model", str(model), "--frames", format_frames(scored), "--out",
                      passes.pattern, "--alignments", str(alignments), "--comp", "--skip-existing",
                      "--colour-match", match, "--colour-space", SPACE)
        timings[f"render ({match})"] = time.perf_counter() - t
        t = time.perf_counter()
        base = render_baselines(mdir, model, plate, alignments, truth, out / "fs_b", scored, match, config)
        timings[f"baselines ({match})"] = time.perf_counter() - t
        comps = {"swap": passes, "do_nothing": None, **base}
        figures = masked_metrics(comps, plate, passes, truth, scored, config)
        figures["swap_minus_constant_db"] = round(figures["swap"]["psnr"] - figures["constant_mean_b"]["psnr"], 3)
        figures["ceiling_minus_swap_db"] = round(figures["ceiling"]["psnr"] - figures["swap"]["psnr"], 3)
        report["swap_vs_truth"][f"colour_match={match}"] = figures
        if match == "none":
            report["metrics"] = {"oracle": oracle_metrics(mdir, model, plate, passes, alignments, truth, out, scored,
                                                          base, config)}
            report["pass_through"] = pass_through_error(plate, passes, scored)
            report["baseline_pass_through"] = {k: pass_through_error(plate, s, scored)["comp_vs_plate_outside_matte"]
                                               for k, s in base.items()}
    # 4. a still face with sensor noise: landmark jitter raw/smoothed and matte flicker
    if not args.no_still:
        still_frames = frames[:24]
        still_shot = f"{first}-{still_frames[-1]}"
        still = Sequence(str(out / "still" / "still.####.exr"))
        photo = None
        for i, f in enumerate(still_frames):
            if not still.path(f).exists():
                photo = photo if photo is not None else load_photo_linear(astronaut_path(), config, SPACE)
                px = demo_plate.render_frame(photo, 0, 2, seed=1000 + i, width=W, height=H)  # same pose, new noise
                write_sequence(still, {f: px})
        if not (out / "fs_still" / "faceset.json").exists():
            faceplate_cmd("extract", still.pattern, "--frames", still_shot, "--out", str(out / "fs_still"), "--quiet",
                          *size)
        report["still_landmark_jitter"] = jitter(out / "fs_still" / "alignments.json")
        still_passes = Sequence(str(mdir / "still_passes" / "p.####.exr"))
        faceplate_cmd("render", still.pattern, "--model", str(model), "--frames", still_shot, "--out",
                      still_passes.pattern, "--alignments", str(out / "fs_still" / "alignments.json"), "--comp",
                      "--skip-existing")
        report["still_matte_flicker"] = round(flicker(still_passes, still_frames), 6)
        report["still_pass_through"] = pass_through_error(still, still_passes, still_frames)
    report["colour_round_trip_max_rel_error"] = colour_round_trip(plate.path(first), config)
    if not args.no_photo_case:  # two people from photos, B's set sparse: identity and expression matter
        from quality_cases import run_photo_case

        t = time.perf_counter()
        report["metrics"]["photos"] = run_photo_case(out / "photos", args.frames, train_argv, args.resolution,
                                                     config, SPACE)
        timings["photo case"] = time.perf_counter() - t
    if args.demo:
        d = Path(args.demo)
        dp, dpass = Sequence(str(d / "plate" / "plate.####.exr")), Sequence(str(d / "passes" / "passes.####.exr"))
        dframes = [f for f in dpass.frames_on_disk()]
        report["demo"] = {
            "pass_through": pass_through_error(dp, dpass, dframes),
            "landmark_jitter_moving_face": {k: v for k, v in jitter(d / "faceset_a" / "alignments.json").items()
                                            if "noise" in k},
            "matte_flicker": round(flicker(dpass, dframes), 6),
            "colour_round_trip_max_rel_error": colour_round_trip(dp.path(dframes[0]), config),
        }
        report["metrics"]["demo"] = demo_metrics(d, config)
    report["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    text = json.dumps(report, indent=1, default=float)
    (mdir / "quality.json").write_text(text + "\n")
    (out / "quality.json").write_text(text + "\n")
    print(text)
    none = report["swap_vs_truth"]["colour_match=none"]
    for name, m in report["metrics"].items():
        print(f"\n{name}: every metric, the swap next to its baselines ({len(m['frames'])} frames, "
              f"reference: the {m['reference']})\n{format_table(m)}", file=sys.stderr)
        for line in verdicts(m):
            print(f"  {line}", file=sys.stderr)
    print("held-out masked PSNR (colour_match=none): " + ", ".join(f"{k} {none[k]['psnr']:.2f}" for k in SOURCES),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
