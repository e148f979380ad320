"""Presets (``ablations/presets/<name>.yaml``): the scale at which an ablation row runs.

A preset is a config tree plus optional named ``variants`` (dotted overrides), e.g. Table 2g's ``long``
variant: 128-frame clips, frozen BN, 2 clips per GPU and lr 0.0025 at the paper scale. An ablation row says
*what* differs (model, non-local blocks, a variant); the preset says *at what scale*.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlx.config.load import Tree, build, deep_merge, nest, parse_overrides, read_with_bases
from nlx.config.schema import Config
from nlx.errors import ConfigError

PRESET_DIR = Path("ablations") / "presets"


def preset_dirs() -> list[Path]:
    """Where presets are looked up: ``./ablations/presets``, then the source checkout's."""
    repo = Path(__file__).resolve().parents[2] / PRESET_DIR
    return [PRESET_DIR.resolve(), repo]


def preset_path(name: str) -> Path:
    """The YAML file of preset ``name`` (a bare name, or a path to a YAML file)."""
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml"):
        if not candidate.is_file():
            raise ConfigError(f"{candidate}: preset file not found")
        return candidate
    for folder in preset_dirs():
        if (folder / f"{name}.yaml").is_file():
            return folder / f"{name}.yaml"
    known = sorted({p.stem for d in preset_dirs() if d.is_dir() for p in d.glob("*.yaml")})
    raise ConfigError(f"preset {name!r} not found (known: {', '.join(known) or 'none'})")


@dataclass(frozen=True)
class Preset:
    name: str
    tree: Tree
    variants: Mapping[str, Tree]

    def resolve(
        self, row: Mapping[str, Any] | None = None, variant: str | None = None, overrides: Iterable[str] = ()
    ) -> Config:
        """The full config of ``row`` (a dotted mapping) at this scale, with CLI ``overrides`` last."""
        return build(Config, self.tree_for(row, variant, overrides))

    def tree_for(
        self, row: Mapping[str, Any] | None = None, variant: str | None = None, overrides: Iterable[str] = ()
    ) -> Tree:
        tree = self.tree
        if variant is not None:
            if variant not in self.variants:
                known = ", ".join(self.variants) or "none"
                raise ConfigError(
                    f"variant {variant!r} is not defined by preset {self.name} (defined: {known})"
                )
            tree = deep_merge(tree, self.variants[variant])
        tree = deep_merge(tree, nest(row or {}))
        return deep_merge(tree, parse_overrides(overrides))


def load_preset(name: str) -> Preset:
    path = preset_path(name)
    tree = read_with_bases(path)
    raw_variants = tree.pop("variants", None) or {}
    if not isinstance(raw_variants, dict):
        raise ConfigError(f"{path}: variants: expected a mapping of name -> overrides")
    variants: dict[str, Tree] = {}
    for key, value in raw_variants.items():
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: variants.{key}: expected a mapping of overrides")
        variants[str(key)] = nest(value)
    build(Config, tree, "")  # fail early, naming the preset's own bad keys
    return Preset(name=path.stem, tree=tree, variants=variants)
