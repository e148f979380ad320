"""Non-local block of Wang, Girshick, Gupta and He, "Non-local Neural Networks" (CVPR 2018), Sec. 3.

The block computes ``z = W_z y + x`` (Eq. 6) with

    y_i = 1 / C(x̂) · Σ_j f(x_i, x̂_j) g(x̂_j)                              (Eq. 1, Sec. 3.3)

where ``x̂`` is ``x`` max-pooled 2× in space when ``subsample`` is on (Sec. 3.3). ``f`` is one of the four
instantiations of Sec. 3.2:

* ``gaussian``            f = exp(x_iᵀ x̂_j),            C = Σ_j f       (Eq. 2)
* ``embedded_gaussian``   f = exp(θ(x_i)ᵀ φ(x̂_j)),      C = Σ_j f       (Eq. 3)
* ``dot_product``         f = θ(x_i)ᵀ φ(x̂_j),           C = M           (Eq. 4)
* ``concatenation``       f = ReLU(w_fᵀ [θ(x_i); φ(x̂_j)]), C = M         (Eq. 5)

``M`` is the number of positions of ``x̂``: Sec. 3.3 rewrites Eq. 1 with ``C(x̂)``, so the "number of
positions" of Eqs. 4-5 is the number of key positions, which is also what the authors' code divides by.

Each instantiation has two computations that agree in outputs and gradients (tested):

* ``naive``: the equations as written, with the (N, M) matrix of f (and, for concatenation, the
  (N, M, 2d) tensor of concatenated pairs).
* ``fast``: the Gaussian kinds are exactly scaled-dot-product attention with an explicit scale
  (``torch.nn.functional.scaled_dot_product_attention``: flash / memory-efficient kernels, never the
  (N, M) matrix on the kernels that support it; on CPU, maps whose matrix is under 16 MB use a fused
  softmax instead, which is faster there); dot product uses associativity,
  ``(θ φᵀ / M) g = θ (φᵀ g) / M``, O(N·d²) instead of O(N·M·d), unless there are so few keys that the
  (N, M) order costs fewer multiply-adds; concatenation uses
  ``w_fᵀ[θ_i; φ_j] = a_i + b_j`` and sorts the b_j, so that ``Σ_j ReLU(a_i + b_j) g_j`` is read off two
  suffix sums, O((N + M)·d) memory and no (N, M) matrix at all.

  Two further exact rewrites cut what the fast path keeps for backward (the block's activations, not the
  pairwise term, dominate its memory once the (N, M) matrix is gone):

  - the 2× spatial max pools after φ and g keep only each window's argmax offset, one byte
    (:func:`max_pool_keeping_indices`), not their full-resolution input, which is otherwise dead
    (2·N·d values); from ``KEEP_OFFSETS_ENTRIES`` input entries up, below which the native pool is faster;
  - the dot product folds W_z into the products: with A = s·φᵀg / M (dq × d per group) and
    θ = W_θ x + b_θ, ``W_z y + b_z = K x + b'`` with ``K = W_z Aᵀ W_θ`` and ``b' = W_z Aᵀ b_θ + b_z``
    (C × C and C per group), so θ and y (N × d each) are never built. Taken when the K are no larger than
    θ and cost no more multiply-adds (:meth:`NonLocalBlock.folds_w_z`): the spacetime scope (one K per
    clip) and the space scope (one per frame) on all but small frames; never the time scope.

Where the paper and the authors' Caffe2 code differ, both are options and the paper is the default:

* ``subsample_position="after"`` pools after φ and g (Sec. 3.3); ``"before"`` pools x before φ and g.
* ``scale=False`` uses θᵀφ as written; ``True`` multiplies it by d^-0.5 as the released models do.
* ``norm="bn"`` puts BN with γ = 0 after W_z (Sec. 4.1); ``"none"`` drops that BN and zero-initialises W_z
  (the authors' choice for the frozen-BN 128-frame fine-tune of Table 2g).
* ``init="kaiming"`` initialises θ, φ, g (and w_f) with He et al. [20] (Sec. 4.1); ``"normal"`` uses
  N(0, 0.01) as the authors' code.

Scopes (Table 2d): ``spacetime`` attends over all T·H·W positions; ``space`` only within each frame
(T is folded into the batch); ``time`` only along t at a fixed (h, w) (H·W is folded into the batch).
Subsampling pools the spatial axes of the attended set, so a ``time`` block has nothing to pool and
never mixes positions.
"""

