"""Training settings: TOML, flags over file over defaults, the saved config repeats the run."""
from __future__ import annotations

import json

import pytest

from faceplate.errors import InputError
from faceplate.train import config as C


def test_toml_and_precedence(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('[train]\na = "sets/a"\nb = "/abs/b"\nout = "run"\nbatch = 4\nmodel = "liae"\n'
                    'warp = false\n[train.losses]\nl1 = 2.0\nms_ssim = 0.5\n')
    cfg = C.resolve({"batch": 16, "seed": None}, toml)
    assert cfg.batch == 16  # flag wins
    assert cfg.model == "liae" and cfg.warp is False
    assert cfg.a == str((tmp_path / "sets/a").resolve()) and cfg.b == "/abs/b"
    assert cfg.loss_weights() == {"l1": 2.0, "ms_ssim": 0.5}
    assert cfg.seed == 0 and cfg.width == 64  # defaults


def test_saved_config_repeats_run(tmp_path):
    cfg = C.from_mapping(dict(a="/x/a", b="/x/b", out=str(tmp_path / "run"), losses="l1:1,ssim:0.25,mask:2",
                              max_time=12.5, compile=True))
    C.save(cfg, tmp_path / "run")
    again = C.resolve({}, tmp_path / "run" / "config.toml")
    assert again == cfg
    import json

    assert C.from_mapping(json.loads((tmp_path / "run" / "config.json").read_text())) == cfg


@pytest.mark.parametrize("values,match", [
    (dict(losses="l1:1,lpips:1"), "unknown loss 'lpips'"),
    (dict(losses="mask:1"), "at least one image loss"),
    (dict(losses="l1:-1"), ">= 0"),
    (dict(resolution=100), "multiple of 16"),
    (dict(batch=0), r"--batch: expected >= 1"),
    (dict(model="gan"), "expected one of original, liae"),
    (dict(out=None), "--out: required"),
])
def test_bad_settings(values, match):
    base = dict(a="/a", b="/b", out="/o")
    base.update(values)
    with pytest.raises(InputError, match=match):
        C.from_mapping(base)


def test_bad_toml(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("batch = 4\nbatchsize = 8\n")
    with pytest.raises(InputError, match="unknown setting.*batchsize"):
        C.read_toml(p)
    p.write_text("batch = [\n")
    with pytest.raises(InputError, match="expected TOML"):
        C.read_toml(p)
    with pytest.raises(InputError, match="not found"):
        C.read_toml(tmp_path / "missing.toml")


def test_resume_refuses_changed_settings():
    saved = C.from_mapping(dict(a="/a", b="/b", out="/o", width=32))
    C.check_resume(saved, saved.replace(max_steps=10, workers=0))  # run bounds may change
    with pytest.raises(InputError, match="width: run has 32, asked for 64"):
        C.check_resume(saved, saved.replace(width=64))


def test_cli_paths_saved_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = C.resolve({"a": "sets/a", "b": "sets/b", "out": "run"})
    assert (cfg.a, cfg.b, cfg.out) == (str(tmp_path / "sets/a"), str(tmp_path / "sets/b"), str(tmp_path / "run"))


def test_expression_settings_round_trip(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('[train]\na = "/a"\nb = "/b"\nout = "/o"\nexpressions = "both"\nexpression-prob = 0.3\n')
    cfg = C.resolve({"expression_strength": "0.8"}, toml)
    assert (cfg.expressions, cfg.expression_prob, cfg.expression_strength) == ("both", 0.3, 0.8)
    assert cfg.expression_prob_of("a") == cfg.expression_prob_of("b") == 0.3
    C.save(cfg, tmp_path / "run")
    assert C.resolve({}, tmp_path / "run" / "config.toml") == cfg
    assert 'expressions = "both"' in (tmp_path / "run" / "config.toml").read_text()
    only_b = cfg.replace(expressions="b")
    assert (only_b.expression_prob_of("a"), only_b.expression_prob_of("b")) == (0.0, 0.3)
    default = C.from_mapping(dict(a="/a", b="/b", out="/o"))  # off unless asked for; old configs too
    assert default.expressions == "off" and default.expression_prob_of("b") == 0.0
    with pytest.raises(InputError, match="expressions: run has 'off', asked for 'b'"):
        C.check_resume(default, default.replace(expressions="b"))


def test_a_run_saved_before_a_setting_existed_resumes_as_it_trained(tmp_path):
    """A config.json without ``schedule``, ``expression_match`` or ``warp_local`` (older runs) resumes
    with what that run trained with (a constant rate, random expressions only, the book's warp), not
    with today's defaults."""
    run = tmp_path / "run"
    C.save(C.from_mapping(dict(a="/a", b="/b", out=str(run), expressions="b")), run)
    doc = json.loads((run / "config.json").read_text())
    del doc["schedule"], doc["expression_match"], doc["warp_local"]
    (run / "config.json").write_text(json.dumps(doc))
    old = C.resolve({"out": str(run)}, resume=True)
    assert (old.schedule, old.expression_match, old.warp_local, old.expressions) == ("constant", 0.0, False, "b")
    new = C.from_mapping(dict(a="/a", b="/b", out=str(run), expressions="b"))
    assert (new.schedule, new.expression_match) == ("constant", 0.5)  # a new run gets today's defaults
    C.check_resume(C.from_mapping(C.from_saved(doc)), old)  # what the checkpoint holds: the same settings


@pytest.mark.parametrize("values,match", [
    (dict(expressions="smile"), "--expressions: expected one of off, b, a, both"),
    (dict(expression_match=1.5), "--expression-match: expected <= 1.0"),
    (dict(expression_prob=1.5), "--expression-prob: expected <= 1.0"),
    (dict(expression_strength=-1), "--expression-strength: expected >= 0.0"),
])
def test_bad_expression_settings(values, match):
    with pytest.raises(InputError, match=match):
        C.from_mapping(dict(a="/a", b="/b", out="/o", **values))


def test_expression_flags_in_the_cli():
    import argparse

    from faceplate.cli.train import config_from_args, configure_parser

    p = configure_parser(argparse.ArgumentParser())
    assert "--expressions" in p.format_help() and "--expression-prob" in p.format_help()
    args = p.parse_args(["--a", "/a", "--b", "/b", "--out", "/o", "--expressions", "b", "--expression-prob", "0.7"])
    cfg = config_from_args(args)
    assert (cfg.expressions, cfg.expression_prob) == ("b", 0.7)
    with pytest.raises(SystemExit):
        p.parse_args(["--expressions", "sometimes"])


def test_schedule_settings():
    cfg = C.from_mapping(dict(a="/a", b="/b", out="/o", schedule="cosine", lr_end=0.1, warmup_steps=50,
                              warp_strength=0.01, precision="bf16", grad_clip=1.0))
    assert (cfg.schedule, cfg.lr_end, cfg.warmup_steps, cfg.warp_strength, cfg.precision, cfg.grad_clip) == (
        "cosine", 0.1, 50, 0.01, "bf16", 1.0)
    with pytest.raises(InputError, match="expected one of constant, cosine, linear"):
        C.from_mapping(dict(a="/a", b="/b", out="/o", schedule="step"))
    with pytest.raises(InputError, match="lr-end"):
        C.from_mapping(dict(a="/a", b="/b", out="/o", lr_end=2.0))
    with pytest.raises(InputError, match="expected one of auto, fp32, bf16"):
        C.from_mapping(dict(a="/a", b="/b", out="/o", precision="fp16"))
