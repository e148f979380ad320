"""Checkpoints: everything needed to continue bit for bit, loaded with ``weights_only=True``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from nlx.errors import NlxError
from nlx.io import load_torch, save_torch
from nlx.rundir import RunDir


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    run: RunDir,
    iteration: int,
    model: nn.Module,
    optimizer: Optimizer,
    scheduler: LRScheduler,
    scaler: torch.amp.GradScaler,
    keep: int,
) -> Path:
    path = run.checkpoint(iteration)
    save_torch(
        path,
        {
            "iteration": iteration,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": rng_state(),
        },
    )
    for _, old in run.list_checkpoints()[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(
    path: Path, model: nn.Module, optimizer: Optimizer, scheduler: LRScheduler, scaler: torch.amp.GradScaler
) -> int:
    """Restore a checkpoint written by :func:`save_checkpoint`; returns its iteration."""
    state = _read(path)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    return int(state["iteration"])


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise NlxError(f"{path}: checkpoint not found")
    try:
        state = load_torch(path)
    except Exception as err:
        raise NlxError(
            f"{path}: not a readable nlx checkpoint ({type(err).__name__}: {str(err).splitlines()[0][:120]})"
        ) from err
    if not isinstance(state, dict):
        raise NlxError(f"{path}: expected a checkpoint dict, got {type(state).__name__}")
    return state


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """Model weights from a final-weights file, a checkpoint, or a run directory."""
    if path.is_dir():
        run = RunDir(path)
        path = run.final_model if run.final_model.is_file() else (run.last_checkpoint() or run.final_model)
    state = _read(path)
    weights = state.get("model", state)
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise NlxError(f"{path}: expected model weights (a state dict of tensors)")
    return weights


def load_weights(model: nn.Module, weights: dict[str, torch.Tensor], source: str) -> list[str]:
    """Load ``weights`` strictly, except a classifier of another size (a new task): returns notes.

    Missing, unexpected and mis-shaped keys are listed in one error.
    """
    target = model.state_dict()
    problems = [f"missing {k}" for k in target if k not in weights]
    problems += [f"unexpected {k}" for k in weights if k not in target]
    notes = []
    usable = {}
    for key, value in weights.items():
        if key not in target:
            continue
        if value.shape != target[key].shape:
            if key.startswith("fc."):
                notes.append(
                    f"{key} {tuple(value.shape)} -> {tuple(target[key].shape)}: kept the new classifier"
                )
                continue
            problems.append(f"{key} has shape {tuple(value.shape)}, the model {tuple(target[key].shape)}")
            continue
        usable[key] = value
    if problems:
        shown = "; ".join(problems[:4]) + (f" (and {len(problems) - 4} more)" if len(problems) > 4 else "")
        raise NlxError(f"{source}: weights do not match the model: {shown}")
    model.load_state_dict(usable, strict=False)
    return notes
