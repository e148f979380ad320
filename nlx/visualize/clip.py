"""The model of a run or checkpoint, and one clip of a video read the way the test of Sec. 4.1 reads it.

The clip is one window of ``data.frames × data.stride`` frames (by default the centre window, as
``eval.test_clips = 1`` would take it), resized to short side ``data.test_short_side``; the whole frame
goes into the network (fully convolutional, as the test protocol), or its centre ``data.crop`` square with
``crop=True`` (the training input size).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from nlx.config.load import build, read_yaml
from nlx.config.schema import Config
from nlx.data import sampling, transforms
from nlx.data.video import DECODE_ERRORS, FrameIndex, probe, read_frames
from nlx.errors import NlxError
from nlx.factory import build_model
from nlx.models import NonLocalBlock, VideoResNet
from nlx.train.checkpoint import load_weights, read_weights
from nlx.train.evaluate import find_config
from nlx.visualize.geometry import ClipGeometry


@dataclass(frozen=True)
class Clip:
    """A clip ready for the network, the decoded frames it came from, and how they relate."""

    tensor: Tensor  # (1, 3, T, H, W) normalised
    video: np.ndarray  # (T, H₀, W₀, 3) uint8: the decoded frames of the clip
    geometry: ClipGeometry
    start: int  # first video frame of the window
    stride: int


def load_model(target: Path) -> tuple[Config, VideoResNet]:
    """The config and trained model (eval mode, CPU) of a run directory, ``model_final.pt`` or checkpoint."""
    if not target.exists():
        raise NlxError(f"{target}: no such run directory or checkpoint")
    cfg = build(Config, read_yaml(find_config(target)))
    model = build_model(cfg.model)
    load_weights(model, read_weights(target), str(target))
    return cfg, model.eval()


def choose_block(model: VideoResNet, name: str | None) -> str:
    """``name``, or the first non-local block of res3 (Figure 3), else the first one; errors list them."""
    blocks = model.nonlocal_blocks()
    if not blocks:
        raise NlxError(
            "the model has no non-local blocks (model.non_local.blocks is none): nothing to visualise"
        )
    if name is None:
        return next((n for n in blocks if n.startswith("res3.")), next(iter(blocks)))
    if name not in blocks:
        raise NlxError(f"--block {name}: no such non-local block (the model has: {', '.join(blocks)})")
    return name


def block_of(model: VideoResNet, name: str) -> NonLocalBlock:
    return model.nonlocal_blocks()[name]


def _probe(video: Path) -> FrameIndex:
    if not video.is_file():
        raise NlxError(f"{video}: no such video")
    try:
        return probe(video)
    except DECODE_ERRORS as err:
        raise NlxError(f"{video}: cannot read the video ({type(err).__name__}: {err})") from err


def window_start(num_frames: int, span: int, start: int | None) -> int:
    """``start``, checked, or the centre window's start."""
    if start is None:
        return sampling.evenly_spaced_starts(num_frames, span, 1)[0]
    if not 0 <= start < num_frames:
        raise NlxError(f"--start {start}: the video has frames 0-{num_frames - 1}")
    return start


def read_clip(video: Path, cfg: Config, *, start: int | None = None, crop: bool = False) -> Clip:
    """One clip of ``video`` as ``cfg.data`` samples test clips (see the module docstring)."""
    data = cfg.data
    index = _probe(video)
    first = window_start(index.num_frames, data.frames * data.stride, start)
    frames = sampling.window_indices(first, data.frames, data.stride, index.num_frames, data.wrap)  # (T,)
    try:
        decoded = read_frames(video, frames.tolist(), index)  # (T, H₀, W₀, 3)
    except DECODE_ERRORS as err:
        raise NlxError(f"{video}: cannot decode the clip ({type(err).__name__}: {err})") from err
    h0, w0 = decoded.shape[1:3]
    scaled = sampling.scaled_size(h0, w0, data.test_short_side)
    pixels = transforms.resize(transforms.to_tensor(decoded), scaled)  # (T, 3, Hₛ, Wₛ) uint8
    top, left = (0, 0)
    if crop:
        top, left = (scaled[0] - data.crop) // 2, (scaled[1] - data.crop) // 2
        pixels = transforms.crop(pixels, top, left, data.crop, data.crop)  # (T, 3, S, S)
    tensor = transforms.normalize(pixels, data.mean, data.std).unsqueeze(0)  # (1, 3, T, H, W)
    geometry = ClipGeometry(
        video_size=(h0, w0),
        scaled_size=scaled,
        offset=(top, left),
        clip_size=(int(pixels.shape[-2]), int(pixels.shape[-1])),
        frames=tuple(int(f) for f in frames),
    )
    return Clip(tensor, decoded, geometry, first, data.stride)


def to_device(clip: Clip, device: str) -> Tensor:
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise NlxError(f"--device {device}: expected cpu or cuda")
    if device != "cpu" and not torch.cuda.is_available():
        raise NlxError(f"--device {device}: CUDA is not available")
    return clip.tensor.to(device)
