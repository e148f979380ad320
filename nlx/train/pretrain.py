"""The mini preset's "ImageNet": a 2D network pretrained on single frames of the generated world.

The paper fine-tunes every video model from ImageNet (Sec. 4.1) and inflates the 2D kernels into I3D
(Sec. 4). The mini preset keeps that pipeline: a C2D on one-frame clips (a 2D ResNet of the preset's width
and stem) learns to name the shape and colour of a single flash, and its weights are saved as a torchvision
ResNet state dict, which ``model.pretrained`` loads through the same inflation code as ImageNet weights.
Single frames say nothing about the relation between two flashes, so no label leaks into the video task.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nlx.config.load import build, deep_merge
from nlx.config.presets import Preset
from nlx.config.schema import Config
from nlx.data.synth import SynthSpec, render_frame
from nlx.factory import build_model
from nlx.io import save_torch, write_json
from nlx.models.inflate import to_2d
from nlx.train.metrics import topk_correct

log = logging.getLogger("nlx.train")


@dataclass(frozen=True)
class PretrainSpec:
    iterations: int = 1000
    batch_size: int = 32
    lr: float = 0.1
    seed: int = 0


def frames_batch(
    spec: SynthSpec, cfg: Config, rng: np.random.Generator, n: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` single-frame clips (n, 3, 1, crop, crop) with the training jitter, and their classes."""
    images, labels = zip(*(render_frame(spec, rng) for _ in range(n)), strict=True)
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255  # (n, 3, H, W)
    lo, hi = cfg.data.train_short_side
    side = int(rng.integers(lo, hi + 1))
    x = F.interpolate(x, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
    oy, ox = (int(v) for v in rng.integers(0, side - cfg.data.crop + 1, size=2))
    x = x[:, :, oy : oy + cfg.data.crop, ox : ox + cfg.data.crop]
    mean = torch.tensor(cfg.data.mean).view(1, 3, 1, 1)
    std = torch.tensor(cfg.data.std).view(1, 3, 1, 1)
    return ((x - mean) / std).unsqueeze(2), torch.tensor(labels)  # (n, 3, 1, crop, crop)


def pretrain_2d(
    preset: Preset, model_name: str, spec: SynthSpec, out: Path, train: PretrainSpec
) -> dict[str, Any]:
    """Train ``model_name`` (a C2D) of ``preset`` on single frames; save its 2D weights to ``out``."""
    classes = len(spec.shapes) * len(spec.colours)
    # From scratch, as ImageNet training: the last BN of each residual block starts at γ = 0 ([17]).
    tree = deep_merge(
        preset.tree,
        {
            "model": {
                "name": model_name,
                "num_classes": classes,
                "pretrained": "none",
                "non_local": {"blocks": "none"},
                "dropout": 0.0,
                "zero_init_residual": True,
            }
        },
    )
    cfg = build(Config, tree)
    torch.manual_seed(train.seed)
    rng = np.random.default_rng(train.seed)
    model = build_model(cfg.model)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=train.lr, momentum=0.9, weight_decay=cfg.optim.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=train.iterations)
    started, correct, seen = time.perf_counter(), 0, 0
    model.train()
    for it in range(1, train.iterations + 1):
        x, y = frames_batch(spec, cfg, rng, train.batch_size)
        logits = model(x)  # (B, classes)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if it > train.iterations * 0.9:  # accuracy over the last 10% of training
            correct += topk_correct(logits.detach(), y, (1,))[1]
            seen += len(y)
        if it % 100 == 0:
            log.info("%s pretraining %d/%d: loss %.3f", model_name, it, train.iterations, loss.item())
    save_torch(out, to_2d(model.state_dict()))
    summary = {"model": model_name, "classes": classes, "iterations": train.iterations,
               "train_top1": round(100.0 * correct / max(1, seen), 2),
               "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
    write_json(out.with_suffix(".json"), summary)
    return summary
