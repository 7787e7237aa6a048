"""Learning-rate schedules over a step or wall-clock budget; resume keeps the rates."""
from __future__ import annotations

import math

import pytest
import torch

from faceplate.errors import InputError
from faceplate.train.schedule import SCHEDULE_NAMES, LRSchedule, lr_factor, progress


def test_constant_with_warmup_is_the_old_rule():
    # the old LambdaLR: min(1, (s + 1) / warm) for the step after s completed ones
    for s in range(0, 30):
        assert lr_factor("constant", s, 0.0, max_steps=100, warmup_steps=10) == min(1.0, (s + 1) / 10)
        assert lr_factor("constant", s, 0.0, max_steps=100) == 1.0


@pytest.mark.parametrize("name", ["cosine", "linear"])
def test_decays_from_peak_to_end_over_the_steps(name):
    f = [lr_factor(name, s, 0.0, max_steps=110, warmup_steps=10, lr_end=0.1) for s in range(111)]
    assert f[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])  # warm-up
    assert f[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))  # then only down
    assert f[110] == pytest.approx(0.1)
    mid = 0.1 + 0.9 * (0.5 if name == "cosine" else 0.5)
    assert f[60] == pytest.approx(mid)
    assert lr_factor("cosine", 35, 0.0, max_steps=110, warmup_steps=10) == pytest.approx(
        0.5 * (1 + math.cos(math.pi * 0.25)))


def test_time_budget_drives_the_decay_when_it_ends_first():
    assert progress(10, 30.0, max_steps=100000, max_time=60.0, warmup_steps=0) == pytest.approx(0.5)
    assert progress(90, 30.0, max_steps=100, max_time=60.0, warmup_steps=0) == pytest.approx(0.9)
    assert progress(10, 90.0, max_steps=100, max_time=60.0, warmup_steps=0) == 1.0
    assert lr_factor("cosine", 10, 60.0, max_steps=100000, max_time=60.0) == pytest.approx(0.0)


def test_schedule_sets_the_optimizer_and_round_trips():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=1.0)
    s = LRSchedule(opt, name="cosine", lr=2e-3, max_steps=100, warmup_steps=0)
    assert s.apply(50, 12.5) == pytest.approx(1e-3)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3) and s.get_last_lr() == [pytest.approx(1e-3)]
    again = LRSchedule(opt, name="cosine", lr=2e-3, max_steps=100)
    again.load_state_dict(s.state_dict())
    assert again.elapsed == 12.5
    again.load_state_dict({"base_lrs": [1.0], "last_epoch": 3})  # a checkpoint from before schedules
    assert again.elapsed == 0.0


def test_unknown_schedule():
    with pytest.raises(InputError, match=", ".join(SCHEDULE_NAMES)):
        lr_factor("step", 0, 0.0, max_steps=10)
    with pytest.raises(InputError, match="constant, cosine, linear"):
        LRSchedule(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), name="exp", lr=1.0, max_steps=1)
