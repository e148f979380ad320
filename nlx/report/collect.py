"""From a results directory to one table of runs: one row per (table, row, seed) cell of the sweep records.

Runs that no record names are kept too, with ``table`` and ``row`` empty. A cell's ``status`` is ``done``
(``final.json`` is there), ``failed``/``running``/``interrupted`` (from ``meta.json``), or ``missing`` (no
run directory, or neither a final summary nor a status). Config keys become dotted columns
(``model.non_local.blocks``); lists become JSON strings so that ``runs.csv`` round-trips.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from nlx.report.records import RecordRow, SweepRecord

METRICS = ("top1", "top5", "mAP")
COSTS = ("params", "flops", "wall_time_s", "iterations", "skipped_videos")
BASE_COLUMNS = (
    "table",
    "row",
    "label",
    "group",
    "seed",
    "run_id",
    "status",
    "reason",
    "preset",
    *METRICS,
    *COSTS,
)
_RESERVED_DIRS = {"sweeps", "figures"}
_RUN_FILES = ("final.json", "meta.json", "config.yaml")


@dataclass(frozen=True)
class RunFiles:
    """What one run directory holds, read once."""

    run_id: str
    exists: bool
    config: dict[str, Any]
    meta: dict[str, Any]
    final: dict[str, Any] | None


def read_run(results_dir: Path, run_id: str) -> RunFiles:
    path = results_dir / run_id
    if not path.is_dir():
        return RunFiles(run_id, False, {}, {}, None)
    final = _read_json(path / "final.json")
    return RunFiles(
        run_id, True, _read_yaml(path / "config.yaml"), _read_json(path / "meta.json") or {}, final
    )


def run_status(run: RunFiles) -> tuple[str, str]:
    """``(status, reason)`` of a run, from its files only (no lock probing: reports are pure)."""
    if not run.exists:
        return "missing", "no run directory"
    if run.final is not None:
        return "done", ""
    status = str(run.meta.get("status") or "")
    if status == "failed":
        return "failed", str(run.meta.get("reason") or "no reason recorded in meta.json")
    if status == "running":
        return "running", "not finished (meta.json says running)"
    if status == "interrupted":
        return "interrupted", "interrupted before final.json; resume with nlx sweep"
    return "missing", f"no final.json (meta.json status: {status or 'none'})"


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"name": "c2d_r50"}}`` -> ``{"model.name": "c2d_r50"}``; lists as JSON strings."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{dotted}."))
        elif isinstance(value, list | tuple | Mapping):
            out[dotted] = json.dumps(value)
        else:
            out[dotted] = value
    return out


def collect_runs(results_dir: Path, records: list[SweepRecord]) -> pd.DataFrame:
    """One row per (table, row, seed) cell, then the runs no record names; stable order and columns."""
    cache: dict[str, RunFiles] = {}

    def run(run_id: str) -> RunFiles:
        if run_id not in cache:
            cache[run_id] = read_run(results_dir, run_id)
        return cache[run_id]

    rows: list[dict[str, Any]] = []
    for rec in records:
        for row in rec.rows:
            rows += [_cell(rec, row, r.seed, run(r.run_id)) for r in row.runs]
    named = set(cache)
    for run_id in _run_dirs(results_dir):
        if run_id not in named:
            files = run(run_id)
            seed = (
                files.config.get("runtime", {}).get("seed")
                if isinstance(files.config.get("runtime"), dict)
                else None
            )
            rows.append(_cell(None, None, seed, files))
    return _frame(rows)


def _cell(rec: SweepRecord | None, row: RecordRow | None, seed: Any, run: RunFiles) -> dict[str, Any]:
    status, reason = run_status(run)
    final = run.final or {}
    metrics = final.get("metrics") or {}
    cell: dict[str, Any] = {
        "table": rec.table if rec else None,
        "row": row.id if row else None,
        "label": row.label if row else None,
        "group": row.group if row else None,
        "seed": seed,
        "run_id": run.run_id,
        "status": status,
        "reason": reason or None,
        "preset": rec.preset if rec else None,
        **{m: _number(metrics.get(m)) for m in METRICS},
        **{c: _number(final.get(c)) for c in COSTS},
    }
    for key, value in flatten(run.config).items():
        cell[key if key not in BASE_COLUMNS else f"config.{key}"] = value
    return cell


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    config_cols = sorted({k for r in rows for k in r} - set(BASE_COLUMNS))
    columns = [*BASE_COLUMNS, *config_cols]
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    for col in (*METRICS, "wall_time_s"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    frame["seed"] = pd.to_numeric(frame["seed"], errors="coerce").astype("Int64")
    # counts and config values keep their types (4, not 4.0) with missing values allowed
    typed = [c for c in (*COSTS, *config_cols) if c != "wall_time_s"]
    if typed:
        frame[typed] = frame[typed].convert_dtypes()
    return frame


def _run_dirs(results_dir: Path) -> list[str]:
    return sorted(
        p.name
        for p in results_dir.iterdir()
        if p.is_dir()
        and not p.name.startswith(".")
        and p.name not in _RESERVED_DIRS
        and any((p / f).is_file() for f in _RUN_FILES)
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}
