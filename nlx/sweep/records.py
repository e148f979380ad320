"""Sweep records, ``<results>/sweeps/<table>.json``: which runs make up which row (docs/results-format.md).

``nlx report`` reads them and never guesses. A sweep writes the records of the files it was given when it
starts and rewrites them as runs change status (each run entry carries its ``status``). Runs recorded by an
earlier sweep of the same file and preset stay in the record for the seeds this sweep does not cover, so
``--seeds 2,`` after ``--seeds 0,1`` gives three seeds per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nlx.io import read_json, write_json
from nlx.sweep.matrix import OPERATORS, Ablation, ClaimSpec
from nlx.sweep.plan import RunSpec

RECORD_DIR = "sweeps"


def record_path(results: Path, table: str) -> Path:
    return results / RECORD_DIR / f"{table}.json"


def display_path(path: Path) -> str:
    """``ablations/table2a.yaml`` when the file is under the working directory, else the absolute path."""
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(resolved)


def build_record(
    ablation: Ablation,
    specs: Iterable[RunSpec],
    preset: str,
    statuses: Mapping[str, str],
    table_of: Callable[[Path], str],
) -> dict[str, Any]:
    """The record of one table: its rows (with runs per seed and their status) and claims."""
    mine = [s for s in specs if s.ablation.resolve() == ablation.path.resolve()]
    rows = []
    for row in ablation.rows:
        cells = sorted((s for s in mine if s.row.id == row.id), key=lambda s: s.seed)
        runs = [
            {"seed": s.seed, "run_id": s.run_id, "status": statuses.get(s.run_id, "pending")} for s in cells
        ]
        rows.append(
            {"id": row.id, "label": row.label, "group": row.group, "paper": dict(row.paper), "runs": runs}
        )
    return {
        "table": ablation.table,
        "file": display_path(ablation.path),
        "preset": preset,
        "title": ablation.title,
        "caption": ablation.caption,
        "metrics": list(ablation.metrics),
        "rows": rows,
        "claims": [_claim(c, ablation.path, table_of) for c in ablation.claims],
        "updated": _now(),
    }


def _claim(claim: ClaimSpec, home: Path, table_of: Callable[[Path], str]) -> dict[str, Any]:
    def ref(token: str) -> str:
        if token in OPERATORS:
            return token
        file_part, sep, row_id = token.rpartition("#")
        return f"{table_of(home.parent / file_part)}:{row_id}" if sep else token

    return {
        "id": claim.id,
        "text": claim.text,
        "metric": claim.metric,
        "chains": [[ref(t) for t in chain] for chain in claim.all_chains()],
        "within": claim.within,
        "rows": [ref(r) for r in claim.rows],
    }


def merge_previous(record: dict[str, Any], previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """Keep the runs of an earlier record (same file and preset) for seeds this record does not have."""
    if not previous or previous.get("preset") != record["preset"] or previous.get("file") != record["file"]:
        return record
    old_rows = {r.get("id"): r for r in previous.get("rows") or [] if isinstance(r, dict)}
    for row in record["rows"]:
        seeds = {r["seed"] for r in row["runs"]}
        kept = [r for r in (old_rows.get(row["id"]) or {}).get("runs") or [] if r.get("seed") not in seeds]
        row["runs"] = sorted([*kept, *row["runs"]], key=lambda r: r["seed"])
    return record


def read_record(path: Path) -> dict[str, Any] | None:
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Records:
    """The records of the tables a sweep was given, rewritten atomically whenever a status changes."""

    def __init__(
        self,
        results: Path,
        ablations: Sequence[Ablation],
        specs: Sequence[RunSpec],
        preset: str,
        table_of: Callable[[Path], str],
    ) -> None:
        self.results = results
        self.ablations = list(ablations)
        self.specs = list(specs)
        self.preset = preset
        self.table_of = table_of
        self._previous = {a.table: read_record(record_path(results, a.table)) for a in self.ablations}
        self._written: dict[str, list[Any]] = {}

    def write(self, statuses: Mapping[str, str]) -> None:
        for ablation in self.ablations:
            record = build_record(ablation, self.specs, self.preset, statuses, self.table_of)
            record = merge_previous(record, self._previous[ablation.table])
            if self._written.get(ablation.table) == record["rows"]:
                continue  # no status changed in this table
            write_json(record_path(self.results, ablation.table), record)
            self._written[ablation.table] = record["rows"]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
