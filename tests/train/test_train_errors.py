"""Corrupt, truncated and foreign checkpoints and face sets give clear FaceplateErrors; checkpoints
are never half-written."""
from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from faceplate.colour.encoding import CropEncoding
from faceplate.errors import CheckpointError, FaceSetError, InputError
from faceplate.faces.faceset import FaceSet, save_selection
from faceplate.train import checkpoint as ckpt
from faceplate.train.export import export
from faceplate.train.loop import train

from train_fixtures import make_faceset, tiny_config


@pytest.fixture(scope="module")
def run(facesets, tmp_path_factory):
    a, b = facesets
    out = tmp_path_factory.mktemp("errs") / "run"
    train(tiny_config(a, b, out, max_steps=2, preview_every=0), progress=False)
    return out


def _copy_run(run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    return dst


@pytest.mark.parametrize("damage,match", [
    ("truncate", "corrupt or truncated"),
    ("garbage", "corrupt"),
    ("empty", "file is empty"),
    ("missing", "file not found"),
])
def test_damaged_checkpoint(run, tmp_path, damage, match):
    r = _copy_run(run, tmp_path)
    p = r / ckpt.FILENAME
    data = p.read_bytes()
    if damage == "truncate":
        p.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        p.write_bytes(os.urandom(4096))
    elif damage == "empty":
        p.write_bytes(b"")
    else:
        p.unlink()
    for call in (lambda: export(r, tmp_path / "m.onnx"),
                 lambda: train(tiny_config("x", "y", r, max_steps=4), resume=True, progress=False)):
        with pytest.raises(CheckpointError, match=match) as info:
            call()
        assert str(p) in str(info.value)
    assert not (tmp_path / "m.onnx").exists()


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/faceplate-pwned",))


def test_foreign_checkpoints(tmp_path):
    p = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 3}, p)
    with pytest.raises(CheckpointError, match="foreign file, expected a faceplate.checkpoint"):
        ckpt.load_checkpoint(p)
    torch.save([torch.zeros(1)], p)
    with pytest.raises(CheckpointError, match="found list"):
        ckpt.load_checkpoint(p)
    torch.save({"format": "faceplate.checkpoint", "payload": Evil()}, p)
    with pytest.raises(CheckpointError, match="refused.*pickled code"):
        ckpt.load_checkpoint(p)
    assert not os.path.exists("/tmp/faceplate-pwned")
    torch.save({"format": "faceplate.checkpoint", "version": 1, "step": 1}, p)
    with pytest.raises(CheckpointError, match="incomplete, missing"):
        ckpt.load_checkpoint(p)


def test_weights_that_do_not_fit(run, tmp_path):
    r = _copy_run(run, tmp_path)
    state = ckpt.load_checkpoint(r)
    state["config"]["width"] = 16  # claims another model size
    torch.save(state, r / ckpt.FILENAME)
    with pytest.raises(CheckpointError, match="weights do not fit the model"):
        export(r, tmp_path / "m.onnx")


def test_failed_save_leaves_previous_checkpoint(run, tmp_path, monkeypatch):
    r = _copy_run(run, tmp_path)
    before = (r / ckpt.FILENAME).read_bytes()
    net = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(net.parameters())
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)

    def broken_save(obj, fh):
        fh.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    from faceplate.errors import OutputError

    with pytest.raises(OutputError, match="No space left"):
        ckpt.save_checkpoint(r / ckpt.FILENAME, step=9, config={}, run_info="{}", model=net, optimizer=opt,
                             scheduler=sched)
    assert (r / ckpt.FILENAME).read_bytes() == before
    assert not [p.name for p in r.iterdir() if ".tmp-" in p.name]


def test_resume_refuses_other_settings(run, facesets):
    a, b = facesets
    with pytest.raises(InputError, match="width: run has 8, asked for 12"):
        train(tiny_config(a, b, run, width=12, max_steps=3), resume=True, progress=False)
    with pytest.raises(InputError, match="holds a checkpoint already; add --resume"):
        train(tiny_config(a, b, run, max_steps=3), progress=False)


def test_bad_facesets(facesets, tmp_path):
    a, b = facesets
    with pytest.raises(FaceSetError, match="--a .*nope: not found; expected a face-set folder"):
        train(tiny_config(tmp_path / "nope", b, tmp_path / "r1"), progress=False)
    # faceset.json that is not JSON
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "faceset.json").write_text("{not json")
    with pytest.raises(FaceSetError, match="faceset.json: expected JSON"):
        train(tiny_config(a, bad, tmp_path / "r2"), progress=False)
    # a truncated crop EXR
    c = make_faceset(tmp_path / "cut", n=2, seed=5)
    img = c.image_path(c.faces[1])
    img.write_bytes(img.read_bytes()[:300])
    with pytest.raises(FaceSetError, match="face f001002_0"):
        train(tiny_config(a, c.root, tmp_path / "r3"), progress=False)
    # a mask file without the eyes/mouth channels
    d = make_faceset(tmp_path / "nomask", n=2, seed=6)
    from faceplate.plates.image import Image, write_image
    import numpy as np

    write_image(d.mask_path(d.faces[0]), Image(np.zeros((64, 64, 1), np.float32), ("Y",), (0, 0, 64, 64),
                                               (0, 0, 64, 64)))
    with pytest.raises(FaceSetError, match=r"expected mask channels mask.face, mask.eyes, mask.mouth .*found \['Y'\]"):
        train(tiny_config(a, d.root, tmp_path / "r4"), progress=False)
    # another crop encoding
    e = make_faceset(tmp_path / "srgb", n=2, seed=7, encoding=CropEncoding("ACEScg", "srgb"))
    with pytest.raises(FaceSetError, match="differ in colour or crop settings"):
        train(tiny_config(a, e.root, tmp_path / "r5"), progress=False)
    # a face set with no faces
    f = FaceSet.load(a)
    f.root, f.faces = tmp_path / "empty", []
    f.root.mkdir()
    f.save()
    with pytest.raises(FaceSetError, match="expected at least one face"):
        train(tiny_config(a, f.root, tmp_path / "r6"), progress=False)
    assert not (tmp_path / "r5" / ckpt.FILENAME).exists()


def test_selection_is_training_data(facesets, tmp_path):
    a, b = facesets
    fa = FaceSet.load(a)
    sel = tmp_path / "sel.json"
    save_selection(sel, fa, [fa.faces[0].id, fa.faces[2].id], {"by": "test"})
    r = train(tiny_config(sel, b, tmp_path / "run", max_steps=1, preview_every=0), progress=False)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert r.step == 1 and info["faces"] == {"a": 2, "b": 5}
