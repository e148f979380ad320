"""The report as data (:func:`build_report`, a pure function of a results directory) and its files
(:func:`write_report`): ``runs.csv`` (and ``runs.parquet`` with pyarrow), ``figures/``, ``REPORT.md``,
``report.tex``, ``report.html``.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from nlx.errors import NlxError
from nlx.io import write_bytes
from nlx.report import figures as fig
from nlx.report.claims import VERDICTS, ClaimResult, evaluate_claims
from nlx.report.collect import collect_runs
from nlx.report.records import SweepRecord, load_records
from nlx.report.stats import Stats, compute_stats
from nlx.report.tables import TableView, build_table

FORMATS = ("md", "tex", "html")
SCALE_KEYS = ("model.width", "data.frames", "data.crop", "optim.batch_size", "optim.iterations")


@dataclass(frozen=True)
class Report:
    """Everything the output files show, computed from the results directory alone."""

    name: str  # the results directory's name (not its path: the report does not depend on where it lies)
    records: tuple[SweepRecord, ...]  # every sweep record (claims may name rows of tables not shown)
    tables: tuple[TableView, ...]  # the tables shown, in table order
    claims: tuple[ClaimResult, ...]  # the claims of the tables shown
    runs: pd.DataFrame  # one row per (table, row, seed) cell, then runs in no record: runs.csv
    stats: Stats
    curves: pd.DataFrame  # Figure 4's curves: arm, run_id, kind, iteration, top1_err
    results_dir: Path = field(default=Path("."), compare=False)  # where the runs are; never written out

    def table(self, table: str) -> TableView:
        for view in self.tables:
            if view.table == table:
                return view
        raise KeyError(f"table {table} is not in this report ({', '.join(v.table for v in self.tables)})")

    def verdict_counts(self) -> dict[str, int]:
        counts = Counter(c.verdict for c in self.claims)
        return {v: counts[v] for v in VERDICTS if counts[v]}


@dataclass(frozen=True)
class Section:
    """An extra section of REPORT.md and report.html (see :mod:`nlx.report.extra`)."""

    title: str
    markdown: str
    html: str
    latex: str = ""


def normalize_tables(spec: Sequence[str] | None) -> list[str] | None:
    """``["2a", "table2c"]`` -> ``["2a", "2c"]``; None means every table."""
    if spec is None:
        return None
    return [re.sub(r"^table", "", t.strip()) for t in spec if t.strip()]


def build_report(results_dir: Path, tables: Sequence[str] | None = None) -> Report:
    """Read ``results_dir`` and compute tables, claims and Figure 4's curves (nothing is written)."""
    if not results_dir.is_dir():
        raise NlxError(f"{results_dir}: no such results directory")
    records = load_records(results_dir)
    runs = collect_runs(results_dir, records)
    if not records and runs.empty:
        raise NlxError(f"{results_dir}: no run directories and no sweeps/*.json: nothing to report")
    selected = _select(records, normalize_tables(tables), results_dir)
    stats = compute_stats(runs, records)
    views = tuple(build_table(rec, stats, runs) for rec in selected)
    claims = tuple(evaluate_claims(selected, stats, records))
    curves = fig.load_curves(results_dir, fig.figure4_runs(runs))
    return Report(results_dir.resolve().name, tuple(records), views, claims, runs, stats, curves, results_dir)


def _select(records: list[SweepRecord], wanted: list[str] | None, results_dir: Path) -> list[SweepRecord]:
    if wanted is None:
        return records
    known = {r.table for r in records}
    unknown = [t for t in wanted if t not in known]
    if unknown:
        have = ", ".join(sorted(known)) or "none"
        raise NlxError(f"{results_dir}: no sweep record for table {', '.join(unknown)} (recorded: {have})")
    return [r for r in records if r.table in wanted]


# --- files ----------------------------------------------------------------------------------------------


def render_figures(report: Report) -> dict[str, dict[str, bytes]]:
    """``{"figure4": {"png": ..., "pdf": ...}, "table2a": ..., "table2e_flops": ...}``; figures without data
    are left out."""
    out: dict[str, dict[str, bytes]] = {}
    with fig.style():
        drawn = [("figure4", fig.figure4(report.curves))]
        for view in report.tables:
            drawn += [
                (f"table{view.table}", fig.table_bars(view)),
                (f"table{view.table}_flops", fig.accuracy_vs_flops(view)),
            ]
        for name, figure in drawn:
            if figure is not None:
                out[name] = {"png": fig.save(figure, "png"), "pdf": fig.save(figure, "pdf")}
    return out


def runs_csv(runs: pd.DataFrame) -> str:
    buf = io.StringIO()
    runs.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()


def write_report(
    report: Report,
    out: Path,
    formats: Sequence[str] = FORMATS,
    figures: bool = True,
    extra: Sequence[Section] | None = None,
) -> list[Path]:
    """Write the report's files into ``out`` (atomically, each); returns their paths in writing order.

    ``extra`` sections go into REPORT.md, report.html and report.tex; None asks
    :func:`nlx.report.extra.extra_sections` for them (they draw figures, so not with ``figures=False``).
    """
    from nlx.report import extra as extra_mod
    from nlx.report import pages

    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise NlxError(f"--to: unknown format {', '.join(bad)} (choose from {', '.join(FORMATS)})")
    written = [_write(out / "runs.csv", runs_csv(report.runs).encode())]
    if importlib.util.find_spec("pyarrow") is not None:
        buf = io.BytesIO()
        report.runs.to_parquet(buf, index=False)
        written.append(_write(out / "runs.parquet", buf.getvalue()))
    images = render_figures(report) if figures else {}
    for name, kinds in images.items():
        written += [_write(out / "figures" / f"{name}.{kind}", data) for kind, data in kinds.items()]
    if extra is None:
        extra = extra_mod.extra_sections(report, out) if figures else []
    sections = list(extra)
    pngs = {name: kinds["png"] for name, kinds in images.items()}
    if "md" in formats:
        written.append(_write(out / "REPORT.md", pages.markdown(report, set(pngs), sections).encode()))
    if "tex" in formats:
        written.append(_write(out / "report.tex", pages.latex(report, set(pngs), sections).encode()))
    if "html" in formats:
        written.append(_write(out / "report.html", pages.html_page(report, pngs, sections).encode()))
    return written


def _write(path: Path, data: bytes) -> Path:
    write_bytes(path, data)
    return path


def report_json(report: Report, files: Sequence[Path] = ()) -> dict[str, Any]:
    """The report as plain data (``--format json``): runs (as in runs.csv), tables with numbers, claims."""
    return {
        "results": report.name,
        "files": [str(p) for p in files],
        "runs": json.loads(report.runs.to_json(orient="records")),
        "tables": [_table_json(v) for v in report.tables],
        "claims": [_claim_json(c) for c in report.claims],
        "summary": report.verdict_counts(),
    }


def _table_json(view: TableView) -> dict[str, Any]:
    rec = view.record
    return {
        "table": rec.table,
        "title": rec.title,
        "preset": rec.preset,
        "metrics": list(view.metrics),
        "rows": json.loads(view.numbers().to_json(orient="records")),
        "footnotes": list(view.footnotes),
    }


def _claim_json(claim: ClaimResult) -> dict[str, Any]:
    return {
        "table": claim.table,
        "id": claim.id,
        "text": claim.text,
        "metric": claim.metric,
        "verdict": claim.verdict,
        "evidence": claim.evidence(),
    }
