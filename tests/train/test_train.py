"""Train a tiny model on CPU from face sets made here, export it, check ONNX against torch; resume."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import faceplate
from faceplate.manifest import METADATA_KEY, Manifest
from faceplate.train.loop import cpu_computes_bf16, train, uses_bf16
from faceplate.train.preview import read_log

from train_fixtures import tiny_config


@pytest.fixture(scope="module")
def trained(facesets, tmp_path_factory):
    a, b = facesets
    run = tmp_path_factory.mktemp("run") / "run"
    cfg = tiny_config(a, b, run, max_steps=4, tensorboard=True, name_b="Bob")
    result = train(cfg, progress=False)
    return cfg, result, run


def test_run_folder(trained):
    cfg, result, run = trained
    assert result.step == 4 and not result.interrupted
    names = sorted(p.name for p in run.iterdir())
    assert {"checkpoint.pt", "config.json", "config.toml", "run.json", "losses.jsonl", "losses.png",
            "previews", "tensorboard"} <= set(names)
    assert not [n for n in names if ".tmp-" in n]
    assert sorted(p.name for p in (run / "previews").iterdir()) == ["step_0000002.png", "step_0000004.png"]
    log = read_log(run / "losses.jsonl")
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert all(np.isfinite(r["total"]) and r["total"] > 0 for r in log)
    assert set(log[0]) >= {"total", "a", "b", "l1", "ssim", "mask", "lr", "grad_norm"}
    assert all(r["grad_norm"] > 0 for r in log)
    assert any(p.name.startswith("events.out.tfevents") for p in (run / "tensorboard").iterdir())
    info = json.loads((run / "run.json").read_text())
    assert info["identities"] == {"a": "alice", "b": "Bob"}
    assert info["template"] == [[0.25, 0.3], [0.75, 0.3], [0.5, 0.7]]
    assert len(info["data_hashes"]["a"]) == 64
    assert info["arithmetic"] == ("bf16" if cpu_computes_bf16() else "fp32")  # precision auto on the CPU
    import OpenImageIO as oiio

    spec = oiio.ImageInput.open(str(run / "previews" / "step_0000004.png")).spec()
    assert (spec.width, spec.height) == (8 * 64, 4 * 64)


def test_fixed_seed_same_run(facesets, trained, tmp_path):
    cfg, result, _ = trained
    again = train(cfg.replace(out=str(tmp_path / "again"), preview_every=0, tensorboard=False), progress=False)
    assert [r["total"] for r in again.history] == [r["total"] for r in result.history]
    # the data order does not depend on the number of loader workers, nor on caching the faces
    w1 = train(cfg.replace(out=str(tmp_path / "w1"), preview_every=0, tensorboard=False, workers=1, max_steps=2,
                           cache_mb=0),
               progress=False)
    assert [r["total"] for r in w1.history] == [r["total"] for r in result.history[:2]]


@pytest.mark.parametrize("direction", ["a2b", "b2a"])
def test_export_matches_torch(trained, tmp_path, direction):
    import onnxruntime as ort

    from faceplate.train.checkpoint import load_checkpoint
    from faceplate.train.export import _model_from_state, export
    from faceplate.train.models import SwapNet

    cfg, result, run = trained
    out = tmp_path / f"face_{direction}.onnx"
    rep = export(run, out, direction=direction)
    assert max(rep.max_abs_diff.values()) <= 1e-4
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape[1:]) for i in sess.get_inputs()] == [("face", [3, 64, 64])]
    assert [(o.name, o.shape[1:]) for o in sess.get_outputs()] == [("swap", [3, 64, 64]), ("mask", [1, 64, 64])]
    assert isinstance(sess.get_inputs()[0].shape[0], str)  # dynamic batch
    m = Manifest.from_json(sess.get_modelmeta().custom_metadata_map[METADATA_KEY])
    assert (m.resolution, m.coverage, m.centering, m.direction, m.architecture, m.training_steps) == (
        64, 0.8, "face", direction, "original", 4)
    assert m.identities == ({"source": "alice", "target": "Bob"} if direction == "a2b"
                            else {"source": "Bob", "target": "alice"})
    assert m.template == [[0.25, 0.3], [0.75, 0.3], [0.5, 0.7]]
    assert set(m.data_hashes) == {"alice", "Bob"} and m.faceplate_version == faceplate.__version__
    assert m.crop_encoding.transfer == "acescct"
    # independent check: a batch of 5 real crops through onnxruntime and through torch
    model, _, _ = _model_from_state(load_checkpoint(run), str(run))
    x = torch.rand(5, 3, 64, 64, generator=torch.Generator().manual_seed(9))
    swap, mask = sess.run(["swap", "mask"], {"face": x.numpy()})
    with torch.no_grad():
        ts, tm = SwapNet(model, direction)(x)
    assert np.abs(swap - ts.numpy()).max() <= 1e-4 and np.abs(mask - tm.numpy()).max() <= 1e-4
    assert 0 <= swap.min() and swap.max() <= 1 and 0 <= mask.min() and mask.max() <= 1


def test_export_fp16(trained, tmp_path):
    from faceplate.train.export import export

    _, _, run = trained
    rep = export(run, tmp_path / "face16.onnx", fp16=True)
    fp32 = export(run, tmp_path / "face32.onnx")
    assert rep.manifest.precision == "fp16"
    assert 0 < max(rep.max_abs_diff.values()) < 5e-3  # reported figure; float16 rounding only
    assert (tmp_path / "face16.onnx").stat().st_size < 0.6 * (tmp_path / "face32.onnx").stat().st_size
    print("fp16 max abs diff", rep.max_abs_diff, "fp32", fp32.max_abs_diff)


def test_resume_continues_exactly(facesets, tmp_path):
    a, b = facesets
    full = train(tiny_config(a, b, tmp_path / "full", max_steps=5, preview_every=0), progress=False)
    part = train(tiny_config(a, b, tmp_path / "part", max_steps=3, save_every=0, preview_every=0), progress=False)
    assert part.step == 3
    rest = train(tiny_config(a, b, tmp_path / "part", max_steps=5, preview_every=0), resume=True, progress=False)
    assert [r["step"] for r in rest.history] == [4, 5]
    assert [r["total"] for r in rest.history] == [r["total"] for r in full.history[3:]]
    assert [r["step"] for r in read_log(tmp_path / "part" / "losses.jsonl")] == [1, 2, 3, 4, 5]


def test_max_time_bounds_a_run(facesets, tmp_path):
    from faceplate.train.checkpoint import load_checkpoint

    a, b = facesets
    r = train(tiny_config(a, b, tmp_path / "run", max_steps=100000, max_time=0.3, save_every=0, preview_every=0),
              progress=False)
    assert 1 <= r.step < 100000 and not r.interrupted
    assert load_checkpoint(tmp_path / "run")["step"] == r.step
    assert (tmp_path / "run" / "losses.png").exists()


def _spawn(a, b, run, save_every, max_steps=100000, extra=()):
    args = [sys.executable, "-m", "faceplate", "train", "--a", str(a), "--b", str(b), "--out", str(run),
            "--width", "8", "--ae-dims", "16", "--batch", "2", "--max-steps", str(max_steps), "--seed", "3",
            "--lr", "0.001", "--save-every", str(save_every), "--preview-every", "0", "--log-every", "1",
            "--workers", "0", "--device", "cpu", "--no-tensorboard", "--cache-mb", "64", *extra]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)


def _wait_steps(run, n, proc, timeout=120.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if len(read_log(run / "losses.jsonl")) >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(f"training exited early: {proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("training made no progress")


@pytest.mark.parametrize("how", ["sigint", "sigkill"])
def test_killed_run_resumes_with_same_next_loss(facesets, tmp_path, how):
    """Ctrl-C saves a checkpoint and exits 130; a SIGKILL after a checkpoint loses only later steps.

    Either way, --resume computes the same next-step loss as an uninterrupted run with that seed."""
    from faceplate.train.checkpoint import load_checkpoint

    a, b = facesets
    run = tmp_path / "run"
    proc = _spawn(a, b, run, save_every=1000 if how == "sigint" else 2)
    _wait_steps(run, 3 if how == "sigint" else 5, proc)
    proc.send_signal(signal.SIGINT if how == "sigint" else signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    if how == "sigint":
        assert proc.returncode == 130, err
        assert "Ctrl-C" in err
        assert not [p.name for p in run.iterdir() if ".tmp-" in p.name]
    else:
        # a kill during a save can leave a hidden temporary; the checkpoint itself is always whole
        assert proc.returncode == -signal.SIGKILL
    step = int(load_checkpoint(run)["step"])
    assert step >= (3 if how == "sigint" else 2)
    (run / ".checkpoint.tmp-123-abcd.pt").write_bytes(b"PK half")  # as if killed mid-save
    resumed = train(tiny_config(a, b, run, max_steps=step + 1, preview_every=0), resume=True, progress=False)
    straight = train(tiny_config(a, b, tmp_path / "straight", max_steps=step + 1, save_every=0, preview_every=0),
                     progress=False)
    assert resumed.history[0]["step"] == step + 1
    assert not [p.name for p in run.iterdir() if ".tmp-" in p.name]
    assert resumed.history[0]["total"] == straight.history[-1]["total"]


def test_interrupted_cosine_run_resumes_with_the_same_rates(facesets, tmp_path):
    """A decaying schedule is a function of the step (and the budget): Ctrl-C, then --resume with the
    same budget, gives the rates and losses of a run that was never stopped."""
    a, b = facesets
    run = tmp_path / "run"
    sched = dict(schedule="cosine", warmup_steps=2, lr_end=0.1)
    proc = _spawn(a, b, run, save_every=1000, max_steps=24,
                  extra=["--schedule", "cosine", "--warmup-steps", "2", "--lr-end", "0.1"])
    _wait_steps(run, 4, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 130), err
    step = len(read_log(run / "losses.jsonl"))
    resumed = train(tiny_config(a, b, run, max_steps=24, preview_every=0, **sched), resume=True, progress=False)
    straight = train(tiny_config(a, b, tmp_path / "straight", max_steps=24, save_every=0, preview_every=0, **sched),
                     progress=False)
    assert [r["step"] for r in resumed.history] == list(range(step + 1, 25))
    assert [(r["lr"], r["total"]) for r in resumed.history] == [(r["lr"], r["total"]) for r in straight.history[step:]]
    lrs = [r["lr"] for r in straight.history]
    assert lrs[0] == pytest.approx(5e-4) and lrs[1] == pytest.approx(1e-3) and lrs[-1] < 2e-4


def test_max_time_counts_every_session_and_bf16_on_cpu(facesets, tmp_path):
    from faceplate.train.checkpoint import load_checkpoint

    a, b = facesets
    cfg = tiny_config(a, b, tmp_path / "run", max_steps=100000, max_time=0.3, save_every=0, preview_every=0,
                      schedule="linear", precision="bf16", grad_clip=0.5)
    first = train(cfg, progress=False)
    assert all(np.isfinite(r["total"]) for r in first.history)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["arithmetic"] == "bf16"
    spent = load_checkpoint(tmp_path / "run")["scheduler"]["elapsed"]
    assert spent >= 0.3
    again = train(cfg, resume=True, progress=False)  # the budget is spent: one more step, then stop
    assert again.step == first.step + 1
    assert again.history[0]["lr"] == pytest.approx(0.0, abs=1e-12)  # the linear decay reached its end
    assert load_checkpoint(tmp_path / "run")["scheduler"]["elapsed"] > spent


def test_auto_precision_follows_the_cpus_own_bf16_flags():
    """auto is bf16 only where the CPU computes bf16 natively (else autocast is emulated and slower);
    on Linux the kernel's CPU flags say so independently of torch."""
    assert uses_bf16("auto", cuda=True) and uses_bf16("bf16", cuda=False)
    assert not uses_bf16("fp32", cuda=False) and not uses_bf16("fp32", cuda=True)
    assert uses_bf16("auto", cuda=False) == cpu_computes_bf16()
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo to compare with")
    flags = set()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            flags |= set(line.split(":", 1)[1].split())
    assert cpu_computes_bf16() == bool(flags & {"avx512_bf16", "amx_bf16", "amx_tile"})


