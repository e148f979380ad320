"""Video files: frame-accurate decoding with PyAV, and writing videos (for the generated benchmark and tests).

Frame ``i`` of a video is the ``i``-th frame in presentation order. :func:`probe` demultiplexes the video
stream once (no decoding) and sorts the packets' presentation timestamps, so that a decoded frame's
``pts`` names its index exactly, whatever the container, codec, frame rate (constant or variable) or
B-frame reordering. :func:`read_frames` then decodes only what it needs: for each run of wanted frames
it seeks to the keyframe at or before the first one and decodes forward, continuing instead of seeking
when the next keyframe would not skip anything. Streams without timestamps, or with duplicate ones, are
decoded from the start and frames counted.

Anything that cannot be read raises :class:`VideoDecodeError` or one of :data:`DECODE_ERRORS`; the
dataset turns those into skipped items.
"""

from __future__ import annotations

import bisect
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch.utils.data
from av.video.reformatter import VideoReformatter

from nlx.io import write_bytes


class VideoDecodeError(Exception):
    """A video that opens but cannot give the frames asked for (no video stream, no frames, decode errors)."""


# What reading a bad file can raise: FFmpeg errors (corrupt, truncated, not a video), OS errors (the file
# vanished, permissions), EOF, and our own.
DECODE_ERRORS: tuple[type[BaseException], ...] = (av.FFmpegError, OSError, EOFError, VideoDecodeError)

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov")

_MUXERS = {".mp4": "mp4", ".mkv": "matroska", ".webm": "webm", ".avi": "avi", ".mov": "mov"}


@dataclass(frozen=True)
class FrameIndex:
    """What :func:`probe` learns from the packets: frame count, keyframes and timestamps, in display order."""

    num_frames: int
    height: int
    width: int
    pts: tuple[int, ...] | None  # frame i's presentation timestamp; None: no usable timestamps
    keyframes: tuple[int, ...]  # indices of the keyframes, increasing
    seek_ts: tuple[int, ...]  # the timestamp to seek to for each keyframe (its dts when known)

    def keyframe_before(self, frame: int) -> int:
        """Position in ``keyframes`` of the last keyframe at or before ``frame`` (0 if none is)."""
        return max(bisect.bisect_right(self.keyframes, frame) - 1, 0)


# --- probing -----------------------------------------------------------------------------------------


def _open(path: Path) -> av.container.InputContainer:
    return av.open(str(path), mode="r")


def _video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise VideoDecodeError(f"{path}: no video stream")
    stream = container.streams.video[0]
    # One decoding thread inside DataLoader workers: the workers are the parallelism.
    if torch.utils.data.get_worker_info() is not None:
        stream.codec_context.thread_count = 1
    return stream


def probe(path: Path) -> FrameIndex:
    """Index the frames of ``path`` by demultiplexing its first video stream (no decoding)."""
    with _open(path) as container:
        stream = _video_stream(container, path)
        height, width = stream.codec_context.height, stream.codec_context.width
        packets = [(p.pts, p.dts, bool(p.is_keyframe)) for p in container.demux(stream)
                   if p.size > 0 and not p.is_discard]  # fmt: skip
    if not packets:
        raise VideoDecodeError(f"{path}: the video stream has no frames")
    pts = [p for p, _, _ in packets]
    if any(p is None for p in pts) or len(set(pts)) != len(pts):
        return _probe_by_decoding(path)
    order = sorted(range(len(pts)), key=pts.__getitem__)
    rank = {pts[i]: r for r, i in enumerate(order)}
    keys = sorted((rank[p], d if d is not None else p) for p, d, key in packets if key)
    if not keys or keys[0][0] != 0:
        keys.insert(0, (0, min(d if d is not None else p for p, d, _ in packets)))  # decode from the start
    return FrameIndex(
        num_frames=len(pts),
        height=height,
        width=width,
        pts=tuple(pts[i] for i in order),
        keyframes=tuple(k for k, _ in keys),
        seek_ts=tuple(ts for _, ts in keys),
    )


def _probe_by_decoding(path: Path) -> FrameIndex:
    """Count the frames by decoding them all (streams without usable timestamps)."""
    count, height, width = 0, 0, 0
    for frame in _decode_all_frames(path):
        count += 1
        height, width = frame.height, frame.width
    if count == 0:
        raise VideoDecodeError(f"{path}: no frame could be decoded")
    return FrameIndex(count, height, width, pts=None, keyframes=(0,), seek_ts=(0,))


def _decode_all_frames(path: Path) -> Iterator[av.VideoFrame]:
    with _open(path) as container:
        yield from container.decode(_video_stream(container, path))


# --- reading frames ----------------------------------------------------------------------------------


class _RGB:
    """Frames to (H, W, 3) uint8 RGB at the stream's size (a mid-stream resolution change is scaled back).

    One reformatter per read keeps FFmpeg's scaler context across frames (``to_ndarray(format=...)`` makes
    a new one per frame, which costs more than decoding a small frame).
    """

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = height, width
        self.reformatter = VideoReformatter()

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        size = {"width": self.width, "height": self.height} if self.width and self.height else {}
        rgb = self.reformatter.reformat(frame, format="rgb24", **size)
        return rgb.to_ndarray()  # (H, W, 3)


