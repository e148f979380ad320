"""The peer of ``nlx bench train``: the same network built with pytorchvideo's ``create_resnet`` and
``pytorchvideo.layers.nonlocal_net.create_nonlocal`` (an optional, benchmark-only dependency:
``pip install -e ".[bench]"``).

pytorchvideo's builder covers most of the paper layout through its arguments; three pieces are wrapped
so that the peer is the nlx network layer for layer (equal parameter and FLOP counts are checked in the
output of ``nlx bench train``):

* pool1: ``create_resnet`` pads every pooled axis by kernel // 2; the paper's pool1 is unpadded in space
  (112 → 55), so the stem's pool is replaced by nlx's :class:`~nlx.models.Stem` pool;
* pool2: ``stage1_pool`` gets kernel = stride; the paper's is kernel 3, stride 2 in time;
* the spatial stride: pytorchvideo puts it on the 3×3 conv (b); a bottleneck wrapper moves it to the
  first 1×1 conv (a), as the paper's Caffe2 ResNets (nlx ``stride_on="1x1"``).

pytorchvideo's non-local layer is the authors' variant (max pool on x before φ and g, θᵀφ scaled by
d^-0.5, softmax): the nlx model it is compared with is configured the same way
(:data:`PEER_PLACEMENT_OPTIONS`).
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable
from typing import Any

from torch import nn

from nlx.errors import NlxError
from nlx.models.resnet import NonLocalPlacement, Stem, VideoResNet, temporal_pattern

# The nlx non-local options that match pytorchvideo's NonLocal(instantiation="softmax", pool_size=(1, 2, 2)).
PEER_PLACEMENT_OPTIONS: dict[str, Any] = {
    "instantiation": "embedded_gaussian",
    "subsample_position": "before",
    "scale": True,
}


def peer_available() -> bool:
    return importlib.util.find_spec("pytorchvideo") is not None


def peer_version() -> str:
    from importlib.metadata import version

    return version("pytorchvideo")


def _import_pytorchvideo() -> tuple[
    Callable[..., nn.Module], Callable[..., nn.Module], Callable[..., nn.Module]
]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pytorchvideo imports warn about torch.jit.script
        from pytorchvideo.layers.nonlocal_net import create_nonlocal
        from pytorchvideo.models.resnet import create_bottleneck_block, create_resnet
    return create_resnet, create_bottleneck_block, create_nonlocal


def _stride_on_1x1(create_bottleneck_block: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """A ``bottleneck`` for ``create_resnet`` that moves the spatial stride from conv (b) to conv (a)."""

    def build(**kwargs: Any) -> nn.Module:
        a, b = kwargs["conv_a_stride"], kwargs["conv_b_stride"]
        kwargs["conv_a_stride"] = (a[0], b[1], b[2])
        kwargs["conv_b_stride"] = (b[0], 1, 1)
        return create_bottleneck_block(**kwargs)

    return build


def _fixed_pool(pool: nn.Module | None) -> Callable[..., nn.Module]:
    """A ``stage1_pool`` for ``create_resnet`` that ignores its kernel = stride arguments."""

    def build(**_: Any) -> nn.Module:
        return pool if pool is not None else nn.Identity()

    return build


def build_peer(reference: VideoResNet, placement: NonLocalPlacement, num_classes: int = 400) -> nn.Module:
    """The pytorchvideo network with ``reference``'s depth, inflation, stem and non-local positions."""
    if reference.inflation == "3x3x3":
        raise NlxError(
            "pytorchvideo's create_resnet sets the 3×3 kernel per stage, not per block: no I3D 3×3×3 peer"
        )
    create_resnet, create_bottleneck_block, create_nonlocal = _import_pytorchvideo()
    stem = Stem()
    pattern = temporal_pattern(reference.depth, reference.inflation)
    conv_a = tuple(tuple((3 if inflate else 1, 1, 1) for inflate in pattern[s]) for s in (2, 3, 4, 5))
    t1 = 5 if reference.inflation != "none" else 1
    assert stem.pool1 is not None
    peer = create_resnet(
        model_depth=reference.depth,
        model_num_class=num_classes,
        dropout_rate=0.5,
        stem_conv_kernel_size=(t1, 7, 7),
        stem_conv_stride=stem.conv1_stride,
        stem_pool_kernel_size=stem.pool1.kernel,
        stem_pool_stride=stem.pool1.stride,
        stage1_pool=_fixed_pool(stem.pool2.module() if stem.pool2 else None),
        stage_conv_a_kernel_size=conv_a,
        stage_spatial_h_stride=(1, 2, 2, 2),
        stage_spatial_w_stride=(1, 2, 2, 2),
        bottleneck=_stride_on_1x1(create_bottleneck_block),
        head_pool=nn.AdaptiveAvgPool3d,
        head_output_size=(1, 1, 1),
    )
    blocks: Any = peer.blocks  # [stem, res2, pool2, res3, res4, res5, head]
    blocks[0].pool = stem.pool1.module()  # unpadded in space, as the paper's pool1
    stages = [b for b in blocks if type(b).__name__ == "ResStage"]
    for s, i in placement.positions(reference.depth):
        channels = 64 * 2 ** (s - 2) * 4
        block = create_nonlocal(
            dim_in=channels, dim_inner=channels // 2, pool_size=(1, 2, 2), instantiation="softmax"
        )
        res_blocks = stages[s - 2].res_blocks
        res_blocks[i] = nn.Sequential(res_blocks[i], block)
    for module in peer.modules():  # the shortcut's stride is a tuple of numpy ints, which torch.compile
        if isinstance(module, nn.Conv3d):  # cannot trace (a data-dependent graph break): plain ints
            module.stride = tuple(int(s) for s in module.stride)
    return peer
