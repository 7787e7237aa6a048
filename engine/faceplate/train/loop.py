"""The training loop: data → model → losses → optimizer, with checkpoints, previews and logs.

Run folder::

    RUN/config.json, config.toml   resolved settings (repeat with --config RUN/config.toml)
    RUN/run.json                   face-set settings, identity names, data hashes, landmark template
    RUN/checkpoint.pt              latest checkpoint (atomic; every --save-every steps, at the end, on Ctrl-C)
    RUN/losses.jsonl               one JSON line per step: total and per-term losses, lr, gradient norm, time
    RUN/previews/step_NNNNNNN.png  preview grids;  RUN/losses.png  loss plot;  RUN/tensorboard/
    RUN/previews/expressions.png   with --expressions: the synthesized expressions of the chosen set(s)

On CUDA the step runs under bf16 autocast with channels_last tensors (optionally ``torch.compile``).
On the CPU ``--precision auto`` runs bf16 autocast too where the CPU computes bf16 natively
(AVX512-BF16 or AMX: 1.7-1.9× the samples/s on the 96 px bench model at the same held-out quality,
docs/quality.md) and fp32 elsewhere; ``fp32``/``bf16`` force one. The arithmetic used is recorded
in ``run.json`` (``arithmetic``); a run repeats bit for bit on the same machine.
The learning rate follows ``--schedule`` over the run's budget (:mod:`faceplate.train.schedule`);
``--max-time`` counts the training time of every session of a run (saved in the checkpoint), so a
resumed run stops when the whole run used it.
Distributed runs (``faceplate.train.ddp`` under ``torchrun``) pass a :class:`DistContext`; rank 0
alone writes files.
"""
from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceplate import __version__
from faceplate.errors import CheckpointError, InputError
from faceplate.plates.atomic import check_writable_folder, write_text_atomic
from faceplate.train import checkpoint as ckpt
from faceplate.train import config as cfgmod
from faceplate.train.augment import AugmentSettings
from faceplate.train.config import TrainConfig
from faceplate.train.data import (FaceSource, PairDataset, StepBatchSampler, data_hash, expression_targets, load_pair,
                                  make_loader, preview_batch)
from faceplate.train.losses import SwapLoss
from faceplate.train.models import ModelSpec, SwapModel, TrainNet, build_model, centre_level
from faceplate.train.schedule import LRSchedule

log = logging.getLogger("faceplate.train")


@dataclass
class DistContext:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


@dataclass
class TrainResult:
    step: int
    checkpoint: Path | None
    interrupted: bool
    history: list[dict] = field(default_factory=list)


def pick_device(name: str, dist: DistContext) -> torch.device:
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is available (torch.cuda.is_available() is False)")
        return torch.device("cuda", dist.local_rank % max(1, torch.cuda.device_count()))
    return torch.device("cpu")


def configure_cuda(deterministic: bool) -> None:
    """Fast kernels (cuDNN autotuning), or repeatable ones with ``--deterministic``."""
    import os

    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.backends.cudnn.benchmark = True


def run_info(cfg: TrainConfig, fa, fb, resolution: int) -> dict[str, Any]:
    """What export needs to describe the model, fixed at the start of the run."""
    template = fa.meta.get("template") or fb.meta.get("template") or []
    return {
        "resolution": resolution,
        "faceset_resolution": fa.resolution,
        "coverage": fa.coverage,
        "centering": fa.centering,
        "crop_encoding": fa.crop_encoding.to_dict(),
        "plate_colour_space": {"a": fa.plate_colour_space, "b": fb.plate_colour_space},
        "template": template,
        "identities": {"a": cfg.name_a or Path(fa.root).name, "b": cfg.name_b or Path(fb.root).name},
        "face_sets": {"a": str(cfg.a), "b": str(cfg.b)},
        "faces": {"a": len(fa.faces), "b": len(fb.faces)},
        "data_hashes": {"a": data_hash(fa), "b": data_hash(fb)},
        "faceplate_version": __version__,
    }


