"""The built-in example's pieces (the whole chain runs end to end in .ci/run: `faceplate demo`)."""
import numpy as np
import pytest

from faceplate.cli.main import main
from faceplate.demo import identity, plate
from faceplate.demo.run import colour_round_trip, write_natron_script
from faceplate.demo.sheet import contact_sheet, pass_through_error
from faceplate.demo.stages import StageLog, run_command
from faceplate.errors import FaceplateError
from faceplate.colour import ColourConfig
from faceplate.plates import Image, Sequence, read_image, write_image


@pytest.fixture(scope="module")
def small_plate(tmp_path_factory):
    out = tmp_path_factory.mktemp("plate")
    return plate.make_plate(out, frames=3, width=320, height=180)


def test_plate_is_scene_linear_half_with_hdr_noise_and_motion(small_plate):
    frames = [read_image(small_plate.path(plate.FIRST_FRAME + i)) for i in range(3)]
    assert all(f.channel_types == ("half",) * 3 and f.display_window == (0, 0, 320, 180) for f in frames)
    px = frames[0].rgb()
    assert px.max() > 1.0 and px.min() < 0.0  # highlights above 1.0 and noise below 0 survive
    assert not np.array_equal(frames[0].pixels, frames[2].pixels)  # camera move + exposure drift


def test_plate_is_deterministic_and_resumable(small_plate, tmp_path):
    again = plate.make_plate(tmp_path, frames=3, width=320, height=180)
    for i in range(3):
        f = plate.FIRST_FRAME + i
        assert again.path(f).read_bytes() == small_plate.path(f).read_bytes()
    before = again.path(plate.FIRST_FRAME).stat().st_mtime_ns
    plate.make_plate(tmp_path, frames=3, width=320, height=180)  # existing frames are kept
    assert again.path(plate.FIRST_FRAME).stat().st_mtime_ns == before


def test_camera_moves_slowly():
    a, b = plate.camera(0.0), plate.camera(1.0)
    assert np.allclose(a[:, :2] @ [226, 150] + a[:, 2], [960 - 60, 0.42 * 1080 + 20])
    scale = np.linalg.norm(b[:, 0]) / np.linalg.norm(a[:, 0])
    assert 1.07 < scale < 1.09


def test_identity_variants_are_seeded_and_differ(tmp_path):
    seq = identity.make_identity_stills(tmp_path, count=3)
    imgs = [read_image(seq.path(identity.FIRST + i)).rgb() for i in range(3)]
    assert imgs[0].shape == (600, 512, 3)
    assert not np.allclose(imgs[0], imgs[1]) and not np.allclose(imgs[1], imgs[2])
    photo = np.random.default_rng(0).random((40, 30, 3), dtype=np.float32)
    np.testing.assert_array_equal(identity.variant(photo, 2), identity.variant(photo, 2))
    assert identity.frame_range(3) == "1-3"


def test_stages_resume_and_redo(tmp_path, capsys):
    calls = []
    log = StageLog(tmp_path)
    assert log.run("a", "stage a", lambda: calls.append(1) or {"x": 1}) == {"x": 1}
    assert StageLog(tmp_path).run("a", "stage a", lambda: calls.append(2) or {"x": 2}) == {"x": 1}
    assert calls == [1] and "skipped" in capsys.readouterr().err
    assert StageLog(tmp_path, redo={"a"}).run("a", "stage a", lambda: calls.append(3) or {"x": 3}) == {"x": 3}
    assert calls == [1, 3]


def test_failed_stage_leaves_no_marker(tmp_path):
    log = StageLog(tmp_path)
    with pytest.raises(FaceplateError, match="failed with exit code 2"):
        log.run("bad", "bad", lambda: run_command(["render", str(tmp_path / "none.####.exr"), "--model", "x",
                                                   "--out", str(tmp_path / "o.####.exr")]))
    assert not log.marker("bad").exists()


def _passes(tmp_path, src: Sequence, change_outside: bool, empty_matte: bool = False) -> Sequence:
    out = Sequence(str(tmp_path / "p" / "p.####.exr"))
    for f in src.frames_on_disk():
        img = read_image(src.path(f))
        rgb = img.rgb()
        h, w = rgb.shape[:2]
        mask = np.zeros((h, w), np.float32)
        mask[60:120, 130:190] = 0.0 if empty_matte else 1.0
        comp = rgb.copy()
        comp[mask > 0] = 0.5
        if change_outside:
            comp[0, 0] += 1e-3
        swap = np.concatenate([comp * mask[..., None], mask[..., None]], axis=-1)
        px = np.concatenate([comp, np.ones((h, w, 1), np.float32), swap, mask[..., None]], axis=-1)
        names = ("R", "G", "B", "A", "swap.R", "swap.G", "swap.B", "swap.A", "mask.Y")
        write_image(out.path(f), Image(px, names, img.data_window, img.display_window), pixel_type="float")
    return out


