"""The training and evaluation loops: small functions around plain loops (Sec. 4.1)."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import Optimizer

from nlx.config.schema import Config
from nlx.train.metrics import accuracy, mean_average_precision, topk_correct
from nlx.train.runtime import Runtime


class TrainingFailed(Exception):
    """The run cannot go on (non-finite loss); the reason goes to meta.json and the exit code is 1."""


def autocast(cfg: Config, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    if cfg.runtime.amp == "off":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if cfg.runtime.amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def to_device(clip: Tensor, device: torch.device, channels_last: bool) -> Tensor:
    clip = clip.to(device, non_blocking=True)
    return clip.contiguous(memory_format=torch.channels_last_3d) if channels_last else clip


def loss_fn(logits: Tensor, labels: Tensor, cfg: Config) -> Tensor:
    if cfg.data.multilabel:
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float())
    return F.cross_entropy(logits.float(), labels, label_smoothing=cfg.optim.label_smoothing)


def set_train_mode(model: nn.Module, freeze_bn: bool) -> None:
    """``model.train()``, keeping frozen BN layers in eval mode (Table 2g freezes all BN)."""
    model.train()
    if freeze_bn:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


def freeze_bn(model: nn.Module) -> None:
    """Fix BN statistics and affine parameters."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            for p in m.parameters(recurse=False):
                p.requires_grad_(False)


@dataclass
class Window:
    """Running sums of training statistics between two log lines."""

    loss: float = 0.0
    correct: int = 0
    clips: int = 0
    steps: int = 0
    started: float = field(default_factory=time.perf_counter)

    def add(self, loss: float, correct: int, clips: int) -> None:
        self.loss += loss
        self.correct += correct
        self.clips += clips
        self.steps += 1

    def summary(self) -> dict[str, float]:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        return {
            "loss": self.loss / max(1, self.steps),
            "top1_err": 100.0 * (1 - self.correct / max(1, self.clips)),
            "clips_per_s": self.clips / elapsed,
        }


def train_step(
    model: nn.Module,
    batch: dict[str, Any],
    optimizer: Optimizer,
    scaler: torch.amp.GradScaler,
    cfg: Config,
    runtime: Runtime,
) -> tuple[float, int, int]:
    """One SGD step on one batch: (loss, correctly classified clips, clips)."""
    clip = to_device(batch["clip"], runtime.device, cfg.runtime.channels_last)  # (B, 3, T, H, W)
    labels = batch["label"].to(runtime.device, non_blocking=True)
    with autocast(cfg, runtime.device):
        logits = model(clip)  # (B, K)
    loss = loss_fn(logits, labels, cfg)
    if not torch.isfinite(loss):
        raise TrainingFailed(f"loss is {loss.item()}")
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if cfg.optim.clip_grad_norm is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.clip_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    correct = 0 if cfg.data.multilabel else topk_correct(logits.detach().float(), labels, (1,))[1]
    return float(loss.detach()), correct, int(clip.shape[0])


def any_rank(flag: bool, runtime: Runtime) -> bool:
    """Whether ``flag`` is true on any rank (every rank must take the same branch around DDP)."""
    if not runtime.distributed:
        return flag
    t = torch.tensor([int(flag)], device=runtime.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


@torch.no_grad()
def validate(
    model: nn.Module, batches: Iterator[dict[str, Any]], cfg: Config, runtime: Runtime
) -> dict[str, float]:
    """Single-clip validation with the training jitter (the solid curves of Figure 4)."""
    model.eval()
    scores, labels, losses = [], [], []
    for batch in batches:
        if batch["clip"] is None:
            continue
        clip = to_device(batch["clip"], runtime.device, cfg.runtime.channels_last)
        label = batch["label"].to(runtime.device)
        with autocast(cfg, runtime.device):
            logits = model(clip).float()  # (B, K)
        losses.append(float(loss_fn(logits, label, cfg)) * clip.shape[0])
        scores.append(logits.cpu())
        labels.append(label.cpu())
    if not scores:
        return {"videos": 0}
    s, y = torch.cat(scores), torch.cat(labels)
    out: dict[str, float] = {"loss": sum(losses) / len(s), "videos": len(s)}
    if cfg.data.multilabel:
        out["mAP"] = mean_average_precision(torch.sigmoid(s), y)
    else:
        out.update(accuracy(s, y))
        out["top1_err"] = 100.0 - out["top1"]
    return out


def view_scores(model: nn.Module, views: Tensor, cfg: Config, runtime: Runtime) -> Tensor:
    """Class scores of one video averaged over its views (V, 3, T, H, W) -> (K,) (Sec. 4.1 "Inference").

    ``eval.head == "dense"``: the fc at every position, a softmax per position and view, averaged (the
    authors' fully convolutional test); ``"global"``: the softmax of the globally pooled logits per view.
    """
    probs = []
    for chunk in views.split(cfg.eval.batch_size):
        clip = to_device(chunk, runtime.device, cfg.runtime.channels_last)
        with autocast(cfg, runtime.device):
            logits = model(clip, dense=cfg.eval.head == "dense").float()  # (v, K[, t, h, w])
        p = torch.sigmoid(logits) if cfg.data.multilabel else torch.softmax(logits, dim=1)
        probs.append(p.flatten(2).mean(dim=2) if p.dim() > 2 else p)  # (v, K)
    return torch.cat(probs).mean(dim=0).cpu()


@torch.no_grad()
def test(
    model: nn.Module,
    videos: Iterator[dict[str, Any]],
    cfg: Config,
    runtime: Runtime,
    on_video: Callable[[], None] | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Multi-view test of this rank's videos: (indices (N,), scores (N, K), labels (N[, K]))."""
    model.eval()
    indices, scores, labels = [], [], []
    for item in videos:
        if on_video is not None:
            on_video()
        if item["clip"] is None:
            continue
        for v in range(item["clip"].shape[0]):  # a batch of whole videos, each (V, 3, T, H, W)
            scores.append(view_scores(model, item["clip"][v], cfg, runtime))
            labels.append(item["label"][v])
            indices.append(int(item["index"][v]))
    if not scores:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, 0), torch.zeros(0, dtype=torch.long)
    return torch.tensor(indices), torch.stack(scores), torch.stack(labels)


def gather(
    indices: Tensor, scores: Tensor, labels: Tensor, runtime: Runtime
) -> tuple[Tensor, Tensor, Tensor]:
    """Collect every rank's test results on every rank (videos are sharded across ranks)."""
    if not runtime.distributed:
        return indices, scores, labels
    parts: list[Any] = [None] * runtime.world_size
    dist.all_gather_object(parts, (indices, scores, labels))
    kept = [p for p in parts if len(p[0])]
    return torch.cat([p[0] for p in kept]), torch.cat([p[1] for p in kept]), torch.cat([p[2] for p in kept])


def test_metrics(scores: Tensor, labels: Tensor, cfg: Config) -> dict[str, float]:
    if len(scores) == 0:
        return {}
    if cfg.data.multilabel:
        return {"mAP": mean_average_precision(scores, labels)}
    return accuracy(scores, labels)


def is_finite(value: float) -> bool:
    return math.isfinite(value)
