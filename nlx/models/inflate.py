"""ImageNet initialisation of C2D / I3D from a torchvision 2D ResNet (Sec. 4, "Inflated 3D ConvNet").

2D kernels are copied into 1×k×k kernels or inflated into t×k×k kernels rescaled by 1/t, so that a clip of
identical frames gives the 2D network's features; BN is copied; layers the 2D network does not have
(non-local blocks, the new fc) keep their own initialisation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from nlx.errors import NlxError
from nlx.models.resnet import VideoResNet

_BLOCK = re.compile(r"^layer(\d)\.(\d+)\.(conv[123]|bn[123]|downsample\.[01])\.(.+)$")
_BLOCK_NAMES = {
    "conv1": "conv_a", "bn1": "bn_a", "conv2": "conv_b", "bn2": "bn_b", "conv3": "conv_c", "bn3": "bn_c",
    "downsample.0": "shortcut.0", "downsample.1": "shortcut.1",
}  # fmt: skip


@dataclass(frozen=True)
class InflationReport:
    copied: int
    inflated: tuple[str, ...]
    kept_init: tuple[str, ...]


def video_key(key_2d: str) -> str | None:
    """The VideoResNet parameter that a torchvision ResNet key initialises (``None`` for its fc)."""
    if key_2d.startswith("fc."):
        return None
    m = _BLOCK.match(key_2d)
    if m:
        layer, idx, part, leaf = m.groups()
        return f"res{int(layer) + 1}.blocks.{idx}.{_BLOCK_NAMES[part]}.{leaf}"
    return key_2d  # conv1.weight, bn1.*


def read_state_dict(source: str | Path, depth: int) -> dict[str, Tensor]:
    """A 2D ResNet state dict from a file, or from torchvision's ImageNet weights for ``"imagenet"``."""
    if str(source) == "imagenet":
        return _torchvision_imagenet(depth)
    path = Path(source)
    if not path.is_file():
        raise NlxError(
            f"{path}: ImageNet checkpoint not found (expected a torchvision ResNet-{depth} state dict)"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise NlxError(f"{path}: not a readable PyTorch state dict ({type(err).__name__})") from err
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise NlxError(f"{path}: expected a dict of tensors (a torchvision ResNet-{depth} state dict)")
    return obj


def _torchvision_imagenet(depth: int) -> dict[str, Tensor]:
    from torchvision.models import ResNet50_Weights, ResNet101_Weights

    weights = {50: ResNet50_Weights.IMAGENET1K_V1, 101: ResNet101_Weights.IMAGENET1K_V1}[depth]
    try:
        return weights.get_state_dict(progress=False)
    except Exception as err:
        raise NlxError(
            f"could not fetch torchvision's {weights} ({type(err).__name__}); "
            "download it elsewhere and set model.pretrained to the file's path"
        ) from err


def load_imagenet_2d(
    model: VideoResNet, state_2d: dict[str, Tensor], source: str = "checkpoint"
) -> InflationReport:
    """Copy or inflate ``state_2d`` (a torchvision ResNet) into ``model``; strict about everything else."""
    target = model.state_dict()
    updates: dict[str, Tensor] = {}
    inflated: list[str] = []
    problems: list[str] = []
    for key_2d, value in state_2d.items():
        key = video_key(key_2d)
        if key is None:
            continue
        if key not in target:
            problems.append(f"{key_2d} has no counterpart in the video model")
            continue
        want = target[key]
        if value.dim() == 4 and want.dim() == 5:
            t = want.shape[2]
            value = value.unsqueeze(2).repeat(1, 1, t, 1, 1) / t  # (O, I, t, k, k), rescaled by 1/t
            if t > 1:
                inflated.append(key)
        if value.shape != want.shape:
            problems.append(f"{key_2d}: shape {tuple(value.shape)} does not fit {key} {tuple(want.shape)}")
            continue
        updates[key] = value.to(want.dtype)
    missing = [k for k in target if k not in updates and _from_2d(k)]
    problems += [f"{k} is missing from the checkpoint" for k in missing]
    if problems:
        shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
        raise NlxError(
            f"{source}: does not match ResNet-{model.depth} at width {model.conv1.out_channels}: {shown}"
        )
    model.load_state_dict(updates, strict=False)
    kept = tuple(k for k in target if k not in updates)
    return InflationReport(copied=len(updates), inflated=tuple(inflated), kept_init=kept)


def _from_2d(key: str) -> bool:
    """Whether the 2D network provides this parameter (it does not have non-local blocks or our fc)."""
    return ".nonlocal_blocks." not in key and not key.startswith("fc.")


def to_2d(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The torchvision ResNet state dict of a C2D trained on single frames (T = 1): the inverse of inflation.

    Used to pretrain the mini preset's "ImageNet" on single frames of the generated world, so that the mini
    pipeline initialises C2D and I3D exactly as the paper does from ImageNet (:func:`load_imagenet_2d`).
    """
    inverse = {v: k for k, v in _BLOCK_NAMES.items()}
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if ".nonlocal_blocks." in key or key.startswith("fc."):
            continue
        m = re.match(r"^res(\d)\.blocks\.(\d+)\.(conv_[abc]|bn_[abc]|shortcut\.[01])\.(.+)$", key)
        name = f"layer{int(m.group(1)) - 1}.{m.group(2)}.{inverse[m.group(3)]}.{m.group(4)}" if m else key
        if value.dim() == 5:
            if value.shape[2] != 1:
                raise NlxError(f"{key}: a {value.shape[2]}-frame kernel has no 2D counterpart (export a C2D)")
            value = value[:, :, 0]
        out[name] = value
    return out
