"""``nlx report``: a results directory as paper-style tables beside the paper's numbers, claim checks and
figures. Everything is a pure function of the results directory (see ``docs/report.md``).

    report = build_report(Path("results"))           # read and compute, write nothing
    write_report(report, Path("results"))            # runs.csv, figures/, REPORT.md, report.tex, report.html
"""

from __future__ import annotations

from nlx.report.claims import ClaimResult, Link, Within, evaluate_claims
from nlx.report.collect import collect_runs
from nlx.report.extra import embed_png, extra_sections
from nlx.report.records import SweepRecord, load_records
from nlx.report.report import (
    FORMATS,
    Report,
    Section,
    build_report,
    render_figures,
    report_json,
    write_report,
)
from nlx.report.stats import Stats, compute_stats
from nlx.report.tables import TableView, best_mask, build_table

__all__ = [
    "FORMATS",
    "ClaimResult",
    "Link",
    "Report",
    "Section",
    "Stats",
    "SweepRecord",
    "TableView",
    "Within",
    "best_mask",
    "build_report",
    "build_table",
    "collect_runs",
    "compute_stats",
    "embed_png",
    "evaluate_claims",
    "extra_sections",
    "load_records",
    "render_figures",
    "report_json",
    "write_report",
]
