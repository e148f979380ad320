"""``nlx report``: tables beside the paper's, claim checks and figures from a results directory."""

from __future__ import annotations

from pathlib import Path

import typer

from nlx.cli.output import Format, console, print_json


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def report(
    results_dir: Path = typer.Argument(..., help="The results directory (run folders and sweeps/*.json)."),
    tables: str | None = typer.Option(None, "--tables", help="Tables to show, e.g. 2a,2c (default: all)."),
    to: str = typer.Option("md,tex,html", "--to", help="Documents to write: md (REPORT.md), tex, html."),
    out: Path | None = typer.Option(None, "--out", help="Where to write (default: RESULTS_DIR)."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Draw the figures (PNG and PDF)."),
    fmt: Format = typer.Option(Format.table, "--format", help="table (stderr) or json (stdout)."),
) -> None:
    """Write runs.csv, REPORT.md, report.tex, report.html and figures/; check the paper's claims."""
    from nlx.report import build_report, report_json, write_report
    from nlx.report.pages import print_terminal

    built = build_report(results_dir, _split(tables))
    files = write_report(built, out if out is not None else results_dir, _split(to) or [], figures=figures)
    if fmt is Format.json:
        print_json(report_json(built, files))
        return
    print_terminal(built, console)
    console.print(f"\nwrote {len(files)} files to {out if out is not None else results_dir}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