@pytest.mark.parametrize("fp16", [False, True])
def test_render_side_loads_the_export(tmp_path, fp16):
    """The render path's loader (which validates the manifest) accepts what export writes."""
    render_model = pytest.importorskip("faceplate.render.model")
    align = pytest.importorskip("faceplate.faces.align")
    from train_fixtures import make_faceset  # not `conftest`: another folder's may be the one imported
    from faceplate.train.export import export

    tmpl = np.asarray(align.TEMPLATE, np.float64)[:, :2].tolist()
    a = make_faceset(tmp_path / "a", n=2, seed=1, template=tmpl)
    b = make_faceset(tmp_path / "b", n=2, seed=2, template=tmpl)
    train(tiny_config(a.root, b.root, tmp_path / "run", max_steps=1, preview_every=0), progress=False)
    export(tmp_path / "run", tmp_path / "m.onnx", fp16=fp16)
    m = render_model.load_model(tmp_path / "m.onnx", device="cpu")
    assert m.manifest.precision == ("fp16" if fp16 else "fp32") and len(m.manifest.template) == len(tmpl)
    swap, mask = m.run(np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32))
    assert swap.shape == (2, 3, 64, 64) and mask.shape == (2, 1, 64, 64)


def test_follow_exposure_trains_resumes_and_exports(facesets, tmp_path):
    """Levels come from the face sets, survive a resume, and the exported ONNX carries an input offset
    to its output."""
    import onnxruntime as ort

    from faceplate.faces.faceset import FaceSet
    from faceplate.train.checkpoint import load_checkpoint
    from faceplate.train.data import FaceSource
    from faceplate.train.export import export
    from faceplate.train.loop import faceset_level

    a, b = facesets
    cfg = tiny_config(a, b, tmp_path / "run", max_steps=2, preview_every=2, follow_exposure=True)
    train(cfg, progress=False)
    want = [faceset_level(FaceSource(FaceSet.load(p), 64, 64)) for p in (a, b)]
    levels = load_checkpoint(tmp_path / "run")["model"]["levels"].numpy()
    np.testing.assert_allclose(levels, np.stack(want), atol=1e-6)
    assert abs(levels[0] - levels[1]).max() > 0.01  # the two sets' skins differ
    train(cfg.replace(max_steps=3), resume=True, progress=False)
    np.testing.assert_array_equal(load_checkpoint(tmp_path / "run")["model"]["levels"].numpy(), levels)
    rep = export(tmp_path / "run", tmp_path / "m.onnx")
    assert max(rep.max_abs_diff.values()) <= 1e-4
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    x = 0.3 + 0.3 * np.random.default_rng(4).random((2, 3, 64, 64), dtype=np.float32)
    s1, m1 = sess.run(None, {"face": x})
    s2, m2 = sess.run(None, {"face": x + np.float32(0.02)})
    inside = (s1 > 0.02) & (s1 < 0.95)
    assert inside.mean() > 0.9
    np.testing.assert_allclose((s2 - s1)[inside], 0.02, atol=1e-4)
    np.testing.assert_allclose(m2, m1, atol=1e-5)