def test_pass_through_figure_and_contact_sheet(small_plate, tmp_path):
    frames = small_plate.frames_on_disk()
    good = _passes(tmp_path / "good", small_plate, change_outside=False)
    q = pass_through_error(small_plate, good, frames)
    assert q["comp_vs_plate_outside_matte"] == 0.0 and q["swap_alpha_outside_matte"] == 0.0
    bad = _passes(tmp_path / "bad", small_plate, change_outside=True)
    assert pass_through_error(small_plate, bad, frames)["comp_vs_plate_outside_matte"] > 0
    assert q["face_frames"] == q["face_frames_with_swap"] == len(frames)
    # a model that learned nothing: the pass-through figure is 0, but the demo must not call it OK
    from faceplate.demo.run import demo_ok

    empty = pass_through_error(small_plate, _passes(tmp_path / "empty", small_plate, False, empty_matte=True), frames)
    assert empty["comp_vs_plate_outside_matte"] == 0.0 and empty["face_frames_with_swap"] == 0
    assert demo_ok({"quality": q}) and not demo_ok({"quality": empty})
    sheet = contact_sheet(small_plate, good, frames[:2], tmp_path / "sheet.png", "ACEScg", tile=64)
    img = read_image(sheet)
    assert img.width == 4 * 64 and img.height == 2 * 64


def test_colour_round_trip_is_tiny(small_plate):
    assert colour_round_trip(small_plate.path(plate.FIRST_FRAME), ColourConfig()) < 1e-5


def test_natron_script_runs_the_farm_script_with_the_demo_paths(small_plate, tmp_path):
    path = write_natron_script(tmp_path / "comp.sh", small_plate, Sequence(str(tmp_path / "p.####.exr")), 3,
                               tmp_path / "face.onnx", tmp_path / "alignments.json")
    text = path.read_text()
    assert "FACEPLATE_FRAMES=1001-1003" in text and "NatronRenderer -t" in text
    assert "install/farm/render_swap.py" in text and path.stat().st_mode & 0o111


@pytest.mark.parametrize("argv, message", [
    (["--frames", "2"], "expected --frames >= 4"),
    (["--minutes", "-1"], "--minutes >= 0"),
    (["--steps", "0"], "--steps >= 1"),
    (["--expression-match", "1.5"], "--expression-match: expected <= 1.0, found 1.5"),
    (["--losses", "l1:1,blur:2"], "unknown loss 'blur'"),
])
def test_demo_rejects_bad_options(tmp_path, capsys, argv, message):
    assert main(["demo", "--out", str(tmp_path / "d"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_demo_defaults_synthesize_b_expressions_and_follow_exposure():
    """B's stills are one photo with one expression: the demo trains with --expressions b."""
    import argparse

    from faceplate.cli import demo as demo_cli
    from faceplate.demo.run import DemoSettings

    assert DemoSettings(out="x").expressions == "b"
    assert DemoSettings(out="x").warp_local is True  # faceplate train's default is the book's warp
    assert DemoSettings(out="x").expression_match == 1.0  # A smiles in every frame: every synthesized B smile copies it
    sub = argparse.ArgumentParser().add_subparsers()
    demo_cli.add_parser(sub)
    p = sub.choices["demo"]
    assert p.parse_args([]).expressions == "b" and p.parse_args(["--expressions", "off"]).expressions == "off"
    # the plate drifts in exposure: the demo's model carries that drift across (--follow-exposure)
    assert DemoSettings(out="x").follow_exposure is True
    assert p.parse_args([]).follow_exposure is True and p.parse_args(["--no-follow-exposure"]).follow_exposure is False
    # no random flips: the shot's faces are never mirrored (docs/quality.md)
    assert DemoSettings(out="x").flip is False
    assert p.parse_args([]).flip is False and p.parse_args(["--flip"]).flip is True
    # faceplate train's losses unless --losses names others
    from faceplate.train.config import TrainConfig

    assert DemoSettings(out="x").losses == TrainConfig.losses == "l1:1,ssim:1,mask:1"
    assert p.parse_args([]).losses is None and p.parse_args(["--losses", "l1:1"]).losses == "l1:1"
    # a step budget (the same model on every run), no time cap unless asked; --help's figure is the settings'
    assert DemoSettings(out="x").steps == p.parse_args([]).steps == demo_cli.DEMO_STEPS
    assert DemoSettings(out="x").minutes == p.parse_args([]).minutes == 0
