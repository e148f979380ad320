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
from typing import Literal, get_args

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
        self.pool = nn.MaxPool3d((1, 2, 2), stride=(1, 2, 2), ceil_mode=True)
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

    def embed(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """θ(x), φ(x̂), g(x̂) as tokens: (G, N, dq), (G, M, dq), (G, M, d), for x of shape (B, C, T, H, W)."""
        pool = self.pool if self.subsample and self.scope != "time" else nn.Identity()
        theta = x if self.theta is None else self.theta(x)  # (B, dq, T, H, W)
        if self.subsample_position == "before":
            xs = pool(x)  # (B, C, T, H', W')
            phi = xs if self.phi is None else self.phi(xs)
            g = self.g(xs)
        else:
            phi = pool(x if self.phi is None else self.phi(x))  # (B, dq, T, H', W')
            g = pool(self.g(x))  # (B, d, T, H', W')
        return to_tokens(theta, self.scope), to_tokens(phi, self.scope), to_tokens(g, self.scope)

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
