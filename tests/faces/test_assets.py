"""Face-model assets: build (convert, optimise, verify against TFLite or dlib), hashes, loading, errors, CLI.

The identity model's own tests (reader, conversion, runtimes) are in test_identity_onnx.py."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from faceplate.cli.main import main
from faceplate.errors import AssetError, InputError
from faceplate.faces import assets


def test_build_installs_four_verified_models(face_assets):
    doc = json.loads((face_assets / "assets.json").read_text())
    assert doc["schema"] == "faceplate.assets" and doc["version"] == 1
    assert assets.identity_installed() and assets.default_names() == list(assets.ASSETS)
    assert sorted(doc["assets"]) == ["detector_full", "detector_short", "facemesh", "identity"]
    for name, entry in doc["assets"].items():
        path = face_assets / entry["file"]
        assert assets.sha256_file(path) == entry["sha256"]
        ver = entry["verification"]
        assert ver["passed"] is True and ver["tolerance"] == assets.TOLERANCE
        assert 0 < max(ver["max_abs_diff"].values()) <= 1e-3, name
    # only the models and the list; no temporary files left behind
    assert sorted(p.name for p in face_assets.iterdir()) == [
        "assets.json", "detector_full.onnx", "detector_short.onnx", "face_descriptor.onnx", "facemesh.onnx"]


def test_optimised_graphs_have_no_prelu(face_assets):
    import onnx

    for name in assets.ASSETS:
        ops = {n.op_type for n in onnx.load(str(face_assets / assets.ASSETS[name].filename)).graph.node}
        assert "PRelu" not in ops and "Conv" in ops, (name, ops)
    doc = assets.load_manifest(face_assets)
    assert any("PRelu" in s for s in doc["assets"]["facemesh"]["optimisations"])


def test_build_is_idempotent(face_assets):
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in face_assets.iterdir()}
    doc = assets.build_assets(face_assets)
    assert doc.get("skipped") is True
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in face_assets.iterdir()}
    assert before == after


def test_rebuild_gives_the_same_bits(face_assets, tmp_path):
    assets.build_assets(tmp_path, names=["detector_short"], verify=False)
    a = (tmp_path / "detector_short.onnx").read_bytes()
    assert a == (face_assets / "detector_short.onnx").read_bytes()


def test_session_runs_the_converted_model(face_assets, astronaut):
    s = assets.session("facemesh", providers=["CPUExecutionProvider"], threads=1)
    assert [d for d in s.get_inputs()[0].shape] == [1, 3, 192, 192]
    x = np.ascontiguousarray(np.full((1, 3, 192, 192), 0.5, np.float32))
    out1 = s.run(None, {s.get_inputs()[0].name: x})
    out2 = s.run(None, {s.get_inputs()[0].name: x})
    assert sorted(o.size for o in out1) == [1, 1404]
    assert all(np.array_equal(a, b) for a, b in zip(out1, out2))


def test_missing_assets_say_how_to_build(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEPLATE_ASSETS", str(tmp_path / "nothing-here"))
    with pytest.raises(AssetError, match=r"assets\.json.*faceplate assets build"):
        assets.session("detector_short")


def test_missing_model_file(face_assets, tmp_path):
    dest = tmp_path / "a"
    shutil.copytree(face_assets, dest)
    (dest / "facemesh.onnx").unlink()
    with pytest.raises(AssetError, match=r"facemesh\.onnx not found.*faceplate assets build"):
        assets.session("facemesh", dest=dest)


def test_corrupt_model_is_refused(face_assets, tmp_path):
    dest = tmp_path / "a"
    shutil.copytree(face_assets, dest)
    path = dest / "detector_full.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(AssetError, match=r"detector_full\.onnx is corrupt.*sha256.*faceplate assets build --force"):
        assets.session("detector_full", dest=dest)
    with pytest.raises(AssetError, match="corrupt"):
        assets.verify_assets(dest, against_tflite=False)
    # a rebuild notices and repairs it; the models not rebuilt stay listed
    doc = assets.build_assets(dest, names=["detector_full"], verify=False)
    assert not doc.get("skipped")
    assert assets.sha256_file(path) == doc["assets"]["detector_full"]["sha256"]
    assert sorted(doc["assets"]) == sorted(assets.ASSETS)
    assert doc["assets"]["facemesh"] == assets.load_manifest(face_assets)["assets"]["facemesh"]


def test_verification_failure_installs_nothing(tmp_path):
    dest = tmp_path / "dest"
    with pytest.raises(AssetError, match=r"detector_short.*failed verification.*nothing was installed"):
        assets.build_assets(dest, names=["detector_short"], tolerance=1e-9)
    assert not dest.exists() or list(dest.iterdir()) == []


def test_asset_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEPLATE_ASSETS", str(tmp_path / "x"))
    assert assets.asset_dir() == tmp_path / "x"
    monkeypatch.delenv("FACEPLATE_ASSETS")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert assets.asset_dir() == tmp_path / "xdg" / "faceplate" / "assets"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert assets.asset_dir() == tmp_path / "home" / ".local" / "share" / "faceplate" / "assets"


def test_bad_names_and_settings(face_assets, tmp_path):
    with pytest.raises(InputError, match="detector_short, detector_full, facemesh.*'nope'"):
        assets.session("nope")
    with pytest.raises(InputError, match="tolerance"):
        assets.build_assets(tmp_path, tolerance=-1)
    with pytest.raises(InputError, match="providers"):
        assets.session("facemesh", providers=["NopeExecutionProvider"])


def test_cli_build_and_check(face_assets, tmp_path, capsys):
    assert main(["assets", "build", "--dest", str(face_assets)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["assets", "check", "--dest", str(face_assets)]) == 0
    out = capsys.readouterr().out
    assert out.count(" ok ") == 4 and "|ONNX - TFLite|" in out and "|ONNX - dlib|" in out
    assert main(["assets", "check", "--dest", str(tmp_path / "none")]) == 2
    assert "faceplate assets build" in capsys.readouterr().err


def test_graph_rewrites_are_exact_on_a_small_graph():
    """PRelu (slopes below 0, in [0, 1] and above 1) and a spatial Pad before a Conv are rewritten (a
    channel Pad before an Add is kept); the rewritten graph computes the same numbers."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper as nh

    from faceplate.faces.onnxrt import CPU, make_session

    rng = np.random.default_rng(3)
    slope = np.array([-0.5, 0.0, 0.25, 1.0, 1.5, 3.0], np.float32).reshape(1, 6, 1, 1)
    w = rng.normal(0, 0.5, (4, 6, 3, 3)).astype(np.float32)
    w2 = rng.normal(0, 0.5, (6, 4, 1, 1)).astype(np.float32)
    inits = [nh.from_array(slope, "slope"), nh.from_array(w, "w"), nh.from_array(w2, "w2"),
             nh.from_array(np.array([0, 0, 1, 0, 0, 0, 2, 1], np.int64), "sp"),
             nh.from_array(np.array([0, 0, 0, 0, 0, 2, 0, 0], np.int64), "cp")]
    nodes = [helper.make_node("PRelu", ["x", "slope"], ["p"]),
             helper.make_node("Pad", ["p", "sp"], ["padded"], mode="constant"),
             helper.make_node("Conv", ["padded", "w"], ["c"], kernel_shape=[3, 3], strides=[2, 2]),
             helper.make_node("Pad", ["c", "cp"], ["wide"], mode="constant"),
             helper.make_node("Conv", ["c", "w2"], ["c2"], kernel_shape=[1, 1]),
             helper.make_node("Add", ["wide", "c2"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 9, 9])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 5, 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    x = rng.normal(0, 1, (1, 6, 9, 9)).astype(np.float32)
    before = make_session(model.SerializeToString(), "test", [CPU], 1).run(None, {"x": x})[0]
    opt, done = assets.optimise_model(onnx.ModelProto.FromString(model.SerializeToString()))
    ops = [n.op_type for n in opt.graph.node]
    assert "PRelu" not in ops and ops.count("Pad") == 1, (ops, done)
    after = make_session(opt.SerializeToString(), "test", [CPU], 1).run(None, {"x": x})[0]
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)
