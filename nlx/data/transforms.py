"""Pixel operations on decoded frames: resize, crop, normalise. Frames stay uint8 until the last step."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torch import Tensor


def to_tensor(frames: np.ndarray) -> Tensor:
    """(T, H, W, 3) uint8 array → (T, 3, H, W) uint8 tensor, channels-last in memory (no copy)."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2)  # (T, 3, H, W)


def resize(frames: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize of (T, 3, H, W) uint8 to ``size`` = (H', W'), antialiased when shrinking."""
    if tuple(frames.shape[-2:]) == size:
        return frames
    return TF.resize(frames, list(size), antialias=True)  # (T, 3, H', W')


def crop(frames: Tensor, top: int, left: int, height: int, width: int) -> Tensor:
    return frames[..., top : top + height, left : left + width]  # (T, 3, height, width)


def normalize(frames: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """(T, 3, H, W) uint8 → (3, T, H, W) float32 ``(x / 255 - mean) / std``."""
    scale = torch.tensor([1.0 / (255.0 * s) for s in std]).view(3, 1, 1, 1)  # (3, 1, 1, 1)
    shift = torch.tensor([m / s for m, s in zip(mean, std, strict=True)]).view(3, 1, 1, 1)  # (3, 1, 1, 1)
    x = frames.permute(1, 0, 2, 3).contiguous().float()  # (3, T, H, W): reorder as uint8, then widen
    return x.mul_(scale).sub_(shift)  # (3, T, H, W)
