"""Capturing what a non-local block attends to, without touching its forward.

A forward pre-hook, registered only inside :func:`capture_inputs`, keeps a copy of the block's input during
an ordinary forward pass; :func:`block_attention` then asks the block for its normalised pairwise weights
``f(x_i, x̂_j) / C(x̂)`` (:meth:`~nlx.models.non_local.NonLocalBlock.pairwise_weights`) and lays them out as
one dense (queries × keys) matrix over the whole clip, whatever the scope. Outside the context manager the
model has no hook at all, so training and the fast attention paths are untouched.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from nlx.models.non_local import NonLocalBlock, naive_weights, to_5d, to_tokens
from nlx.visualize.geometry import Grid, key_grid

# Concatenation's weights build a (G, N, M, 2d) tensor of pairs; above this many elements the rows are
# computed in chunks (each row of Eqs. 2-5 depends only on its query and all keys, so chunks are exact).
PAIR_BUDGET = 1 << 25


@dataclass(frozen=True)
class Attention:
    """The normalised pairwise weights of one block on one clip, as a dense (N, M) matrix.

    Rows are the query cells of ``query_grid`` and columns the key cells of ``key_grid``, both in row-major
    (t, h, w) order. ``valid`` marks the pairs the block's scope relates (spacetime: all; space: same t;
    time: same (h, w)); the others are 0 in ``weights`` and never chosen as targets.
    """

    block: str
    instantiation: str
    scope: str
    query_grid: Grid
    key_grid: Grid
    weights: Tensor  # (N, M) float32 on the CPU: f/C as the block computes it
    valid: Tensor  # (N, M) bool

    @property
    def softmax(self) -> bool:
        """Whether each row is a distribution already (the Gaussian kinds)."""
        return self.instantiation in ("gaussian", "embedded_gaussian")

    def shares(self) -> Tensor:
        """Rows as distributions over the valid keys, for display and concentration: (N, M).

        The Gaussian kinds are softmaxes already; dot product and concatenation are scaled by 1/M, not
        normalised (and dot products can be negative), so their rows are clamped at 0 and divided by their
        sum (a row with no positive weight stays 0).
        """
        if self.softmax:
            return self.weights * self.valid
        positive = self.weights.clamp(min=0) * self.valid  # (N, M)
        total = positive.sum(dim=1, keepdim=True)  # (N, 1)
        return torch.where(total > 0, positive / total.clamp(min=1e-30), torch.zeros_like(positive))


@contextmanager
def capture_inputs(model: nn.Module, names: Sequence[str]) -> Iterator[dict[str, Tensor]]:
    """Within the block, the input of each named module of the last forward pass (a detached copy).

    The hooks are removed on exit, also on errors; they change no output (they return None).
    """
    modules = dict(model.named_modules())
    store: dict[str, Tensor] = {}

    def hook(name: str) -> Any:
        def keep(module: nn.Module, args: tuple[Any, ...]) -> None:
            store[name] = args[0].detach().clone()

        return keep

    handles = [modules[name].register_forward_pre_hook(hook(name)) for name in names]
    try:
        yield store
    finally:
        for handle in handles:
            handle.remove()


def pairwise_weights(block: NonLocalBlock, x: Tensor, budget: int = PAIR_BUDGET) -> Tensor:
    """``block.pairwise_weights(x)``: (G, N, M), computed by chunks of rows when concatenation's pair tensor
    would exceed ``budget`` elements."""
    if block.instantiation != "concatenation":
        return block.pairwise_weights(x)
    q, k, _ = block.embed(to_5d(x))  # (G, N, d), (G, M, d)
    g, n, d = q.shape
    rows = max(1, budget // max(1, g * k.shape[1] * 2 * d))
    if rows >= n:
        return block.pairwise_weights(x)
    chunks = [
        naive_weights(q[:, i : i + rows], k, block.instantiation, block.similarity_scale, block.w_f)
        for i in range(0, n, rows)
    ]  # each (G, rows, M)
    return torch.cat(chunks, dim=1)  # (G, N, M)


def dense(weights: Tensor, scope: str, batch: int, qgrid: Grid, kgrid: Grid, index: int = 0) -> Tensor:
    """The (G, N, M) weights of ``to_tokens``' layout → (T·H·W, T·H'·W') for clip ``index`` of the batch."""
    t, h, w = qgrid
    if scope == "spacetime":
        return weights.reshape(batch, t * h * w, -1)[index]  # (N, M)
    if scope == "space":
        per_frame = weights.reshape(batch, t, h * w, kgrid[1] * kgrid[2])[index]  # (T, H·W, H'·W')
        return torch.block_diag(*per_frame)  # (T·H·W, T·H'·W'): frame t's block on the diagonal
    per_position = weights.reshape(batch, h * w, t, t)[index]  # (H·W, T, T): [p, t_query, t_key]
    eye = torch.eye(h * w, dtype=weights.dtype)  # (H·W, H·W)
    return torch.einsum("pts,pq->tpsq", per_position, eye).reshape(t * h * w, t * h * w)  # (N, N)