from __future__ import annotations

import math
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Instantiation = Literal["gaussian", "embedded_gaussian", "dot_product", "concatenation"]
Scope = Literal["spacetime", "space", "time"]
SubsamplePosition = Literal["after", "before"]
Norm = Literal["bn", "none"]
Init = Literal["kaiming", "normal"]
Implementation = Literal["fast", "naive"]

INSTANTIATIONS: tuple[str, ...] = get_args(Instantiation)
SCOPES: tuple[str, ...] = get_args(Scope)
SOFTMAX_KINDS = ("gaussian", "embedded_gaussian")


def _check(value: str, allowed: tuple[str, ...], name: str) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def to_5d(x: Tensor) -> Tensor:
    """View a sequence (B, C, L) as (B, C, 1, 1, L) and an image (B, C, H, W) as (B, C, 1, H, W)."""
    if x.dim() == 5:
        return x
    if x.dim() == 4:
        return x.unsqueeze(2)
    if x.dim() == 3:
        return x[:, :, None, None, :]
    raise ValueError(
        f"NonLocalBlock expects (B, C, L), (B, C, H, W) or (B, C, T, H, W); got {tuple(x.shape)}"
    )


def to_tokens(x: Tensor, scope: Scope) -> Tensor:
    """Fold the positions a block attends over into rows: (B, C, T, H, W) -> (G, P, C)."""
    b, c, t, h, w = x.shape
    if scope == "spacetime":
        return x.flatten(2).transpose(1, 2)  # (B, T·H·W, C)
    if scope == "space":
        return x.permute(0, 2, 3, 4, 1).reshape(b * t, h * w, c)  # (B·T, H·W, C)
    return x.permute(0, 3, 4, 2, 1).reshape(b * h * w, t, c)  # (B·H·W, T, C)


def from_tokens(y: Tensor, scope: Scope, shape: tuple[int, int, int, int]) -> Tensor:
    """Inverse of :func:`to_tokens` for the query positions: (G, P, d) -> (B, d, T, H, W)."""
    b, t, h, w = shape
    d = y.shape[-1]
    if scope == "spacetime":
        return y.transpose(1, 2).reshape(b, d, t, h, w)
    if scope == "space":
        return y.reshape(b, t, h, w, d).permute(0, 4, 1, 2, 3)
    return y.reshape(b, h, w, t, d).permute(0, 4, 3, 1, 2)


# --- the pairwise computations: q (G, N, dq), k (G, M, dq), v (G, M, d) -> (G, N, d) ------------------


def naive_weights(
    q: Tensor, k: Tensor, instantiation: Instantiation, scale: float, w_f: Tensor | None = None
) -> Tensor:
    """The normalised pairwise weights f(x_i, x̂_j) / C(x̂) exactly as Eqs. 2-5 write them: (G, N, M)."""
    m = k.shape[1]
    if instantiation == "concatenation":
        assert w_f is not None
        n, d = q.shape[1], q.shape[2]
        pairs = torch.cat(  # (G, N, M, 2d): [θ_i; φ_j] for every pair
            [q[:, :, None, :].expand(-1, n, m, d), k[:, None, :, :].expand(-1, n, m, d)], dim=-1
        )
        return F.relu(pairs @ w_f) / m  # (G, N, M)
    logits = (q @ k.transpose(1, 2)) * scale  # (G, N, M): x_iᵀx̂_j or θ_iᵀφ_j
    if instantiation == "dot_product":
        return logits / m
    f = torch.exp(logits - logits.amax(dim=-1, keepdim=True))  # exp(.) up to a constant that C cancels
    return f / f.sum(dim=-1, keepdim=True)  # (G, N, M)


def naive_attend(
    q: Tensor, k: Tensor, v: Tensor, instantiation: Instantiation, scale: float, w_f: Tensor | None = None
) -> Tensor:
    return naive_weights(q, k, instantiation, scale, w_f) @ v  # (G, N, d)


# On CPU, below this many entries of the (G, N, M) softmax matrix (16 MB in float32), materialising it with
# a fused softmax beats the flash kernel, whose fixed costs dominate small maps (res4 of a 32-frame clip:
# 1.3-1.5× faster; docs/benchmarks.md). Above it the flash kernel is faster and needs no (N, M) matrix.
CPU_MATERIALISE_ENTRIES = 1 << 22


