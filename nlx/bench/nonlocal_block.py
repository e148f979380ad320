"""``nlx bench nonlocal``: the non-local block's fast paths against the naive formula.

For every instantiation and every feature map (res2/res3/res4 of a C2D ResNet-50 in the paper layout, for
clips of the given lengths), one block (spacetime scope, subsampling on, the paper's other defaults) runs
forward + backward with ``implementation="fast"`` and with an identical copy set to ``"naive"``. Two peak
memories are measured:

* ``block``: the whole block (θ, φ, g, W_z, BN, the residual) — what a network pays;
* ``op``: only the pairwise computation ``y = Σ_j f(x_i, x̂_j) g(x̂_j) / C(x̂)`` on embeddings that already
  exist — the part the two implementations compute differently.

A contender whose estimated peak (:func:`estimate_bytes`) exceeds the memory cap is not run: it is
reported as skipped with the estimate, so that the naive concatenation at res3 of a 128-frame clip (an
(N, M, 2d) tensor of tens of GB) never takes the machine down.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from nlx.bench.measure import (
    GB,
    SpeedOptions,
    alternate,
    median_or_none,
    peak_memory,
    speed_context,
)
from nlx.errors import NlxError
from nlx.models.non_local import INSTANTIATIONS, NonLocalBlock, fast_attend, naive_attend
from nlx.models.registry import create_model

PAPER_STAGES = ("res2", "res3", "res4")
IMPLEMENTATIONS = ("fast", "naive")


@dataclass(frozen=True)
class FeatureMap:
    """The input of a non-local block placed after residual stage ``stage`` for a ``frames``-frame clip."""

    stage: str
    frames: int
    channels: int
    t: int
    h: int
    w: int

    @property
    def positions(self) -> int:
        """N: query positions."""
        return self.t * self.h * self.w

    @property
    def keys(self) -> int:
        """M: key positions after the 2×2 spatial max pool (ceil mode, as the block pools)."""
        return self.t * math.ceil(self.h / 2) * math.ceil(self.w / 2)

    def label(self) -> str:
        return f"{self.frames}f {self.stage}"


def _record_shape(shapes: dict[str, tuple[int, ...]], stage: str) -> Callable[..., None]:
    def hook(_module: object, _inputs: object, out: Tensor) -> None:
        shapes[stage] = tuple(out.shape)

    return hook


def paper_feature_maps(frames: Sequence[int], stages: Sequence[str], size: int = 224) -> list[FeatureMap]:
    """Output shapes of ``stages`` of C2D R50 (paper layout) for clips of ``frames``×``size``², from a
    forward pass on the meta device (no memory, no arithmetic)."""
    unknown = [s for s in stages if s not in ("res2", "res3", "res4", "res5")]
    if unknown:
        raise NlxError(f"--stages: unknown stage {', '.join(unknown)} (known: res2, res3, res4, res5)")
    maps = []
    for n_frames in frames:
        if n_frames < 1:
            raise NlxError(f"--frames must be positive; got {n_frames}")
        shapes: dict[str, tuple[int, ...]] = {}
        with torch.device("meta"):
            model = create_model("c2d_r50")
            for stage in stages:
                getattr(model, stage).register_forward_hook(_record_shape(shapes, stage))
            model(torch.empty(1, 3, n_frames, size, size))
        for stage in stages:
            _, c, t, h, w = shapes[stage]
            maps.append(FeatureMap(stage, n_frames, c, t, h, w))
    return maps


# --- memory model ----------------------------------------------------------------------------------------
# Peak bytes of one forward + backward, in elements, fitted to measurements on CPU (float32, batch 1,
# res3/res4 maps; docs/benchmarks.md): the block's own activations are about 6·N·C elements; the naive
# softmax keeps about 6 (N, M) matrices alive at its peak, the naive dot product 1.5, the naive
# concatenation two (N, M, 2d) tensors (the pairs and their gradient). The estimates err on the high side.

_BLOCK = 7.0  # × N·C: the block's convolutions, pools, BN and residual
_NAIVE_NM = {"gaussian": 7.0, "embedded_gaussian": 7.0, "dot_product": 2.0, "concatenation": 3.0}
_OP_FAST_ND = 8.0  # × (N + M)·dq: embeddings, their gradients and the fused kernels' buffers


def estimate_bytes(fm: FeatureMap, instantiation: str, implementation: str, batch: int, elem: int) -> int:
    """A generous estimate of the peak memory of forward + backward of one block on ``batch`` clips."""
    n, m, c = fm.positions, fm.keys, fm.channels
    d = c // 2
    dq = c if instantiation == "gaussian" else d
    elements = _BLOCK * n * c + _OP_FAST_ND * (n + m) * dq
    if implementation == "naive":
        elements += _NAIVE_NM[instantiation] * n * m
        if instantiation == "concatenation":
            elements += 2 * n * m * 2 * d
    return int(batch * elements * elem)


# --- one measurement -------------------------------------------------------------------------------------


@dataclass
class Case:
    """One block and its input: the callables that run forward + backward of the block and of the op."""

    block: NonLocalBlock
    x: Tensor
    grad: Tensor

    def clear(self) -> None:
        self.block.zero_grad(set_to_none=True)
        self.x.grad = None

    def run(self) -> None:
        self.block(self.x).backward(self.grad)

    def step(self) -> None:
        self.clear()
        self.run()


def _make_block(
    fm: FeatureMap, instantiation: str, device: torch.device, opts: SpeedOptions
) -> NonLocalBlock:
    block = NonLocalBlock(fm.channels, instantiation=instantiation)  # type: ignore[arg-type]
    assert block.bn is not None
    with torch.no_grad():
        block.bn.weight.fill_(1.0)  # off the identity initialisation (γ = 0), as after some training
    block = block.to(device).train()
    if opts.channels_last:
        block = block.to(memory_format=torch.channels_last_3d)
    return block


def _make_cases(
    fm: FeatureMap, instantiation: str, batch: int, device: torch.device, opts: SpeedOptions
) -> dict[str, Case]:
    fast = _make_block(fm, instantiation, device, opts)
    naive = copy.deepcopy(fast)
    naive.implementation = "naive"
    shape = (batch, fm.channels, fm.t, fm.h, fm.w)
    memory_format = torch.channels_last_3d if opts.channels_last else torch.contiguous_format
    x = torch.randn(shape, device=device).to(memory_format=memory_format).requires_grad_(True)
    grad = torch.randn(shape, device=device).to(memory_format=memory_format)
    cases = {}
    for name, block in (("fast", fast), ("naive", naive)):
        run: Any = torch.compile(block) if opts.compile else block
        cases[name] = Case(run, x, grad)
    return cases


def _op_step(
    fm: FeatureMap, instantiation: str, implementation: str, batch: int, device: torch.device
) -> tuple[Callable[[], None], Callable[[], None]]:
    """Forward + backward of only the pairwise computation, on embeddings laid out as the block's are."""
    n, m, c = fm.positions, fm.keys, fm.channels
    d = c // 2
    dq = c if instantiation == "gaussian" else d

    def tokens(rows: int, width: int) -> Tensor:  # (B, rows, width): a transposed view, as to_tokens gives
        return torch.randn(batch, width, rows, device=device).transpose(1, 2).requires_grad_(True)

    q, k, v = tokens(n, dq), tokens(m, dq), tokens(m, d)
    w_f = torch.randn(2 * d, device=device, requires_grad=True) if instantiation == "concatenation" else None
    grad = torch.randn(batch, n, d, device=device)
    attend = fast_attend if implementation == "fast" else naive_attend

    def clear() -> None:
        for t in (q, k, v, w_f):
            if t is not None:
                t.grad = None

    def run() -> None:
        attend(q, k, v, instantiation, 1.0, w_f).backward(grad)  # type: ignore[arg-type]

    return clear, run


