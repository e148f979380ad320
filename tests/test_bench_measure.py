"""The benchmarks' building blocks: CPU peak memory, feature-map shapes, memory estimates, the fast paths'
branches (each one against the naive formula)."""

from __future__ import annotations

import pytest
import torch

import nlx.models.non_local as nl
from nlx.bench.measure import cpu_peak_memory, peak_of
from nlx.bench.nonlocal_block import estimate_bytes, paper_feature_maps

MB = 2**20


def test_peak_of_is_the_running_maximum() -> None:
    assert peak_of([(0, 10, 1), (1, 5, 2), (2, -10, 1), (3, 20, 3), (4, -25, 2)]) == 25
    assert peak_of([(3, -5, 2), (1, 10, 1), (2, 5, 2), (2, -10, 1)]) == 15  # sorted by time, stable
    assert peak_of([(0, -50, 9), (1, 10, 1)]) == 10  # freeing older memory does not count
    assert peak_of([]) == 0


def test_cpu_peak_memory_sees_a_transient_allocation() -> None:
    def work() -> None:
        a = torch.ones(10 * MB // 4)  # 10 MB
        b = torch.ones(20 * MB // 4)  # 20 MB: 30 MB live
        del a
        c = torch.ones(5 * MB // 4)  # 25 MB live
        del b, c

    peak = cpu_peak_memory(work)
    assert 30 * MB <= peak < 31 * MB


def test_paper_feature_maps() -> None:
    maps = {(m.frames, m.stage): m for m in paper_feature_maps([32, 128], ["res2", "res3", "res4"])}
    assert [(m.channels, m.t, m.h, m.w) for m in (maps[32, "res2"], maps[32, "res3"], maps[32, "res4"])] == [
        (256, 8, 55, 55),
        (512, 4, 28, 28),
        (1024, 4, 14, 14),
    ]
    assert (maps[128, "res2"].t, maps[128, "res3"].t, maps[128, "res4"].t) == (32, 16, 16)
    assert maps[32, "res2"].keys == 8 * 28 * 28  # ceil(55 / 2) = 28, as the block pools


def test_estimates_order_the_paths() -> None:
    res3 = {m.frames: m for m in paper_feature_maps([32, 128], ["res3"])}
    for inst in nl.INSTANTIATIONS:
        assert estimate_bytes(res3[128], inst, "fast", 1, 4) < estimate_bytes(res3[128], inst, "naive", 1, 4)
        assert estimate_bytes(res3[128], inst, "fast", 2, 4) == 2 * estimate_bytes(
            res3[128], inst, "fast", 1, 4
        )
    # the naive concatenation at res3 of a 128-frame clip: two (N, M, 2d) float32 tensors, > 100 GB
    assert estimate_bytes(res3[128], "concatenation", "naive", 1, 4) > 100 * 2**30
    assert estimate_bytes(res3[128], "embedded_gaussian", "fast", 1, 4) < 2**30


def _grads(fn, tensors, probe):  # type: ignore[no-untyped-def]
    for t in tensors:
        t.grad = None
    y = fn()
    y.backward(probe)
    return y.detach(), [t.grad.clone() for t in tensors]


@pytest.mark.parametrize("inst", ["gaussian", "embedded_gaussian", "dot_product"])
@pytest.mark.parametrize("materialise", [True, False])
@pytest.mark.parametrize("keys", [3, 40])
def test_fast_branches_equal_naive(monkeypatch, inst: str, materialise: bool, keys: int) -> None:
    """Both CPU branches of the softmax kinds (fused softmax, SDPA with query chunks, an odd N so that the
    chunks are padded) and both association orders of the dot product agree with the naive formula."""
    monkeypatch.setattr(nl, "CPU_MATERIALISE_ENTRIES", 1 << 40 if materialise else 0)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    g, n, d = 2, 37, 6
    dq = 2 * d if inst == "gaussian" else d
    q = torch.randn(g, dq, n, dtype=torch.float64).transpose(1, 2).requires_grad_(True)  # as to_tokens
    k = torch.randn(g, keys, dq, dtype=torch.float64, requires_grad=True)
    v = torch.randn(g, keys, d, dtype=torch.float64, requires_grad=True)
    probe = torch.randn(g, n, d, dtype=torch.float64)
    fast = _grads(lambda: nl.fast_attend(q, k, v, inst, 0.3), (q, k, v), probe)  # type: ignore[arg-type]
    naive = _grads(lambda: nl.naive_attend(q, k, v, inst, 0.3), (q, k, v), probe)  # type: ignore[arg-type]
    torch.testing.assert_close(fast[0], naive[0], rtol=1e-9, atol=1e-10)
    for a, b in zip(fast[1], naive[1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
