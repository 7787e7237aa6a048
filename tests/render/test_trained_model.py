"""End to end: extract a face set from the shot, train a few steps, export ONNX, render with it."""
from __future__ import annotations

import numpy as np
import pytest

from render_fixtures import FIRST
from faceplate.cli.main import main
from faceplate.plates import read_image


@pytest.mark.slow
def test_render_with_a_model_trained_for_a_few_steps(shot, extracted, tmp_path):
    pytest.importorskip("torch")
    from faceplate.train.config import from_mapping
    from faceplate.train.export import export
    from faceplate.train.loop import train

    cfg = from_mapping(dict(a=str(extracted), b=str(extracted), out=str(tmp_path / "run"), width=8, ae_dims=16,
                            batch=2, max_steps=2, seed=3, lr=1e-3, save_every=2, preview_every=0, log_every=1,
                            workers=0, device="cpu", tensorboard=False, cache_mb=64))
    train(cfg, progress=False)
    model = tmp_path / "face.onnx"
    export(tmp_path / "run", model)
    out = tmp_path / "p.####.exr"
    assert main(["render", shot.plate, "--model", str(model), "--frames", f"{FIRST}-{FIRST + 2}", "--out", str(out),
                 "--alignments", str(extracted / "alignments.json"), "--comp", "--device", "cpu",
                 "--matte", "landmark"]) == 0  # a 2-step model has not learned its mask yet
    for f in range(FIRST, FIRST + 3):
        img = read_image(str(out).replace("####", str(f)))
        plate = read_image(shot.plate.replace("####", str(f)))
        alpha = img.channels_array(["swap.A"])[..., 0]
        assert np.isfinite(img.pixels).all() and img.metadata["faceplate:synthetic"] == 1
        outside = alpha == 0
        comp = img.channels_array(["R", "G", "B", "A"])
        assert np.array_equal(comp[outside].view(np.uint32), plate.pixels[outside].view(np.uint32))
        assert alpha.max() == 1.0 and (alpha > 0).sum() > 800  # the face was replaced
