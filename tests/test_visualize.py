"""``nlx.visualize`` as a library: hand-set affinities, capture without side effects, scopes, mapping,
query selection and the flash measurement of the report."""

from __future__ import annotations

import pytest
import torch

from nlx.config import load_preset
from nlx.factory import build_model
from nlx.models import NonLocalBlock
from nlx.visualize import Attention, Layout, block_attention, capture_attention, capture_inputs, query_view
from nlx.visualize.capture import input_similarity, pairwise_weights
from nlx.visualize.events import Flash, Summary, VideoEvents, measure, shown_start, summarise, verdict
from nlx.visualize.geometry import (
    ClipGeometry,
    cell_center,
    cell_frames,
    cell_index,
    display_frames,
    index_cell,
    pixel_cell,
)
from nlx.visualize.select import auto_queries, top_keys

# A 4-frame clip of 32×32 pixels, cut from frames 10, 12, 14, 16 of a 64×80 video: resized ×1/2 to 32×40,
# then the centre 32×32 crop (left = 4).
GEOMETRY = ClipGeometry(video_size=(64, 80), scaled_size=(32, 40), offset=(0, 4), clip_size=(32, 32),
                        frames=(10, 12, 14, 16))  # fmt: skip


def identity_block(instantiation: str, subsample: bool, channels: int = 4) -> NonLocalBlock:
    """θ = φ = identity (or none, for the Gaussian), w_f = [0; e₀]: f grows with x_iᵀx̂_j, or with x̂_j[0]."""
    block = NonLocalBlock(channels, instantiation=instantiation, subsample=subsample, inner_channels=channels)  # type: ignore[arg-type]
    with torch.no_grad():
        for conv in (block.theta, block.phi):
            if conv is not None:
                conv.weight.copy_(torch.eye(channels).view(channels, channels, 1, 1, 1))
                conv.bias.zero_()
        if block.w_f is not None:
            block.w_f.zero_()
            block.w_f[channels] = 1.0  # the φ half, channel 0: ReLU(0 + φ_j[0]) = x̂_j[0]
    return block.eval()


# Query cell (0, 0, 0) holds e₀; five input cells hold s·e₀ with s = 5, 4, 3, 2.5, 2, each in its own 2×2
# pooling window (so the pooled keys keep them); every other cell is 0. Its affinity to a key is then s (and 1
# to its own window, 0 elsewhere): the top 5 are the five cells, in that order.
STRENGTHS = (5.0, 4.0, 3.0, 2.5, 2.0)
PLANTED = ((1, 3, 6), (0, 6, 2), (1, 0, 1), (0, 2, 7), (1, 5, 5))  # (t, h, w) on the 2×8×8 input grid


def crafted_input() -> torch.Tensor:
    x = torch.zeros(1, 4, 2, 8, 8)  # (B, C, T', H', W')
    x[0, 0, 0, 0, 0] = 1.0
    for s, (t, h, w) in zip(STRENGTHS, PLANTED, strict=True):
        x[0, 0, t, h, w] = s
    return x


def expected_pixel(h: int, w: int, cell_px: int) -> tuple[float, float]:
    """By hand: cell centre in the clip, + crop offset, ×2 back to the video, half-pixel centres."""
    y_clip, x_clip = h * cell_px + (cell_px - 1) / 2, w * cell_px + (cell_px - 1) / 2
    return ((y_clip + 0 + 0.5) * 2 - 0.5, (x_clip + 4 + 0.5) * 2 - 0.5)


