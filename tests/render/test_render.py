"""In-process shot render: layers, windows, metadata, bit-exactness outside the matte, no-face frames,
determinism, separate files, skip-existing, temporal stability."""
from __future__ import annotations

import json

import numpy as np
import pytest

from render_fixtures import DATA, FIRST, H, W, build_shot
from faceplate.plates import read_image
from faceplate.render.job import ShotRender, describe, render_shot
from faceplate.render.model import file_sha256
from faceplate.render.settings import RenderSettings


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


def render(shot, model, out, **kw):
    job_kw = {k: kw.pop(k) for k in ("frames", "separate", "skip_existing", "workers") if k in kw}
    settings = RenderSettings(model=str(model), device="cpu", **kw)
    from faceplate.plates import parse_frames

    frames = parse_frames(job_kw.pop("frames")) if "frames" in job_kw else None
    return render_shot(ShotRender(plate=shot.plate, out=str(out), settings=settings, frames=frames,
                                  alignments=str(shot.alignments), **job_kw))


@pytest.fixture(scope="module")
def comp_render(shot, model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "passes.####.exr"
    report = render(shot, model_dir / "invert.onnx", out, comp=True)
    return out, report


def test_layers_windows_and_metadata(comp_render, shot, model_dir):
    out, report = comp_render
    assert report.written == shot.frames
    img = read_image(str(out).replace("####", str(FIRST)))
    assert set(img.channels) == {"R", "G", "B", "A", "swap.R", "swap.G", "swap.B", "swap.A", "mask.Y"}
    assert img.data_window == DATA and img.display_window == (0, 0, W, H)
    assert set(img.channel_types) == {"float"}  # the plate is float: auto keeps it
    meta = img.metadata
    assert meta["faceplate:synthetic"] == 1
    assert meta["faceplate:model_sha256"] == file_sha256(model_dir / "invert.onnx")
    assert meta["faceplate:version"] == "0.1.0"
    settings = json.loads(meta["faceplate:settings"])
    assert settings["colour_match"] == "reinhard" and settings["comp"] is True
    assert meta["camera:name"] == "test-cam"  # the plate's metadata survives
    mask = img.channels_array(["mask.Y"])[..., 0]
    alpha = img.channels_array(["swap.A"])[..., 0]
    assert np.array_equal(bits(mask), bits(alpha))
    assert 0.0 <= mask.min() and mask.max() == 1.0 and (mask > 0).sum() > 1500  # a face-sized matte
    assert np.isfinite(img.pixels).all()


def test_outside_the_matte_is_bit_exact_and_the_swap_is_empty(comp_render, shot):
    out, _ = comp_render
    for f in shot.frames:
        img = read_image(str(out).replace("####", str(f)))
        plate = read_image(shot.plate.replace("####", str(f)))
        alpha = img.channels_array(["swap.A"])[..., 0]
        outside = alpha == 0
        comp = img.channels_array(["R", "G", "B", "A"])
        assert np.array_equal(bits(comp[outside]), bits(plate.pixels[outside]))
        assert not bits(img.channels_array(["swap.R", "swap.G", "swap.B", "swap.A"])[outside]).any()
        # HDR, negatives and -0.0 came through untouched
        assert comp[-12:, -12:, :3].max() > 10.0 and (comp[-12:, :12, :3] == -0.25).all()
        assert np.signbit(comp[-1, 20:24, :3]).all()
        inside = alpha > 0
        if inside.any():  # the inverted face really replaced the plate inside the matte
            full = alpha == 1
            assert np.abs(comp[full, :3] - plate.pixels[full, :3]).mean() > 0.02
            premult = img.channels_array(["swap.R", "swap.G", "swap.B"])
            assert np.abs(comp[full, :3] - premult[full]).max() < 1e-5


def test_no_face_frames_are_empty_and_listed(comp_render, shot):
    out, report = comp_render
    assert report.no_face == shot.no_face == [FIRST + 1]
    assert "no face found in 1 frame(s): 1002" in " ".join(describe(report))
    img = read_image(str(out).replace("####", str(FIRST + 1)))
    plate = read_image(shot.plate.replace("####", str(FIRST + 1)))
    assert not bits(img.channels_array(["swap.R", "swap.G", "swap.B", "swap.A", "mask.Y"])).any()
    assert np.array_equal(bits(img.channels_array(["R", "G", "B", "A"])), bits(plate.pixels))
    assert img.metadata["faceplate:faces"] == 0 and img.metadata["faceplate:synthetic"] == 1


def test_identity_model_passes_the_face_through(shot, model_dir, tmp_path):
    out = tmp_path / "p.####.exr"
    render(shot, model_dir / "identity.onnx", out, comp=True, colour_match="none", frames=str(FIRST))
    img = read_image(str(out).replace("####", str(FIRST)))
    plate = read_image(shot.plate.replace("####", str(FIRST)))
    alpha = img.channels_array(["swap.A"])[..., 0]
    comp = img.channels_array(["R", "G", "B"])
    outside = alpha == 0
    assert np.array_equal(bits(comp[outside]), bits(plate.rgb()[outside]))
    inside = alpha > 0
    # encode -> model (identity) -> decode and a float warp there and back: close, not bit-exact
    err = np.abs(comp[inside] - plate.rgb()[inside]) / (np.abs(plate.rgb()[inside]) + 0.02)
    assert np.median(err) < 0.05


def test_same_inputs_give_the_same_bits(shot, model_dir, tmp_path):
    a, b = tmp_path / "a" / "p.####.exr", tmp_path / "b" / "p.####.exr"
    render(shot, model_dir / "invert.onnx", a, colour_match="histogram", frames=str(FIRST), workers=1)
    render(shot, model_dir / "invert.onnx", b, colour_match="histogram", frames=str(FIRST), workers=3)
    fa, fb = (p.parent / f"p.{FIRST}.exr" for p in (a, b))
    assert fa.read_bytes() == fb.read_bytes()


def test_separate_files_and_skip_existing(shot, model_dir, tmp_path):
    out = tmp_path / "sh.####.exr"
    render(shot, model_dir / "shift.onnx", out, comp=True, separate=True, frames=str(FIRST))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"sh_comp.{FIRST}.exr", f"sh_mask.{FIRST}.exr", f"sh_swap.{FIRST}.exr"]
    assert read_image(tmp_path / f"sh_swap.{FIRST}.exr").channels == ("R", "G", "B", "A")
    mask = read_image(tmp_path / f"sh_mask.{FIRST}.exr")
    assert mask.channels == ("Y",) and mask.metadata["faceplate:synthetic"] == 1
    before = (tmp_path / f"sh_swap.{FIRST}.exr").stat().st_mtime_ns
    rep = render(shot, model_dir / "shift.onnx", out, comp=True, separate=True,
                 frames=f"{FIRST}-{FIRST + 2}", skip_existing=True)
    assert rep.skipped == [FIRST] and rep.written == [FIRST + 1, FIRST + 2]
    assert (tmp_path / f"sh_swap.{FIRST}.exr").stat().st_mtime_ns == before
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_half_plate_comp_keeps_half_and_stays_bit_exact(astronaut, model_dir, tmp_path):
    shot = build_shot(tmp_path / "half", astronaut.acescg, n=1, pixel_type="half")
    out = tmp_path / "o.####.exr"
    render(shot, model_dir / "invert.onnx", out, comp=True, colour_match="meanstd", compression="piz")
    img = read_image(str(out).replace("####", str(FIRST)))
    types = dict(zip(img.channels, img.channel_types))
    assert [types[c] for c in ("R", "G", "B", "A")] == ["half"] * 4  # the comp keeps the plate's types
    assert {types[c] for c in ("swap.R", "swap.G", "swap.B", "swap.A", "mask.Y")} == {"float"}  # passes: float
    plate = read_image(shot.plate.replace("####", str(FIRST)))
    outside = img.channels_array(["mask.Y"])[..., 0] == 0
    assert np.array_equal(bits(img.channels_array(["R", "G", "B", "A"])[outside]), bits(plate.pixels[outside]))


