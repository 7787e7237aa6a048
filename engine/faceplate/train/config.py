"""Training settings: declared once (:data:`TRAIN_PARAMS`), read from CLI flags and/or a TOML file.

Precedence: command-line flag > ``--config FILE.toml`` > declared default. The resolved settings are
saved in the run folder as ``config.json`` and ``config.toml``; ``faceplate train --config
RUN/config.toml`` repeats the run exactly (same seed, same data order, same augmentation).

Losses are written ``"name:weight,name:weight"`` (e.g. ``"l1:1,ssim:1,mask:1"``) on the command line
and either that string or a table (``[losses]`` ``l1 = 1.0``) in TOML.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from faceplate.errors import InputError
from faceplate.params import Param, collect
from faceplate.plates.atomic import write_text_atomic
from faceplate.train.schedule import SCHEDULE_NAMES

MODELS = ("original", "liae")
#: which identity gets synthesized expressions (:mod:`faceplate.train.expression`)
EXPRESSIONS = ("off", "b", "a", "both")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")

TRAIN_PARAMS: list[Param] = [
    Param("a", "file", None, "Face set A", "face set (or selection JSON) of the face in the shot"),
    Param("b", "file", None, "Face set B", "face set (or selection JSON) of the face to put there"),
    Param("out", "file", None, "Run folder", "run folder: config, checkpoint, log, previews"),
    Param("name_a", "string", "", "Name of A", "identity name of A (default: face-set folder name)"),
    Param("name_b", "string", "", "Name of B", "identity name of B (default: face-set folder name)"),
    Param("model", "choice", "original", "Model", "architecture", choices=MODELS),
    Param("resolution", "int", 0, "Resolution", "training resolution in px, a multiple of 16 "
          "(0: the face sets' own)", minimum=0, maximum=512),
    Param("width", "int", 64, "Width", "encoder base channel count", minimum=4, maximum=1024),
    Param("ae_dims", "int", 256, "Bottleneck", "bottleneck (dense) width", minimum=4, maximum=4096),
    Param("follow_exposure", "bool", False, "Follow exposure",
          "carry the plate's exposure and white balance (relative to A's face-set average) across the swap "
          "exactly, in the model itself; B's own skin tone is kept"),
    Param("batch", "int", 8, "Batch", "faces of each identity per step (per process)", minimum=1, maximum=4096),
    Param("max_steps", "int", 100000, "Max steps", "stop after this many steps", minimum=1),
    Param("max_time", "float", 0.0, "Max time", "stop after this many seconds of training, counted over "
          "resumes (0: no limit)", minimum=0.0),
    Param("seed", "int", 0, "Seed", "random seed (weights, data order, augmentation)", minimum=0),
    Param("lr", "float", 5e-5, "Learning rate", "Adam learning rate (the peak, with a schedule)", minimum=0.0),
    Param("grad_clip", "float", 0.0, "Gradient clip", "clip the gradient's global norm to this (0: no clipping)",
          minimum=0.0),
    Param("warmup_steps", "int", 0, "Warm-up", "linear learning-rate warm-up steps", minimum=0),
    Param("schedule", "choice", "constant", "LR schedule", "learning-rate decay over the budget (--max-steps, "
          "or --max-time when that ends the run first): constant, cosine, linear", choices=SCHEDULE_NAMES),
    Param("lr_end", "float", 0.0, "Final LR", "learning rate at the end of the budget, as a fraction of --lr "
          "(cosine and linear schedules)", minimum=0.0, maximum=1.0),
    Param("losses", "string", "l1:1,ssim:1,mask:1", "Losses",
          "loss terms name:weight, from l1, mse, ssim, ms_ssim, edge, mask"),
    Param("eyes_mouth_weight", "float", 3.0, "Eyes/mouth weight",
          "extra pixel weight on the eyes and mouth masks", minimum=0.0),
    Param("warp", "bool", True, "Random warp", "random warp of the input faces"),
    Param("warp_strength", "float", 0.025, "Warp strength", "random warp: std of the control-point offsets, "
          "fraction of the size", minimum=0.0, maximum=0.2),
    Param("warp_local", "bool", False, "Local warp", "random warp: deform the face locally but remove its "
          "face-wide shift, scale and rotation, so the model keeps the face where the input has it and follows "
          "its sub-pixel motion (on in the demo: follow (motion) 0.79 -> 0.98); off, the book's warp, which also "
          "moves the face as a whole and scored 5 dB higher on the held-out oracle (docs/quality.md)"),
    Param("flip", "bool", True, "Flips", "random horizontal flips"),
    Param("rotation", "float", 10.0, "Rotation", "random rotation range, degrees", minimum=0.0, maximum=180.0),
    Param("scale", "float", 0.05, "Scale", "random scale range (fraction)", minimum=0.0, maximum=0.5),
    Param("shift", "float", 0.05, "Shift", "random shift range (fraction of the size)", minimum=0.0, maximum=0.5),
    Param("exposure", "float", 0.5, "Exposure jitter", "exposure jitter range in stops (linear light)",
          minimum=0.0, maximum=4.0),
    Param("colour", "float", 0.05, "Colour jitter", "per-channel gain jitter (linear light)",
          minimum=0.0, maximum=0.5),
    Param("expressions", "choice", "off", "Expressions",
          "synthesize expressions (smile, open mouth, blink, small head turns) from a face set's own faces "
          "and landmarks: b for a sparse B set that lacks the shot's expressions, a, both, or off",
          choices=EXPRESSIONS),
    Param("expression_prob", "float", 0.5, "Expression share",
          "share of the chosen identity's samples that get a synthesized expression", minimum=0.0, maximum=1.0),
    Param("expression_strength", "float", 1.0, "Expression strength",
          "scale of the synthesized expressions' amplitudes", minimum=0.0, maximum=1.5),
    Param("expression_match", "float", 0.5, "Expression match",
          "share of the synthesized expressions that copy the expression (smile, open mouth, blink) of a "
          "random face of the other set, so B smiles where the shot's A smiles; the rest are random",
          minimum=0.0, maximum=1.0),
    Param("save_every", "int", 500, "Save every", "checkpoint every N steps (0: only at the end)", minimum=0),
    Param("preview_every", "int", 250, "Preview every", "preview grid every N steps (0: none)", minimum=0),
    Param("log_every", "int", 10, "Log every", "progress/TensorBoard every N steps", minimum=1),
    Param("workers", "int", 2, "Workers", "data loader worker processes", minimum=0, maximum=64),
    Param("prefetch", "int", 2, "Prefetch", "batches prefetched per worker", minimum=1, maximum=64),
    Param("cache_mb", "int", 4096, "Cache", "keep face sets in memory up to this size (MB)", minimum=0),
    Param("compile", "bool", False, "Compile", "torch.compile the model"),
    Param("device", "choice", "auto", "Device", "training device", choices=DEVICES),
    Param("precision", "choice", "auto", "Precision", "training arithmetic: auto (bf16 autocast on CUDA and "
          "on CPUs with native bf16, AVX512-BF16 or AMX; fp32 on other CPUs), fp32, or bf16 (autocast on either "
          "device)", choices=PRECISIONS),
    Param("deterministic", "bool", False, "Deterministic", "on CUDA, deterministic kernels (slower; CPU runs "
          "are always repeatable)"),
    Param("tensorboard", "bool", True, "TensorBoard", "write TensorBoard logs to RUN/tensorboard"),
]

#: settings that may differ when resuming (they do not change what is computed)
RUN_BOUNDS = ("max_steps", "max_time", "save_every", "preview_every", "log_every", "workers", "prefetch",
              "cache_mb", "device", "tensorboard", "compile", "out", "deterministic")


@dataclass(frozen=True)
class TrainConfig:
    a: str
    b: str
    out: str
    name_a: str = ""
    name_b: str = ""
    model: str = "original"
    follow_exposure: bool = False
    resolution: int = 0
    width: int = 64
    ae_dims: int = 256
    batch: int = 8
    max_steps: int = 100000
    max_time: float = 0.0
    seed: int = 0
    lr: float = 5e-5
    grad_clip: float = 0.0
    warmup_steps: int = 0
    schedule: str = "constant"
    lr_end: float = 0.0
    losses: str = "l1:1,ssim:1,mask:1"
    eyes_mouth_weight: float = 3.0
    warp: bool = True
    warp_strength: float = 0.025
    warp_local: bool = False
    flip: bool = True
    rotation: float = 10.0
    scale: float = 0.05
    shift: float = 0.05
    exposure: float = 0.5
    colour: float = 0.05
    expressions: str = "off"
    expression_prob: float = 0.5
    expression_strength: float = 1.0
    expression_match: float = 0.5
    save_every: int = 500
    preview_every: int = 250
    log_every: int = 10
    workers: int = 2
    prefetch: int = 2
    cache_mb: int = 4096
    compile: bool = False
    device: str = "auto"
    precision: str = "auto"
    deterministic: bool = False
    tensorboard: bool = True

    def __post_init__(self) -> None:
        for name in ("a", "b", "out"):
            if not getattr(self, name):
                raise InputError(f"--{name}: required (on the command line or in the TOML config)")
        if self.resolution and (self.resolution < 64 or self.resolution % 16):
            raise InputError(f"--resolution: expected 0 or a multiple of 16 in 64..512, found {self.resolution}")
        self.loss_weights()  # validates

    def expression_prob_of(self, side: str) -> float:
        """Share of identity ``side``'s (``"a"``/``"b"``) samples that get a synthesized expression."""
        return self.expression_prob if self.expressions in (side, "both") else 0.0

    def loss_weights(self) -> dict[str, float]:
        return parse_losses(self.losses)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> "TrainConfig":
        return from_mapping({**self.to_dict(), **changes})