def cpu_computes_bf16() -> bool:
    """Whether this CPU has native bf16 arithmetic (AVX512-BF16 or AMX tiles). Without it bf16 autocast
    is emulated and slower than fp32, so ``--precision auto`` keeps fp32 there."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def uses_bf16(precision: str, cuda: bool) -> bool:
    """The arithmetic a run uses: ``bf16``/``fp32`` as asked; ``auto`` is bf16 on CUDA and on CPUs with
    native bf16, fp32 elsewhere."""
    if precision == "auto":
        return cuda or cpu_computes_bf16()
    return precision == "bf16"


#: steps in a row with an exactly zero gradient after which a run is called collapsed (a healthy
#: model never has one; a run whose outputs all saturated never leaves it: lr 1e-3 did at step ~170)
COLLAPSE_STEPS = 20


def model_spec(cfg: TrainConfig, resolution: int) -> ModelSpec:
    return ModelSpec(name=cfg.model, resolution=resolution, width=cfg.width, ae_dims=cfg.ae_dims,
                     follow_exposure=cfg.follow_exposure)


def faceset_level(src: FaceSource, limit: int = 512) -> np.ndarray:
    """The average :func:`~faceplate.train.models.centre_level` of a face set (3 code values), over
    ``limit`` faces spread evenly through it at most."""
    idx = np.unique(np.linspace(0, len(src) - 1, min(len(src), limit)).round().astype(int))
    crops = torch.from_numpy(np.stack([src.get(int(i))[0] for i in idx]).transpose(0, 3, 1, 2))
    return centre_level(crops).mean(dim=(0, 2, 3)).double().numpy()


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> tuple[torch.optim.Optimizer, LRSchedule]:
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    sched = LRSchedule(opt, name=cfg.schedule, lr=cfg.lr, max_steps=cfg.max_steps, max_time=cfg.max_time,
                       warmup_steps=cfg.warmup_steps, lr_end=cfg.lr_end)
    return opt, sched


class _StopFlag:
    """First Ctrl-C: finish the step, save, stop. Second: the default (immediate) interrupt."""

    def __init__(self) -> None:
        self.set = False
        self._old = None

    def __enter__(self) -> "_StopFlag":
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.set:
            raise KeyboardInterrupt
        self.set = True
        print("\nfaceplate train: Ctrl-C, saving a checkpoint after this step (again to abort)",
              file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def _fmt_time(s: float) -> str:
    s = int(max(0, s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Progress:
    """The training bar (:mod:`faceplate.progress`): step, losses, samples/s and ETA on stderr."""

    def __init__(self, total: int, max_time: float, enabled: bool) -> None:
        from faceplate.progress import bar

        self.total, self.max_time = total, max_time
        self._bar = bar("train", total, enabled, unit="step")
        self._last = 0

    def update(self, step: int, losses: dict[str, float], sps: float, elapsed: float, steps_done: int,
               trained: float | None = None) -> None:
        """``elapsed``: seconds of this session; ``trained``: of the whole run (``--max-time`` counts those)."""
        eta = (self.total - step) * elapsed / max(1, steps_done)
        if self.max_time:
            eta = min(eta, self.max_time - (elapsed if trained is None else trained))
        terms = " ".join(f"{k} {v:.4f}" for k, v in losses.items())
        self._bar.set(f"step {step}/{self.total} | {terms} | {sps:.1f} samples/s | ETA {_fmt_time(eta)}")
        self._bar.step(step - self._last)
        self._last = step

    def close(self) -> None:
        self._bar.close()


def _tensorboard(run_dir: Path, enabled: bool):
    if not enabled:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:  # tensorboard is optional
        log.warning("TensorBoard logging skipped: %s (install 'faceplate[train]')", exc)
        return None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


def _truncate_log(path: Path, step: int) -> None:
    from faceplate.train.preview import read_log

    rows = [r for r in read_log(path) if r.get("step", 0) <= step]
    write_text_atomic(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows), "loss log")


def prepare(cfg: TrainConfig, resume: bool) -> tuple[TrainConfig, dict | None]:
    """Resolve ``--resume``: the saved config (run bounds may change) and the checkpoint state."""
    run_dir = Path(cfg.out)
    if not resume:
        if (run_dir / ckpt.FILENAME).exists():
            raise InputError(f"--out {run_dir}: holds a checkpoint already; add --resume to continue it, "
                             f"or choose a new run folder")
        return cfg, None
    state = ckpt.load_checkpoint(run_dir / ckpt.FILENAME)
    try:
        saved = cfgmod.from_mapping(cfgmod.from_saved(dict(state["config"])))
    except (InputError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {run_dir / ckpt.FILENAME}: its settings are unreadable ({exc})") from None
    cfgmod.check_resume(saved, cfg)
    bounds = {k: getattr(cfg, k) for k in cfgmod.RUN_BOUNDS}
    return saved.replace(**bounds), state


def train(cfg: TrainConfig, *, resume: bool = False, dist: DistContext | None = None,
          progress: bool = True) -> TrainResult:
    """Train (or continue) a run; returns the last step, checkpoint path, and whether Ctrl-C stopped it."""
    dist = dist or DistContext()
    cfg, state = prepare(cfg, resume)
    run_dir = Path(cfg.out)
    if dist.main:
        check_writable_folder(run_dir, "run folder")
        # a run killed while writing leaves only hidden temporaries (never a half checkpoint): drop them
        for stale in run_dir.glob(".*.tmp-*"):
            stale.unlink(missing_ok=True)
    device = pick_device(cfg.device, dist)
    cuda = device.type == "cuda"
    if cuda:
        configure_cuda(cfg.deterministic)

    fa, fb = load_pair(cfg.a, cfg.b)
    resolution = cfg.resolution or fa.resolution
    if resolution < 64 or resolution > 512 or resolution % 16:
        raise InputError(f"--resolution: the face sets are {fa.resolution}px; expected a training resolution "
                         f"that is a multiple of 16 in 64..512, found {resolution} (set --resolution)")
    bf16 = uses_bf16(cfg.precision, cuda)
    info = dict(run_info(cfg, fa, fb, resolution), arithmetic="bf16" if bf16 else "fp32")
    if state is not None:
        try:
            saved_info = dict(json.loads(state["run_info"]))
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint {run_dir / ckpt.FILENAME}: run info is unreadable ({exc})") from None
        if saved_info.get("data_hashes") != info["data_hashes"]:
            log.warning("the face sets changed since this run started (data hashes differ); continuing with "
                        "the current files")
        info = dict(info, data_hashes=saved_info.get("data_hashes", info["data_hashes"]))
    info_json = json.dumps(info, sort_keys=True)

    src_a = FaceSource(fa, resolution, cfg.cache_mb)
    src_b = FaceSource(fb, resolution, cfg.cache_mb)
    torch.manual_seed(cfg.seed)
    model: SwapModel = build_model(model_spec(cfg, resolution))
    if cfg.follow_exposure:  # a resumed run's levels come with its weights, below
        model.set_levels(faceset_level(src_a), faceset_level(src_b))
    net = TrainNet(model)
    opt, sched = make_optimizer(net, cfg)
    start = 0
    if state is not None:
        ckpt.load_weights(net.model, state, str(run_dir / ckpt.FILENAME))
        try:
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            ckpt.set_rng_state(state["rng"])
        except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as exc:
            raise CheckpointError(f"checkpoint {run_dir / ckpt.FILENAME}: optimizer/scheduler/RNG state does not "
                                  f"fit ({exc})") from None
        start = int(state["step"])
        del state
    net.to(device)
    if cuda:
        net.to(memory_format=torch.channels_last)
        for s in opt.state.values():
            for k, v in s.items():
                if torch.is_tensor(v) and v.device != device and k != "step":
                    s[k] = v.to(device)
    step_net: torch.nn.Module = net
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        step_net = DDP(net, device_ids=[device.index] if cuda else None)
    if cfg.compile:
        step_net = torch.compile(step_net)
    loss_fn = SwapLoss(cfg.loss_weights(), cfg.eyes_mouth_weight)

    if dist.main:
        cfgmod.save(cfg, run_dir)
        write_text_atomic(run_dir / "run.json", json.dumps(info, indent=1, sort_keys=True) + "\n", "run info")
    log_path = run_dir / "losses.jsonl"
    if dist.main:
        if start:
            _truncate_log(log_path, start)
        elif log_path.exists():
            log_path.unlink()

    aug = AugmentSettings(transfer=fa.crop_encoding.transfer, exposure=cfg.exposure, colour=cfg.colour,
                          flip=cfg.flip, rotation=cfg.rotation, scale=cfg.scale, shift=cfg.shift, warp=cfg.warp,
                          expression_strength=cfg.expression_strength, warp_strength=cfg.warp_strength,
                          warp_local=cfg.warp_local, expression_match=cfg.expression_match)
    aug_a, aug_b = (replace(aug, expression_prob=cfg.expression_prob_of(side)) for side in ("a", "b"))
    _check_expressions(cfg, {"a": src_a, "b": src_b})
    # matched expressions copy the other set's: B smiles where the shot's A smiles
    targets = {side: expression_targets(other) for side, other in (("a", src_b), ("b", src_a))
               if cfg.expression_prob_of(side) > 0 and cfg.expression_match > 0}
    ds = PairDataset(src_a, src_b, cfg.seed, aug_a, aug_b, targets)
    sampler = StepBatchSampler(start, cfg.max_steps, cfg.batch, dist.rank, dist.world)
    loader = make_loader(ds, sampler, cfg.workers, cfg.prefetch, cfg.seed, pin=cuda)
    pview = preview_batch(src_a, src_b) if dist.main and cfg.preview_every else None
    if dist.main and cfg.expressions != "off" and not start:
        _expression_preview(cfg, {"a": src_a, "b": src_b}, aug.transfer, run_dir, targets)
    writer = _tensorboard(run_dir, cfg.tensorboard) if dist.main else None
    bar = Progress(cfg.max_steps, cfg.max_time, progress and dist.main)
    samples_per_step = 2 * cfg.batch * dist.world  # one face of A and one of B per batch element
    ckpt_path = run_dir / ckpt.FILENAME

    def save(step_now: int) -> Path | None:
        if dist.main:
            ckpt.save_checkpoint(ckpt_path, step=step_now, config=cfg.to_dict(), run_info=info_json,
                                 model=net.model, optimizer=opt, scheduler=sched)
        if dist.world > 1:
            torch.distributed.barrier()
        return ckpt_path

    history: list[dict] = []
    step = start
    dead = 0  # consecutive steps with a zero gradient
    interrupted = False
    t0 = time.perf_counter()
    t_last, step_last = t0, start
    base_elapsed = sched.elapsed  # training seconds before this session (0 for a new run)
    elapsed = base_elapsed
    saved_at = start if resume else -1
    log_fh = open(log_path, "a", encoding="utf-8") if dist.main else None
    try:
        with _StopFlag() as stop:
            net.train()
            for batch in loader:
                tensors = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                if cuda:
                    tensors = {k: v.contiguous(memory_format=torch.channels_last) for k, v in tensors.items()}
                lr_now = sched.apply(step, elapsed)
                with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
                    ra, ma, rb, mb = step_net(tensors["in_a"], tensors["in_b"])
                la, pa = loss_fn(ra, ma, tensors["tgt_a"], tensors["mask_a"])
                lb, pb = loss_fn(rb, mb, tensors["tgt_b"], tensors["mask_b"])
                total = la + lb
                if not torch.isfinite(total):
                    raise InputError(f"training diverged at step {step + 1} (loss {total.item()}); lower --lr "
                                     f"(now {cfg.lr}) and resume from the last checkpoint")
                opt.zero_grad(set_to_none=True)
                total.backward()
                # the gradient's global norm (logged), clipped to --grad-clip when set
                gnorm = torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip or float("inf"))
                opt.step()
                step += 1

                vals = torch.stack([total.detach(), la.detach(), lb.detach()]
                                   + [(pa[k] + pb[k]).detach() for k in pa] + [gnorm.detach()]).float()
                # [stop asked, training seconds so far]; ranks agree on both (the schedule reads the time)
                flag = torch.tensor([1.0 if stop.set else 0.0, base_elapsed + time.perf_counter() - t0],
                                    dtype=torch.float64, device=vals.device)
                if dist.world > 1:
                    torch.distributed.all_reduce(vals)
                    vals /= dist.world
                    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
                stop_flag, elapsed = flag.cpu().tolist()
                sched.elapsed = elapsed
                v = vals.cpu().tolist()
                row = {"step": step, "total": v[0], "a": v[1], "b": v[2]}
                row.update({k: v[3 + i] for i, k in enumerate(pa)})
                row["grad_norm"] = v[-1]
                now = time.perf_counter()
                row["lr"] = lr_now
                row["time"] = now - t0
                if dist.main:
                    log_fh.write(json.dumps(row, sort_keys=True) + "\n")
                    log_fh.flush()
                history.append(row)
                dead = dead + 1 if v[-1] == 0.0 else 0
                if dead >= COLLAPSE_STEPS:
                    raise InputError(
                        f"training collapsed at step {step}: the gradient has been exactly 0 for {dead} steps "
                        f"(loss {v[0]:.4f}): every output saturated and the model can no longer learn. Start "
                        f"a new run folder with a lower --lr (now {cfg.lr:g})"
                        f"{'' if cfg.grad_clip else ' or with --grad-clip 1'}; checkpoints written since step "
                        f"{step - dead} hold the collapsed model")
                if step % cfg.log_every == 0 or step == cfg.max_steps:
                    sps = samples_per_step * (step - step_last) / max(1e-9, now - t_last)
                    t_last, step_last = now, step
                    bar.update(step, {k: row[k] for k in ("total", *pa)}, sps, now - t0, step - start, elapsed)
                    if writer is not None:
                        for k, val in row.items():
                            if k not in ("step", "time"):
                                writer.add_scalar(k if k in ("lr", "grad_norm") else f"loss/{k}", val, step)
                        writer.add_scalar("samples_per_s", sps, step)
                if pview is not None and step % cfg.preview_every == 0:
                    _preview(net.model, pview, device, aug.transfer, run_dir, step, writer)
                if cfg.save_every and step % cfg.save_every == 0:
                    save(step)
                    saved_at = step
                if stop_flag > 0 or (cfg.max_time and elapsed >= cfg.max_time):
                    interrupted = stop.set
                    break
            if saved_at != step:
                save(step)
    finally:
        if log_fh is not None:
            log_fh.close()
        bar.close()
        if writer is not None:
            writer.close()
    if dist.main:
        from faceplate.train.preview import plot_losses, read_log

        plot_losses(read_log(log_path), run_dir / "losses.png")
        if interrupted:
            log.info("stopped at step %d; checkpoint %s; continue with: faceplate train --out %s --resume",
                     step, ckpt_path, run_dir)
    return TrainResult(step=step, checkpoint=ckpt_path, interrupted=interrupted, history=history)


def _check_expressions(cfg: TrainConfig, sources: dict[str, FaceSource]) -> None:
    """Synthesized expressions need landmarks: say so when a chosen set has faces without them."""
    for side, src in sources.items():
        if cfg.expression_prob_of(side) <= 0:
            continue
        missing = sum(1 for i in range(len(src)) if src.landmarks(i) is None)
        if missing == len(src):
            log.warning("--expressions %s: face set %s has no landmarks in faceset.json (468 points per face); "
                        "no expressions will be synthesized for it (re-extract it with 'faceplate extract')",
                        cfg.expressions, side.upper())
        elif missing:
            log.warning("--expressions %s: %d of %d faces of %s have no landmarks; they keep their own expression",
                        cfg.expressions, missing, len(src), side.upper())


def _expression_preview(cfg: TrainConfig, sources: dict[str, FaceSource], transfer: str, run_dir: Path,
                        targets: dict[str, list[dict[str, float]]]) -> None:
    """``RUN/previews/expressions.png``: the synthesized expressions of each chosen set's first faces,
    the last column (with ``--expression-match``) matched to the other set's median expression."""
    from faceplate.curate.expression import MEASURE_NAMES
    from faceplate.train.preview import expression_strip, write_png

    faces, medians = [], []
    for side, src in sources.items():
        if cfg.expression_prob_of(side) <= 0:
            continue
        want = targets.get(side)
        median = {k: float(np.median([t[k] for t in want])) for k in MEASURE_NAMES} if want else None
        picks = [i for i in range(len(src)) if src.landmarks(i) is not None][:2]
        faces += [(*src.get(i), src.landmarks(i)) for i in picks]
        medians += [median] * len(picks)
    if faces:
        write_png(run_dir / "previews" / "expressions.png",
                  expression_strip(faces, transfer, strength=cfg.expression_strength,
                                   targets=medians if cfg.expression_match > 0 else None))


def _preview(model, batch, device, transfer, run_dir: Path, step: int, writer) -> None:
    from faceplate.train.preview import preview_grid, write_png

    grid = preview_grid(model, batch, device, transfer)
    write_png(run_dir / "previews" / f"step_{step:07d}.png", grid)
    if writer is not None:
        writer.add_image("preview", grid, step, dataformats="HWC")
