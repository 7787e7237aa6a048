"""Bad input: each a clear error naming the file/frame/parameter, and nothing partial left behind."""
from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest

from render_fixtures import FIRST, build_model
from faceplate.errors import InputError, MissingFrameError, ModelError, OutputError
from faceplate.render.job import ShotRender, render_shot
from faceplate.render.model import load_model
from faceplate.render.settings import RenderSettings


def job(shot, model, out, **kw):
    frames = kw.pop("frames", None)
    from faceplate.plates import parse_frames

    return ShotRender(plate=shot.plate, out=str(out), alignments=str(shot.alignments),
                      frames=parse_frames(frames) if frames else None,
                      settings=RenderSettings(model=str(model), device="cpu", **kw))


def leftovers(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_model_missing(shot, tmp_path):
    with pytest.raises(ModelError, match=r"nope\.onnx: file not found"):
        render_shot(job(shot, tmp_path / "nope.onnx", tmp_path / "out" / "p.####.exr"))
    assert leftovers(tmp_path / "out") == []


def test_model_corrupt(shot, model_dir, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(os.urandom(512))
    with pytest.raises(ModelError, match=r"bad\.onnx: corrupt or not an ONNX model"):
        load_model(bad, "cpu")
    trunc = tmp_path / "trunc.onnx"
    trunc.write_bytes((model_dir / "invert.onnx").read_bytes()[:200])
    with pytest.raises(ModelError, match=r"trunc\.onnx: corrupt"):
        render_shot(job(shot, trunc, tmp_path / "out" / "p.####.exr"))
    assert leftovers(tmp_path / "out") == []


def test_model_without_manifest(tmp_path):
    import onnx

    p = build_model(tmp_path / "m.onnx")
    m = onnx.load(str(p))
    del m.metadata_props[:]
    onnx.save(m, str(p))
    with pytest.raises(ModelError, match=r"expected a Faceplate manifest in ONNX metadata key 'faceplate.manifest'"):
        load_model(p, "cpu")


@pytest.mark.parametrize("overrides, expected", [
    ({"resolution": 128}, r"input 'face' shape: expected \[N, 3, 128, 128\] \(manifest resolution 128\), model has"),
    ({"version": 9}, r"expected manifest version 1, found 9"),
    ({"centering": "legs"}, r"--centering: expected one of face, head, found 'legs'"),
    ({"template": [[0.0, 0.0]] * 10}, r"manifest template: expected 468×2 points \(or none\), found shape \(10, 2\)"),
    ({"crop_encoding": {"primaries": "ACEScg", "transfer": "gamma9"}}, r"transfer function: expected one of"),
])
def test_model_with_incompatible_manifest(tmp_path, overrides, expected):
    from faceplate.errors import ColourError

    p = build_model(tmp_path / "m.onnx", manifest_overrides=overrides)
    with pytest.raises((ModelError, ColourError), match=expected):
        load_model(p, "cpu")


def test_model_without_a_template_is_accepted(tmp_path):
    """Face sets that do not record their template give manifests without one: nothing to compare."""
    m = load_model(build_model(tmp_path / "m.onnx", manifest_overrides={"template": []}), "cpu")
    assert m.manifest.template == [] and m.resolution == 64


def test_model_with_wrong_io(tmp_path):
    p = build_model(tmp_path / "m.onnx", input_name="image")
    with pytest.raises(ModelError, match=r"inputs: expected \['face'\], model has \['image'\]"):
        load_model(p, "cpu")


def test_plate_frames_missing(shot, model_dir, tmp_path):
    with pytest.raises(MissingFrameError, match=r"2 requested frame\(s\) missing: 1004, 1005; found 1001-1003"):
        render_shot(job(shot, model_dir / "invert.onnx", tmp_path / "out" / "p.####.exr", frames="1002-1005"))
    assert leftovers(tmp_path / "out") == []


def test_alignments_do_not_cover_frames(shot, model_dir, tmp_path):
    al = tmp_path / "al.json"
    al.write_text(json.dumps({"schema": "faceplate.alignments", "version": 1, "frames": {str(FIRST): []}}))
    j = job(shot, model_dir / "invert.onnx", tmp_path / "out" / "p.####.exr")
    j.alignments = str(al)
    with pytest.raises(InputError, match=r"2 requested frame\(s\) not covered: 1002, 1003"):
        render_shot(j)
    assert leftovers(tmp_path / "out") == []


def test_output_folder_unwritable(shot, model_dir, tmp_path, monkeypatch):
    with pytest.raises(OutputError, match=r"/proc/faceplate-nowhere: cannot be created"):
        render_shot(job(shot, model_dir / "invert.onnx", "/proc/faceplate-nowhere/p.####.exr"))
    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m, **k: False if str(p) == str(ro) else real_access(p, m, **k))
    with pytest.raises(OutputError, match=r"expected a writable folder, found it read-only"):
        render_shot(job(shot, model_dir / "invert.onnx", ro / "p.####.exr"))
    assert leftovers(ro) == []


def test_disk_full_mid_write_leaves_nothing(shot, model_dir, tmp_path, monkeypatch):
    """The encoder writes part of the second file of a frame, then the disk is full."""
    import OpenImageIO as oiio

    real_create = oiio.ImageOutput.create
    calls = {"n": 0}

    class FullDisk:
        def __init__(self, out):
            self.out, self.path = out, None

        def open(self, path, spec):
            self.path = path
            return self.out.open(path, spec)

        def write_image(self, px):
            calls["n"] += 1
            if calls["n"] >= 2:
                with open(self.path, "ab") as fh:  # some bytes reached the disk
                    fh.write(b"\0" * 4096)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return self.out.write_image(px)

        def __getattr__(self, name):
            return getattr(self.out, name)

    monkeypatch.setattr(oiio.ImageOutput, "create", staticmethod(lambda path, *a: FullDisk(real_create(path, *a))))
    out = tmp_path / "out"
    j = job(shot, model_dir / "invert.onnx", out / "p.####.exr", comp=True, frames=str(FIRST))
    j.separate = True
    with pytest.raises(OutputError, match=r"frame 1001\): write failed \(No space left on device\); nothing was left"):
        render_shot(j)
    assert leftovers(out) == []  # neither the finished first file nor the partial temporary


def test_bad_settings_are_named():
    with pytest.raises(InputError, match=r"--colour-match: expected one of none, meanstd, reinhard, histogram"):
        RenderSettings.from_values({"colour_match": "magic"})
    with pytest.raises(InputError, match=r"--feather: expected >= 0.0, found -1.0"):
        RenderSettings.from_values({"feather": "-1"})
    with pytest.raises(InputError, match=r"--face: expected 'selected', 'all', 'largest', a track id \(integer\) or like:"):
        RenderSettings.from_values({"face": "biggest"})
    with pytest.raises(InputError, match=r"unknown parameter\(s\) \['colour'\]"):
        RenderSettings.from_values({"colour": "x"})


def test_model_outputs_are_sanitised(model_dir):
    m = load_model(model_dir / "invert.onnx", "cpu")
    x = np.full((1, 3, 64, 64), 2.0, np.float32)  # out of range input -> 1 - 2 = -1 -> clipped
    swap, mask = m.run(x)
    assert swap.min() == 0.0 and mask.max() == 1.0 and np.isfinite(swap).all()
    with pytest.raises(ModelError, match=r"expected input N×3×64×64, found \(1, 3, 32, 32\)"):
        m.run(np.zeros((1, 3, 32, 32), np.float32))
