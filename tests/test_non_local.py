"""The non-local block: identity at init, fast == naive, scopes attend only where they should."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from nlx.models import INSTANTIATIONS, SCOPES, NonLocalBlock
from nlx.models import non_local as nl

COMBOS = [
    (inst, scope, sub, pos)
    for inst, scope, sub, pos in itertools.product(INSTANTIATIONS, SCOPES, (True, False), ("after", "before"))
]


def _perturb(block: NonLocalBlock) -> NonLocalBlock:
    """Move the block away from its identity initialisation so that every path carries signal."""
    with torch.no_grad():
        if block.bn is not None:
            block.bn.weight.normal_()
            block.bn.bias.normal_()
        else:
            block.w_z.weight.normal_(std=0.3)
    return block


@pytest.mark.parametrize("inst,scope,sub,pos", COMBOS)
@pytest.mark.parametrize("norm", ["bn", "none"])
def test_identity_at_init(inst: str, scope: str, sub: bool, pos: str, norm: str) -> None:
    block = NonLocalBlock(
        16, instantiation=inst, scope=scope, subsample=sub, subsample_position=pos, norm=norm
    )
    x = torch.randn(2, 16, 3, 5, 6)
    for mode in (block.train, block.eval):
        mode()
        assert torch.equal(block(x), x)


@pytest.mark.parametrize("shape", [(2, 8, 7), (2, 8, 5, 6), (2, 8, 3, 5, 6)])
@pytest.mark.parametrize("inst", INSTANTIATIONS)
def test_images_and_sequences(shape: tuple[int, ...], inst: str) -> None:
    block = _perturb(NonLocalBlock(8, instantiation=inst)).eval()
    x = torch.randn(shape)
    y = block(x)
    assert y.shape == x.shape
    assert not torch.equal(y, x)


@pytest.mark.parametrize(
    "inst,scope,sub,pos,scale",
    [(*c, scale) for c in COMBOS for scale in (False, True) if not (scale and c[0] == "concatenation")],
)  # concatenation has no dot product to scale
@pytest.mark.parametrize("branch", ["materialise", "sdpa"])
def test_fast_equals_naive(
    monkeypatch: pytest.MonkeyPatch, inst: str, scope: str, sub: bool, pos: str, scale: bool, branch: str
) -> None:
    """Every fast path, on both CPU branches (small maps: fused softmax; large: SDPA), against Eqs. 2-5."""
    monkeypatch.setattr(nl, "CPU_MATERIALISE_ENTRIES", 1 << 40 if branch == "materialise" else 0)
    calls = _count_fast_paths(monkeypatch)
    block = NonLocalBlock(
        8, instantiation=inst, scope=scope, subsample=sub, subsample_position=pos, scale=scale
    )
    block = _perturb(block).double()
    x = torch.randn(2, 8, 3, 5, 4, dtype=torch.float64)
    (y_fast, gx_fast, gw_fast), (y_naive, gx_naive, gw_naive) = _fast_and_naive_grads(block, x)
    torch.testing.assert_close(y_fast, y_naive, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(gx_fast, gx_naive, rtol=1e-9, atol=1e-10)
    assert gw_fast.keys() == gw_naive.keys()
    assert {"g.weight", "w_z.weight"} <= gw_fast.keys()
    for name in gw_fast:
        torch.testing.assert_close(gw_fast[name], gw_naive[name], rtol=1e-8, atol=1e-10, msg=name)
    # Both branches of the dot product are exercised: a spacetime block folds W_z (one 8×8 K per clip);
    # a space block does not (5×4 frames: 20 positions < 3·C) and neither does a time block.
    assert calls["fold"] == (1 if inst == "dot_product" and scope == "spacetime" else 0)
    pooled = sub and scope != "time"
    assert calls["pool"] == (2 if pooled and pos == "after" else 0)  # φ(x), g(x); naive: nn.MaxPool3d


def _count_fast_paths(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count calls of the folded dot product and of the index-only max pool (used on any input size)."""
    monkeypatch.setattr(nl, "KEEP_OFFSETS_ENTRIES", 0)
    calls = {"fold": 0, "pool": 0}
    fold, pool = NonLocalBlock.folded_w_z, nl.max_pool_keeping_indices

    def counted_fold(block: NonLocalBlock, x: torch.Tensor) -> torch.Tensor:
        calls["fold"] += 1
        return fold(block, x)

    def counted_pool(x: torch.Tensor) -> torch.Tensor:
        calls["pool"] += 1
        return pool(x)

    monkeypatch.setattr(NonLocalBlock, "folded_w_z", counted_fold)
    monkeypatch.setattr(nl, "max_pool_keeping_indices", counted_pool)
    return calls


