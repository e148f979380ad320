"""The video dataset: annotations + frame source + clip sampling (Sec. 4.1).

* ``train`` / ``val`` modes take keys ``(video_index, sample_seed)``: every random choice (window start,
  short side, crop, flip) is drawn from ``numpy.random.default_rng(sample_seed)`` in that order, so a clip
  is a pure function of its key, whatever the number of workers, and a resumed run sees the same clips.
  ``val`` is ``train`` on the validation split (the periodic single-clip validation of Figure 4).
* ``test`` mode takes a video index and returns every view: ``test_clips`` windows evenly spaced over the
  video × (the whole frame at short side ``test_short_side``, or 3 square crops along the long side).

A video that cannot be read is logged and returned as ``{"skipped": path, "index": i}``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from nlx.config.schema import DataConfig
from nlx.data import sampling, transforms
from nlx.data.annotations import Split, load_annotations
from nlx.data.cache import FrameSource, OpenVideo, frame_source
from nlx.data.video import DECODE_ERRORS

log = logging.getLogger(__name__)

Mode = Literal["train", "val", "test"]
Key = tuple[int, int] | int
Item = dict[str, Any]


@dataclass(frozen=True)
class ClipSpec:
    """The sampling settings of :class:`~nlx.config.schema.DataConfig` a dataset needs."""

    frames: int
    stride: int
    wrap: bool
    train_short_side: tuple[int, int]
    crop: int
    flip: bool
    test_short_side: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def span(self) -> int:
        """Consecutive frames a window covers (the paper: 32 × 2 = 64)."""
        return self.frames * self.stride

    @classmethod
    def from_config(cls, cfg: DataConfig) -> ClipSpec:
        return cls(cfg.frames, cfg.stride, cfg.wrap, cfg.train_short_side, cfg.crop, cfg.flip,
                   cfg.test_short_side, cfg.mean, cfg.std)  # fmt: skip


class VideoDataset(Dataset[Item]):
    """Labelled videos; ``dataset[key]`` is one clip (train/val) or all the test views of a video (test)."""

    def __init__(self, videos: list[Path], labels: list[tuple[int, ...]], classes: list[str], *,
                 spec: ClipSpec, mode: Mode, multilabel: bool = False, source: FrameSource | None = None,
                 test_clips: int = 10, test_crops: Literal[1, 3] = 1) -> None:  # fmt: skip
        if mode not in ("train", "val", "test"):
            raise ValueError(f"mode must be train, val or test; got {mode!r}")
        if test_crops not in (1, 3) or test_clips < 1:
            raise ValueError(f"test_clips must be >= 1 and test_crops 1 or 3; got {test_clips}, {test_crops}")
        self.videos, self.labels, self.classes = videos, labels, classes
        self.spec, self.mode, self.multilabel = spec, mode, multilabel
        self.source = source or frame_source("off", Path())
        self.test_clips, self.test_crops = test_clips, test_crops

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def views(self) -> int:
        """Clips per item: 1 in train/val mode, ``test_clips × test_crops`` in test mode."""
        return self.test_clips * self.test_crops if self.mode == "test" else 1

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, key: Key) -> Item:
        index, seed = self._parse_key(key)
        path = self.videos[index]
        try:
            video = self.source.open(path)
            clip = self.test_views(video) if seed is None else self.train_clip(video, seed)
        except DECODE_ERRORS as err:
            log.warning("skipping unreadable video %s: %s", path, err)
            return {"skipped": str(path), "index": index}
        return {"clip": clip, "label": self.label(index), "index": index}

    def _parse_key(self, key: Key) -> tuple[int, int | None]:
        if self.mode == "test":
            if not isinstance(key, int | np.integer):
                raise TypeError(f"a test-mode dataset takes a video index; got {key!r}")
            return int(key), None
        if not (isinstance(key, tuple | list) and len(key) == 2):
            raise TypeError(f"a {self.mode}-mode dataset takes (video_index, sample_seed) keys; got {key!r}")
        return int(key[0]), int(key[1])

    def label(self, index: int) -> Tensor:
        """int64 scalar, or float32 (K,) multi-hot when multi-label."""
        ids = self.labels[index]
        if not self.multilabel:
            return torch.tensor(ids[0], dtype=torch.int64)
        target = torch.zeros(self.num_classes, dtype=torch.float32)  # (K,)
        target[list(ids)] = 1.0
        return target

    # --- clips ---------------------------------------------------------------------------------------

    def train_clip(self, video: OpenVideo, seed: int) -> Tensor:
        """One jittered clip, (3, T, crop, crop) float32, every random choice drawn from ``seed``."""
        spec, rng = self.spec, np.random.default_rng(seed)
        start = sampling.train_start(video.num_frames, spec.span, rng)
        n = video.num_frames
        indices = sampling.window_indices(start, spec.frames, spec.stride, n, spec.wrap)  # (T,)
        frames = transforms.to_tensor(video.frames(indices))  # (T, 3, H, W) uint8
        h, w = frames.shape[-2:]
        jitter = sampling.draw_jitter(h, w, spec.train_short_side, spec.crop, spec.flip, rng)
        frames = transforms.resize(frames, sampling.scaled_size(h, w, jitter.short_side))  # (T, 3, H', W')
        frames = transforms.crop(frames, jitter.top, jitter.left, spec.crop, spec.crop)  # (T, 3, S, S)
        if jitter.flip:
            frames = frames.flip(-1)
        return transforms.normalize(frames, spec.mean, spec.std)  # (3, T, S, S)

    def test_views(self, video: OpenVideo) -> Tensor:
        """(V, 3, T, H, W) float32, V = test_clips × test_crops, clip-major (each clip's crops together)."""
        spec = self.spec
        starts = sampling.evenly_spaced_starts(video.num_frames, spec.span, self.test_clips)
        windows = np.stack([sampling.window_indices(s, spec.frames, spec.stride, video.num_frames, spec.wrap)
                            for s in starts])  # (C, T)  # fmt: skip
        unique, inverse = np.unique(windows, return_inverse=True)  # decode each frame once
        decoded = transforms.to_tensor(video.frames(unique))  # (U, 3, H, W) uint8
        h, w = decoded.shape[-2:]
        size = sampling.scaled_size(h, w, spec.test_short_side)
        decoded = transforms.resize(decoded, size)  # (U, 3, H', W')
        views = []
        for clip in inverse.reshape(windows.shape):  # (T,) positions in `decoded`
            frames = decoded[torch.from_numpy(clip)]  # (T, 3, H', W')
            views += self._spatial_views(frames)
        return torch.stack([transforms.normalize(v, spec.mean, spec.std) for v in views])  # (V, 3, T, H, W)

    def _spatial_views(self, frames: Tensor) -> list[Tensor]:
        if self.test_crops == 1:
            return [frames]
        size = self.spec.test_short_side
        h, w = frames.shape[-2:]
        corners = sampling.three_crops(h, w, size)
        return [transforms.crop(frames, top, left, size, size) for top, left in corners]


def build_dataset(cfg: DataConfig, split: Split, mode: Mode, *, test_clips: int = 10,
                  test_crops: Literal[1, 3] = 1) -> VideoDataset:  # fmt: skip
    """The dataset of ``split`` read as ``cfg`` describes it, sampling clips for ``mode``."""
    annotations = load_annotations(cfg, split)
    return VideoDataset(
        annotations.videos,
        annotations.labels,
        annotations.classes,
        spec=ClipSpec.from_config(cfg),
        mode=mode,
        multilabel=cfg.multilabel,
        source=frame_source(cfg.cache, Path(cfg.cache_dir)),
        test_clips=test_clips,
        test_crops=test_crops,
    )
