"""Swap quality against a known right answer.

Identity B is made a known, smooth transform T of identity A: inside the face, a change of skin tone
(linear-light gains under a feathered face-oval matte) and of geometry (eyes enlarged, mouth widened by
smooth local warps around the landmarks). The truth shot is T applied to every frame of A's shot, so the
correct swap exists for every pose. B's face set is extracted from the truth shot, a model is trained
with a fixed budget, the A shot is rendered, and the comp is compared with the truth inside the matte.

Reported (one run, one process):
- masked PSNR (dB, crop-encoding code values) and SSIM (display proxy luminance) of the swap against the
  truth, next to the same figures for doing nothing (plate vs truth): the model must beat that baseline;
- landmark jitter (px RMS about each point's mean) on a still face with sensor noise, raw and smoothed;
- matte flicker: mean absolute frame-to-frame change of the mask on that still face (inside the face box);
- the largest comp-vs-plate difference outside the matte (must be 0);
- the colour round-trip error of the crop encoding.
With --demo DIR it also reports the figures that apply to a finished `faceplate demo` folder.

    .venv/bin/python bench/quality.py --out /tmp/fp-quality [--steps 1500] [--demo faceplate-demo]
"""
from __future__ import annotations

import argparse
import json
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
from faceplate.plates import Image, Sequence, read_image, write_image

SPACE = "ACEScg"
SKIN_GAIN = np.array([1.18, 0.97, 0.82], np.float32)  # warmer, darker-blue skin in linear light


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


def masked_metrics(plate: Sequence, passes: Sequence, truth: Sequence, frames: list[int], config) -> dict:
    from skimage.metrics import structural_similarity

    enc = CropEncoding()
    res = {"swap": {"psnr": [], "ssim": []}, "do_nothing": {"psnr": [], "ssim": []}}
    for f in frames:
        p = read_image(passes.path(f))
        mask = p.channels_array(["mask.Y"])[..., 0] > 0.5
        if mask.sum() < 100:
            continue
        comp = p.channels_array(["R", "G", "B"])
        tru = read_image(truth.path(f)).rgb()
        src = read_image(plate.path(f)).rgb()
        ys, xs = np.nonzero(mask)
        box = np.s_[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
        t_code = enc.encode(tru[box], SPACE, config)
        t_lum = config.to_proxy(tru[box], SPACE).mean(-1)
        m = mask[box]
        for name, img in (("swap", comp), ("do_nothing", src)):
            code = enc.encode(img[box], SPACE, config)
            mse = float(((code - t_code) ** 2)[m].mean())
            res[name]["psnr"].append(10 * np.log10(1.0 / max(mse, 1e-12)))
            _, smap = structural_similarity(config.to_proxy(img[box], SPACE).mean(-1), t_lum, data_range=1.0,
                                            full=True)
            res[name]["ssim"].append(float(smap[m].mean()))
    return {k: {m: round(float(np.mean(v)), 4) for m, v in d.items()} for k, d in res.items()}


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/faceplate-quality")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--steps", type=int, default=1500, help="fixed training budget in steps")
    ap.add_argument("--resolution", type=int, default=96)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-4, help="learning rate (the demo's: short runs)")
    ap.add_argument("--demo", default=None, help="a finished faceplate demo folder to report on too")
    args = ap.parse_args()
    out = Path(args.out)
    config = ColourConfig.from_env()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    W, H, first = 1280, 720, demo_plate.FIRST_FRAME
    frames = list(range(first, first + args.frames))
    shot = f"{first}-{frames[-1]}"
    size = ["--size", str(args.resolution)]

    # 1. A's shot (moving camera) and its alignments
    plate = demo_plate.make_plate(out / "a", args.frames, config, SPACE, width=W, height=H)
    if not (out / "fs_a" / "faceset.json").exists():
        faceplate_cmd("extract", plate.pattern, "--frames", shot, "--out", str(out / "fs_a"), "--quiet", *size)
    lms = selected_landmarks(out / "fs_a" / "alignments.json")
    # 2. the truth shot T(A) and B's face set from it
    truth = Sequence(str(out / "truth" / "truth.####.exr"))
    if not all(truth.path(f).exists() for f in frames):
        write_sequence(truth, {f: truth_transform(read_image(plate.path(f)).rgb(), lms[f]) for f in frames if f in lms})
    if not (out / "fs_b" / "faceset.json").exists():
        faceplate_cmd("extract", truth.pattern, "--frames", shot, "--out", str(out / "fs_b"), "--quiet", *size)
    timings["data"] = time.perf_counter() - t0
    # 3. train with a fixed budget, export, render
    t = time.perf_counter()
    if not (out / "model.onnx").exists():
        faceplate_cmd("train", "--a", str(out / "fs_a"), "--b", str(out / "fs_b"), "--out", str(out / "run"),
                      "--resolution", str(args.resolution), "--width", str(args.width), "--batch", str(args.batch),
                      "--max-steps", str(args.steps), "--lr", str(args.lr), "--preview-every", "0", "--save-every",
                      "0", "--seed", "1")
        faceplate_cmd("export", str(out / "run"), "--out", str(out / "model.onnx"))
    timings["train+export"] = time.perf_counter() - t
    report: dict = {"settings": vars(args), "swap_vs_truth": {}}
    # B differs from A in skin tone as well: colour matching to the plate (the default, for real shots
    # lit differently from B's material) pulls the swap back towards A's tone, so both are reported
    for match in ("none", "reinhard"):
        t = time.perf_counter()
        passes = Sequence(str(out / f"passes_{match}" / "passes.####.exr"))
        faceplate_cmd("render", plate.pattern, "--model", str(out / "model.onnx"), "--frames", shot, "--out",
                      passes.pattern, "--alignments", str(out / "fs_a" / "alignments.json"), "--comp",
                      "--skip-existing", "--colour-match", match)
        timings[f"render ({match})"] = time.perf_counter() - t
        report["swap_vs_truth"][f"colour_match={match}"] = masked_metrics(plate, passes, truth, frames, config)
    report["pass_through"] = pass_through_error(plate, passes, frames)
    # 4. a still face with sensor noise: landmark jitter raw/smoothed and matte flicker
    still = Sequence(str(out / "still" / "still.####.exr"))
    photo = None
    for i, f in enumerate(frames):
        if not still.path(f).exists():
            photo = photo if photo is not None else load_photo_linear(astronaut_path(), config, SPACE)
            px = demo_plate.render_frame(photo, 0, 2, seed=1000 + i, width=W, height=H)  # same pose, new noise
            write_sequence(still, {f: px})
    if not (out / "fs_still" / "faceset.json").exists():
        faceplate_cmd("extract", still.pattern, "--frames", shot, "--out", str(out / "fs_still"), "--quiet", *size)
    report["still_landmark_jitter"] = jitter(out / "fs_still" / "alignments.json")
    still_passes = Sequence(str(out / "still_passes" / "p.####.exr"))
    faceplate_cmd("render", still.pattern, "--model", str(out / "model.onnx"), "--frames", shot, "--out",
                  still_passes.pattern, "--alignments", str(out / "fs_still" / "alignments.json"), "--comp",
                  "--skip-existing")
    report["still_matte_flicker"] = round(flicker(still_passes, frames), 6)
    report["still_pass_through"] = pass_through_error(still, still_passes, frames)
    report["colour_round_trip_max_rel_error"] = colour_round_trip(plate.path(first), config)
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
    report["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    text = json.dumps(report, indent=1, default=float)
    (out / "quality.json").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
