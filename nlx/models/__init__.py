"""Video models of the paper: non-local blocks and C2D / I3D ResNets."""

from nlx.models.inflate import load_imagenet_2d
from nlx.models.non_local import INSTANTIATIONS, SCOPES, NonLocalBlock
from nlx.models.registry import create_model, list_models, model_doc, register_model
from nlx.models.resnet import (
    NAMED_PLACEMENTS,
    NonLocalPlacement,
    Pool,
    Stem,
    VideoResNet,
    nonlocal_positions,
)

__all__ = [
    "INSTANTIATIONS",
    "NAMED_PLACEMENTS",
    "SCOPES",
    "NonLocalBlock",
    "NonLocalPlacement",
    "Pool",
    "Stem",
    "VideoResNet",
    "create_model",
    "list_models",
    "load_imagenet_2d",
    "model_doc",
    "nonlocal_positions",
    "register_model",
]
