"""Video files: decoding with PyAV and writing MP4s (for the generated benchmark and for tests)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def write_video(path: Path, frames: np.ndarray, fps: int = 16, codec: str = "libx264", crf: int = 18) -> None:
    """Encode ``frames`` (T, H, W, 3) uint8 RGB as an MP4 (H.264, yuv420p needs even sizes: odd ones use yuv444p)."""
    t, h, w, _ = frames.shape
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuv420p" if h % 2 == 0 and w % 2 == 0 else "yuv444p"
        if codec == "libx264":
            stream.options = {"crf": str(crf), "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