def _attention(raw: Tensor, block: NonLocalBlock, x5: Tensor, name: str, kind: str, index: int) -> Attention:
    """(G, N, M) weights in ``to_tokens``' layout for input ``x5`` → the dense :class:`Attention`."""
    b, _, t, h, w = x5.shape
    qgrid: Grid = (t, h, w)
    kgrid = key_grid(qgrid, block.subsample and block.scope != "time")
    weights = dense(raw.float().cpu(), block.scope, b, qgrid, kgrid, index)  # (N, M)
    valid = dense(torch.ones_like(raw, dtype=torch.float32).cpu(), block.scope, b, qgrid, kgrid, index) > 0
    return Attention(name, kind, block.scope, qgrid, kgrid, weights, valid)


def block_attention(block: NonLocalBlock, x: Tensor, name: str = "block", index: int = 0) -> Attention:
    """The dense :class:`Attention` of ``block`` for its input ``x`` (B, C, T, H, W), clip ``index``."""
    x5 = to_5d(x)
    with torch.no_grad():
        raw = pairwise_weights(block, x5)  # (G, N, M)
    return _attention(raw, block, x5, name, block.instantiation, index)


def input_similarity(block: NonLocalBlock, x: Tensor, name: str = "block", index: int = 0) -> Attention:
    """A parameter-free control: ``x_iᵀx̂_j / M`` on the block's own input, with its scope and subsampling.

    This is Eq. 2's Gaussian without the learned θ and φ (a dot product, so no scale is learned either):
    only its *ranking* of keys is comparable with the block's, e.g. which keys make its top k.
    """
    x5 = to_5d(x)
    pooled = block.subsample and block.scope != "time"
    keys = block.pool(x5) if pooled else x5  # (B, C, T, H', W')
    with torch.no_grad():
        raw = naive_weights(to_tokens(x5, block.scope), to_tokens(keys, block.scope), "dot_product", 1.0)
    return _attention(raw, block, x5, name, "dot_product", index)


def capture_input(model: nn.Module, name: str, clip: Tensor) -> tuple[NonLocalBlock, Tensor, Tensor]:
    """Run ``model`` on ``clip`` (1, 3, T, H, W): block ``name``, its input, and the logits."""
    block = dict(model.named_modules())[name]
    assert isinstance(block, NonLocalBlock)
    with capture_inputs(model, [name]) as inputs, torch.no_grad():
        logits = model(clip)
    return block, inputs[name], logits


def capture_attention(model: nn.Module, name: str, clip: Tensor) -> tuple[Attention, Tensor]:
    """Run ``model`` on ``clip`` (1, 3, T, H, W) and return block ``name``'s attention and the logits."""
    block, x, logits = capture_input(model, name, clip)
    return block_attention(block, x, name), logits