def test_a_collapsed_run_stops_with_a_clear_error(facesets, tmp_path):
    """Outputs saturated for good (as a too-high --lr leaves them): the gradient is exactly 0 from then
    on, and the run stops saying so instead of training a dead model to the end of its budget."""
    from faceplate.errors import InputError
    from faceplate.train.checkpoint import load_checkpoint
    from faceplate.train.loop import COLLAPSE_STEPS

    a, b = facesets
    cfg = tiny_config(a, b, tmp_path / "run", max_steps=1, preview_every=0)
    train(cfg, progress=False)
    state = load_checkpoint(tmp_path / "run")
    for k in [k for k in state["model"] if k.endswith(("rgb.bias", "mask.bias"))]:
        state["model"][k] = torch.full_like(state["model"][k], -1e4)  # sigmoid(-1e4) == 0 exactly
    torch.save(state, tmp_path / "run" / "checkpoint.pt")
    with pytest.raises(InputError, match=rf"collapsed at step {1 + COLLAPSE_STEPS}: the gradient has been "
                                         rf"exactly 0 for {COLLAPSE_STEPS} steps.*--lr \(now 0.001\)"):
        train(cfg.replace(max_steps=100), resume=True, progress=False)
    rows = read_log(tmp_path / "run" / "losses.jsonl")
    assert [r["grad_norm"] for r in rows[1:]] == [0.0] * COLLAPSE_STEPS
