"""score_shot end to end: real renders (an identity ONNX model) and baselines scored side by side."""
from __future__ import annotations

import numpy as np
import pytest

from quality_fixtures import FIRST, build_shot, faceset_with_landmarks, posed_landmarks


@pytest.fixture(scope="module")
def scored(quality_models, astronaut, face_assets, tmp_path_factory):
    from faceplate.cli.main import main
    from faceplate.colour import ColourConfig
    from faceplate.plates import Sequence
    from faceplate.quality.evaluate import score_shot

    tmp = tmp_path_factory.mktemp("score-shot")
    shot = build_shot(tmp / "shot", astronaut.acescg, n=5, no_face=(FIRST + 1,))
    model = quality_models / "identity.onnx"
    passes = str(tmp / "swap" / "p.####.exr")
    assert main(["render", shot.plate, "--model", str(model), "--frames", f"{FIRST}-{FIRST + 4}", "--out", passes,
                 "--alignments", str(shot.alignments), "--comp", "--device", "cpu", "--colour-match", "none"]) == 0
    fs_b = tmp / "b"
    faceset_with_landmarks(fs_b, [posed_landmarks(64, dx=d) for d in (-2.0, 0.0, 2.0)], size=64, seed=3)
    config = ColourConfig.from_env()
    from faceplate.render.settings import RenderSettings

    settings = RenderSettings.from_values({"model": str(model), "comp": True, "colour_match": "none",
                                           "device": "cpu"})
    result = score_shot(Sequence(shot.plate), Sequence(passes), shot.alignments, model, shot.frames,
                        config.resolve("scene_linear"), config, tmp / "baselines", faceset_b=fs_b, settings=settings,
                        identity=False)
    return shot, result


def test_every_variant_is_scored_on_the_frames_with_a_face(scored):
    shot, result = scored
    assert result["frames"] == [f for f in shot.frames if f not in shot.no_face]
    assert set(result["variants"]) == {"do_nothing", "swap", "constant_mean_b", "nearest_b", "_reference"}
    for row in (v for k, v in result["variants"].items() if not k.startswith("_")):
        assert {"pose_error_deg", "expression_error", "sharpness_ratio", "flicker", "follow"} <= set(row)
        assert all(np.isfinite(x) for x in (row["expression_error"], row["sharpness_ratio"], row["flicker"]))


def test_do_nothing_and_an_identity_model_follow_the_input_and_a_constant_face_does_not(scored):
    _, result = scored
    v = result["variants"]
    nothing, swap, constant = v["do_nothing"], v["swap"], v["constant_mean_b"]
    assert nothing["follow"] == 1.0 and nothing["expression_error"] == 0.0 and nothing["sharpness_ratio"] == 1.0
    assert max(nothing["pose_error_deg"].values()) == 0.0
    assert nothing["flicker"] == pytest.approx(v["_reference"]["flicker"])  # the plate's own
    assert swap["follow"] == pytest.approx(1.0, abs=1e-4)  # the model outputs its input
    assert constant["follow"] == 0.0
    # the motion-aware figure agrees where the output is the plate's own face, and a constant follows nothing
    assert nothing["follow_motion"] > 0.9 and nothing["follow_ceiling"] > 0.9
    assert swap["follow_motion"] > 0.9 and constant["follow_motion"] == pytest.approx(0.0, abs=1e-6)
    # the identity model's face is the plate's, resampled through its crop: nearly the same expression,
    # a little softer; the constant face is another (drawn) face
    assert swap["expression_error"] < constant["expression_error"]
    assert 0.0 < swap["sharpness_ratio"] <= 1.0


def test_table_and_verdicts_print_the_figures(scored):
    from faceplate.quality.evaluate import format_table, verdicts

    _, result = scored
    table = format_table(result)
    assert "constant_mean_b" in table.splitlines()[0] and "follow (1 = all)" in table
    assert "follow, motion-aware" in table and "follow ceiling (exact motion)" in table
    lines = verdicts(result)
    assert any(line.startswith("expression: error") and "pasting B's nearest face" in line for line in lines)
    assert any(line.startswith("follow: ") and "slope 1.000" in line and "a swap making exactly those" in line
               for line in lines)
