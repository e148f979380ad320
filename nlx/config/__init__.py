"""Typed configuration: schema, YAML loading with inheritance and overrides, presets."""

from nlx.config.load import config_from_tree, dump_yaml, load_config, parse_overrides, to_tree
from nlx.config.presets import Preset, load_preset
from nlx.config.schema import (
    Config,
    DataConfig,
    EvalConfig,
    ModelConfig,
    NonLocalConfig,
    OptimConfig,
    PoolConfig,
    RuntimeConfig,
    SlurmConfig,
)

__all__ = [
    "Config",
    "DataConfig",
    "EvalConfig",
    "ModelConfig",
    "NonLocalConfig",
    "OptimConfig",
    "PoolConfig",
    "Preset",
    "RuntimeConfig",
    "SlurmConfig",
    "config_from_tree",
    "dump_yaml",
    "load_config",
    "load_preset",
    "parse_overrides",
    "to_tree",
]