def _memory(
    case: Case,
    fm: FeatureMap,
    instantiation: str,
    impl: str,
    batch: int,
    device: torch.device,
    op_memory: bool,
) -> dict[str, Any]:
    """Peak memory of the block and of the op alone, each after a warm-up run (so that one-time allocations,
    such as weight reorders, do not count) and with the previous gradients freed before the measured run;
    a CUDA out-of-memory error is a result, not a crash."""
    try:
        case.step()
        case.clear()
        out: dict[str, Any] = {"status": "ok", "peak_bytes": peak_memory(case.run, device)}
        if op_memory:
            clear, run = _op_step(fm, instantiation, impl, batch, device)
            run()
            clear()
            out["op_peak_bytes"] = peak_memory(run, device)
        return out
    except torch.OutOfMemoryError:
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return {"status": "oom", "reason": "out of memory"}


def _skip(estimate: int, cap: int) -> dict[str, Any]:
    return {
        "status": "skipped",
        "reason": f"needs ~{estimate / GB:.1f} GB > cap {cap / GB:.1f} GB",
        "estimated_bytes": estimate,
    }


def bench_case(
    fm: FeatureMap,
    instantiation: str,
    *,
    batch: int,
    repeat: int,
    device: torch.device,
    cap: int,
    opts: SpeedOptions,
    op_memory: bool = True,
) -> dict[str, Any]:
    """Fast vs naive on one feature map: times, block and op peak memories, and fast/naive ratios."""
    elem = 2 if opts.amp != "off" else 4
    estimates = {impl: estimate_bytes(fm, instantiation, impl, batch, elem) for impl in IMPLEMENTATIONS}
    results: dict[str, dict[str, Any]] = {}
    runnable = [impl for impl in IMPLEMENTATIONS if estimates[impl] <= cap]
    for impl in IMPLEMENTATIONS:
        if impl not in runnable:
            results[impl] = _skip(estimates[impl], cap)
    if runnable:
        cases = _make_cases(fm, instantiation, batch, device, opts)
        with speed_context(device, opts.amp, opts.sdpa):
            for impl in runnable:
                both = len(runnable) == len(IMPLEMENTATIONS)  # the op alone only matters for a ratio
                results[impl] = _memory(
                    cases[impl], fm, instantiation, impl, batch, device, op_memory and both
                )
                results[impl]["estimated_bytes"] = estimates[impl]
            timed = [impl for impl in runnable if results[impl]["status"] == "ok"]
            times = alternate({impl: cases[impl].step for impl in timed}, repeat, device)
        for impl in timed:
            results[impl]["times_s"] = times[impl]
            results[impl]["time_s"] = median_or_none(times[impl])
        del cases
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return {
        "stage": fm.stage,
        "frames": fm.frames,
        "channels": fm.channels,
        "shape": [fm.t, fm.h, fm.w],
        "positions": fm.positions,
        "keys": fm.keys,
        "batch": batch,
        "instantiation": instantiation,
        **results,
        **ratios(results["fast"], results["naive"]),
    }


