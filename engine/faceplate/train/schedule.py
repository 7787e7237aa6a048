"""Learning-rate schedules, chosen by name (:data:`SCHEDULES`), that know the run's budget.

The rate of a step is ``lr × warm-up(step) × decay(progress)``:

- warm-up: linear, ``min(1, (step + 1) / warmup_steps)`` (1 without warm-up);
- progress in [0, 1]: how much of the budget is spent, ``max(step / max_steps, elapsed / max_time)``
  (the time term only with ``--max-time``), after the warm-up: whichever budget ends the run first
  drives the decay, so a schedule works for step budgets and wall-clock budgets alike;
- decay(p), from 1 at p = 0 to ``lr_end`` (a fraction of ``lr``) at p = 1:

  ============  ==========================================
  ``constant``  1 (no decay; ``lr_end`` unused)
  ``cosine``    ``lr_end + (1 - lr_end) · (1 + cos πp) / 2``
  ``linear``    ``1 - (1 - lr_end) · p``
  ============  ==========================================

The state is a pure function of (step, elapsed training time): both are saved in the checkpoint
(``elapsed`` in :meth:`LRSchedule.state_dict`), so ``--resume`` with the same budget continues the
exact rates. Resuming with a *different* budget (a larger ``--max-steps``) re-spreads the remaining
decay over the new budget from the step reached.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable

from faceplate.errors import InputError

if TYPE_CHECKING:  # importing this module (the settings do, for the names) needs no torch
    import torch


def _constant(p: float, end: float) -> float:
    return 1.0


def _cosine(p: float, end: float) -> float:
    return end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * p))


def _linear(p: float, end: float) -> float:
    return 1.0 - (1.0 - end) * p


#: name -> decay(progress in [0, 1], lr_end fraction) -> factor
SCHEDULES: dict[str, Callable[[float, float], float]] = {"constant": _constant, "cosine": _cosine, "linear": _linear}
SCHEDULE_NAMES = tuple(SCHEDULES)


def progress(step: int, elapsed: float, max_steps: int, max_time: float, warmup_steps: int) -> float:
    """Fraction of the budget spent after the warm-up, in [0, 1] (see the module docstring)."""
    p = 0.0
    if max_steps > warmup_steps:
        p = (step - warmup_steps) / float(max_steps - warmup_steps)
    if max_time > 0:
        p = max(p, elapsed / float(max_time))
    return min(1.0, max(0.0, p))


def lr_factor(name: str, step: int, elapsed: float, *, max_steps: int, max_time: float = 0.0,
              warmup_steps: int = 0, lr_end: float = 0.0) -> float:
    """Multiplier of the peak rate for the step that follows ``step`` completed steps."""
    if name not in SCHEDULES:
        raise InputError(f"--schedule: expected one of {', '.join(SCHEDULE_NAMES)}, found {name!r}")
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
    if name == "constant":
        return warm
    return warm * SCHEDULES[name](progress(step, elapsed, max_steps, max_time, warmup_steps), lr_end)


class LRSchedule:
    """Sets the optimizer's rate before each step from (step, elapsed); checkpointable.

    ``state_dict()`` -> ``{"elapsed": seconds of training so far}``; a checkpoint from before this
    class (a ``LambdaLR`` state) loads as ``elapsed = 0``.
    """

    def __init__(self, optimizer: "torch.optim.Optimizer", *, name: str, lr: float, max_steps: int,
                 max_time: float = 0.0, warmup_steps: int = 0, lr_end: float = 0.0) -> None:
        if name not in SCHEDULES:
            raise InputError(f"--schedule: expected one of {', '.join(SCHEDULE_NAMES)}, found {name!r}")
        self.optimizer, self.name, self.lr = optimizer, name, float(lr)
        self.max_steps, self.max_time = int(max_steps), float(max_time)
        self.warmup_steps, self.lr_end = int(warmup_steps), float(lr_end)
        self.elapsed = 0.0
        self.last = self.lr

    def rate(self, step: int, elapsed: float) -> float:
        return self.lr * lr_factor(self.name, step, elapsed, max_steps=self.max_steps, max_time=self.max_time,
                                   warmup_steps=self.warmup_steps, lr_end=self.lr_end)

    def apply(self, step: int, elapsed: float) -> float:
        """Set the rate of the step after ``step`` completed ones, ``elapsed`` seconds into the run."""
        self.elapsed = float(elapsed)
        self.last = self.rate(step, elapsed)
        for group in self.optimizer.param_groups:
            group["lr"] = self.last
        return self.last

    def get_last_lr(self) -> list[float]:
        return [self.last]

    def state_dict(self) -> dict[str, Any]:
        return {"elapsed": float(self.elapsed)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.elapsed = float(state.get("elapsed", 0.0))
