"""Which frames and pixels a clip takes (Sec. 4.1 "Training" and "Inference"): pure functions of numbers.

Training: a window of ``frames × stride`` consecutive frames at a random start, every ``stride``-th kept
(the paper: 64 → 32); the short side scaled to a random integer in ``train_short_side``; a random square
crop; a random horizontal flip. Testing: ``clips`` windows evenly spaced from the first frame to the last,
the whole frame at short side ``test_short_side`` (fully convolutional) or three square crops along the
long side (the authors' code). Videos shorter than a window wrap around (``i mod N``, the authors' choice)
or repeat their last frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Jitter:
    """The spatial randomness of one training clip."""

    short_side: int
    top: int
    left: int
    flip: bool


def window_indices(start: int, frames: int, stride: int, num_frames: int, wrap: bool) -> np.ndarray:
    """Frame indices ``start, start + stride, ...`` (``frames`` of them) in a ``num_frames``-frame video."""
    raw = start + stride * np.arange(frames)  # (T,)
    return raw % num_frames if wrap else np.minimum(raw, num_frames - 1)


def train_start(num_frames: int, span: int, rng: np.random.Generator) -> int:
    """A uniform start for a ``span``-frame window; 0 when the video is shorter than the window."""
    return int(rng.integers(0, max(num_frames - span, 0) + 1))


def evenly_spaced_starts(num_frames: int, span: int, clips: int) -> list[int]:
    """``clips`` starts evenly spaced: the first window begins at frame 0, the last ends at the last frame."""
    room = max(num_frames - span, 0)
    if clips == 1:
        return [room // 2]
    return [round(c * room / (clips - 1)) for c in range(clips)]


def scaled_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(H', W') with the shorter side ``short_side`` and the aspect ratio kept (rounded to whole pixels)."""
    if height <= width:
        return short_side, max(short_side, round(width * short_side / height))
    return max(short_side, round(height * short_side / width)), short_side


def draw_jitter(height: int, width: int, short_range: tuple[int, int], crop: int, flip: bool,
                rng: np.random.Generator) -> Jitter:  # fmt: skip
    """Short side uniform in ``short_range`` (inclusive), then a uniform ``crop`` square, then a coin flip."""
    short = int(rng.integers(short_range[0], short_range[1] + 1))
    h, w = scaled_size(height, width, short)
    top = int(rng.integers(0, h - crop + 1))
    left = int(rng.integers(0, w - crop + 1))
    flipped = bool(rng.integers(0, 2)) if flip else False
    return Jitter(short, top, left, flipped)


def three_crops(height: int, width: int, size: int) -> list[tuple[int, int]]:
    """(top, left) of three ``size`` squares along the long side: left/top, centre, right/bottom."""
    if width >= height:
        top = (height - size) // 2
        return [(top, 0), (top, (width - size) // 2), (top, width - size)]
    left = (width - size) // 2
    return [(0, left), ((height - size) // 2, left), (height - size, left)]
