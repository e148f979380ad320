"""Pure sampling arithmetic (Sec. 4.1) and the InfiniteSampler's stream: resume and DDP layouts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nlx.data import InfiniteSampler, sample_seed
from nlx.data.sampling import (
    draw_jitter,
    evenly_spaced_starts,
    scaled_size,
    three_crops,
    train_start,
    window_indices,
)


def test_window_wraps_or_clamps() -> None:
    assert window_indices(0, 4, 2, 3, wrap=True).tolist() == [0, 2, 1, 0]
    assert window_indices(0, 4, 2, 3, wrap=False).tolist() == [0, 2, 2, 2]
    assert window_indices(5, 3, 2, 100, wrap=True).tolist() == [5, 7, 9]


def test_train_start_is_uniform_over_the_room() -> None:
    rng = np.random.default_rng(0)
    starts = {train_start(64, 32, rng) for _ in range(2000)}
    assert starts == set(range(33))
    assert train_start(10, 32, rng) == 0


def test_test_windows_span_the_whole_video() -> None:
    assert evenly_spaced_starts(100, 8, 5) == [0, 23, 46, 69, 92]  # the last window ends at frame 99
    assert evenly_spaced_starts(300, 64, 10)[-1] + 64 == 300
    assert evenly_spaced_starts(100, 8, 1) == [46]
    assert evenly_spaced_starts(5, 8, 3) == [0, 0, 0]


def test_scaled_sizes_keep_the_aspect() -> None:
    assert scaled_size(256, 340, 256) == (256, 340)
    assert scaled_size(48, 80, 32) == (32, 53)
    assert scaled_size(80, 48, 32) == (53, 32)
    assert scaled_size(47, 65, 40) == (40, 55)


def test_jitter_within_range_and_reaches_both_ends() -> None:
    shorts, flips = set(), set()
    for seed in range(400):
        j = draw_jitter(47, 65, (32, 40), 32, True, np.random.default_rng(seed))
        h, w = scaled_size(47, 65, j.short_side)
        assert 32 <= j.short_side <= 40 and 0 <= j.top <= h - 32 and 0 <= j.left <= w - 32
        shorts.add(j.short_side)
        flips.add(j.flip)
    assert shorts == set(range(32, 41)) and flips == {False, True}
    assert not any(draw_jitter(64, 64, (64, 80), 56, False, np.random.default_rng(s)).flip for s in range(50))


def test_three_crops_along_the_long_side() -> None:
    assert three_crops(32, 53, 32) == [(0, 0), (0, 10), (0, 21)]
    assert three_crops(53, 32, 32) == [(0, 0), (10, 0), (21, 0)]


def batches(sampler: InfiniteSampler, count: int) -> list[list[tuple[int, int]]]:
    keys = iter(sampler)
    return [list(itertools.islice(keys, sampler.batch_size)) for _ in range(count)]


def test_one_process_of_8_equals_two_of_4() -> None:
    single = batches(InfiniteSampler(13, seed=3, batch_size=8), 6)
    ranks = [batches(InfiniteSampler(13, seed=3, batch_size=4, rank=r, world_size=2), 6) for r in range(2)]
    assert single == [a + b for a, b in zip(*ranks, strict=True)]


@pytest.mark.parametrize("world_size", [1, 2])
def test_resume_continues_the_stream(world_size: int) -> None:
    for rank in range(world_size):
        whole = batches(InfiniteSampler(10, seed=1, batch_size=3, rank=rank, world_size=world_size), 9)
        layout = {"rank": rank, "world_size": world_size}
        resumed = InfiniteSampler(10, seed=1, batch_size=3, start_iteration=4, **layout)
        assert batches(resumed, 5) == whole[4:]


def test_epochs_are_permutations_with_fresh_sample_seeds() -> None:
    keys = list(itertools.islice(iter(InfiniteSampler(7, seed=0, batch_size=7)), 21))
    epochs = [[i for i, _ in keys[e * 7 : (e + 1) * 7]] for e in range(3)]
    assert all(sorted(e) == list(range(7)) for e in epochs)
    assert len({tuple(e) for e in epochs}) == 3
    assert len({s for _, s in keys}) == 21
    assert keys[5][1] == sample_seed(0, 5)
    ordered = list(itertools.islice(iter(InfiniteSampler(4, seed=0, batch_size=2, shuffle=False)), 8))
    assert [i for i, _ in ordered] == [0, 1, 2, 3, 0, 1, 2, 3]


def test_sampler_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="rank"):
        InfiniteSampler(4, seed=0, batch_size=2, rank=2, world_size=2)
