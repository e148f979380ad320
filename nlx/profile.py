"""Parameters and FLOPs of a model, counted as the paper counts them (Table 2e).

FLOPs are multiply-adds of convolutions, matrix products and attention, from
``torch.utils.flop_counter`` (which reports 2 FLOPs per multiply-add) run on the meta device, so that even
paper-size models cost no memory and no arithmetic. Parameters exclude BatchNorm by default: the paper's
43.2M for C2D R101 counts convolutions and the fc only (see docs/models.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass(frozen=True)
class ModelProfile:
    params: int
    bn_params: int
    flops: int

    def as_dict(self) -> dict[str, int]:
        return {"params": self.params, "bn_params": self.bn_params, "flops": self.flops}


def count_params(model: nn.Module) -> tuple[int, int]:
    """(parameters outside BatchNorm, BatchNorm affine parameters)."""
    bn = sum(
        p.numel()
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        for p in m.parameters(recurse=False)
    )
    total = sum(p.numel() for p in model.parameters())
    return total - bn, bn


def count_flops(build: Callable[[], nn.Module], input_shape: tuple[int, ...]) -> int:
    """Multiply-adds of one forward pass of ``build()`` on an input of ``input_shape`` (meta device)."""
    with torch.device("meta"):
        model = build().eval()
        x = torch.empty(input_shape)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() // 2


def profile(build: Callable[[], nn.Module], input_shape: tuple[int, ...]) -> ModelProfile:
    with torch.device("meta"):
        params, bn = count_params(build())
    return ModelProfile(params=params, bn_params=bn, flops=count_flops(build, input_shape))