def parse_losses(text: str | Mapping[str, Any]) -> dict[str, float]:
    """``"l1:1,ssim:0.5"`` or ``{"l1": 1, "ssim": 0.5}`` -> checked {name: weight}."""
    from faceplate.train.losses import LOSS_NAMES

    if isinstance(text, Mapping):
        items = list(text.items())
    else:
        items = []
        for part in str(text).split(","):
            part = part.strip()
            if not part:
                continue
            name, _, weight = part.partition(":")
            items.append((name.strip(), weight.strip() or "1"))
    out: dict[str, float] = {}
    for name, weight in items:
        if name not in LOSS_NAMES:
            raise InputError(f"--losses: unknown loss {name!r}; expected names from {', '.join(LOSS_NAMES)}")
        try:
            w = float(weight)
        except (TypeError, ValueError):
            raise InputError(f"--losses: weight of {name!r} must be a number, found {weight!r}") from None
        if not math.isfinite(w) or w < 0:
            raise InputError(f"--losses: weight of {name!r} must be finite and >= 0, found {w}")
        out[name] = w
    if not any(w > 0 for n, w in out.items() if n != "mask"):
        raise InputError(f"--losses: expected at least one image loss with weight > 0, found {text!r}")
    return out


def _losses_str(v: Any) -> str:
    d = parse_losses(v)
    return ",".join(f"{k}:{w:g}" for k, w in d.items())


