"""``nlx eval``: the multi-view test of a finished run or checkpoint, with its config or another protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nlx.config.load import build, deep_merge, parse_overrides, read_yaml
from nlx.config.schema import Config
from nlx.errors import NlxError
from nlx.factory import build_model
from nlx.train.checkpoint import load_weights, read_weights
from nlx.train.run import run_test
from nlx.train.runtime import setup_runtime, teardown


def find_config(target: Path) -> Path:
    """The ``config.yaml`` of a run directory, or of the run a checkpoint belongs to."""
    for folder in (target, target.parent, target.parent.parent):
        if (folder / "config.yaml").is_file():
            return folder / "config.yaml"
    raise NlxError(f"{target}: no config.yaml in the run directory or beside the checkpoint")


def evaluate(target: Path, overrides: list[str]) -> dict[str, Any]:
    """Test the weights of ``target`` (a run directory or a checkpoint file) on the validation split."""
    if not target.exists():
        raise NlxError(f"{target}: no such run directory or checkpoint")
    tree = deep_merge(read_yaml(find_config(target)), parse_overrides(overrides))
    cfg = build(Config, tree)
    runtime = setup_runtime(cfg.runtime)
    try:
        model = build_model(cfg.model)
        load_weights(model, read_weights(target), str(target))
        model.to(runtime.device)
        result = run_test(cfg, model, runtime)
    finally:
        teardown(runtime)
    skips = result.pop("skip_counter")
    return {**result, "skipped_videos": skips.count, "weights": str(target)}