def plan_segments(index: FrameIndex, wanted: Sequence[int]) -> list[tuple[int, list[int]]]:
    """Group sorted ``wanted`` frames into (keyframe position, frames) runs, each decoded after one seek."""
    segments: list[tuple[int, list[int]]] = []
    for frame in wanted:
        key = index.keyframe_before(frame)
        if segments and index.keyframes[key] <= segments[-1][1][-1] + 1:
            segments[-1][1].append(frame)  # seeking would not skip any frame: keep decoding
        else:
            segments.append((key, [frame]))
    return segments


def _read_segment(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                  index: FrameIndex, rank: dict[int, int], key: int, frames: list[int],
                  out: dict[int, np.ndarray], to_rgb: _RGB) -> None:  # fmt: skip
    container.seek(index.seek_ts[key], stream=stream, backward=True, any_frame=False)
    wanted, last, started = set(frames), frames[-1], False
    for frame in container.decode(stream):
        i = rank.get(frame.pts) if frame.pts is not None else None
        if i is None:
            continue
        if not started:
            started = True
            if i > frames[0]:
                return  # the seek landed after the first wanted frame: the caller decodes from the start
        if i in wanted:
            out[i] = to_rgb(frame)
        if i >= last:
            return


def _read_sequential(path: Path, index: FrameIndex, wanted: set[int], out: dict[int, np.ndarray]) -> None:
    """Decode from the first frame, naming frames by timestamp when there are any, else by count."""
    rank = {p: i for i, p in enumerate(index.pts)} if index.pts is not None else None
    last, to_rgb = max(wanted), _RGB(index.height, index.width)
    for count, frame in enumerate(_decode_all_frames(path)):
        i = count if rank is None else rank.get(frame.pts) if frame.pts is not None else None
        if i is None:
            continue
        if i in wanted and i not in out:
            out[i] = to_rgb(frame)
            if wanted <= out.keys():
                return
        if i >= last and rank is None:
            return


def read_frames(path: Path, indices: Sequence[int], index: FrameIndex | None = None) -> np.ndarray:
    """Frames ``indices`` (any order, repeats allowed) of ``path`` as (len(indices), H, W, 3) uint8 RGB."""
    index = index or probe(path)
    wanted = sorted(set(indices))
    if not wanted:
        return np.zeros((0, index.height, index.width, 3), np.uint8)
    if wanted[0] < 0 or wanted[-1] >= index.num_frames:
        raise IndexError(f"{path}: frames {wanted[0]}..{wanted[-1]} of a {index.num_frames}-frame video")
    out: dict[int, np.ndarray] = {}
    if index.pts is not None:
        rank = {p: i for i, p in enumerate(index.pts)}
        to_rgb = _RGB(index.height, index.width)
        with _open(path) as container:
            stream = _video_stream(container, path)
            for key, frames in plan_segments(index, wanted):
                _read_segment(container, stream, index, rank, key, frames, out, to_rgb)
    missing = set(wanted) - out.keys()
    if missing:
        _read_sequential(path, index, missing, out)
    missing = set(wanted) - out.keys()
    if missing:
        raise VideoDecodeError(f"{path}: {len(missing)} frames could not be decoded (first: {min(missing)})")
    return np.stack([out[i] for i in indices])  # (T, H, W, 3)


def read_video(path: Path) -> np.ndarray:
    """Every frame of ``path`` in display order, (N, H, W, 3) uint8 RGB (for the decoded-clip cache)."""
    index = probe(path)
    return read_frames(path, range(index.num_frames), index)


# --- writing ----------------------------------------------------------------------------------------


def write_video(path: Path, frames: np.ndarray, fps: int = 16, codec: str = "libx264", crf: int = 18,
                gop: int | None = None) -> None:  # fmt: skip
    """Encode ``frames`` (T, H, W, 3) uint8 RGB into ``path``, atomically; the container follows the suffix.

    H.264 as yuv420p needs even sizes: odd ones use yuv444p. ``gop`` is the keyframe interval (x264's
    default is 250 frames).
    """
    fmt = _MUXERS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unknown video suffix (known: {', '.join(_MUXERS)})")
    h, w = frames.shape[1:3]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = w, h
        stream.pix_fmt = _pix_fmt(stream, even=h % 2 == 0 and w % 2 == 0)
        if gop is not None:
            stream.codec_context.gop_size = gop
        if codec == "libx264":
            stream.options = {"crf": str(crf), "preset": "veryfast", **({"keyint": str(gop)} if gop else {})}
        else:
            stream.bit_rate = max(2_000_000, 4 * w * h * fps)  # near-lossless for tests' exact values
        for frame in frames:
            image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            for packet in stream.encode(image):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    write_bytes(path, buffer.getvalue())


def _pix_fmt(stream: av.video.stream.VideoStream, *, even: bool) -> str:
    """yuv420p when the codec takes it and the size is even; else yuv444p, yuvj420p or the codec's first."""
    formats = [f.name for f in (stream.codec_context.codec.video_formats or ())]
    prefix = "yuvj" if stream.codec_context.name == "mjpeg" else "yuv"  # full-range JPEG formats
    for name in ((f"{prefix}420p",) if even else ()) + (f"{prefix}444p", "yuv420p"):
        if not formats or name in formats:
            return name
    return formats[0]


def file_key(path: Path) -> tuple[str, int, int]:
    """(absolute path, size, mtime in ns): changes when the file does (the caches' key)."""
    stat = os.stat(path)
    return str(Path(path).absolute()), stat.st_size, stat.st_mtime_ns
