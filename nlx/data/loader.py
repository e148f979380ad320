"""Sampling keys, batching and the DataLoader: bit-exact resume and the same samples whatever the layout.

:class:`InfiniteSampler` yields ``(video_index, sample_seed)`` keys from one global stream of positions
``p = 0, 1, 2, ...``: epoch ``e = p // size`` walks a permutation drawn from ``(seed, e)``, and the key at
``p`` is ``(perm_e[p % size], sample_seed(seed, p))``. Global batch ``k`` covers positions
``[k·B, (k+1)·B)`` with ``B = batch_size × world_size``; rank ``r`` takes its ``r``-th chunk. So one process
with batch 8 sees what two with batch 4 see together, and starting at ``start_iteration`` continues the
uninterrupted stream exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler, default_collate

from nlx.data.dataset import Item, VideoDataset
from nlx.errors import NlxError

PREFETCH_BUDGET_BYTES = 4 << 30  # clips all workers may hold ahead of the training loop
MAX_PREFETCH = 4


def sample_seed(seed: int, position: int) -> int:
    """The seed of the sample at ``position`` of the stream of run seed ``seed`` (63 bits)."""
    state = np.random.SeedSequence((seed, position)).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def epoch_order(size: int, seed: int, epoch: int, shuffle: bool) -> np.ndarray:
    """The video order of ``epoch``: a permutation drawn from ``(seed, epoch)``, or 0..size-1."""
    if not shuffle:
        return np.arange(size)
    return np.random.default_rng((seed, epoch)).permutation(size)


class InfiniteSampler(Sampler[tuple[int, int]]):
    """``(video_index, sample_seed)`` keys forever for rank ``rank`` of ``world_size`` (module doc)."""

    def __init__(self, size: int, *, seed: int, batch_size: int, start_iteration: int = 0, rank: int = 0,
                 world_size: int = 1, shuffle: bool = True) -> None:  # fmt: skip
        super().__init__()
        if size < 1 or batch_size < 1 or not 0 <= rank < world_size or start_iteration < 0 or seed < 0:
            raise ValueError(f"bad InfiniteSampler arguments: size={size}, seed={seed}, "
                             f"batch_size={batch_size}, start_iteration={start_iteration}, rank={rank}, "
                             f"world_size={world_size}")  # fmt: skip
        self.size, self.seed, self.batch_size, self.shuffle = size, seed, batch_size, shuffle
        self.start_iteration, self.rank, self.world_size = start_iteration, rank, world_size

    def key(self, position: int, order: np.ndarray) -> tuple[int, int]:
        return int(order[position % self.size]), sample_seed(self.seed, position)

    def positions(self) -> Iterator[int]:
        """This rank's stream positions, in order."""
        global_batch = self.batch_size * self.world_size
        iteration = self.start_iteration
        while True:
            first = iteration * global_batch + self.rank * self.batch_size
            yield from range(first, first + self.batch_size)
            iteration += 1

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, order = -1, np.arange(0)
        for position in self.positions():
            if position // self.size != epoch:
                epoch = position // self.size
                order = epoch_order(self.size, self.seed, epoch, self.shuffle)
            yield self.key(position, order)


def fixed_keys(size: int, seed: int = 0) -> list[tuple[int, int]]:
    """Every video once, in order, with fixed sample seeds: repeated validations see the same clips."""
    return [(i, sample_seed(seed, i)) for i in range(size)]


# --- batches ----------------------------------------------------------------------------------------


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
    """Stacked when the shapes agree; a list otherwise (fully convolutional test views of mixed aspect).

    ``default_collate`` stacks straight into shared memory inside a worker (no copy on the way out).
    """
    if all(t.shape == tensors[0].shape for t in tensors):
        return default_collate(tensors)
    return tensors


