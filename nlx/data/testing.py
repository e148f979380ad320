"""Videos whose frames say which frame they are, for frame-accuracy tests of the data pipeline.

Frame ``i`` is a flat colour that survives compression, scaling and cropping: red ``(i % 16)·16 + 8``,
green ``(i // 16)·16 + 8`` (so up to 256 frames), blue 64 on the left half and 192 on the right (so that a
horizontal flip shows).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
from torch import Tensor

MAX_FRAMES = 256


def indexed_frames(num_frames: int, height: int, width: int) -> np.ndarray:
    """(N, H, W, 3) uint8 frames encoding their own index."""
    if num_frames > MAX_FRAMES:
        raise ValueError(f"at most {MAX_FRAMES} frames can carry their index; got {num_frames}")
    i = np.arange(num_frames)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    frames[..., 0] = ((i % 16) * 16 + 8)[:, None, None]
    frames[..., 1] = ((i // 16) * 16 + 8)[:, None, None]
    frames[..., 2] = 64
    frames[:, :, width // 2 :, 2] = 192
    return frames


def frame_ids(frames: np.ndarray) -> list[int]:
    """The index each (N, H, W, 3) uint8 frame carries."""
    rgb = frames.reshape(len(frames), -1, 3).astype(np.float64).mean(axis=1)  # (N, 3)
    low, high = np.round((rgb[:, 0] - 8) / 16), np.round((rgb[:, 1] - 8) / 16)
    return [int(v) for v in low + 16 * high]


def write_audio_only(path: Path) -> None:
    """An MP4 holding a quarter second of silent AAC audio and no video stream."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for _ in range(4):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 16000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def clip_frame_ids(clip: Tensor, mean: Sequence[float], std: Sequence[float]) -> list[int]:
    """The index each frame of a normalised (3, T, H, W) clip carries."""
    pixels = clip.double().permute(1, 2, 3, 0).numpy()  # (T, H, W, 3)
    rgb = (pixels * np.asarray(std) + np.asarray(mean)) * 255.0
    return frame_ids(rgb)
