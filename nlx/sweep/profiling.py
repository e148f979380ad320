"""Profile a model name or every row of an ablation file at a preset's scale."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nlx.config.load import build
from nlx.config.presets import load_preset
from nlx.config.schema import Config
from nlx.errors import NlxError
from nlx.factory import input_shape, profile_config
from nlx.models import list_models
from nlx.sweep.plan import Planner


def _configs(target: str, path: Path, preset_name: str, overrides: Sequence[str]) -> list[tuple[str, Config]]:
    preset = load_preset(preset_name)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise NlxError(f"{path}: ablation file not found")
        planner = Planner(preset, overrides, seeds=[0])
        table = planner.ablation(path).table
        return [(s.row.id, s.config) for s in planner.plan([path]) if s.table == table]
    if target not in list_models():
        raise NlxError(f"{target}: neither an ablation file nor a model (models: {', '.join(list_models())})")
    return [(target, build(Config, preset.tree_for({"model.name": target}, None, overrides)))]


def profile_target(
    target: str, path: Path, preset_name: str, overrides: Sequence[str]
) -> list[dict[str, Any]]:
    """Rows of ``{"row", "params", "flops", "params_ratio", "flops_ratio", "input"}`` (ratios: to row 1)."""
    rows: list[dict[str, Any]] = []
    for row, cfg in _configs(target, path, preset_name, overrides):
        p = profile_config(cfg)
        shape = "×".join(map(str, input_shape(cfg)[2:]))
        rows.append({"row": row, "params": p.params, "flops": p.flops, "input": shape})
    for r in rows:
        r["params_ratio"] = r["params"] / rows[0]["params"]
        r["flops_ratio"] = r["flops"] / rows[0]["flops"]
    return rows
