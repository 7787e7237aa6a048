"""Quality baselines: what each one puts in the crop, and that they go through the real render path."""
from __future__ import annotations

import numpy as np
import pytest

from quality_fixtures import FIRST, faceset_with_landmarks, posed_landmarks
from faceplate.errors import InputError
from faceplate.plates import read_image


def _load(path):
    from faceplate.render.model import load_model

    return load_model(path, device="cpu")


def _codes(n: int, r: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 3, r, r), dtype=np.float32)


def _contexts(landmarks: list[np.ndarray]):
    from faceplate.quality.baselines import FaceContext

    return [FaceContext(frame=FIRST, matrix=np.eye(2, 3), landmarks=np.asarray(lm, np.float64)) for lm in landmarks]


def test_constant_outputs_the_mean_of_b_and_the_models_mask(quality_models, tmp_path):
    from faceplate.quality.baselines import BaselineModel, ConstantFace

    fs = faceset_with_landmarks(tmp_path / "b", [posed_landmarks(64)] * 3, size=64, seed=4)
    model = _load(quality_models / "invert.onnx")
    crops = np.stack([fs.read_face(rec)[0] for rec in fs.faces]).astype(np.float64)
    want = np.clip(crops, 0, 1).mean(0).transpose(2, 0, 1)
    codes = _codes(2)
    base = BaselineModel(model, ConstantFace(fs, 64)).bind(_contexts([posed_landmarks(64)] * 2))
    rgb, mask = base.run(codes)
    assert rgb.shape == (2, 3, 64, 64) and rgb.dtype == np.float32
    assert np.abs(rgb - want[None]).max() < 1e-6  # the mean, whatever the input
    assert np.array_equal(mask, model.run(codes)[1])  # the real model's matte
    assert (base.manifest, base.sha256, base.resolution) == (model.manifest, model.sha256, 64)


def test_constant_resizes_b_to_the_models_resolution(quality_models, tmp_path):
    from faceplate.quality.baselines import ConstantFace

    fs = faceset_with_landmarks(tmp_path / "b", [posed_landmarks(128)] * 2, size=128, seed=5)
    face = ConstantFace(fs, 64).face
    full = np.stack([fs.read_face(rec)[0] for rec in fs.faces]).mean(0)
    assert face.shape == (3, 64, 64)
    # area resampling keeps the mean of the image
    assert np.allclose(face.mean((1, 2)), full.mean((0, 1)), atol=1e-3)


def test_nearest_picks_the_record_with_the_nearest_landmarks(quality_models, tmp_path):
    from faceplate.quality.baselines import BaselineModel, NearestFace

    # B's set at 128 px: record landmarks are scaled to the model's 64 px before comparing
    shifts = [(-12, 0), (0, 0), (12, 6), (0, -14)]
    fs = faceset_with_landmarks(tmp_path / "b", [posed_landmarks(128, dx=dx, dy=dy) for dx, dy in shifts], size=128,
                                seed=6)
    near = NearestFace(fs, 64)
    rng = np.random.default_rng(1)
    for k, (dx, dy) in enumerate(shifts):
        probe = posed_landmarks(64, dx=dx / 2 + 1.0, dy=dy / 2 - 1.0) + rng.normal(0, 0.5, (468, 2))
        assert near.index(probe) == k
    model = _load(quality_models / "identity.onnx")
    order = [2, 0, 3]
    ctx = _contexts([posed_landmarks(64, dx=shifts[k][0] / 2, dy=shifts[k][1] / 2) for k in order])
    rgb, _ = BaselineModel(model, near).bind(ctx).run(_codes(3))
    for i, k in enumerate(order):
        assert np.array_equal(rgb[i], near.crops[k])
    import cv2

    want = cv2.resize(fs.read_face(fs.faces[2])[0], (64, 64), interpolation=cv2.INTER_AREA)
    assert np.abs(rgb[0] - np.clip(want, 0, 1).transpose(2, 0, 1)).max() < 1e-6


def test_face_contexts_use_the_renders_crop_matrix(quality_models, quality_shot):
    from faceplate.faces import align
    from faceplate.quality.baselines import face_contexts
    from faceplate.render.facesource import load_alignments

    model = _load(quality_models / "identity.onnx")
    pts = load_alignments(quality_shot.alignments)[FIRST][0].points
    (ctx,) = face_contexts(FIRST, [pts], model.manifest)
    m = align.crop_matrix(pts[:, :2], 64, model.manifest.coverage, model.manifest.centering)
    assert np.array_equal(ctx.matrix, m)
    assert np.allclose(ctx.landmarks, pts[:, :2] @ m[:, :2].T + m[:, 2])