def fast_attend(
    q: Tensor, k: Tensor, v: Tensor, instantiation: Instantiation, scale: float, w_f: Tensor | None = None
) -> Tensor:
    if instantiation in SOFTMAX_KINDS:
        return _softmax_attend(q, k, v, scale)
    if instantiation == "dot_product":
        return _dot_attend(q, k, v, scale)
    assert w_f is not None
    return _concat_attend(q, k, v, w_f)


def _dot_attend(q: Tensor, k: Tensor, v: Tensor, scale: float) -> Tensor:
    """(θ φᵀ / M) g in whichever order costs fewer multiply-adds: θ (φᵀ g) / M unless there are few keys.

    The scale goes on the smaller operand, and the result is computed channel-first (see
    :func:`_channel_first`).
    """
    n, dq = q.shape[1], q.shape[2]
    m, d = v.shape[1], v.shape[2]
    if n * m * (dq + d) <= (n + m) * dq * d:  # few keys: the (N, M) matrix is smaller than θ itself
        return _channel_first((q @ k.transpose(1, 2)) * (scale / m), v)
    kv = (k.transpose(1, 2) @ v) * (scale / m)  # (G, dq, d): φᵀg / M, summed over the M keys
    return (kv.transpose(1, 2) @ q.transpose(1, 2)).transpose(1, 2)  # (G, N, d), channel-first in memory


def _channel_first(weights: Tensor, v: Tensor) -> Tensor:
    """``weights @ v`` (G, N, d) computed as (vᵀ weightsᵀ)ᵀ: stored as (G, d, N), the layout of the W_z
    convolution's input, so that :func:`from_tokens` is a view and the convolution copies nothing."""
    return (v.transpose(1, 2) @ weights.transpose(1, 2)).transpose(1, 2)  # (G, N, d)


def _softmax_attend(q: Tensor, k: Tensor, v: Tensor, scale: float) -> Tensor:
    g, n, dq = q.shape
    m, d = k.shape[1], v.shape[-1]
    if q.device.type == "cpu" and g * n * m <= CPU_MATERIALISE_ENTRIES:
        return _channel_first(torch.softmax((q @ k.transpose(1, 2)) * scale, dim=-1), v)  # (G, N, d)
    if d < dq:
        # The Gaussian's values (C/2 channels) are narrower than its raw-x keys (C channels). The fused
        # SDPA kernels want equal widths; zero columns cost less than falling back to the math kernel.
        v = F.pad(v, (0, dq - d))  # (G, M, dq)
    # The fused kernels need unit stride on the channel axis; to_tokens gives transposed views, with
    # which SDPA silently runs its math kernel and builds the (N, M) matrix.
    k, v = k.contiguous(), v.contiguous()
    splits = _query_splits(q)
    if n % splits:
        q = F.pad(q, (0, 0, 0, splits - n % splits))  # (G, N', dq): zero queries, sliced off below
    qh = q.reshape(g, splits, -1, dq).contiguous()  # (G, P, N'/P, dq): query chunks as "heads"
    kh = k.unsqueeze(1).expand(g, splits, m, dq)  # (G, P, M, dq): the same keys for every chunk
    vh = v.unsqueeze(1).expand(g, splits, m, dq)  # (G, P, M, dq)
    y = F.scaled_dot_product_attention(qh, kh, vh, scale=scale)  # (G, P, N'/P, dq)
    return y.reshape(g, -1, dq)[:, :n, :d]  # (G, N, d)


