"""Load configs from YAML with ``base:`` inheritance and Hydra-style ``a.b=value`` overrides.

Unknown keys, wrong types and impossible values fail here, at load time, with the key's full path.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from nlx.config.schema import Config
from nlx.errors import ConfigError

T = TypeVar("T")
_SCIENTIFIC = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
Tree = dict[str, Any]


def read_yaml(path: Path) -> Tree:
    """A YAML mapping from ``path`` (``yaml.safe_load``), with one-line errors naming the file."""
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> Tree:
    """``update`` over ``base``, recursively for nested mappings; lists and scalars are replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_with_bases(path: Path, _seen: tuple[Path, ...] = ()) -> Tree:
    """Read ``path`` and merge it over the files named by its ``base:`` key (a path or a list of them)."""
    path = path.resolve()
    if path in _seen:
        raise ConfigError(f"{path}: circular base: chain {' -> '.join(str(p) for p in (*_seen, path))}")
    data = read_yaml(path)
    bases = data.pop("base", None)
    if bases is None:
        return data
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"{path}: base: expected a path or a list of paths")
    merged: Tree = {}
    for base in bases:
        merged = deep_merge(merged, read_with_bases(path.parent / base, (*_seen, path)))
    return deep_merge(merged, data)


def nest(dotted: Mapping[str, Any]) -> Tree:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``; nested mappings inside are merged the same way."""
    out: Tree = {}
    for key, value in dotted.items():
        parts = key.split(".")
        if value is not None and isinstance(value, Mapping):
            value = nest(value)
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{key}: {part} is set both as a value and as a section")
        leaf = parts[-1]
        if isinstance(value, dict) and isinstance(node.get(leaf), dict):
            node[leaf] = deep_merge(node[leaf], value)
        else:
            node[leaf] = value
    return out


def parse_overrides(items: Iterable[str]) -> Tree:
    """``["optim.lr=0.1", "model.non_local.blocks=[[4, 4]]"]`` as a nested tree.

    Values are YAML scalars or lists.
    """
    dotted: Tree = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key or any(not p for p in key.split(".")):
            raise ConfigError(f"override {item!r}: expected key.path=value")
        try:
            dotted[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as err:
            raise ConfigError(f"override {item!r}: the value is not valid YAML") from err
    return nest(dotted)


# --- typed construction -----------------------------------------------------------------------------


def build(cls: type[T], data: Any, path: str = "") -> T:
    """An instance of the frozen dataclass ``cls`` from a YAML tree, strictly checked."""
    where = path or "config"
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {_describe(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = get_type_hints(cls)
    kwargs: Tree = {}
    for key, value in data.items():
        key_path = f"{path}.{key}" if path else str(key)
        if key not in fields:
            raise ConfigError(f"{key_path}: unknown key (known: {', '.join(fields)})")
        kwargs[key] = _convert(hints[key], value, key_path)
    obj = cls(**kwargs)
    if hasattr(obj, "validate"):
        obj.validate(path or "config")
    return obj


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(arg, value, path)
            except ConfigError:
                continue
        raise ConfigError(f"{path}: expected {_name(tp)}, got {_describe(value)}")
    if origin is Literal:
        if value in args and type(value) in {type(a) for a in args}:
            return value
        raise ConfigError(f"{path}: expected one of {', '.join(map(str, args))}, got {_describe(value)}")
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path)  # type: ignore[arg-type]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {_describe(value)}")
        return {_convert(args[0], k, path): _convert(args[1], v, f"{path}.{k}") for k, v in value.items()}
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: expected {_name(tp)}, got {_describe(value)}")
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis) and len(value) != len(args):
            raise ConfigError(f"{path}: expected {len(args)} values, got {len(value)}")
        item_types = [args[0]] * len(value) if (origin is list or args[1:] == (Ellipsis,)) else list(args)
        items = [
            _convert(t, v, f"{path}[{i}]") for i, (t, v) in enumerate(zip(item_types, value, strict=True))
        ]
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _SCIENTIFIC.fullmatch(value):
            return float(value)  # YAML 1.1 (PyYAML) reads 1e-4 as a string; YAML 1.2 and users read a number
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is Any:
        return value
    raise ConfigError(f"{path}: expected {_name(tp)}, got {_describe(value)}")


def _name(tp: Any) -> str:
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _name(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(map(str, args))
    if origin in (tuple, list):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return f"a list of {len(args)} {_plural(args[0])}"
        return f"a list of {_plural(args[0])}"
    if dataclasses.is_dataclass(tp) or origin is dict:
        return "a mapping"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def _plural(tp: Any) -> str:
    if get_origin(tp) in (tuple, list):
        return "lists"
    return {bool: "booleans", int: "integers", float: "numbers", str: "strings"}.get(tp, "values")


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) < 40 else text[:37] + '...'}"


# --- whole configs -----------------------------------------------------------------------------------


def to_tree(obj: Any) -> Any:
    """A dataclass config as plain YAML-able data (tuples become lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_tree(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list | tuple):
        return [to_tree(v) for v in obj]
    return obj


def config_from_tree(tree: Mapping[str, Any]) -> Config:
    return build(Config, tree)


def load_config(
    path: Path | None = None, overrides: Iterable[str] = (), base: Mapping[str, Any] | None = None
) -> Config:
    """A :class:`Config` from an optional base tree, a YAML file (with its ``base:`` chain) and overrides."""
    tree: Tree = dict(base or {})
    if path is not None:
        data = read_with_bases(path)
        data.pop("variants", None)
        tree = deep_merge(tree, data)
    tree = deep_merge(tree, parse_overrides(overrides))
    return config_from_tree(tree)


def dump_yaml(tree: Any) -> str:
    return yaml.safe_dump(tree, sort_keys=False, default_flow_style=None)


__all__ = [
    "build",
    "config_from_tree",
    "deep_merge",
    "dump_yaml",
    "load_config",
    "nest",
    "parse_overrides",
    "read_with_bases",
    "read_yaml",
    "to_tree",
]