def _render(tmp_path, quality_shot, model_path, baseline, name, match="none"):
    from faceplate.quality.baselines import render_baseline
    from faceplate.render.settings import RenderSettings

    model = _load(model_path)
    settings = RenderSettings.from_values({"model": str(model_path), "comp": True, "colour_match": match,
                                           "device": "cpu"})
    out = str(tmp_path / name / "p.####.exr")
    written = render_baseline(baseline, model, quality_shot.plate, quality_shot.alignments, quality_shot.frames, out,
                              settings)
    assert written == quality_shot.frames
    return out


def _real_render(tmp_path, quality_shot, model_path, match="none"):
    from faceplate.cli.main import main

    out = str(tmp_path / "real" / "p.####.exr")
    assert main(["render", quality_shot.plate, "--model", str(model_path), "--frames", f"{FIRST}-{FIRST + 2}",
                 "--out", out, "--alignments", str(quality_shot.alignments), "--comp", "--device", "cpu",
                 "--colour-match", match]) == 0
    return out


def test_rendered_baseline_keeps_the_plate_outside_the_matte(quality_models, quality_shot, tmp_path):
    from faceplate.quality.baselines import ConstantFace

    fs = faceset_with_landmarks(tmp_path / "b", [posed_landmarks(64)] * 3, size=64, seed=7)
    model_path = quality_models / "identity.onnx"
    out = _render(tmp_path, quality_shot, model_path, ConstantFace(fs, 64), "constant")
    real = _real_render(tmp_path, quality_shot, model_path)
    for f in quality_shot.frames:
        img = read_image(out.replace("####", str(f)))
        ref = read_image(real.replace("####", str(f)))
        plate = read_image(quality_shot.plate.replace("####", str(f)))
        # the same layers, types, windows and provenance as the real render, plus the baseline's name
        assert img.channels == ref.channels and img.channel_types == ref.channel_types
        assert (img.data_window, img.display_window) == (ref.data_window, ref.display_window)
        assert img.metadata["faceplate:baseline"] == "constant" and img.metadata["faceplate:synthetic"] == 1
        assert img.metadata["faceplate:model_sha256"] == ref.metadata["faceplate:model_sha256"]
        alpha = img.channels_array(["swap.A"])[..., 0]
        assert np.array_equal(alpha, ref.channels_array(["swap.A"])[..., 0])  # the same matte
        outside = alpha == 0
        comp = img.channels_array(["R", "G", "B", "A"])
        assert np.array_equal(comp[outside].view(np.uint32), plate.pixels[outside].view(np.uint32))
        if f in quality_shot.no_face:
            assert alpha.max() == 0
        else:
            assert (alpha == 1).sum() > 800
            inside = alpha == 1
            assert not np.allclose(comp[inside][:, :3], ref.channels_array(["R", "G", "B"])[inside])
    assert not list((tmp_path / "constant").glob(".*"))  # atomic: no temporaries left


def test_truth_crop_of_the_plate_is_the_identity_model(quality_models, quality_shot, tmp_path):
    """The ceiling's crop is cut exactly as the render cuts the model's input: with the plate as the
    truth it reproduces an identity model's render bit for bit."""
    from faceplate.colour import ColourConfig
    from faceplate.quality.baselines import make_baseline

    config = ColourConfig.from_env()
    model_path = quality_models / "identity.onnx"
    space = config.resolve("scene_linear")
    base = make_baseline("truth", model=_load(model_path), truth=quality_shot.plate, config=config, space=space)
    out = _render(tmp_path, quality_shot, model_path, base, "truth", match="none")
    real = _real_render(tmp_path, quality_shot, model_path, match="none")
    for f in quality_shot.frames:
        a, b = read_image(out.replace("####", str(f))), read_image(real.replace("####", str(f)))
        assert np.array_equal(a.pixels.view(np.uint32), b.pixels.view(np.uint32))


def test_bad_input_is_refused(quality_models, tmp_path):
    from faceplate.quality.baselines import BaselineModel, ConstantFace, NearestFace, make_baseline

    model = _load(quality_models / "identity.onnx")
    with pytest.raises(InputError, match="constant, nearest, truth"):
        make_baseline("median", model=model)
    with pytest.raises(InputError, match="faceset_b"):
        make_baseline("constant", model=model)
    fs = faceset_with_landmarks(tmp_path / "b", [posed_landmarks(64)] * 2, size=64)
    with pytest.raises(InputError, match="one face context per crop"):
        BaselineModel(model, ConstantFace(fs, 64)).run(_codes(2))  # not bound to the frame's faces
    fs.faces[1].landmarks = [[0.0, 0.0]]
    with pytest.raises(InputError, match="468"):
        NearestFace(fs, 64)
    nan = fs.faces[0]
    nan.landmarks = np.full((468, 2), np.nan).tolist()
    fs.faces = [nan]
    with pytest.raises(InputError, match="finite"):
        NearestFace(fs, 64)
