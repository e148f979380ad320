"""One paper table as numbers: per row and metric our mean, std and n over seeds, the paper's value, the
difference, and which cells are the column's best (computed from the numbers, ties included).

Rendering to text (Markdown, LaTeX, HTML, the terminal) is :mod:`nlx.report.render`; nothing here formats.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from nlx.report.records import SweepRecord
from nlx.report.stats import LOWER_IS_BETTER, RATIO_METRICS, Stats, ratio_base

DECIMALS = 2  # our means, stds, ratios and differences are shown (and compared for "best") at 2 decimals
METRIC_NAMES = {"top1": "top-1", "top5": "top-5", "mAP": "mAP", "params": "params", "flops": "FLOPs"}


@dataclass(frozen=True)
class Value:
    """Our value of one cell (a ratio to the first row for params/FLOPs) and the paper's."""

    mean: float
    std: float
    n: int
    paper: float

    @property
    def delta(self) -> float:
        return self.mean - self.paper if self.n and not math.isnan(self.paper) else math.nan


@dataclass(frozen=True)
class RowView:
    id: str
    label: str
    group: str | None
    done: int
    expected: int
    values: dict[str, Value]
    footnote: int | None = None  # number of the footnote that explains its missing or failed runs


@dataclass(frozen=True)
class TableView:
    record: SweepRecord
    metrics: tuple[str, ...]
    rows: tuple[RowView, ...]
    best: dict[tuple[str, str], bool]  # (row id, metric) -> bold
    footnotes: tuple[str, ...]

    @property
    def table(self) -> str:
        return self.record.table

    @property
    def has_groups(self) -> bool:
        return self.record.has_groups

    def numbers(self) -> pd.DataFrame:
        """The table as numbers: one row per table row, columns ``<metric>_{mean,std,n,paper,delta}``."""
        data = []
        for row in self.rows:
            item: dict[str, object] = {
                "row": row.id,
                "label": row.label,
                "group": row.group,
                "done": row.done,
                "expected": row.expected,
            }
            for m in self.metrics:
                v = row.values[m]
                item |= {
                    f"{m}_mean": v.mean,
                    f"{m}_std": v.std,
                    f"{m}_n": v.n,
                    f"{m}_paper": v.paper,
                    f"{m}_delta": v.delta,
                    f"{m}_best": self.best[(row.id, m)],
                }
            data.append(item)
        return pd.DataFrame(data)


def metric_name(metric: str) -> str:
    return METRIC_NAMES.get(metric, metric)


def best_mask(
    means: pd.DataFrame, lower_is_better: frozenset[str] = LOWER_IS_BETTER, decimals: int = DECIMALS
) -> pd.DataFrame:
    """Which cells are their column's best, from the numbers rounded as shown; ties all best; NaN never."""
    rounded = means.astype("float64").round(decimals)
    mask = pd.DataFrame(False, index=means.index, columns=means.columns)
    for col in means.columns:
        values = rounded[col]
        if values.notna().any():
            best = values.min() if col in lower_is_better else values.max()
            mask[col] = values == best
    return mask


def build_table(record: SweepRecord, stats: Stats, runs: pd.DataFrame) -> TableView:
    """The table of ``record`` from the per-cell statistics; footnotes for the seeds without a result."""
    mine = runs[runs["table"] == record.table]
    metrics = tuple(m for m in record.metrics if not _always_full(m, mine))
    footnotes = [
        f"{m.replace('top', 'top-')} left out: every run has at most {m[3:]} classes,"
        " so it is 100% by definition"
        for m in record.metrics
        if m not in metrics
    ]
    rows: list[RowView] = []
    for row in record.rows:
        cells = mine[mine["row"] == row.id].sort_values(["seed", "run_id"])
        cols = ["seed", "run_id", "status", "reason"]
        notes = [_note(c) for c in cells[cols].to_dict("records") if c["status"] != "done"]
        if notes:
            footnotes.append(f"{row.label}{_group_suffix(row.group)}: " + "; ".join(notes))
        values = {m: _value(record, stats, row.id, m, row.paper.get(m, math.nan)) for m in metrics}
        done = int((cells["status"] == "done").sum())
        footnote = len(footnotes) if notes else None
        rows.append(RowView(row.id, row.label, row.group, done, len(row.runs), values, footnote))
    means = pd.DataFrame(
        {m: [r.values[m].mean if r.values[m].n else math.nan for r in rows] for m in metrics},
        index=[r.id for r in rows],
    )
    mask = best_mask(means)
    best = {(r.id, m): bool(mask.at[r.id, m]) for r in rows for m in metrics}
    return TableView(record, metrics, tuple(rows), best, tuple(footnotes))


def _always_full(metric: str, runs: pd.DataFrame) -> bool:
    """Whether ``metric`` is a top-k that every run of the table scores 100% on (k ≥ its classes)."""
    if not metric.startswith("top") or not metric[3:].isdigit() or "model.num_classes" not in runs:
        return False
    classes = pd.to_numeric(runs["model.num_classes"], errors="coerce")
    return bool(classes.notna().any() and (classes.dropna() <= int(metric[3:])).all())


def _value(record: SweepRecord, stats: Stats, row_id: str, metric: str, paper: float) -> Value:
    cell = stats.get(record.table, row_id, metric)
    if cell is None or cell.n == 0:
        return Value(math.nan, math.nan, 0, paper)
    if metric not in RATIO_METRICS:
        return Value(cell.mean, cell.std, cell.n, paper)
    base = ratio_base(stats, record, metric)
    if math.isnan(base):
        return Value(math.nan, math.nan, 0, paper)
    return Value(cell.mean / base, cell.std / base, cell.n, paper)


def _note(cell: Mapping[str, Any]) -> str:
    """``seed 1 (run 77a0c1d2e3f4): failed (loss is nan at iteration 1234)``"""
    seed = cell["seed"]
    seed_text = "seed ?" if seed is None or pd.isna(seed) else f"seed {int(seed)}"
    reason = cell["reason"]
    why = f"{cell['status']} ({reason})" if isinstance(reason, str) and reason else str(cell["status"])
    return f"{seed_text} (run {cell['run_id']}): {why}"


def _group_suffix(group: str | None) -> str:
    return f" ({group})" if group else ""
