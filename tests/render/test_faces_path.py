"""Faces from the real pipeline: `faceplate extract`'s alignments.json, and detection + tracking when no
alignments are given; plus the `faceplate render` command line (in process and as a subprocess)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from render_fixtures import FIRST
from faceplate.cli.main import main
from faceplate.plates import read_image


def test_render_from_extract_alignments(shot, model_dir, extracted, tmp_path):
    out = tmp_path / "p.####.exr"
    rc = main(["render", shot.plate, "--model", str(model_dir / "invert.onnx"), "--frames", f"{FIRST}-{FIRST + 2}",
               "--out", str(out), "--alignments", str(extracted / "alignments.json"), "--device", "cpu"])
    assert rc == 0
    mask = read_image(str(out).replace("####", str(FIRST))).channels_array(["mask.Y"])[..., 0]
    assert (mask > 0.5).sum() > 800  # a real face matte where the astronaut's face is
    ys, xs = np.nonzero(mask > 0.5)
    assert 60 < xs.mean() + 8 < 180 and 20 < ys.mean() + 4 < 120
    for f in (FIRST + 1, FIRST + 2):
        assert read_image(str(out).replace("####", str(f))).channels_array(["mask.Y"]).max() == 1.0


def test_render_detects_and_tracks_without_alignments(shot, model_dir, face_assets, tmp_path, capsys):
    out = tmp_path / "d.####.exr"
    rc = main(["render", shot.plate, "--model", str(model_dir / "invert.onnx"), "--frames", f"{FIRST}-{FIRST + 2}",
               "--out", str(out), "--device", "cpu", "--smoothing", "1"])
    assert rc == 0
    masks = [read_image(str(out).replace("####", str(f))).channels_array(["mask.Y"])[..., 0]
             for f in range(FIRST, FIRST + 3)]
    assert all((m > 0.5).sum() > 800 for m in masks)


def test_render_command_line_subprocess_and_errors(shot, model_dir, tmp_path):
    env = dict(os.environ)
    out = tmp_path / "c.####.exr"
    cmd = [sys.executable, "-m", "faceplate", "render", shot.plate, "--model", str(model_dir / "shift.onnx"),
           "--frames", f"{FIRST}-{FIRST + 2}", "--out", str(out), "--alignments", str(shot.alignments), "--comp",
           "--pixel-type", "half", "--compression", "zip", "--device", "cpu"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "no face found in 1 frame(s): 1002" in r.stderr
    img = read_image(str(out).replace("####", str(FIRST)))
    assert set(img.channel_types) == {"half"} and img.has("R", "swap.A", "mask.Y")
    r = subprocess.run(cmd[:6] + [str(tmp_path / "none.onnx")] + cmd[7:], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 2 and "faceplate render: error: model" in r.stderr and "none.onnx: file not found" in r.stderr
    r = subprocess.run([sys.executable, "-m", "faceplate", "params", "--json"], capture_output=True, text=True,
                       timeout=60)
    import json

    doc = json.loads(r.stdout)
    names = [p["name"] for p in doc["render"]]
    assert {"model", "colour_match", "erode", "feather", "smoothing", "face"} <= set(names)
    assert next(p for p in doc["render"] if p["name"] == "colour_match")["choices"] == [
        "none", "meanstd", "reinhard", "histogram"]


def test_detected_still_face_on_a_noisy_plate_gives_a_steady_matte(astronaut, model_dir, face_assets, tmp_path):
    """Detection + tracking + smoothing: fresh grain every frame must not make the matte shimmer."""
    from render_fixtures import plate_pixels, write_plate

    rng = np.random.default_rng(3)
    for i in range(5):
        px = plate_pixels(astronaut.acescg, 0)
        px[..., :3] *= (1.0 + rng.normal(0, 0.03, px[..., :3].shape)).astype(np.float32)
        write_plate(tmp_path / f"still.{FIRST + i}.exr", px)
    out = tmp_path / "m.####.exr"
    assert main(["render", str(tmp_path / "still.####.exr"), "--model", str(model_dir / "invert.onnx"),
                 "--out", str(out), "--device", "cpu", "--smoothing", "2", "--colour-match", "none"]) == 0
    masks = np.stack([read_image(str(out).replace("####", str(FIRST + i))).channels_array(["mask.Y"])[..., 0]
                      for i in range(5)])
    area = (masks > 0.5).sum(axis=(1, 2))
    assert area.min() > 800
    # frame-to-frame change of the matte: a small fraction of its area
    change = np.abs(np.diff(masks, axis=0)).sum(axis=(1, 2)) / area[:-1]
    assert change.max() < 0.05, change


def test_detection_gives_the_same_bits_in_chunks_frame_by_frame_and_through_the_service(
        astronaut, model_dir, face_assets, tmp_path, short_tmp):
    """Smoothing uses the neighbours on disk, so how the shot is split does not change the landmarks."""
    import threading

    from render_fixtures import plate_pixels, write_plate
    from faceplate import client
    from faceplate.render.service import EngineService

    for i in range(5):
        write_plate(tmp_path / f"mv.{FIRST + i}.exr", plate_pixels(astronaut.acescg, 2 * i))
    plate = str(tmp_path / "mv.####.exr")
    common = ["--model", str(model_dir / "invert.onnx"), "--device", "cpu", "--smoothing", "1",
              "--colour-match", "meanstd"]
    assert main(["render", plate, "--out", str(tmp_path / "all" / "p.####.exr"), *common]) == 0
    for chunk in (f"{FIRST}-{FIRST + 1}", f"{FIRST + 2}-{FIRST + 4}"):
        assert main(["render", plate, "--frames", chunk, "--out", str(tmp_path / "chunks" / "p.####.exr"), *common]) == 0
    svc = EngineService(str(short_tmp / "e.sock"), idle_timeout=60)
    svc.bind()
    t = threading.Thread(target=svc.serve_forever, daemon=True)
    t.start()
    try:
        for f in range(FIRST, FIRST + 5):  # as Natron's RunScript asks: one frame at a time, plate pattern
            client.render_frame(plate, f, str(tmp_path / "svc" / "p.####.exr"), str(model_dir / "invert.onnx"),
                                settings={"device": "cpu", "smoothing": "1", "colour_match": "meanstd"},
                                timeout=60, socket_path=svc.socket_path, start=False)
    finally:
        svc.stop()
        t.join(10)
    for f in range(FIRST, FIRST + 5):
        ref = (tmp_path / "all" / f"p.{f}.exr").read_bytes()
        assert (tmp_path / "chunks" / f"p.{f}.exr").read_bytes() == ref, f
        assert (tmp_path / "svc" / f"p.{f}.exr").read_bytes() == ref, f
    assert read_image(tmp_path / "all" / f"p.{FIRST + 2}.exr").channels_array(["mask.Y"]).max() == 1.0


def test_render_face_like_replaces_only_the_referenced_person(model_dir, face_assets, astronaut, hopper, tmp_path, capsys):
    """Two people side by side (astronaut left, Grace Hopper right): --face like:PHOTO puts the matte
    on the referenced person only, when detecting and from extract's alignments (its persons)."""
    import cv2

    from faceplate.faces.preview import write_png
    from faceplate.plates import Image, write_image

    d = tmp_path / "two"
    d.mkdir()
    for f in (1, 2):
        px = np.concatenate([cv2.resize(np.asarray(p.acescg), (384, 384), interpolation=cv2.INTER_AREA)
                             for p in (astronaut, hopper)], axis=1)
        px = np.roll(px, 3 * f, axis=1)
        write_image(d / f"two.{f:04d}.exr", Image(px, ("R", "G", "B"), (0, 0, 768, 384), (0, 0, 768, 384)),
                    pixel_type="half")
    ref = write_png(d / "ref.png", np.round(cv2.resize(np.asarray(hopper.srgb)[:, ::-1], (256, 256)) * 255).astype(np.uint8))
    plate = str(d / "two.####.exr")
    assert main(["extract", plate, "--out", str(d / "set"), "--size", "64", "--face", "all", "--quiet"]) == 0
    for extra in ([], ["--alignments", str(d / "set" / "alignments.json")]):
        out = tmp_path / f"like{len(extra)}.####.exr"
        assert main(["render", plate, "--model", str(model_dir / "invert.onnx"), "--out", str(out), "--device", "cpu",
                     "--face", f"like:{ref}", *extra]) == 0
        for f in (1, 2):
            mask = read_image(str(out).replace("####", f"{f:04d}")).channels_array(["mask.Y"])[..., 0]
            assert mask[:, 384:].sum() > 500 and mask[:, :384].max() == 0.0, extra
    blank = write_png(d / "blank.png", np.full((64, 64, 3), 128, np.uint8))
    rc = main(["render", plate, "--model", str(model_dir / "invert.onnx"), "--out", str(tmp_path / "b.####.exr"),
               "--device", "cpu", "--face", f"like:{blank}"])
    assert rc == 2 and f"reference photo {blank}: no face found" in capsys.readouterr().err
    assert not list(tmp_path.glob("b.*.exr"))
