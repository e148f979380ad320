"""Per-cell statistics over seeds: n, mean, sample std (ddof 1) and standard error, from done runs only."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from nlx.report.records import SweepRecord

STAT_METRICS = ("top1", "top5", "mAP", "params", "flops")
RATIO_METRICS = ("params", "flops")  # shown relative to a table's first row; lower is better
LOWER_IS_BETTER = frozenset(RATIO_METRICS)


@dataclass(frozen=True)
class Cell:
    """One (table, row, metric): the seeds' values that finished, and the seeds expected."""

    values: tuple[float, ...]
    expected: int

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return sum(self.values) / self.n if self.values else math.nan

    @property
    def std(self) -> float:
        if self.n < 2:
            return math.nan
        m = self.mean
        return math.sqrt(sum((v - m) ** 2 for v in self.values) / (self.n - 1))

    @property
    def sem(self) -> float:
        return self.std / math.sqrt(self.n) if self.n >= 2 else math.nan


Key = tuple[str, str, str]  # (table, row id, metric)


@dataclass(frozen=True)
class Stats:
    cells: dict[Key, Cell]

    def get(self, table: str, row: str, metric: str) -> Cell | None:
        return self.cells.get((table, row, metric))

    def pooled_std(self, metric: str) -> float:
        """Seed-to-seed std pooled over every distinct set of runs with n >= 2 (nan when there is none)."""
        seen: set[tuple[float, ...]] = set()
        num = den = 0.0
        for (_, _, m), cell in sorted(self.cells.items()):
            if m != metric or cell.n < 2 or cell.values in seen:
                continue
            seen.add(cell.values)
            num += (cell.n - 1) * cell.std**2
            den += cell.n - 1
        return math.sqrt(num / den) if den else math.nan


def compute_stats(runs: pd.DataFrame, records: Iterable[SweepRecord]) -> Stats:
    cells: dict[Key, Cell] = {}
    for rec in records:
        part = runs[runs["table"] == rec.table]
        for row in rec.rows:
            mine = part[(part["row"] == row.id) & (part["status"] == "done")].sort_values(["seed", "run_id"])
            for metric in STAT_METRICS:
                values = tuple(float(v) for v in mine[metric].dropna())
                cells[(rec.table, row.id, metric)] = Cell(values, len(row.runs))
    return Stats(cells)


def ratio_base(stats: Stats, record: SweepRecord, metric: str) -> float:
    """The first row's mean of ``metric``: what Table 2e's params/FLOPs columns are relative to."""
    cell = stats.get(record.table, record.rows[0].id, metric) if record.rows else None
    return cell.mean if cell is not None and cell.n and cell.mean > 0 else math.nan
