"""Where decoded frames come from: the video file each time, or a decoded-clip cache (``data.cache``).

* ``off``: decode the frames a clip needs (seek + decode forward). Each process keeps the small frame
  index of the videos it has seen (an LRU), so a video is demultiplexed once per worker.
* ``memory``: decode each video whole once per process and keep it in RAM (small datasets only: every
  DataLoader worker holds its own copy).
* ``disk``: decode each video whole once, ever, into ``<cache_dir>/<hh>/<hash>.npy`` (written atomically)
  and memory-map it afterwards, so the many runs of a sweep share one decode. The key hashes the absolute
  path, size and modification time, so a changed video is decoded again (its old entry is left behind).
"""

from __future__ import annotations

import functools
import hashlib
import io
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from nlx.data.video import FrameIndex, file_key, probe, read_frames, read_video
from nlx.io import write_bytes

CacheMode = Literal["off", "memory", "disk"]

_INDEX_LRU = 8192  # frame indices kept per process (a few hundred bytes each)


class OpenVideo(Protocol):
    """One video ready to give frames: ``frames(indices)`` is (len(indices), H, W, 3) uint8 RGB."""

    @property
    def num_frames(self) -> int: ...

    def frames(self, indices: np.ndarray) -> np.ndarray: ...


class FrameSource(Protocol):
    def open(self, path: Path) -> OpenVideo: ...


class ArrayVideo:
    """A decoded video in memory or memory-mapped: (N, H, W, 3) uint8."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    @property
    def num_frames(self) -> int:
        return len(self.array)

    def frames(self, indices: np.ndarray) -> np.ndarray:
        return np.asarray(self.array[indices])  # (T, H, W, 3)


class FileVideo:
    """A video file and its frame index; frames are decoded on demand."""

    def __init__(self, path: Path, index: FrameIndex) -> None:
        self.path, self.index = path, index

    @property
    def num_frames(self) -> int:
        return self.index.num_frames

    def frames(self, indices: np.ndarray) -> np.ndarray:
        return read_frames(self.path, indices.tolist(), self.index)  # (T, H, W, 3)


@functools.lru_cache(maxsize=_INDEX_LRU)
def _cached_probe(key: tuple[str, int, int]) -> FrameIndex:
    return probe(Path(key[0]))


class DirectSource:
    """Decode what is asked for from the file."""

    def open(self, path: Path) -> OpenVideo:
        return FileVideo(path, _cached_probe(file_key(path)))


class MemorySource:
    """Whole decoded videos kept in this process, keyed by path, size and mtime."""

    def __init__(self) -> None:
        self._videos: dict[tuple[str, int, int], np.ndarray] = {}

    def open(self, path: Path) -> OpenVideo:
        key = file_key(path)
        if key not in self._videos:
            self._videos[key] = read_video(path)
        return ArrayVideo(self._videos[key])

    def __getstate__(self) -> dict[str, object]:
        return {"_videos": {}}  # workers started by spawn do not receive the parent's frames


class DiskSource:
    """Whole decoded videos as memory-mapped ``.npy`` files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def entry(self, path: Path) -> Path:
        digest = hashlib.sha1(repr(file_key(path)).encode()).hexdigest()
        return self.root / digest[:2] / f"{digest}.npy"

    def open(self, path: Path) -> OpenVideo:
        entry = self.entry(path)
        if not entry.is_file():
            buffer = io.BytesIO()
            np.save(buffer, read_video(path))
            write_bytes(entry, buffer.getvalue())
        return ArrayVideo(np.load(entry, mmap_mode="r"))  # (N, H, W, 3)


def frame_source(mode: CacheMode, cache_dir: Path) -> FrameSource:
    if mode == "memory":
        return MemorySource()
    if mode == "disk":
        return DiskSource(cache_dir)
    return DirectSource()
