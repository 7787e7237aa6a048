"""Model registry, shapes and output ranges."""
from __future__ import annotations

import pytest
import torch

from faceplate.errors import InputError
from faceplate.train.models import MODELS, ModelSpec, SwapNet, TrainNet, build_model


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("res", [64, 128])
def test_shapes_and_ranges(name, res):
    torch.manual_seed(0)
    model = build_model(ModelSpec(name=name, resolution=res, width=4, ae_dims=8))
    x = torch.rand(2, 3, res, res)
    for ident in ("a", "b"):
        rgb, mask = model(x, ident)
        assert rgb.shape == (2, 3, res, res) and mask.shape == (2, 1, res, res)
        assert 0 <= rgb.min() and rgb.max() <= 1 and 0 <= mask.min() and mask.max() <= 1
    ra, ma, rb, mb = TrainNet(model)(x, x[:1])
    assert ra.shape[0] == 2 and rb.shape[0] == 1
    # the swap uses the other identity's decoding
    swap, _ = SwapNet(model, "a2b")(x)
    torch.testing.assert_close(swap, model(x, "b")[0])
    assert not torch.allclose(model(x, "a")[0], model(x, "b")[0])


def test_all_parameters_used():
    model = build_model(ModelSpec(name="liae", resolution=64, width=4, ae_dims=8))
    ra, ma, rb, mb = TrainNet(model)(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64))
    (ra.sum() + ma.sum() + rb.sum() + mb.sum()).backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("spec,match", [
    (ModelSpec(name="gan"), "expected one of original, liae"),
    (ModelSpec(resolution=72), "multiple of 16"),
    (ModelSpec(resolution=1024), "64..512"),
])
def test_bad_specs(spec, match):
    with pytest.raises(InputError, match=match):
        build_model(spec)
    with pytest.raises(InputError, match="a2b or b2a"):
        SwapNet(build_model(ModelSpec(resolution=64, width=4, ae_dims=8)), "sideways")