def collate(items: Sequence[Item]) -> dict[str, Any]:
    """Batch the readable items; ``skipped`` lists the others' paths (``clip`` is None if none is left)."""
    good = [item for item in items if "skipped" not in item]
    skipped = [str(item["skipped"]) for item in items if "skipped" in item]
    if not good:
        return {"clip": None, "label": None, "index": torch.zeros(0, dtype=torch.int64), "skipped": skipped}
    return {
        "clip": _stack([item["clip"] for item in good]),  # (B', 3, T, H, W) or (B', V, 3, T, H, W)
        "label": default_collate([item["label"] for item in good]),  # (B',) int64 or (B', K) float32
        "index": torch.tensor([item["index"] for item in good], dtype=torch.int64),  # (B',)
        "skipped": skipped,
    }


class SkipCounter:
    """The distinct videos skipped so far; :meth:`check` fails the run once they pass the allowed fraction."""

    def __init__(self) -> None:
        self._paths: dict[str, None] = {}  # insertion-ordered set

    def add(self, batch: dict[str, Any]) -> int:
        """Count the batch's skipped videos; returns how many were new."""
        return self.update(batch.get("skipped", ()))

    def update(self, paths: Iterable[str]) -> int:
        before = len(self._paths)
        self._paths.update(dict.fromkeys(paths))
        return len(self._paths) - before

    @property
    def count(self) -> int:
        return len(self._paths)

    @property
    def paths(self) -> list[str]:
        return list(self._paths)

    def check(self, dataset_size: int, max_fraction: float) -> None:
        """Raise :class:`NlxError` when more than ``max_fraction`` of ``dataset_size`` videos were skipped."""
        if self.count <= max_fraction * dataset_size:
            return
        first = ", ".join(self.paths[:3]) + (", ..." if self.count > 3 else "")
        share = 100 * self.count / max(dataset_size, 1)
        raise NlxError(f"{self.count} of {dataset_size} videos ({share:.2g}%) could not be decoded, more "
                       f"than data.max_skip_fraction={max_fraction:g}: {first}")  # fmt: skip


# --- the loader -------------------------------------------------------------------------------------


def _worker_init(worker_id: int) -> None:
    torch.set_num_threads(1)  # the workers are the parallelism
    np.random.seed(torch.initial_seed() % 2**32)  # (no sampling uses it: keys carry the randomness)


def _item_bytes(dataset: VideoDataset) -> int:
    """A clip's float32 size: crop² per frame in train/val; test frames taken as 16:9 at the short side."""
    spec = dataset.spec
    pixels = spec.crop**2 if dataset.mode != "test" else spec.test_short_side**2 * 16 // 9
    return 4 * 3 * spec.frames * pixels * dataset.views


def prefetch_factor(dataset: VideoDataset, batch_size: int, workers: int) -> int:
    """Batches each worker prepares ahead: as many as fit :data:`PREFETCH_BUDGET_BYTES`, 1 to 4."""
    batch = _item_bytes(dataset) * batch_size * max(workers, 1)
    return max(1, min(MAX_PREFETCH, PREFETCH_BUDGET_BYTES // max(batch, 1)))


def build_loader(dataset: VideoDataset, *, batch_size: int, sampler: Iterable | None, workers: int,
                 seed: int = 0) -> DataLoader:  # fmt: skip
    """A DataLoader over ``dataset`` with :func:`collate`; ``sampler=None`` means every video once, in order.

    ``seed`` gives the fixed sample seeds of that default order in train/val mode (see :func:`fixed_keys`)
    and seeds the loader's own generator.
    """
    if sampler is None:
        sampler = range(len(dataset)) if dataset.mode == "test" else fixed_keys(len(dataset), seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=torch.cuda.is_available(),
        worker_init_fn=_worker_init if workers > 0 else None,
        persistent_workers=workers > 0,
        prefetch_factor=prefetch_factor(dataset, batch_size, workers) if workers > 0 else None,
        generator=torch.Generator().manual_seed(seed),
    )