def read_toml(path: Path | str) -> dict[str, Any]:
    """Settings from a TOML file (top level or a ``[train]`` table); unknown keys are refused."""
    import tomllib

    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"--config {path}: file not found") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"--config {path}: expected TOML, found unreadable content ({exc})") from None
    if isinstance(doc.get("train"), dict):
        doc = doc["train"]
    known = {p.name for p in TRAIN_PARAMS}
    unknown = sorted(k for k in doc if k.replace("-", "_") not in known)
    if unknown:
        raise InputError(f"--config {path}: unknown setting(s) {unknown}; expected names from {sorted(known)}")
    doc = {k.replace("-", "_"): v for k, v in doc.items()}
    base = path.parent
    for key in ("a", "b", "out"):  # relative paths in a config file are relative to the file
        if isinstance(doc.get(key), str) and doc[key] and not Path(doc[key]).is_absolute():
            doc[key] = str((base / doc[key]).resolve())
    return doc


#: settings added after runs were saved without them, and what those runs trained with: a resumed
#: run continues the way it started (a constant rate; random expressions only; the book's warp)
SAVED_WITHOUT = {"schedule": "constant", "expression_match": 0.0, "warp_local": False}


def from_saved(values: Mapping[str, Any]) -> dict[str, Any]:
    """A run's saved settings, completed with :data:`SAVED_WITHOUT` for the ones it predates."""
    return {**SAVED_WITHOUT, **values}


