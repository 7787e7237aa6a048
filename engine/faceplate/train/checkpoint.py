"""Training checkpoints: one file, written atomically, loaded with ``weights_only=True``.

Content (plain containers, tensors, numbers and strings only — never pickled code)::

    {"format": "faceplate.checkpoint", "version": 1, "step": int,
     "config": {...TrainConfig...}, "run_info": JSON str (face-set settings, names, hashes, template),
     "model": state_dict, "optimizer": state_dict, "scheduler": state_dict,
     "rng": {"torch": ByteTensor, "cuda": [ByteTensor], "python": tuple, "numpy": {...}},
     "faceplate_version": str}

Every failure to read one (missing, truncated, corrupt, not a checkpoint, a pickle that would run
code, weights that do not fit the model) is a :class:`CheckpointError` naming the file.
"""
from __future__ import annotations

import os
import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceplate import __version__
from faceplate.errors import CheckpointError, OutputError
from faceplate.plates.atomic import atomic_path

FORMAT = "faceplate.checkpoint"
VERSION = 1
REQUIRED = ("step", "config", "run_info", "model", "optimizer", "scheduler", "rng")
FILENAME = "checkpoint.pt"


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": {"key": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))


def save_checkpoint(path: Path | str, *, step: int, config: dict, run_info: str, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, scheduler: Any) -> Path:
    """Write the checkpoint atomically (temporary file in the same folder, fsync, rename)."""
    path = Path(path)
    state = {
        "format": FORMAT,
        "version": VERSION,
        "step": int(step),
        "config": dict(config),
        "run_info": run_info,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_state(),
        "faceplate_version": __version__,
    }
    with atomic_path(path, "checkpoint") as tmp:
        try:
            with open(tmp, "wb") as fh:
                torch.save(state, fh)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise OutputError(f"checkpoint {path}: write failed ({exc.strerror or exc})") from exc
    return path


def load_checkpoint(path: Path | str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and check a checkpoint; never runs pickled code (``weights_only=True``)."""
    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    if not path.exists():
        raise CheckpointError(f"checkpoint {path}: file not found (expected a run folder made by "
                              f"'faceplate train' with a {FILENAME})")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path}: file is empty (expected a faceplate checkpoint)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = next((ln for ln in lines if "GLOBAL" in ln or "Unsupported" in ln), lines[0] if lines else "")
        if "GLOBAL" in str(exc):
            raise CheckpointError(
                f"checkpoint {path}: refused, it holds Python objects other than tensors and plain data "
                f"(loading it would run pickled code); expected a faceplate checkpoint ({detail})") from None
        raise CheckpointError(f"checkpoint {path}: corrupt or not a checkpoint ({detail})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError, AttributeError,
            IndexError, TypeError, UnicodeDecodeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"checkpoint {path}: corrupt or truncated ({msg})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = (f"keys {sorted(map(str, state))[:6]}" if isinstance(state, dict) else type(state).__name__)
        raise CheckpointError(f"checkpoint {path}: foreign file, expected a {FORMAT} checkpoint, found {found}")
    if state.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path}: expected version {VERSION}, found {state.get('version')!r}")
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path}: incomplete, missing {missing}")
    return state


def load_weights(model: torch.nn.Module, state: dict[str, Any], where: str) -> None:
    """Load the model weights, turning a shape/key mismatch into a :class:`CheckpointError`."""
    sd = state["model"]
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k}: model {tuple(own[k].shape)}, checkpoint {tuple(sd[k].shape)}"
              for k in own if k in sd and hasattr(sd[k], "shape") and tuple(own[k].shape) != tuple(sd[k].shape)]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"checkpoint {where}: weights do not fit the model ({len(missing)} missing e.g. {missing[:2]}, "
            f"{len(unexpected)} unexpected e.g. {unexpected[:2]}, {len(shapes)} with other shapes e.g. {shapes[:2]})")
    model.load_state_dict(sd)