def ratios(fast: dict[str, Any], naive: dict[str, Any]) -> dict[str, Any]:
    """fast / naive for time and both peak memories; a skipped naive path gives an estimated memory ratio."""
    out: dict[str, Any] = {"time_ratio": None, "memory_ratio": None, "op_memory_ratio": None}
    if fast["status"] != "ok":
        return out
    if naive["status"] == "ok":
        out["time_ratio"] = fast["time_s"] / naive["time_s"]
        out["memory_ratio"] = _safe_div(fast["peak_bytes"], naive["peak_bytes"])
        if "op_peak_bytes" in fast and "op_peak_bytes" in naive:
            out["op_memory_ratio"] = _safe_div(fast["op_peak_bytes"], naive["op_peak_bytes"])
    else:
        out["memory_ratio"] = _safe_div(fast["peak_bytes"], naive["estimated_bytes"])
        out["memory_ratio_estimated"] = True
    return out


def _safe_div(a: float, b: float) -> float | None:
    return a / b if b else None


@contextlib.contextmanager
def flush_denormals(enabled: bool) -> Iterator[None]:
    """Treat denormal floats as zero on CPU while benchmarking (see docs/benchmarks.md: the unscaled
    Gaussian's exp(xᵀx̂) underflows to denormals and runs ~20× slower on x86 without this)."""
    if not enabled:
        yield
        return
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def bench_nonlocal(
    *,
    frames: Sequence[int] = (32, 128),
    stages: Sequence[str] = PAPER_STAGES,
    instantiations: Sequence[str] = INSTANTIATIONS,
    batch: int = 1,
    repeat: int = 3,
    device: torch.device = torch.device("cpu"),
    cap: int = 8 * GB,
    opts: SpeedOptions = SpeedOptions(),
    op_memory: bool = True,
    flush_denormal: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """One row per (feature map, instantiation): see :func:`bench_case`."""
    bad = [i for i in instantiations if i not in INSTANTIATIONS]
    if bad:
        raise NlxError(f"--instantiations: unknown {', '.join(bad)} (known: {', '.join(INSTANTIATIONS)})")
    if batch < 1 or repeat < 1:
        raise NlxError("--batch and --repeat must be positive")
    rows = []
    with flush_denormals(flush_denormal and device.type == "cpu"):
        for fm in paper_feature_maps(frames, stages):
            for inst in instantiations:
                if progress:
                    progress(f"{fm.label()} {inst}")
                rows.append(
                    bench_case(
                        fm,
                        inst,
                        batch=batch,
                        repeat=repeat,
                        device=device,
                        cap=cap,
                        opts=opts,
                        op_memory=op_memory,
                    )
                )
    return rows