def from_mapping(values: Mapping[str, Any]) -> TrainConfig:
    """Checked :class:`TrainConfig` from plain values (missing ones take the declared defaults)."""
    values = dict(values)
    if isinstance(values.get("losses"), Mapping):
        values["losses"] = _losses_str(values["losses"])
    resolved = collect(TRAIN_PARAMS, values)
    resolved["losses"] = _losses_str(resolved["losses"])
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in resolved.items() if k in names})


def resolve(cli: Mapping[str, Any], toml_path: Path | str | None = None, resume: bool = False) -> TrainConfig:
    """CLI values (None = not given) over the TOML file's over (with ``resume``) the run's saved
    ``config.json`` over the defaults."""
    cli = dict(cli)
    for key in ("a", "b", "out"):  # saved configs hold absolute paths, so they work from anywhere
        if cli.get(key):
            cli[key] = str(Path(cli[key]).expanduser().absolute())
    merged: dict[str, Any] = {}
    if resume:
        out = cli.get("out") or (read_toml(toml_path).get("out") if toml_path else None)
        if not out:
            raise InputError("--resume: expected --out RUN_DIR naming the run to continue")
        saved = Path(out) / "config.json"
        if not saved.exists():
            raise InputError(f"--resume: {saved} not found; expected a run folder made by 'faceplate train'")
        try:
            merged.update(from_saved(json.loads(saved.read_text(encoding="utf-8"))))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"--resume: {saved} is not readable JSON ({exc})") from None
        merged["out"] = str(out)
    if toml_path:
        merged.update(read_toml(toml_path))
    merged.update({k: v for k, v in cli.items() if v is not None})
    return from_mapping(merged)


def to_toml(cfg: TrainConfig) -> str:
    lines = ["# faceplate train: resolved settings of this run (faceplate train --config this-file)", "[train]"]
    for k, v in cfg.to_dict().items():
        if k == "losses":
            continue
        if isinstance(v, bool):
            s = "true" if v else "false"
        elif isinstance(v, (int, float)):
            s = repr(v)
        else:
            s = json.dumps(str(v))  # a JSON string is a valid TOML basic string
        lines.append(f"{k} = {s}")
    lines.append("")
    lines.append("[train.losses]")
    for k, w in cfg.loss_weights().items():
        lines.append(f"{k} = {w!r}")
    return "\n".join(lines) + "\n"


def save(cfg: TrainConfig, run_dir: Path | str) -> None:
    """Write ``config.json`` and ``config.toml`` (atomically) into the run folder."""
    run_dir = Path(run_dir)
    write_text_atomic(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=1, sort_keys=True) + "\n",
                      "run config")
    write_text_atomic(run_dir / "config.toml", to_toml(cfg), "run config")


def check_resume(saved: TrainConfig, wanted: TrainConfig) -> None:
    """Refuse to resume with settings that change what the run computes."""
    diffs = [f"{k}: run has {getattr(saved, k)!r}, asked for {getattr(wanted, k)!r}"
             for k in saved.to_dict() if k not in RUN_BOUNDS and getattr(saved, k) != getattr(wanted, k)]
    if diffs:
        raise InputError("--resume: settings differ from the run being resumed (" + "; ".join(diffs)
                         + "); start a new run folder to change them")
