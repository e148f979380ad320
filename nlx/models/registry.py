"""A registry of named model builders (``c2d_r50``, ``i3d_r101``, ...), as timm and torchvision have."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from torch import nn

Builder = TypeVar("Builder", bound=Callable[..., nn.Module])
_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Builder) -> Builder:
    """Register ``fn`` under its function name."""
    _REGISTRY[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def model_doc(name: str) -> str:
    doc = (_REGISTRY[name].__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


def create_model(name: str, **kwargs: object) -> nn.Module:
    """Build the registered model ``name`` with keyword arguments for its constructor."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(list_models())}")
    return _REGISTRY[name](**kwargs)
