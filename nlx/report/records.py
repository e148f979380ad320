"""Sweep records (``results/sweeps/<table>.json``, written by ``nlx sweep``): which runs fill which row.

See ``docs/results-format.md``. A chain entry naming another table's row is ``<table>:<row id>``
(``2f:r50_i3d``); the ablation-file spelling ``table2f.yaml#r50_i3d`` is accepted too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlx.errors import NlxError

OPERATORS = (">", ">=", "<", "<=")
_FILE_REF = re.compile(r"^(?:.*/)?(?:table)?([A-Za-z0-9_\-]+?)\.ya?ml#(.+)$")


@dataclass(frozen=True)
class RecordRun:
    seed: int
    run_id: str


@dataclass(frozen=True)
class RecordRow:
    id: str
    label: str
    group: str | None
    paper: dict[str, float]
    runs: tuple[RecordRun, ...]


@dataclass(frozen=True)
class RecordClaim:
    id: str
    text: str
    metric: str
    chains: tuple[tuple[str, ...], ...] = ()
    within: float | None = None
    rows: tuple[str, ...] = ()


@dataclass(frozen=True)
class SweepRecord:
    table: str
    file: str
    preset: str
    title: str
    caption: str
    metrics: tuple[str, ...]
    rows: tuple[RecordRow, ...]
    claims: tuple[RecordClaim, ...] = field(default=())

    def row(self, row_id: str) -> RecordRow | None:
        return next((r for r in self.rows if r.id == row_id), None)

    @property
    def has_groups(self) -> bool:
        return any(r.group for r in self.rows)


def load_records(results_dir: Path) -> list[SweepRecord]:
    """Every ``sweeps/*.json`` under ``results_dir``, sorted by table name."""
    folder = results_dir / "sweeps"
    if not folder.is_dir():
        return []
    records = [_read_record(p) for p in sorted(folder.glob("*.json"))]
    seen: set[str] = set()
    for rec in records:
        if rec.table in seen:
            raise NlxError(f"{folder}: two sweep records for table {rec.table}")
        seen.add(rec.table)
    return sorted(records, key=lambda r: r.table)


def resolve_ref(ref: str, home: str, records: list[SweepRecord]) -> tuple[str, str]:
    """``(table, row id)`` for a claim's row reference, relative to table ``home``."""
    match = _FILE_REF.match(ref)
    if match:
        name = ref.split("#", 1)[0].rsplit("/", 1)[-1]
        for rec in records:
            if rec.file.rsplit("/", 1)[-1] == name:
                return rec.table, match.group(2)
        return match.group(1), match.group(2)
    table, sep, row = ref.partition(":")
    return (table, row) if sep else (home, ref)


def _read_record(path: Path) -> SweepRecord:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise NlxError(f"{path}: not a readable JSON sweep record ({err})") from err
    if not isinstance(data, dict):
        raise NlxError(f"{path}: expected a JSON object")
    try:
        return _record(data)
    except (KeyError, TypeError, ValueError) as err:
        raise NlxError(f"{path}: not a sweep record ({type(err).__name__}: {err})") from err


def _record(data: dict[str, Any]) -> SweepRecord:
    return SweepRecord(
        table=str(data["table"]),
        file=str(data.get("file") or ""),
        preset=str(data.get("preset") or ""),
        title=str(data.get("title") or ""),
        caption=str(data.get("caption") or ""),
        metrics=tuple(str(m) for m in data.get("metrics") or ("top1", "top5")),
        rows=tuple(_row(r) for r in data.get("rows") or []),
        claims=tuple(_claim(c) for c in data.get("claims") or []),
    )


def _row(data: dict[str, Any]) -> RecordRow:
    runs = sorted(
        (RecordRun(int(r["seed"]), str(r["run_id"])) for r in data.get("runs") or []),
        key=lambda r: (r.seed, r.run_id),
    )
    return RecordRow(
        id=str(data["id"]),
        label=str(data.get("label") or data["id"]),
        group=str(data["group"]) if data.get("group") else None,
        paper={str(k): float(v) for k, v in (data.get("paper") or {}).items() if v is not None},
        runs=tuple(runs),
    )


def _claim(data: dict[str, Any]) -> RecordClaim:
    chains = [list(c) for c in data.get("chains") or []]
    if data.get("chain"):
        chains.append(list(data["chain"]))
    within = data.get("within")
    return RecordClaim(
        id=str(data["id"]),
        text=str(data.get("text") or data["id"]),
        metric=str(data.get("metric") or "top1"),
        chains=tuple(tuple(str(t) for t in c) for c in chains),
        within=float(within) if within is not None else None,
        rows=tuple(str(r) for r in data.get("rows") or []),
    )
