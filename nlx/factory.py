"""The one place where a config section becomes a model (models themselves know nothing of configs)."""

from __future__ import annotations

from nlx.config.schema import Config, ModelConfig, PoolConfig
from nlx.models import NonLocalPlacement, Pool, Stem, VideoResNet, create_model
from nlx.models.inflate import InflationReport, load_imagenet_2d, read_state_dict
from nlx.profile import ModelProfile, profile


def _pool(cfg: PoolConfig | None) -> Pool | None:
    return None if cfg is None else Pool(cfg.kernel, cfg.stride, cfg.padding)


def placement(cfg: ModelConfig) -> NonLocalPlacement:
    nl = cfg.non_local
    blocks = str(nl.blocks) if isinstance(nl.blocks, str | int) else tuple((s, i) for s, i in nl.blocks)
    return NonLocalPlacement(
        blocks=blocks,
        instantiation=nl.instantiation,
        scope=nl.scope,
        subsample=nl.subsample,
        subsample_position=nl.subsample_position,
        scale=nl.scale,
        norm=nl.norm,
        init=nl.init,
        implementation=nl.implementation,
        layout=nl.r101_layout,
    )


def build_model(cfg: ModelConfig) -> VideoResNet:
    """The model of ``cfg``, randomly initialised (see :func:`init_pretrained` for ImageNet weights)."""
    model = create_model(
        cfg.name,
        num_classes=cfg.num_classes,
        width=cfg.width,
        dropout=cfg.dropout,
        stride_on=cfg.stride_on,
        stem=Stem(conv1_stride=cfg.conv1_stride, pool1=_pool(cfg.pool1), pool2=_pool(cfg.pool2)),
        zero_init_residual=cfg.zero_init_residual,
        nonlocal_placement=placement(cfg),
    )
    assert isinstance(model, VideoResNet)
    return model


def init_pretrained(model: VideoResNet, cfg: ModelConfig) -> InflationReport | None:
    """Copy / inflate ImageNet weights into ``model`` when ``cfg.pretrained`` asks for them."""
    if cfg.pretrained == "none":
        return None
    source = pretrained_source(cfg.pretrained, model.depth)
    return load_imagenet_2d(model, read_state_dict(source, model.depth), source=source)


def pretrained_source(value: str, depth: int) -> str:
    """``model.pretrained`` with ``{depth}`` filled in, so one preset serves ResNet-50 and -101."""
    return value.replace("{depth}", str(depth))


def input_shape(cfg: Config) -> tuple[int, int, int, int, int]:
    """One training clip: (1, 3, frames, crop, crop)."""
    return (1, 3, cfg.data.frames, cfg.data.crop, cfg.data.crop)


def profile_config(cfg: Config) -> ModelProfile:
    """Parameters and multiply-adds of ``cfg``'s model on one training clip (Table 2e's convention)."""
    return profile(lambda: build_model(cfg.model), input_shape(cfg))