def test_still_face_on_a_noisy_plate_does_not_shimmer(astronaut, model_dir, tmp_path):
    """Same landmarks, fresh noise every frame: the matte must not change at all."""
    from render_fixtures import face_points, plate_pixels, write_plate

    rng = np.random.default_rng(1)
    folder = tmp_path / "noisy"
    folder.mkdir()
    doc = {"schema": "faceplate.alignments", "version": 1, "frames": {}}
    for i in range(3):
        px = plate_pixels(astronaut.acescg, 0)
        px[..., :3] *= 1.0 + rng.normal(0, 0.05, px[..., :3].shape).astype(np.float32)
        write_plate(folder / f"plate.{FIRST + i}.exr", px)
        doc["frames"][str(FIRST + i)] = [{"landmarks": face_points(0).tolist(), "track": 0}]
    (folder / "alignments.json").write_text(json.dumps(doc))
    from render_fixtures import Shot

    sh = Shot(plate=str(folder / "plate.####.exr"), alignments=folder / "alignments.json",
              frames=[FIRST, FIRST + 1, FIRST + 2], no_face=[], folder=folder)
    out = tmp_path / "n.####.exr"
    render(sh, model_dir / "invert.onnx", out, colour_match="meanstd")
    masks = [read_image(str(out).replace("####", str(FIRST + i))).channels_array(["mask.Y"]) for i in range(3)]
    assert np.array_equal(masks[0], masks[1]) and np.array_equal(masks[1], masks[2])


