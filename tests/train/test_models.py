"""Model registry, shapes and output ranges."""
from __future__ import annotations

import pytest
import torch

from faceplate.errors import InputError
from faceplate.train.models import MODELS, ModelSpec, SwapNet, TrainNet, build_model, centre_level


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


@pytest.mark.parametrize("name", sorted(MODELS))
def test_follow_exposure_carries_the_plates_offset_across(name):
    torch.manual_seed(0)
    model = build_model(ModelSpec(name=name, resolution=64, width=4, ae_dims=8, follow_exposure=True)).eval()
    model.set_levels([0.40, 0.42, 0.44], [0.55, 0.50, 0.45])
    x = 0.2 + 0.4 * torch.rand(3, 3, 64, 64)
    shift = torch.tensor([0.03, 0.02, -0.01]).view(1, 3, 1, 1)  # a gain per channel in linear light
    with torch.no_grad():
        rgb, mask = model(x, "b", "a")
        rgb2, mask2 = model(x + shift, "b", "a")
        swap, swap_mask = SwapNet(model, "a2b")(x)
        back, _ = SwapNet(model, "b2a")(x)
    inside = (rgb > 0.05) & (rgb < 0.9)
    assert inside.float().mean() > 0.9
    torch.testing.assert_close((rgb2 - rgb)[inside], shift.expand_as(rgb)[inside], atol=1e-5, rtol=0)
    torch.testing.assert_close(mask2, mask, atol=1e-6, rtol=0)  # the matte does not move with exposure
    # the offset is measured against the *source* identity's average: A's for a2b, B's for b2a
    torch.testing.assert_close(swap, rgb)
    torch.testing.assert_close(back, model(x, "a", "b")[0])
    assert not torch.allclose(model(x, "b", "a")[0], model(x, "b", "b")[0])
    # a crop at exactly A's average level passes through the network unshifted
    centred = x - centre_level(x) + model.levels[0].view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(model(centred, "b", "a")[0], model.decode(model.encode(centred), "b")[0])


def test_follow_exposure_off_adds_no_state():
    plain = build_model(ModelSpec(resolution=64, width=4, ae_dims=8))
    following = build_model(ModelSpec(resolution=64, width=4, ae_dims=8, follow_exposure=True))
    assert set(following.state_dict()) - set(plain.state_dict()) == {"levels"}
    assert plain.offset(torch.rand(1, 3, 64, 64), "a") is None
