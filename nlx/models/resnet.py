"""C2D and I3D ResNets for video with non-local blocks (Wang et al., CVPR 2018, Sec. 4 and Table 1).

Table 1 (ResNet-50 C2D, input 32×224×224): conv1 1×7×7 stride (2, 2, 2), pool1 3×3×3 stride 2, res2,
pool2 3×1×1 stride (2, 1, 1), res3-res5 with bottlenecks (T×1×1, 1×3×3, 1×1×1), global average pool,
dropout, fc. I3D inflates conv1 to 5×7×7 and one kernel in every 2 residual blocks: the first 1×1 to
3×1×1 (I3D 3×1×1) or the 3×3 to 3×3×3 (I3D 3×3×3), Sec. 4 "Inflated 3D ConvNet" and Table 2e.

Conventions that decide the parameter and FLOP counts of Table 2e (see ``docs/models.md``):

* ``stride_on="1x1"`` puts the spatial stride of a stage's first block on the first 1×1 conv as in the
  Caffe2 ResNets the paper started from; ``"3x3"`` puts it on the 3×3 conv (torchvision, PySlowFast).
* ``pool1`` is unpadded in space in the paper preset (112 → 55); torchvision pads it (112 → 56).

Non-local blocks follow the final ReLU of the residual block they are attached to; their positions are
data (:class:`NonLocalPlacement`), with the paper's named presets in :func:`nonlocal_positions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from nlx.models.non_local import (
    Implementation,
    Init,
    Instantiation,
    NonLocalBlock,
    Norm,
    Scope,
    SubsamplePosition,
)
from nlx.models.registry import register_model

Triple = tuple[int, int, int]
StrideOn = Literal["1x1", "3x3"]
Inflation = Literal["none", "3x1x1", "3x3x3"]
Layout = Literal["paper", "slowfast"]

STAGES = (2, 3, 4, 5)
DEPTHS: dict[int, tuple[int, int, int, int]] = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
NAMED_PLACEMENTS = ("none", "res2", "res3", "res4", "res5", "1", "5", "10")


@dataclass(frozen=True)
class Pool:
    """A max pool: kernel, stride and padding as (t, h, w)."""

    kernel: Triple
    stride: Triple
    padding: Triple = (0, 0, 0)

    def module(self) -> nn.MaxPool3d:
        return nn.MaxPool3d(self.kernel, self.stride, self.padding)


@dataclass(frozen=True)
class Stem:
    """conv1 (7×7 in space; 1 or 5 frames in time), pool1 and pool2 (after res2)."""

    conv1_stride: Triple = (2, 2, 2)
    pool1: Pool | None = Pool((3, 3, 3), (2, 2, 2), (1, 0, 0))
    pool2: Pool | None = Pool((3, 1, 1), (2, 1, 1), (1, 0, 0))


@dataclass(frozen=True)
class NonLocalPlacement:
    """Where non-local blocks go and what kind they are.

    ``blocks`` is a named placement of :func:`nonlocal_positions` (``"5"``, ``"res3"``, ...) resolved for
    the network's depth with ``layout``, or explicit (stage, block index) pairs.
    """

    blocks: str | tuple[tuple[int, int], ...] = ()
    instantiation: Instantiation = "embedded_gaussian"
    scope: Scope = "spacetime"
    subsample: bool = True
    subsample_position: SubsamplePosition = "after"
    scale: bool = False
    norm: Norm = "bn"
    init: Init = "kaiming"
    implementation: Implementation = "fast"
    layout: Layout = "paper"

    def positions(self, depth: int) -> tuple[tuple[int, int], ...]:
        if isinstance(self.blocks, str):
            return nonlocal_positions(self.blocks, depth, self.layout)
        return tuple((int(s), int(i)) for s, i in self.blocks)

    def block(self, channels: int) -> NonLocalBlock:
        return NonLocalBlock(
            channels,
            instantiation=self.instantiation,
            scope=self.scope,
            subsample=self.subsample,
            subsample_position=self.subsample_position,
            scale=self.scale,
            norm=self.norm,
            init=self.init,
            implementation=self.implementation,
        )


# R101 counterparts of the R50 5- and 10-block placements in res4 (23 blocks instead of 6), see
# docs/models.md: "paper" keeps the block counts of the names and spreads them evenly over the deeper
# stage, as the authors' code does for 5 blocks ({6, 13, 20}); "slowfast" reuses the R50 indices.
_R101_RES4 = {"5": (6, 13, 20), "10": (2, 6, 10, 14, 18, 22)}


def nonlocal_positions(name: str, depth: int, layout: Layout = "paper") -> tuple[tuple[int, int], ...]:
    """The paper's named placements (Sec. 5.1, Tables 2b and 2c) for ResNet-``depth``.

    ``res2``…``res5``: one block right before the last residual block of that stage; ``1`` = ``res4``;
    ``5``: 2 in res3 and 3 in res4, every other block; ``10``: every block of res3 and res4.
    """
    if depth not in DEPTHS:
        raise ValueError(f"depth must be one of {sorted(DEPTHS)}; got {depth}")
    if name not in NAMED_PLACEMENTS:
        raise ValueError(f"non-local placement must be one of {', '.join(NAMED_PLACEMENTS)}; got {name!r}")
    blocks = dict(zip(STAGES, DEPTHS[depth], strict=True))
    if name == "none":
        return ()
    if name == "1":
        name = "res4"
    if name.startswith("res"):
        stage = int(name[3:])
        return ((stage, blocks[stage] - 2),)
    res3: tuple[int, ...]
    res4_r50: tuple[int, ...]
    if name == "5":
        res3, res4_r50 = (1, 3), (1, 3, 5)
    else:
        res3, res4_r50 = (0, 1, 2, 3), (0, 1, 2, 3, 4, 5)
    res4 = _R101_RES4[name] if depth == 101 and layout == "paper" else res4_r50
    return tuple((3, i) for i in res3) + tuple((4, i) for i in res4)


def temporal_pattern(depth: int, inflation: Inflation) -> dict[int, tuple[int, ...]]:
    """Which blocks carry the inflated (3-frame) kernel: one in every 2 residual blocks (Sec. 4)."""
    if inflation == "none":
        return {s: (0,) * n for s, n in zip(STAGES, DEPTHS[depth], strict=True)}
    n4 = DEPTHS[depth][2]
    return {2: (1, 1, 1), 3: (1, 0, 1, 0), 4: tuple(1 - i % 2 for i in range(n4)), 5: (0, 1, 0)}


def _conv_bn(
    cin: int, cout: int, kernel: Triple, stride: Triple = (1, 1, 1)
) -> tuple[nn.Conv3d, nn.BatchNorm3d]:
    padding = (kernel[0] // 2, kernel[1] // 2, kernel[2] // 2)
    return nn.Conv3d(cin, cout, kernel, stride, padding, bias=False), nn.BatchNorm3d(cout)


class Bottleneck(nn.Module):
    """conv_a (t_a×1×1) → conv_b (t_b×3×3) → conv_c (1×1×1), each with BN, plus the shortcut."""

    def __init__(
        self, cin: int, inner: int, cout: int, *, stride: int, t_a: int, t_b: int, stride_on: StrideOn
    ) -> None:
        super().__init__()
        s_a = (1, stride, stride) if stride_on == "1x1" else (1, 1, 1)
        s_b = (1, stride, stride) if stride_on == "3x3" else (1, 1, 1)
        self.conv_a, self.bn_a = _conv_bn(cin, inner, (t_a, 1, 1), s_a)
        self.conv_b, self.bn_b = _conv_bn(inner, inner, (t_b, 3, 3), s_b)
        self.conv_c, self.bn_c = _conv_bn(inner, cout, (1, 1, 1))
        self.shortcut: nn.Sequential | None = None
        if cin != cout or stride != 1:
            self.shortcut = nn.Sequential(*_conv_bn(cin, cout, (1, 1, 1), (1, stride, stride)))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn_a(self.conv_a(x)))
        out = self.relu(self.bn_b(self.conv_b(out)))
        out = self.bn_c(self.conv_c(out))
        identity = x if self.shortcut is None else self.shortcut(x)
        return self.relu(out + identity)


class Stage(nn.Module):
    """A ResNet stage: residual blocks, each optionally followed by a non-local block."""

    def __init__(self, blocks: Sequence[Bottleneck], nonlocal_blocks: dict[int, NonLocalBlock]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.nonlocal_blocks = nn.ModuleDict({str(i): b for i, b in sorted(nonlocal_blocks.items())})

    def forward(self, x: Tensor) -> Tensor:
        for i, block in enumerate(self.blocks):
            x = block(x)
            if str(i) in self.nonlocal_blocks:
                x = self.nonlocal_blocks[str(i)](x)
        return x


class VideoResNet(nn.Module):
    """A C2D or I3D ResNet for clips (B, 3, T, H, W); ``forward`` returns logits (B, num_classes)."""

    def __init__(
        self,
        *,
        depth: int = 50,
        inflation: Inflation = "none",
        num_classes: int = 400,
        width: float = 1.0,
        in_channels: int = 3,
        stem: Stem = Stem(),
        stride_on: StrideOn = "1x1",
        nonlocal_placement: NonLocalPlacement = NonLocalPlacement(),
        dropout: float = 0.5,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(f"depth must be one of {sorted(DEPTHS)}; got {depth}")
        self.depth = depth
        self.inflation: Inflation = inflation
        pattern = temporal_pattern(depth, inflation)
        base = max(1, round(64 * width))
        t1 = 5 if inflation != "none" else 1
        self.conv1, self.bn1 = _conv_bn(in_channels, base, (t1, 7, 7), stem.conv1_stride)
        self.conv1.padding = (t1 // 2, 3, 3)
        self.relu = nn.ReLU(inplace=True)
        self.pool1: nn.Module = stem.pool1.module() if stem.pool1 else nn.Identity()
        self.pool2: nn.Module = stem.pool2.module() if stem.pool2 else nn.Identity()
        positions = self._check_positions(nonlocal_placement.positions(depth))
        cin = base
        for s, n in zip(STAGES, DEPTHS[depth], strict=True):
            inner, cout = base * 2 ** (s - 2), base * 2 ** (s - 2) * 4
            blocks = []
            for i in range(n):
                inflate = pattern[s][i]
                blocks.append(
                    Bottleneck(
                        cin if i == 0 else cout,
                        inner,
                        cout,
                        stride=2 if (i == 0 and s > 2) else 1,
                        t_a=3 if inflate and inflation == "3x1x1" else 1,
                        t_b=3 if inflate and inflation == "3x3x3" else 1,
                        stride_on=stride_on,
                    )
                )
            nonlocal_blocks = {i: nonlocal_placement.block(cout) for st, i in positions if st == s}
            self.add_module(f"res{s}", Stage(blocks, nonlocal_blocks))
            cin = cout
        self.num_features = cin
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)
        self._init_weights(zero_init_residual)

    def _check_positions(self, positions: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
        blocks = dict(zip(STAGES, DEPTHS[self.depth], strict=True))
        for s, i in positions:
            if s not in blocks or not 0 <= i < blocks[s]:
                raise ValueError(
                    f"non-local position ({s}, {i}) does not exist in ResNet-{self.depth}: "
                    f"stages 2-5 have {list(blocks.values())} blocks"
                )
        if len(set(positions)) != len(positions):
            raise ValueError(f"non-local positions repeat: {sorted(positions)}")
        return positions

    def _init_weights(self, zero_init_residual: bool) -> None:
        for m in self.modules():
            if isinstance(m, NonLocalBlock):
                continue
            if isinstance(m, nn.Conv3d) and m.bias is None:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, NonLocalBlock):
                m.reset_parameters()
            elif zero_init_residual and isinstance(m, Bottleneck):
                nn.init.zeros_(m.bn_c.weight)
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    @property
    def stages(self) -> list[Stage]:
        return [getattr(self, f"res{s}") for s in STAGES]

    def features(self, x: Tensor) -> Tensor:
        """The res5 feature map (B, C, T', H', W') of clips (B, 3, T, H, W)."""
        x = self.pool1(self.relu(self.bn1(self.conv1(x))))
        res2, res3, res4, res5 = self.stages
        x = self.pool2(res2(x))
        return res5(res4(res3(x)))

    def forward(self, x: Tensor, dense: bool = False) -> Tensor:
        """Logits (B, K) from the globally pooled features, or per position (B, K, T', H', W') if ``dense``.

        ``dense`` is the fully convolutional test of the authors' code: the fc applied at every
        position, so that the caller can take a softmax per position and average it.
        """
        feats = self.features(x)  # (B, C, T', H', W')
        if dense:
            return torch.einsum("bcthw,kc->bkthw", feats, self.fc.weight) + self.fc.bias[:, None, None, None]
        pooled = feats.mean(dim=(2, 3, 4))  # (B, C)
        return self.fc(self.dropout(pooled))

    def nonlocal_blocks(self) -> dict[str, NonLocalBlock]:
        """Every non-local block by its module name, e.g. ``res4.nonlocal_blocks.4``."""
        return {name: m for name, m in self.named_modules() if isinstance(m, NonLocalBlock)}


def _build(depth: int, inflation: Inflation, **kwargs: object) -> VideoResNet:
    return VideoResNet(depth=depth, inflation=inflation, **kwargs)  # type: ignore[arg-type]


@register_model
def c2d_r50(**kwargs: object) -> VideoResNet:
    """C2D ResNet-50 (Table 1): every kernel 1×k×k, time handled only by pooling."""
    return _build(50, "none", **kwargs)


@register_model
def c2d_r101(**kwargs: object) -> VideoResNet:
    """C2D ResNet-101."""
    return _build(101, "none", **kwargs)


@register_model
def i3d_r50(**kwargs: object) -> VideoResNet:
    """I3D 3×1×1 ResNet-50, the "I3D" of Tables 2f and 2g."""
    return _build(50, "3x1x1", **kwargs)


@register_model
def i3d_r101(**kwargs: object) -> VideoResNet:
    """I3D 3×1×1 ResNet-101, the "I3D" of Tables 2e-2g."""
    return _build(101, "3x1x1", **kwargs)


@register_model
def i3d_3x3x3_r50(**kwargs: object) -> VideoResNet:
    """I3D 3×3×3 ResNet-50: the 3×3 kernel of every other block inflated to 3×3×3."""
    return _build(50, "3x3x3", **kwargs)


@register_model
def i3d_3x3x3_r101(**kwargs: object) -> VideoResNet:
    """I3D 3×3×3 ResNet-101 (Table 2e)."""
    return _build(101, "3x3x3", **kwargs)