def test_face_selection(shot, model_dir, tmp_path):
    out = tmp_path / "s.####.exr"
    rep = render(shot, model_dir / "invert.onnx", out, face="7", frames=str(FIRST))
    assert rep.no_face == [FIRST]  # no track 7 in this shot
    img = read_image(str(out).replace("####", str(FIRST)))
    assert not img.channels_array(["mask.Y"]).any()


def test_chunks_rendered_at_once_on_one_output_pattern(shot, model_dir, tmp_path):
    """Farm-style: overlapping chunks from several 'machines' at once; every frame whole, no temporaries."""
    import threading

    out = tmp_path / "farm.####.exr"
    errors = []

    def chunk(frames):
        try:
            render(shot, model_dir / "invert.onnx", out, frames=frames, comp=True, colour_match="meanstd")
        except Exception as exc:  # collected for the assertion
            errors.append(exc)

    chunks = [f"{FIRST}-{FIRST + 1}", f"{FIRST + 1}-{FIRST + 2}", f"{FIRST}-{FIRST + 2}"]
    threads = [threading.Thread(target=chunk, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"farm.{f}.exr" for f in shot.frames]
    ref = tmp_path / "ref.####.exr"
    render(shot, model_dir / "invert.onnx", ref, comp=True, colour_match="meanstd")
    for f in shot.frames:
        a = read_image(str(out).replace("####", str(f)))
        b = read_image(str(ref).replace("####", str(f)))
        assert np.array_equal(bits(a.pixels), bits(b.pixels))


def test_the_render_path_never_imports_torch(shot, model_dir, tmp_path):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from faceplate.cli.main import main\n"
        f"rc = main(['render', {shot.plate!r}, '--model', {str(model_dir / 'invert.onnx')!r}, '--frames', '{FIRST}',"
        f" '--out', {str(tmp_path / 'p.####.exr')!r}, '--alignments', {str(shot.alignments)!r}, '--device', 'cpu'])\n"
        "import faceplate.render.service, faceplate.client\n"
        "heavy = [m for m in ('torch', 'tensorboard') if m in sys.modules]\n"
        "print(rc, heavy)\n"
        "sys.exit(0 if rc == 0 and not heavy else 1)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / f"p.{FIRST}.exr").exists()


def test_overscan_data_window_larger_than_the_display(astronaut, model_dir, tmp_path):
    """A data window with a negative origin (overscan) is kept, and the face lands where the plate has it."""
    import cv2

    from render_fixtures import face_points
    from faceplate.plates.image import Image, write_image

    img = cv2.resize(np.ascontiguousarray(astronaut.acescg), (W + 32, W + 32))[: H + 16]
    px = np.ascontiguousarray(img, np.float32)
    write_image(tmp_path / "os.1001.exr", Image(pixels=px, channels=("R", "G", "B"), data_window=(-16, -8, W + 32, H + 16),
                                                display_window=(0, 0, W, H)), pixel_type="float")
    doc = {"schema": "faceplate.alignments", "version": 1,
           "frames": {"1001": [{"landmarks": face_points(0).tolist(), "track": 0}]}}
    (tmp_path / "al.json").write_text(json.dumps(doc))
    from render_fixtures import Shot

    sh = Shot(plate=str(tmp_path / "os.####.exr"), alignments=tmp_path / "al.json", frames=[1001], no_face=[],
              folder=tmp_path)
    render(sh, model_dir / "invert.onnx", tmp_path / "o.####.exr", comp=True)
    out = read_image(tmp_path / "o.1001.exr")
    assert out.data_window == (-16, -8, W + 32, H + 16) and out.display_window == (0, 0, W, H)
    mask = out.channels_array(["mask.Y"])[..., 0]
    ys, xs = np.nonzero(mask > 0.5)
    centre = face_points(0)[:, :2].mean(axis=0)  # plate (display) pixels
    assert abs(xs.mean() - 16 - centre[0]) < 8 and abs(ys.mean() - 8 - centre[1]) < 12
    outside = mask == 0
    assert np.array_equal(bits(out.channels_array(["R", "G", "B"])[outside]), bits(px[outside]))


def test_per_side_erosion_moves_the_matte_edge_in_plate_pixels(shot, model_dir, tmp_path):
    a, b = tmp_path / "a.####.exr", tmp_path / "b.####.exr"
    render(shot, model_dir / "invert.onnx", a, frames=str(FIRST), matte="learned", feather=0.0, erode=0.0)
    render(shot, model_dir / "invert.onnx", b, frames=str(FIRST), matte="learned", feather=0.0, erode=0.0,
           erode_top=6.0)
    ma = read_image(str(a).replace("####", str(FIRST))).channels_array(["mask.Y"])[..., 0] > 0.5
    mb = read_image(str(b).replace("####", str(FIRST))).channels_array(["mask.Y"])[..., 0] > 0.5
    ya, yb = np.nonzero(ma)[0], np.nonzero(mb)[0]
    assert 4.5 <= yb.min() - ya.min() <= 7.5  # the face is upright: its top edge moved down ~6 px
    assert abs(int(yb.max()) - int(ya.max())) <= 1  # the chin side did not move
    meta = json.loads(read_image(str(b).replace("####", str(FIRST))).metadata["faceplate:settings"])
    assert meta["erode_top"] == 6.0


def test_half_output_of_a_float_plate_never_writes_inf(astronaut, model_dir, tmp_path):
    from render_fixtures import build_shot as _build

    sh = _build(tmp_path / "hot", astronaut.acescg, n=1)
    from faceplate.plates.image import write_image

    img = read_image(sh.plate.replace("####", str(FIRST)))
    img.pixels[-3:, -3:, :3] = 1e6  # brighter than half can hold
    write_image(sh.plate.replace("####", str(FIRST)), img, pixel_type="float")
    out = tmp_path / "h.####.exr"
    render(sh, model_dir / "invert.onnx", out, comp=True, pixel_type="half")
    o = read_image(str(out).replace("####", str(FIRST)))
    assert np.isfinite(o.pixels).all() and o.channels_array(["R"])[-1, -1, 0] == 65504.0
