"""The non-local block: identity at init, fast == naive, scopes attend only where they should."""

from __future__ import annotations

import itertools

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
    block = NonLocalBlock(
        8, instantiation=inst, scope=scope, subsample=sub, subsample_position=pos, scale=scale
    )
    block = _perturb(block).double()
    x = torch.randn(2, 8, 3, 5, 4, dtype=torch.float64)
    probe = torch.randn(2, 8, 3, 5, 4, dtype=torch.float64)
    results = []
    for impl in ("fast", "naive"):
        block.implementation = impl  # type: ignore[assignment]
        block.zero_grad()
        xi = x.clone().requires_grad_(True)
        y = block(xi)
        (y * probe).sum().backward()
        grads = {n: p.grad.clone() for n, p in block.named_parameters() if p.grad is not None}
        results.append((y.detach(), xi.grad, grads))
    (y_fast, gx_fast, gw_fast), (y_naive, gx_naive, gw_naive) = results
    torch.testing.assert_close(y_fast, y_naive, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(gx_fast, gx_naive, rtol=1e-9, atol=1e-10)
    assert gw_fast.keys() == gw_naive.keys()
    assert {"g.weight", "w_z.weight"} <= gw_fast.keys()
    for name in gw_fast:
        torch.testing.assert_close(gw_fast[name], gw_naive[name], rtol=1e-8, atol=1e-10, msg=name)


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