def _fast_and_naive_grads(
    block: NonLocalBlock, x: torch.Tensor
) -> list[tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]]:
    probe = torch.randn_like(x)
    results = []
    for impl in ("fast", "naive"):
        block.implementation = impl  # type: ignore[assignment]
        block.zero_grad()
        xi = x.clone().requires_grad_(True)
        y = block(xi)
        (y * probe).sum().backward()
        assert xi.grad is not None
        grads = {n: p.grad.clone() for n, p in block.named_parameters() if p.grad is not None}
        results.append((y.detach(), xi.grad, grads))
    return results


@pytest.mark.parametrize("scope", ["spacetime", "space"])
@pytest.mark.parametrize("sub,pos", [(True, "after"), (True, "before"), (False, "after")])
@pytest.mark.parametrize("scale", [False, True])
@pytest.mark.parametrize("norm", ["bn", "none"])
@pytest.mark.parametrize("batch", [1, 2])
def test_folded_dot_product_equals_naive(
    monkeypatch: pytest.MonkeyPatch, scope: str, sub: bool, pos: str, scale: bool, norm: str, batch: int
) -> None:
    """W_z folded into the dot product (K = W_z Aᵀ W_θ per clip or per frame) against Eq. 4 as written."""
    calls = _count_fast_paths(monkeypatch)
    block = NonLocalBlock(
        8,
        instantiation="dot_product",
        scope=scope,  # type: ignore[arg-type]
        subsample=sub,
        subsample_position=pos,  # type: ignore[arg-type]
        scale=scale,
        norm=norm,  # type: ignore[arg-type]
    )
    block = _perturb(block).double()
    x = torch.randn(batch, 8, 3, 6, 7, dtype=torch.float64)  # frames of 42 positions ≥ 3·C: space folds
    block.implementation = "fast"
    assert block.folds_w_z(x)
    (y_fast, gx_fast, gw_fast), (y_naive, gx_naive, gw_naive) = _fast_and_naive_grads(block, x)
    assert calls["fold"] == 1
    torch.testing.assert_close(y_fast, y_naive, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(gx_fast, gx_naive, rtol=1e-9, atol=1e-10)
    assert gw_fast.keys() == gw_naive.keys() and {"theta.weight", "theta.bias", "w_z.bias"} <= gw_fast.keys()
    for name in gw_fast:
        torch.testing.assert_close(gw_fast[name], gw_naive[name], rtol=1e-8, atol=1e-10, msg=name)


def test_fold_criterion() -> None:
    block = NonLocalBlock(8, instantiation="dot_product", scope="space")
    assert block.folds_w_z(torch.empty(2, 8, 3, 6, 4))  # 24 positions per frame = 3·C: as cheap
    assert not block.folds_w_z(torch.empty(2, 8, 3, 5, 4))  # 20 < 3·C: K per frame costs more
    block.scope = "spacetime"
    assert block.folds_w_z(torch.empty(2, 8, 3, 5, 4))
    block.implementation = "naive"
    assert not block.folds_w_z(torch.empty(2, 8, 3, 5, 4))  # the naive path is Eq. 4 as written
    for inst, scope in (("embedded_gaussian", "spacetime"), ("dot_product", "time")):
        block = NonLocalBlock(8, instantiation=inst, scope=scope)  # type: ignore[arg-type]
        assert not block.folds_w_z(torch.empty(1, 8, 16, 28, 28))


@pytest.mark.parametrize("shape", [(2, 3, 4, 6, 8), (2, 3, 3, 5, 7), (1, 2, 2, 1, 3)])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_index_only_max_pool_equals_max_pool3d(
    shape: tuple[int, ...], ties: bool, channels_last: bool
) -> None:
    """Same values and bit-identical gradients as autograd's max pool, also for ceil-mode windows that hang
    over odd edges and for windows whose maximum is repeated (the gradient goes to the forward's index)."""
    x = torch.randint(0, 3, shape).double() if ties else torch.randn(shape, dtype=torch.float64)
    if channels_last:
        x = x.to(memory_format=torch.channels_last_3d)
    grad = torch.randn(shape[:3] + tuple(-(-s // 2) for s in shape[3:]), dtype=torch.float64)
    outs = []
    for pool in (
        nl.max_pool_keeping_indices,
        lambda t: F.max_pool3d(t, (1, 2, 2), (1, 2, 2), ceil_mode=True),
    ):
        xi = x.clone().requires_grad_(True)
        y = pool(xi)
        y.backward(grad)
        assert xi.grad is not None
        outs.append((y.detach(), xi.grad))
    assert torch.equal(outs[0][0], outs[1][0])
    assert torch.equal(outs[0][1], outs[1][1])
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        saved: list[torch.Tensor] = []
        nl.max_pool_keeping_indices(x.clone().requires_grad_(True))
    assert [t.dtype for t in saved] == [torch.uint8]  # one byte per window: where its maximum was
    if ties:
        assert (outs[1][1] != 0).sum() == grad.numel()  # one winner per window, ties included


def _saved_for_backward(block: NonLocalBlock, x: torch.Tensor) -> tuple[int, list[tuple[int, ...]]]:
    """Bytes of the distinct storages a forward pass saves for backward, beyond the input and the
    parameters, and the shapes of all saved tensors."""
    kept = {x.untyped_storage().data_ptr()} | {p.untyped_storage().data_ptr() for p in block.parameters()}
    storages: dict[int, int] = {}
    shapes: list[tuple[int, ...]] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        shapes.append(tuple(t.shape))
        ptr = t.untyped_storage().data_ptr()
        if ptr not in kept:
            storages[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        block(x)
    return sum(storages.values()), shapes


def test_index_only_pool_only_from_its_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small maps keep autograd's native max pool (faster there); large ones keep only argmax offsets."""
    calls = {"pool": 0}
    pool = nl.max_pool_keeping_indices

    def counted(x: torch.Tensor) -> torch.Tensor:
        calls["pool"] += 1
        return pool(x)

    monkeypatch.setattr(nl, "max_pool_keeping_indices", counted)
    block = NonLocalBlock(8, instantiation="embedded_gaussian")  # pools φ(x) and g(x): 4 channels each
    block(torch.randn(1, 8, 2, 16, 16))  # 2048 entries per pooled tensor
    assert calls["pool"] == 0
    monkeypatch.setattr(nl, "KEEP_OFFSETS_ENTRIES", 2048)
    block(torch.randn(1, 8, 2, 16, 16))
    assert calls["pool"] == 2


def test_fast_dot_product_saves_no_full_resolution_embedding(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fold keeps neither θ nor y, and the index-only pools neither φ(x) nor g(x): nothing of N·d
    values is saved (a pooled φ(x̂) or g(x̂) has N·d/4), and far less than the naive path overall."""
    monkeypatch.setattr(nl, "KEEP_OFFSETS_ENTRIES", 0)
    block = _perturb(NonLocalBlock(64, instantiation="dot_product")).train()
    x = torch.randn(1, 64, 4, 14, 14, requires_grad=True)
    full = 1 * block.inner_channels * 4 * 14 * 14  # N·d: θ(x), φ(x), g(x) or y
    saved = {}
    for impl in ("fast", "naive"):
        block.implementation = impl  # type: ignore[assignment]
        saved[impl] = _saved_for_backward(block, x)
    (fast_bytes, fast_shapes), (naive_bytes, naive_shapes) = saved["fast"], saved["naive"]
    assert any(math.prod(s) == full for s in naive_shapes)
    assert not any(math.prod(s) == full for s in fast_shapes)
    assert fast_bytes < 0.6 * naive_bytes


@pytest.mark.parametrize("inst", INSTANTIATIONS)
def test_fast_equals_naive_float32_larger(inst: str) -> None:
    block = _perturb(NonLocalBlock(32, instantiation=inst)).eval()
    x = torch.randn(1, 32, 4, 14, 14)
    block.implementation = "naive"
    ref = block(x)
    block.implementation = "fast"
    torch.testing.assert_close(block(x), ref, rtol=1e-4, atol=1e-4)


def _input_grad(block: NonLocalBlock, x: torch.Tensor, select: tuple[slice | int, ...]) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    block(x)[select].sum().backward()
    assert x.grad is not None
    return x.grad.abs().sum(dim=(0, 1))  # (T, H, W): how much each input position influenced the selection


@pytest.mark.parametrize("inst", INSTANTIATIONS)
@pytest.mark.parametrize("sub", [True, False])
def test_space_scope_stays_in_frame(inst: str, sub: bool) -> None:
    block = _perturb(NonLocalBlock(8, instantiation=inst, scope="space", subsample=sub)).eval()
    influence = _input_grad(block, torch.randn(1, 8, 4, 5, 6), (slice(None), slice(None), 2))
    assert influence[2].sum() > 0
    assert influence[[0, 1, 3]].sum() == 0
    assert (influence[2] > 0).sum() > 1  # it does look across the frame


@pytest.mark.parametrize("inst", INSTANTIATIONS)
@pytest.mark.parametrize("sub", [True, False])
def test_time_scope_stays_at_position(inst: str, sub: bool) -> None:
    block = _perturb(NonLocalBlock(8, instantiation=inst, scope="time", subsample=sub)).eval()
    influence = _input_grad(block, torch.randn(1, 8, 4, 5, 6), (slice(None), slice(None), slice(None), 3, 1))
    outside = influence.clone()
    outside[:, 3, 1] = 0
    assert outside.sum() == 0
    assert (influence[:, 3, 1] > 0).all()  # every frame at (3, 1) contributes


@pytest.mark.parametrize("inst", INSTANTIATIONS)
def test_spacetime_scope_reaches_everywhere(inst: str) -> None:
    block = _perturb(NonLocalBlock(8, instantiation=inst, subsample=False)).eval()
    influence = _input_grad(block, torch.randn(1, 8, 4, 5, 6), (slice(None), slice(None), 0, 0, 0))
    assert (influence.sum(dim=(1, 2)) > 0).all()  # every frame reaches position (0, 0, 0)
    assert (influence > 0).float().mean() > 0.5  # ReLU(a_i + b_j) may switch off some pairs


def _embedded(block: NonLocalBlock, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    assert block.theta is not None and block.phi is not None
    theta = block.theta(x).flatten(2).transpose(1, 2)[0]  # (N, d)
    phi = block.pool(block.phi(x)).flatten(2).transpose(1, 2)[0]  # (M, d)
    return theta, phi


def test_embedded_gaussian_weights_match_eq3_and_scale_multiplies() -> None:
    x = torch.randn(1, 8, 2, 4, 4)
    for scale, factor in ((False, 1.0), (True, 4**-0.5)):
        block = NonLocalBlock(8, scale=scale)
        theta, phi = _embedded(block, x)
        expected = torch.softmax(theta @ phi.T * factor, dim=-1)
        torch.testing.assert_close(block.pairwise_weights(x)[0], expected)
    assert NonLocalBlock(8, scale=True).similarity_scale == pytest.approx(0.5)  # d = 4: × d^-0.5, never × √d


def test_gaussian_uses_raw_features() -> None:
    x = torch.randn(1, 6, 2, 4, 4)
    block = NonLocalBlock(6, instantiation="gaussian")
    assert block.theta is None and block.phi is None
    xi = x.flatten(2).transpose(1, 2)[0]
    xj = F.max_pool3d(x, (1, 2, 2), (1, 2, 2)).flatten(2).transpose(1, 2)[0]
    torch.testing.assert_close(block.pairwise_weights(x)[0], torch.softmax(xi @ xj.T, dim=-1))


def test_dot_product_and_concatenation_normalise_by_key_count() -> None:
    x = torch.randn(1, 8, 2, 4, 4)
    block = NonLocalBlock(8, instantiation="dot_product")
    theta, phi = _embedded(block, x)
    torch.testing.assert_close(block.pairwise_weights(x)[0], theta @ phi.T / phi.shape[0])
    block = NonLocalBlock(8, instantiation="concatenation")
    theta, phi = _embedded(block, x)
    assert block.w_f is not None
    pairs = torch.relu((theta @ block.w_f[:4])[:, None] + (phi @ block.w_f[4:])[None, :])
    torch.testing.assert_close(block.pairwise_weights(x)[0], pairs / phi.shape[0])


def test_subsample_position_changes_what_is_pooled() -> None:
    x = torch.randn(1, 8, 2, 4, 4)
    after = _perturb(NonLocalBlock(8, subsample_position="after")).eval()
    before = NonLocalBlock(8, subsample_position="before").eval()
    before.load_state_dict(after.state_dict())
    assert not torch.allclose(after(x), before(x))
    assert after.pairwise_weights(x).shape == before.pairwise_weights(x).shape == (1, 32, 8)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="instantiation"):
        NonLocalBlock(8, instantiation="softmax")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scope"):
        NonLocalBlock(8, scope="frames")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="concatenation"):
        NonLocalBlock(8, instantiation="concatenation", scale=True)
    with pytest.raises(ValueError, match="expects"):
        NonLocalBlock(8)(torch.randn(8, 8))
