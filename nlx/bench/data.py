"""Loader throughput: clips per second per worker, and what one clip costs to decode and to transform.

``nlx bench data`` calls :func:`bench_data`; ``benchmarks/data_loading.py`` runs it on generated videos.
Each worker count gets a fresh DataLoader over the train split with :class:`~nlx.data.InfiniteSampler`
keys; the first batch (worker start-up) is not timed. With a cache, every video is decoded into it before
timing (a sweep's steady state: its first run fills the cache, the others read it). ``decode_ms_per_clip``
and ``clip_ms_per_clip`` are measured in this process on one thread, on videos already indexed (or
cached): the frame reading alone, and the whole clip (reading + resize, crop, flip, normalise).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch

from nlx.config.schema import DataConfig
from nlx.data import InfiniteSampler, VideoDataset, build_dataset, build_loader, sample_seed
from nlx.data.sampling import train_start, window_indices


@contextmanager
def _threads(count: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fill_cache(dataset: VideoDataset) -> float:
    """Decode every video into the dataset's cache; seconds taken (0 without a cache)."""
    start = time.perf_counter()
    for path in dataset.videos:
        dataset.source.open(path)
    return time.perf_counter() - start


def clip_costs(dataset: VideoDataset, samples: int) -> tuple[float, float]:
    """(ms reading a training clip's frames, ms making the whole clip), means over ``samples`` keys.

    Each video is read once untimed first, so that neither includes indexing the video or filling a cache.
    """
    spec, read_s, clip_s = dataset.spec, 0.0, 0.0
    with _threads(1):
        for position in range(samples):
            index, seed = position % len(dataset), sample_seed(0, position)
            dataset[(index, seed + 1)]
            start = time.perf_counter()
            video = dataset.source.open(dataset.videos[index])
            first = train_start(video.num_frames, spec.span, np.random.default_rng(seed))
            video.frames(window_indices(first, spec.frames, spec.stride, video.num_frames, spec.wrap))
            read_s += time.perf_counter() - start
            start = time.perf_counter()
            dataset[(index, seed)]
            clip_s += time.perf_counter() - start
    return 1000 * read_s / samples, 1000 * clip_s / samples


def loader_rate(dataset: VideoDataset, *, workers: int, batches: int, batch_size: int) -> tuple[int, float]:
    """(clips, seconds) for ``batches`` batches after one untimed batch."""
    sampler = InfiniteSampler(len(dataset), seed=0, batch_size=batch_size)
    loader = build_loader(dataset, batch_size=batch_size, sampler=sampler, workers=workers)
    with _threads(1 if workers == 0 else torch.get_num_threads()):
        stream = iter(loader)
        next(stream)
        start, clips = time.perf_counter(), 0
        for batch in itertools.islice(stream, batches):
            clips += len(batch["index"])
        seconds = time.perf_counter() - start
    del stream, loader  # stops the persistent workers
    return clips, seconds


def bench_data(cfg: DataConfig, *, workers: Sequence[int], batches: int, batch_size: int,
               label: str | None = None, samples: int = 8) -> list[dict[str, object]]:  # fmt: skip
    """One row per worker count: throughput of the training loader of ``cfg`` and per-clip costs."""
    dataset = build_dataset(cfg, "train", "train")
    fill_s = fill_cache(dataset) if cfg.cache != "off" else 0.0
    read_ms, clip_ms = clip_costs(dataset, samples)
    name = label or f"{cfg.frames}x{cfg.stride}, crop {cfg.crop} from {list(cfg.train_short_side)}"
    rows: list[dict[str, object]] = []
    for count in workers:
        clips, seconds = loader_rate(dataset, workers=count, batches=batches, batch_size=batch_size)
        rate = clips / seconds
        rows.append({
            "label": name, "frames": cfg.frames, "stride": cfg.stride, "crop": cfg.crop,
            "short_side": list(cfg.train_short_side), "cache": cfg.cache, "videos": len(dataset),
            "workers": count, "batch_size": batch_size, "clips": clips, "seconds": round(seconds, 3),
            "clips_per_s": round(rate, 1), "clips_per_s_per_worker": round(rate / max(count, 1), 1),
            "decode_ms_per_clip": round(read_ms, 2), "clip_ms_per_clip": round(clip_ms, 2),
            "cache_fill_s": round(fill_s, 2),
        })  # fmt: skip
    return rows