@pytest.mark.parametrize("instantiation", ["gaussian", "embedded_gaussian", "dot_product", "concatenation"])
@pytest.mark.parametrize("subsample", [True, False])
def test_hand_set_affinity_gives_exact_top_k_and_pixels(instantiation: str, subsample: bool) -> None:
    att = block_attention(identity_block(instantiation, subsample), crafted_input(), "nl")
    assert att.query_grid == (2, 8, 8) and att.key_grid == ((2, 4, 4) if subsample else (2, 8, 8))
    view = query_view(att, Layout(GEOMETRY, panels=2), (0, 0, 0), k=5)
    cell_px = 8 if subsample else 4  # a key covers 8 or 4 clip pixels
    expected_cells = [(t, h // 2, w // 2) if subsample else (t, h, w) for t, h, w in PLANTED]
    assert [t.point.cell for t in view.targets] == expected_cells
    assert [t.point.pixel for t in view.targets] == [
        expected_pixel(h, w, cell_px) for _, h, w in expected_cells
    ]
    assert [t.point.frame for t in view.targets] == [
        16 if t else 12 for t, _, _ in expected_cells
    ]  # frames 1, 3
    assert [t.point.frames for t in view.targets] == [
        (14, 16) if t else (10, 12) for t, _, _ in expected_cells
    ]
    assert view.point.pixel == expected_pixel(0, 0, 4) == (3.5, 11.5) and view.point.frame == 12
    assert view.targets[0].alpha == 1.0 and all(
        a.alpha > b.alpha for a, b in zip(view.targets, view.targets[1:], strict=False)
    )
    if instantiation in ("gaussian", "embedded_gaussian"):  # softmax over [5, 4, 3, 2.5, 2, 1, 0, ...]
        m = att.key_grid[0] * att.key_grid[1] * att.key_grid[2]
        logits = torch.tensor([*STRENGTHS, 1.0] + [0.0] * (m - 6))
        expected = torch.softmax(logits, 0)[:5]
        assert torch.allclose(torch.tensor([t.weight for t in view.targets]), expected, atol=1e-6)


@pytest.mark.parametrize("subsample", [True, False])
def test_input_similarity_control_ranks_like_the_parameter_free_gaussian(subsample: bool) -> None:
    block = NonLocalBlock(4, instantiation="embedded_gaussian", subsample=subsample).eval()  # random θ, φ
    control = input_similarity(block, crafted_input())
    gaussian = block_attention(identity_block("gaussian", subsample), crafted_input())
    assert control.key_grid == gaussian.key_grid and control.instantiation == "dot_product"
    row = cell_index((0, 0, 0), control.query_grid)
    assert top_keys(control, row, 6) == top_keys(gaussian, row, 6)


def test_verdict_compares_with_chance_and_with_the_control() -> None:
    def summary(top_share: float, arrows: float) -> Summary:
        return Summary(3, 6, top_share, arrows, top_share, 0.1, 0.2)

    control = summary(0.3, 0.15)
    assert verdict(summary(0.5, 0.4), control, 20).startswith("Yes, the arrows link the two events, beyond")
    assert (
        "but not more than feature similarity does: 50.0% of a flash query's top-20 weight lands"
        in verdict(summary(0.5, 0.16), control, 20)
    )
    assert verdict(summary(0.15, 0.2), control, 20).startswith("Only weakly: 15.0%")
    assert verdict(summary(0.11, 0.2), control, 20).startswith("No, the arrows do not link the two events")
    assert "1.1× the 10.0% that uniform weights would give; 20.0% of its arrows do, against 15.0%" in verdict(
        summary(0.11, 0.2), control, 20
    )


def test_key_pixels_on_the_subsampled_grid_literal() -> None:
    """Key cell (1, 1, 3) of a 4×4 key grid on a 32×32 clip: centre (11.5, 27.5) → video (23.5, 63.5)."""
    att = block_attention(identity_block("embedded_gaussian", True), crafted_input())
    point = Layout(GEOMETRY, 2).place((1, 1, 3), att.key_grid)
    assert point.pixel == (23.5, 63.5) and point.frame == 16 and point.panel == 1


# --- capture ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["c2d_r50", "i3d_r50"])
def test_capture_leaves_outputs_unchanged_and_removes_its_hook(name: str) -> None:
    cfg = load_preset("smoke").resolve(None, None, [f"model.name={name}", "model.non_local.blocks=5"])
    model = build_model(cfg.model).eval()
    blocks = model.nonlocal_blocks()
    for block in blocks.values():  # make the blocks do something (γ = 0 makes them the identity)
        torch.nn.init.normal_(block.bn.weight)
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        before = model(x)
    with capture_inputs(model, list(blocks)) as inputs, torch.no_grad():
        during = model(x)
    with torch.no_grad():
        after = model(x)
    assert torch.equal(before, during) and torch.equal(before, after)
    assert all(not m._forward_pre_hooks for m in model.modules())
    assert set(inputs) == set(blocks) and inputs["res3.nonlocal_blocks.1"].shape[:2] == (1, 32)
    att, logits = capture_attention(model, "res3.nonlocal_blocks.1", x)
    assert torch.equal(logits, before) and all(not m._forward_pre_hooks for m in model.modules())
    rows = att.weights.sum(dim=1)  # softmax rows
    assert att.weights.shape == (8 * 4 * 4 // 4, 2 * 2 * 2) and torch.allclose(rows, torch.ones_like(rows))


def test_capture_removes_its_hook_on_error() -> None:
    block = identity_block("embedded_gaussian", True)
    with pytest.raises(RuntimeError), capture_inputs(block, [""]):
        raise RuntimeError("boom")
    assert not block._forward_pre_hooks


def test_chunked_concatenation_weights_equal_the_blocks() -> None:
    block = NonLocalBlock(8, instantiation="concatenation").eval()
    x = torch.randn(2, 8, 3, 6, 6)
    with torch.no_grad():
        chunked, whole = pairwise_weights(block, x, budget=100), block.pairwise_weights(x)
    assert chunked.shape == (2, 108, 27) and torch.allclose(chunked, whole, rtol=1e-6, atol=1e-7)


# --- scopes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["space", "time"])
@pytest.mark.parametrize("instantiation", ["embedded_gaussian", "dot_product"])
def test_space_and_time_scopes_only_pick_same_frame_or_same_position(scope: str, instantiation: str) -> None:
    block = NonLocalBlock(8, instantiation=instantiation, scope=scope).eval()  # type: ignore[arg-type]
    att = block_attention(block, torch.randn(2, 8, 3, 6, 6), index=1)
    kgrid = (3, 3, 3) if scope == "space" else (3, 6, 6)
    assert att.key_grid == kgrid and att.weights.shape == (3 * 36, 27 if scope == "space" else 108)
    for row in range(att.weights.shape[0]):
        t, h, w = index_cell(row, att.query_grid)
        keys = [index_cell(j, kgrid) for j in top_keys(att, row, 20)]
        if scope == "space":
            assert len(keys) == 9 and all(k[0] == t for k in keys)
        else:
            assert sorted(k[0] for k in keys) == [0, 1, 2] and all(k[1:] == (h, w) for k in keys)
        assert not att.weights[row][~att.valid[row]].any()


def test_dense_layout_matches_the_blocks_token_order() -> None:
    block = NonLocalBlock(4, scope="space", subsample=False).eval()
    x = torch.randn(1, 4, 2, 3, 3)
    per_frame = block.pairwise_weights(x)  # (T, H·W, H·W)
    att = block_attention(block, x)
    q, k = cell_index((1, 2, 0), (2, 3, 3)), cell_index((1, 0, 1), (2, 3, 3))
    assert att.weights[q, k] == per_frame[1, 2 * 3 + 0, 0 * 3 + 1]
    timed = NonLocalBlock(4, scope="time").eval()
    per_position = timed.pairwise_weights(x)  # (H·W, T, T)
    att = block_attention(timed, x)
    q, k = cell_index((0, 1, 2), (2, 3, 3)), cell_index((1, 1, 2), (2, 3, 3))
    assert att.weights[q, k] == per_position[1 * 3 + 2, 0, 1]


# --- mapping and selection ----------------------------------------------------------------------------


def test_cell_mapping_conventions() -> None:
    assert [list(cell_frames(t, 3, 16)) for t in range(3)] == [
        list(range(0, 6)),
        list(range(6, 11)),
        list(range(11, 16)),
    ]
    assert display_frames(32, 4) == (4, 12, 20, 28) and display_frames(16, 4) == (2, 6, 10, 14)
    assert cell_center(0, 0, (7, 7), (56, 56)) == (3.5, 3.5) and cell_center(3, 1, (4, 4), (32, 32)) == (
        27.5,
        11.5,
    )
    for h in range(7):
        y, x = cell_center(h, 6 - h, (7, 7), (56, 56))
        assert pixel_cell(y, x, (7, 7), (56, 56)) == (h, 6 - h)
    assert GEOMETRY.to_clip(GEOMETRY.to_video((5.0, 9.0))) == pytest.approx((5.0, 9.0))
    assert GEOMETRY.to_video((-0.5, -0.5)) == (-0.5, 7.5)  # the clip's top-left corner: 4 px of crop × 2


def _attention(weights: torch.Tensor, grid: tuple[int, int, int]) -> Attention:
    return Attention(
        "nl",
        "embedded_gaussian",
        "spacetime",
        grid,
        grid,
        weights,
        torch.ones_like(weights, dtype=torch.bool),
    )


def test_auto_queries_pick_concentrated_rows_spread_out() -> None:
    n = 16
    weights = torch.full((n, n), 1.0 / n)
    for row, peak in ((0, 0.97), (1, 0.98), (10, 0.9), (12, 0.5)):  # row 1 is row 0's neighbour
        weights[row] = (1 - peak) / (n - 1)
        weights[row, 3] = peak
    att = _attention(weights, (1, 4, 4))
    assert auto_queries(att, k=2, count=3) == [(0, 0, 1), (0, 2, 2), (0, 3, 0)]  # row 0: row 1's neighbour


# --- the flash measurement ----------------------------------------------------------------------------


def test_measure_counts_weight_on_the_other_flash_against_chance() -> None:
    geometry = ClipGeometry((32, 32), (32, 32), (0, 0), (32, 32), tuple(range(8)))
    grid, keys = (2, 8, 8), (2, 4, 4)
    events = VideoEvents("v.mp4", 0, (Flash(0, (1, 2), (2, 2)), Flash(1, (5, 6), (28, 28))))
    weights = torch.full((128, 32), 1 / 32)
    q0 = cell_index((0, 0, 0), grid)  # source 0's flash: frames 1-2 → time cell 0, (2, 2) → cell (0, 0)
    weights[q0] = 0
    weights[q0, cell_index((1, 3, 3), keys)] = 0.6  # on source 1's flash
    weights[q0, cell_index((1, 2, 2), keys)] = 0.2  # one cell away from it
    weights[q0, cell_index((0, 0, 0), keys)] = 0.2  # its own flash
    att = Attention(
        "nl", "embedded_gaussian", "spacetime", grid, keys, weights, torch.ones(128, 32, dtype=torch.bool)
    )
    first, second = measure(att, geometry, events, top=2)
    assert (first.source, first.query) == (0, (0, 0, 0))
    assert (first.top_share, first.arrows, first.all_share, first.chance, first.own_share) == pytest.approx(
        (0.6 / 0.8, 0.5, 0.8, 4 / 32, 0.2 / 0.8)
    )  # top 2: (1, 3, 3) and (0, 0, 0) (tie with (1, 2, 2), lower index first)
    assert (second.source, second.query) == (
        1,
        (1, 7, 7),
    )  # uniform row: top 2 = keys 0, 1, both near flash 0
    assert (second.top_share, second.arrows, second.all_share, second.chance) == pytest.approx(
        (1, 1, 4 / 32, 4 / 32)
    )
    summary = summarise([first, second])
    assert (
        summary.queries == 2
        and summary.chance == pytest.approx(0.125)
        and summary.ratio == pytest.approx(7.0)
    )


def test_shown_start_puts_both_flashes_on_displayed_frames() -> None:
    flashes = [
        Flash(s, tuple(range(f, f + 4)), (10 + 40 * s, 10)) for s, f in ((0, 5), (0, 37), (1, 21), (1, 53))
    ]
    events = VideoEvents("v.mp4", 0, tuple(flashes))  # period 32, the sources half a period apart
    start = shown_start(events, num_frames=64, frames=16, stride=2, panels=4, wrap=True)
    shown = {start + 2 * i for i in display_frames(16, 4)}  # start + 4, 12, 20, 28
    assert all(shown & set(f.frames) for f in flashes[1:3])
    assert start == 17  # of those that show both (start ≡ 1..4 mod 8), the one nearest the centre window (16)