def _query_splits(q: Tensor) -> int:
    """How many chunks of queries SDPA should see as heads: 1 on GPU; on CPU enough to use every thread.

    Rows of attention are independent given the keys, so the split is exact. It matters on CPU, whose
    flash kernel parallelises its backward over batch × heads only: a single clip with one head would
    run the backward on one thread (about 3× slower than the math kernel on 2 threads). Capped at 8,
    because every chunk gets its own key and value gradients before autograd sums them.
    """
    if q.device.type != "cpu":
        return 1
    return max(1, min(8, torch.get_num_threads() // q.shape[0]))


def _concat_attend(q: Tensor, k: Tensor, v: Tensor, w_f: Tensor) -> Tensor:
    """Σ_j ReLU(a_i + b_j) v_j / M with a = θ w_θ, b = φ w_φ, without the (N, M) matrix.

    ReLU(a_i + b_j) = (a_i + b_j)·[b_j > -a_i], so with the keys sorted by b the sum is
    a_i · S_v(-a_i) + S_bv(-a_i), where S_v(t) = Σ_{b_j > t} v_j and S_bv(t) = Σ_{b_j > t} b_j v_j are
    suffix sums. Ties b_j = -a_i contribute ReLU(0) = 0 either way.
    """
    dq = q.shape[-1]
    g, m, d = v.shape
    a = q @ w_f[:dq]  # (G, N)
    b = k @ w_f[dq:]  # (G, M)
    b_sorted, order = torch.sort(b, dim=1)  # (G, M)
    v_sorted = torch.gather(v, 1, order.unsqueeze(-1).expand(g, m, d))  # (G, M, d)
    bv = b_sorted.unsqueeze(-1) * v_sorted  # (G, M, d)
    zero = v.new_zeros(g, 1, d)
    s_v = torch.cat([v_sorted.flip(1).cumsum(1).flip(1), zero], dim=1)  # (G, M+1, d): Σ_{j'≥j}
    s_bv = torch.cat([bv.flip(1).cumsum(1).flip(1), zero], dim=1)  # (G, M+1, d)
    first = torch.searchsorted(
        b_sorted.detach().contiguous(), (-a).detach().contiguous(), right=True
    )  # (G, N)
    idx = first.unsqueeze(-1).expand(-1, -1, d)  # (G, N, d)
    y = a.unsqueeze(-1) * torch.gather(s_v, 1, idx) + torch.gather(s_bv, 1, idx)  # (G, N, d)
    return y / m


# --- the fast path's memory savings: an index-only max pool and W_z folded into the dot product ---------

POOL_KERNEL = (1, 2, 2)  # the 2× spatial subsampling of Sec. 3.3; stride = kernel, ceil mode
# From this many input entries up (4 MB in float32) the fast path's pools keep only argmax offsets; below,
# the memory saved is small and autograd's native max pool is 5-15% faster per block step on CPU (res4 of
# a 32-frame clip, docs/benchmarks.md).
KEEP_OFFSETS_ENTRIES = 1 << 20


class _MaxPoolKeepingIndices(torch.autograd.Function):
    """``F.max_pool3d`` with stride = kernel and ceil mode whose backward keeps only where each max was.

    PyTorch's max-pool backward computes ``grad_x[b, c, i] = Σ_{o: idx[b, c, o] = i} grad_y[b, c, o]``
    (indices flat over T·H·W, ties resolved by the forward's choice of index): a scatter-add of the output
    gradient at the indices, for which the input's shape is enough. Autograd's own max pool also keeps its
    input. With stride = kernel the windows are disjoint, so every input position receives at most one
    term and the sum is bit-for-bit PyTorch's. The indices are kept as the argmax's offset inside its
    window, one byte each instead of eight, and turned back into flat indices in backward.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, kernel: tuple[int, int, int]) -> Tensor:
        y, idx = F.max_pool3d(x, kernel, kernel, ceil_mode=True, return_indices=True)  # (B, C, T', H', W')
        ctx.save_for_backward(_window_offsets(idx, x.shape[2:], kernel))
        ctx.input_shape, ctx.kernel = x.shape, kernel
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (offsets,) = ctx.saved_tensors  # (B, C, T', H', W') uint8
        b, c, t, h, w = ctx.input_shape
        idx = _flat_indices(offsets, (t, h, w), ctx.kernel)  # (B, C, T', H', W'): into T·H·W
        grad_x = grad.new_zeros(b, c, t * h * w)  # (B, C, T·H·W)
        grad_x.scatter_add_(2, idx.flatten(2), grad.flatten(2))  # in place: no second full-resolution tensor
        return grad_x.view(b, c, t, h, w), None


def _window_origins(
    out_shape: torch.Size, kernel: tuple[int, int, int], device: torch.device
) -> tuple[Tensor, Tensor, Tensor]:
    """The first input t, y, x of every output window: (T', 1, 1), (1, H', 1), (1, 1, W')."""
    t0, y0, x0 = (
        (torch.arange(n, device=device) * k).view([-1 if d == axis else 1 for d in range(3)])
        for axis, (n, k) in enumerate(zip(out_shape, kernel, strict=True))
    )
    return t0, y0, x0


def _window_offsets(idx: Tensor, size: torch.Size, kernel: tuple[int, int, int]) -> Tensor:
    """Flat indices into T·H·W (B, C, T', H', W') -> each one's offset inside its window, as uint8."""
    _, h, w = size
    _, kh, kw = kernel
    t0, y0, x0 = _window_origins(idx.shape[2:], kernel, idx.device)
    dt, dy, dx = idx // (h * w) - t0, idx // w % h - y0, idx % w - x0
    return ((dt * kh + dy) * kw + dx).to(torch.uint8)  # < kt·kh·kw = 4 for the (1, 2, 2) pool


def _flat_indices(offsets: Tensor, size: tuple[int, int, int], kernel: tuple[int, int, int]) -> Tensor:
    """The inverse of :func:`_window_offsets`: (B, C, T', H', W') uint8 -> flat int64 indices into T·H·W."""
    _, h, w = size
    _, kh, kw = kernel
    t0, y0, x0 = _window_origins(offsets.shape[2:], kernel, offsets.device)
    off = offsets.long()
    return ((t0 + off // (kh * kw)) * h + y0 + off // kw % kh) * w + x0 + off % kw


def max_pool_keeping_indices(x: Tensor, kernel: tuple[int, int, int] = POOL_KERNEL) -> Tensor:
    """``nn.MaxPool3d(kernel, stride=kernel, ceil_mode=True)(x)`` that keeps only argmax offsets for
    backward: (B, C, T, H, W) -> (B, C, T', H', W'); same values and gradients."""
    if kernel[0] * kernel[1] * kernel[2] > 256:
        raise ValueError(f"max pool window {kernel}: at most 256 positions (offsets are kept as bytes)")
    out: Tensor = _MaxPoolKeepingIndices.apply(x, kernel)
    return out


def _grouped(x: Tensor, scope: Scope) -> Tensor:
    """(B, C, T, H, W) -> (B, C, T', P): the positions of each group of a spacetime (T' = 1, P = T·H·W) or
    space (T' = T, P = H·W) block along the last axis; a view for contiguous and channels-last x."""
    if scope == "spacetime":
        return x.flatten(2).unsqueeze(2)  # (B, C, 1, T·H·W)
    return x.flatten(3)  # (B, C, T, H·W)


def _per_group_map(k: Tensor, bias: Tensor, x: Tensor) -> Tensor:
    """``z[b, :, t] = k[b, t] x[b, :, t] + bias[b, t]``: k (B, T', C', C), bias (B, T', C'), x (B, C, T', P)
    -> (B, C', T', P). Backward keeps k and views of x only."""
    if x.shape[2] == 1:
        return torch.baddbmm(bias[:, 0, :, None], k[:, 0], x.squeeze(2)).unsqueeze(2)  # (B, C', 1, P)
    per_clip = [  # each (C', T', P): one batched product over the frames of a clip
        torch.baddbmm(bias_b[:, :, None], k_b, x_b.transpose(0, 1)).transpose(0, 1)
        for k_b, bias_b, x_b in zip(k.unbind(0), bias.unbind(0), x.unbind(0), strict=True)
    ]
    return torch.stack(per_clip)  # (B, C', T', P)


class NonLocalBlock(nn.Module):
    """``z = BN(W_z y) + x`` around the non-local operation of Eq. 1; the identity at initialisation."""

    def __init__(
        self,
        in_channels: int,
        *,
        instantiation: Instantiation = "embedded_gaussian",
        scope: Scope = "spacetime",
        subsample: bool = True,
        subsample_position: SubsamplePosition = "after",
        inner_channels: int | None = None,
        scale: bool = False,
        norm: Norm = "bn",
        init: Init = "kaiming",
        implementation: Implementation = "fast",
    ) -> None:
        super().__init__()
        _check(instantiation, INSTANTIATIONS, "instantiation")
        _check(scope, SCOPES, "scope")
        _check(subsample_position, get_args(SubsamplePosition), "subsample_position")
        _check(norm, get_args(Norm), "norm")
        _check(init, get_args(Init), "init")
        _check(implementation, get_args(Implementation), "implementation")
        if scale and instantiation == "concatenation":
            raise ValueError("scale multiplies the dot product θᵀφ; the concatenation instantiation has none")
        self.in_channels = in_channels
        self.inner_channels = inner_channels or max(1, in_channels // 2)
        self.instantiation: Instantiation = instantiation
        self.scope: Scope = scope
        self.subsample = subsample
        self.subsample_position: SubsamplePosition = subsample_position
        self.use_scale = scale
        self.norm: Norm = norm
        self.init: Init = init
        self.implementation: Implementation = implementation

        d = self.inner_channels
        embedded = instantiation != "gaussian"
        self.theta = nn.Conv3d(in_channels, d, 1) if embedded else None
        self.phi = nn.Conv3d(in_channels, d, 1) if embedded else None
        self.g = nn.Conv3d(in_channels, d, 1)
        self.w_f = nn.Parameter(torch.empty(2 * d)) if instantiation == "concatenation" else None
        self.w_z = nn.Conv3d(d, in_channels, 1)
        self.bn = nn.BatchNorm3d(in_channels) if norm == "bn" else None
        self.pool = nn.MaxPool3d(POOL_KERNEL, stride=POOL_KERNEL, ceil_mode=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for conv in (self.theta, self.phi, self.g):
            if conv is not None:
                self._init_weight(conv.weight)
                assert conv.bias is not None
                nn.init.zeros_(conv.bias)
        if self.w_f is not None:
            self._init_weight(self.w_f)
        assert self.w_z.bias is not None
        nn.init.zeros_(self.w_z.bias)
        if self.bn is not None:
            self._init_weight(self.w_z.weight)
            nn.init.zeros_(self.bn.weight)  # γ = 0 (Sec. 4.1, following [17]): the block starts as identity
            nn.init.zeros_(self.bn.bias)
        else:
            nn.init.zeros_(self.w_z.weight)  # no BN to zero: W_z = 0 makes the block the identity

    def _init_weight(self, weight: Tensor) -> None:
        if self.init == "normal":
            nn.init.normal_(weight, std=0.01)
        elif weight.dim() == 1:  # w_f projects [θ; φ] (2d values) to one scalar
            nn.init.normal_(weight, std=math.sqrt(2.0 / weight.numel()))
        else:
            nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="relu")

    @property
    def similarity_scale(self) -> float:
        """The factor on θᵀφ (or xᵀx̂): 1 in the paper, d^-0.5 in the authors' code."""
        if not self.use_scale:
            return 1.0
        width = self.inner_channels if self.theta is not None else self.in_channels
        return width**-0.5

    def subsample_keys(self, x: Tensor, keep_offsets: bool = True) -> Tensor:
        """x̂: ``x`` (B, C, T, H, W) max-pooled 2× in space when subsampling applies -> (B, C, T, H', W').

        The naive implementation uses ``self.pool`` (autograd's max pool, which keeps its input for
        backward); the fast one :func:`max_pool_keeping_indices`, same values and gradients, which keeps
        only the argmax offsets, for inputs of at least ``KEEP_OFFSETS_ENTRIES`` entries whose only other
        use is this pool (``keep_offsets``: φ(x) and g(x); not x itself, which the block keeps anyway).
        """
        if not self.subsample or self.scope == "time":
            return x
        if self.implementation == "fast" and keep_offsets and x.numel() >= KEEP_OFFSETS_ENTRIES:
            return max_pool_keeping_indices(x)
        return self.pool(x)

    def keys_values(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """φ(x̂), g(x̂) for x of shape (B, C, T, H, W): (B, dq, T, H', W'), (B, d, T, H', W')."""
        if self.subsample_position == "before":
            xs = self.subsample_keys(x, keep_offsets=False)  # (B, C, T, H', W'): x stays alive anyway
            return (xs if self.phi is None else self.phi(xs)), self.g(xs)
        phi = self.subsample_keys(x if self.phi is None else self.phi(x))  # (B, dq, T, H', W')
        return phi, self.subsample_keys(self.g(x))  # (B, d, T, H', W')

    def embed(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """θ(x), φ(x̂), g(x̂) as tokens: (G, N, dq), (G, M, dq), (G, M, d), for x of shape (B, C, T, H, W)."""
        theta = x if self.theta is None else self.theta(x)  # (B, dq, T, H, W)
        phi, g = self.keys_values(x)
        return to_tokens(theta, self.scope), to_tokens(phi, self.scope), to_tokens(g, self.scope)

    def folds_w_z(self, x: Tensor) -> bool:
        """Whether the fast dot product computes ``W_z y + b_z`` as ``K x + b'`` for x (B, C, T, H, W).

        One K (C × C) per group replaces θ and y (N × d each, over the batch). Taken when that lowers both
        what is built and the multiply-adds: ``G·C² ≤ N·d`` (the K are no larger than θ) and
        ``N·C² + G·C·dq·(C + d) ≤ N·(dq·(C + d) + d·C)`` (K x and K = (W_z Aᵀ) W_θ against θ, θA and W_z; the
        φᵀg both pay). With d = dq = C/2 that is G·C ≤ N/3: the spacetime scope (one K per clip) and the
        space scope (one per frame) on frames of at least 3·C positions. The time scope has one group per
        (b, h, w) and would need x regrouped (a copy): never folded.
        """
        if self.implementation != "fast" or self.instantiation != "dot_product" or self.scope == "time":
            return False
        b, c, t, h, w = x.shape
        n, groups = b * t * h * w, (b if self.scope == "spacetime" else b * t)
        d = dq = self.inner_channels
        folded_macs = n * c * c + groups * c * dq * (c + d)
        plain_macs = n * (dq * (c + d) + d * c)
        return groups * c * c <= n * d and folded_macs <= plain_macs

    def folded_w_z(self, x: Tensor) -> Tensor:
        """``W_z y + b_z`` of the dot product, ``K x + b'`` per group: (B, C, T, H, W) -> (B, C, T, H, W).

        Per group, y = θ A with A = s·φᵀg / M (dq × d) and θ = W_θ x + b_θ, so channel-first
        ``W_z yᵀ + b_z = (W_z Aᵀ W_θ) x + (W_z Aᵀ b_θ + b_z)``: the same sums in another order.
        """
        assert self.theta is not None and self.theta.bias is not None and self.w_z.bias is not None
        phi, g = self.keys_values(x)  # (B, dq, T, H', W'), (B, d, T, H', W')
        phi_g, g_g = _grouped(phi, self.scope), _grouped(g, self.scope)  # (B, dq, T', M), (B, d, T', M)
        m = phi_g.shape[-1]
        a = (phi_g.transpose(1, 2) @ g_g.permute(0, 2, 3, 1)) * (self.similarity_scale / m)  # (B, T', dq, d)
        w_theta = self.theta.weight.flatten(1)  # (dq, C)
        wa = self.w_z.weight.flatten(1) @ a.transpose(2, 3)  # (B, T', C, dq): W_z Aᵀ
        k = wa @ w_theta  # (B, T', C, C)
        bias = wa @ self.theta.bias + self.w_z.bias  # (B, T', C)
        return _per_group_map(k, bias, _grouped(x, self.scope)).reshape(x.shape)  # (B, C, T, H, W)

    def pairwise_weights(self, x: Tensor) -> Tensor:
        """The normalised weights f(x_i, x̂_j) / C(x̂) of Eq. 1 for input ``x``: (G, N, M).

        Rows are query positions and columns key positions in the order of :func:`to_tokens` for this
        block's scope; keys are on the subsampled grid when ``subsample`` is on.
        """
        q, k, _ = self.embed(to_5d(x))
        return naive_weights(q, k, self.instantiation, self.similarity_scale, self.w_f)

    def forward(self, x: Tensor) -> Tensor:
        x5 = to_5d(x)  # (B, C, T, H, W)
        b, _, t, h, w = x5.shape
        if self.folds_w_z(x5):
            z = self.folded_w_z(x5)  # (B, C, T, H, W): W_z y + b_z without θ or y
        else:
            q, k, v = self.embed(x5)
            attend = fast_attend if self.implementation == "fast" else naive_attend
            y = attend(q, k, v, self.instantiation, self.similarity_scale, self.w_f)  # (G, N, d)
            z = self.w_z(from_tokens(y, self.scope, (b, t, h, w)))  # (B, C, T, H, W)
        if self.bn is not None:
            z = self.bn(z)
        return (z + x5).reshape(x.shape)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, inner={self.inner_channels}, instantiation={self.instantiation}, "
            f"scope={self.scope}, subsample={self.subsample} ({self.subsample_position}), "
            f"scale={self.use_scale}, norm={self.norm}, implementation={self.implementation}"
        )
