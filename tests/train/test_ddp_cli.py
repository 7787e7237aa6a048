"""torchrun DDP on CPU (gloo, 2 processes) and the train/export command line."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from faceplate.cli.main import main
from faceplate.train import checkpoint as ckpt
from faceplate.train.preview import read_log


def test_ddp_two_processes_one_checkpoint(facesets, tmp_path):
    a, b = facesets
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "faceplate.train.ddp", "--a", str(a), "--b", str(b), "--out", str(run), "--width", "8",
           "--ae-dims", "16", "--batch", "2", "--max-steps", "3", "--save-every", "2", "--preview-every", "2",
           "--workers", "0", "--device", "cpu", "--no-tensorboard", "--seed", "3", "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 processes, step 3" in proc.stdout
    assert sorted(p.name for p in run.iterdir() if p.suffix == ".pt") == [ckpt.FILENAME]
    assert not [p.name for p in run.rglob("*") if ".tmp-" in p.name]
    state = ckpt.load_checkpoint(run)
    assert state["step"] == 3
    assert [r["step"] for r in read_log(run / "losses.jsonl")] == [1, 2, 3]
    assert (run / "previews" / "step_0000002.png").exists()
    # the DDP run's checkpoint exports like any other
    assert main(["export", str(run), "--out", str(tmp_path / "ddp.onnx")]) == 0


def test_ddp_outside_torchrun_says_how(capsys, monkeypatch, facesets, tmp_path):
    from faceplate.train import ddp

    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    a, b = facesets
    assert ddp.main(["--a", str(a), "--b", str(b), "--out", str(tmp_path / "r")]) == 2
    assert "expected to be started by torchrun" in capsys.readouterr().err


def test_cli_train_from_toml_then_export(facesets, tmp_path, capsys):
    a, b = facesets
    toml = tmp_path / "run.toml"
    toml.write_text(f'[train]\na = "{a}"\nb = "{b}"\nout = "run"\nmodel = "liae"\nwidth = 8\nae_dims = 16\n'
                    'batch = 2\nmax_steps = 2\nworkers = 0\ndevice = "cpu"\ntensorboard = false\n'
                    'preview_every = 0\n[train.losses]\nl1 = 1.0\nms_ssim = 0.5\nmask = 1.0\n')
    assert main(["train", "--config", str(toml), "--seed", "7", "--quiet"]) == 0
    run = tmp_path / "run"
    import json

    saved = json.loads((run / "config.json").read_text())
    assert saved["model"] == "liae" and saved["seed"] == 7 and saved["losses"] == "l1:1,ms_ssim:0.5,mask:1"
    # continue the run for one more step from the command line alone
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--resume", "--max-steps", "3"]) == 0
    assert ckpt.load_checkpoint(run)["step"] == 3
    bar = capsys.readouterr().err  # the progress bar: step, losses, samples/s, ETA
    assert "step 3/3" in bar and "ms_ssim" in bar and "samples/s" in bar and "ETA" in bar
    assert main(["export", str(run), "--out", str(tmp_path / "m.onnx"), "--direction", "b2a"]) == 0
    out = capsys.readouterr().out
    assert "liae, fp32, 64px, 3 steps" in out and "max abs diff" in out


@pytest.mark.parametrize("argv,msg", [
    (["train", "--a", "/no/such", "--b", "/no/such", "--out", "RUN"], "--a /no/such: not found"),
    (["train", "--a", "A", "--b", "B"], "--out: required"),
    (["train", "--a", "A", "--b", "B", "--out", "R", "--losses", "l3:1"], "unknown loss 'l3'"),
    (["train", "--out", "/no/run", "--resume"], "--resume: /no/run/config.json not found"),
    (["export", "/no/run", "--out", "x.onnx"], "checkpoint /no/run: file not found"),
])
def test_cli_errors_are_one_line(argv, msg, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err
