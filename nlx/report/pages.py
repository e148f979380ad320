"""The report's documents: REPORT.md (readable on GitHub), report.tex (booktabs tables, PDF figures),
report.html (one self-contained page, PNG figures inlined as base64), and the terminal view.
"""

from __future__ import annotations

import base64
import html
import re
from collections import Counter
from collections.abc import Mapping, Sequence

from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.segment import Segments
from rich.table import Table
from rich.text import Text

from nlx.report import render
from nlx.report.claims import ClaimResult
from nlx.report.report import SCALE_KEYS, Report, Section
from nlx.report.tables import TableView, metric_name

TITLE = "Non-local Neural Networks: Table 2 reproduction"
MARK = {"holds": "✅", "fails": "❌", "inconclusive": "⚠️", "not enough runs": "⏳"}
STATUSES = ("done", "failed", "running", "interrupted", "missing")
LEGEND = (
    "Ours: mean ± sample std over seeds (std only with 2 or more finished seeds); *seeds*: finished / "
    "expected; *paper*: the paper's number; Δ: ours − paper. **Bold**: the best of the column, compared "
    "as shown (2 decimals), ties all bold; lowest for params/FLOPs, which are ratios to the table's first "
    "row. —: no finished run (see the footnotes)."
)
RULE = (
    "A link `A > B` compares the means over the finished seeds. The claim **holds** if the gap mean(A) − "
    "mean(B) exceeds a noise margin of 2·√(SE_A² + SE_B²) (SE: standard error over seeds), **fails** if the "
    "gap is below −margin, and is otherwise **inconclusive** (within noise); `<` mirrors it. `>=` and `<=` "
    "hold unless contradicted (gap below −margin). A single-seed row uses the seed-to-seed std pooled over "
    "all rows with 2+ seeds; with no such row (and for params/FLOPs, which do not vary) the margin is 0 and "
    "the numbers are compared as they are. `within d`: holds if max − min of the means ≤ d + margin, else "
    "fails. A claim holds if every link holds, fails if any link fails; a row without a finished run makes "
    "it **not enough runs**. Rows of other tables are written `table:row`."
)
EXTRA_MARK = "<!-- nlx report: extra sections (nlx.report.extra.extra_sections) -->"


# --- shared pieces --------------------------------------------------------------------------------------


def summary_lines(report: Report) -> list[tuple[str, str]]:
    """(what, text) pairs of the header: preset, scale, runs, claims."""
    return [
        ("preset", _presets(report)),
        ("scale", _scale(report)),
        ("runs", _runs(report)),
        ("claims", _claims_summary(report)),
    ]


def _presets(report: Report) -> str:
    by: dict[str, list[str]] = {}
    for view in report.tables:
        by.setdefault(view.record.preset or "unknown", []).append(view.table)
    if len(by) == 1:
        return next(iter(by))
    return "; ".join(f"{p} ({', '.join(t)})" for p, t in sorted(by.items())) or "no sweep record"


def _scale(report: Report) -> str:
    shown = {v.table for v in report.tables}
    cells = report.runs[report.runs["table"].isin(shown)]
    parts = []
    for key in SCALE_KEYS:
        if key in cells.columns:
            values = sorted({str(v) for v in cells[key].dropna()}, key=_natural)
            if values:
                parts.append(f"{key} {'/'.join(values)}")
    return ", ".join(parts) or "unknown (no config.yaml found)"


def _natural(text: str) -> tuple[float, str]:
    try:
        return float(text), text
    except ValueError:
        return float("inf"), text


def _runs(report: Report) -> str:
    shown = {v.table for v in report.tables}
    cells = report.runs[report.runs["table"].isin(shown)]
    counts = Counter(cells["status"])
    parts = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
    distinct = cells["run_id"].nunique()
    loose = int(report.runs["table"].isna().sum())
    text = (
        f"{len(cells)} cells (row × seed) in {len(shown)} tables: {parts or 'none'}; {distinct} distinct runs"
    )
    return text + (f"; {loose} run directories in no sweep record" if loose else "")


def _claims_summary(report: Report) -> str:
    counts = report.verdict_counts()
    return ", ".join(f"{n} {v}" for v, n in counts.items()) or "none"


def _claims_of(report: Report, table: str) -> list[ClaimResult]:
    return [c for c in report.claims if c.table == table]


def _figures_of(view: TableView, figures: Sequence[str]) -> list[tuple[str, str]]:
    names = [
        (f"table{view.table}", f"Table {view.table}: ours vs. paper"),
        (f"table{view.table}_flops", f"Table {view.table}: accuracy vs. FLOPs"),
    ]
    return [(n, c) for n, c in names if n in figures]


# --- Markdown -------------------------------------------------------------------------------------------


def markdown(report: Report, figures: Sequence[str] | set[str], extra: Sequence[Section] = ()) -> str:
    figures = sorted(figures)
    out = [
        f"# {TITLE}",
        "",
        "Generated by `nlx report` from a results directory; rerun it as runs finish.",
        "",
    ]
    out += ["| | |", "|---|---|", *(f"| {k} | {render.md_escape(v)} |" for k, v in summary_lines(report)), ""]
    out += [LEGEND, ""]
    if report.claims:
        out += ["## Claims", "", "| table | claim | metric | verdict |", "|---|---|---|---|"]
        out += [
            f"| {c.table} | {render.md_escape(c.text)} | {metric_name(c.metric)} | {_md_verdict(c.verdict)} |"
            for c in report.claims
        ]
        out.append("")
    for view in report.tables:
        out += _md_table_section(report, view, figures)
    out += ["## Figure 4", ""]
    if "figure4" in figures:
        out += [
            "![Figure 4: training and validation error, C2D R50 vs. 5-block NL C2D R50](figures/figure4.png)",
            "",
        ]
    else:
        out += ["No finished C2D R50 runs (no block, or 5 blocks) with training curves: nothing to plot.", ""]
    out += [EXTRA_MARK, ""]
    for section in extra:
        out += [f"## {section.title}", "", section.markdown.rstrip(), ""]
    out += [
        "## How the claims are checked",
        "",
        RULE,
        "",
        "Every number above comes from `runs.csv` in this folder (see `docs/report.md`).",
        "",
    ]
    return "\n".join(out)


def _md_verdict(verdict: str) -> str:
    return f"{MARK[verdict]} {verdict}"


def _md_table_section(report: Report, view: TableView, figures: Sequence[str]) -> list[str]:
    rec = view.record
    out = [f"## Table {rec.table}: {rec.title}", ""]
    if rec.caption:
        out += [f"*{render.md_escape(rec.caption)}*", ""]
    out += [render.to_markdown(view), ""]
    out += [f"<sup>{i}</sup> {render.md_escape(note)}  " for i, note in enumerate(view.footnotes, 1)]
    if view.footnotes:
        out.append("")
    claims = _claims_of(report, view.table)
    if claims:
        out += ["**Claims**", ""]
        for c in claims:
            out.append(
                f"- {MARK[c.verdict]} **{c.verdict}**: {render.md_escape(c.text)} ({metric_name(c.metric)})"
            )
            out += [f"  - {render.md_escape(line)}" for line in c.evidence()]
        out.append("")
    out += [f"![{cap}](figures/{name}.png)\n" for name, cap in _figures_of(view, figures)]
    return out


# --- LaTeX ----------------------------------------------------------------------------------------------


def latex(report: Report, figures: Sequence[str] | set[str], extra: Sequence[Section] = ()) -> str:
    esc = render.tex_escape
    out = [
        r"\documentclass{article}",
        r"\usepackage[T1]{fontenc}",
        r"\usepackage[utf8]{inputenc}",
        r"\usepackage{booktabs,multirow,graphicx}",
        r"\usepackage[margin=2cm]{geometry}",
        r"\begin{document}",
        rf"\section*{{{esc(TITLE)}}}",
        r"\begin{itemize}",
    ]
    out += [rf"\item \textbf{{{k}}}: {esc(v)}" for k, v in summary_lines(report)]
    out += [r"\end{itemize}", esc(LEGEND.replace("*", "")), ""]
    for view in report.tables:
        out += [f"% --- Table {view.table} ---", _tex_table(view)]
        claims = _claims_of(report, view.table)
        if claims:
            out.append(r"\begin{itemize}")
            out += [
                rf"\item \textbf{{{c.verdict}}}: {esc(c.text)} ({esc(metric_name(c.metric))}). "
                + "; ".join(esc(e) for e in c.evidence())
                for c in claims
            ]
            out.append(r"\end{itemize}")
        for name, cap in _figures_of(view, sorted(figures)):
            out.append(_tex_figure(name, cap))
    if "figure4" in figures:
        out.append(_tex_figure("figure4", "Figure 4: training (dashed) and validation (solid) error"))
    out += [section.latex for section in extra if section.latex]
    out += [esc(RULE.replace("`", "").replace("*", "")), r"\end{document}", ""]
    return "\n".join(out)


def _tex_table(view: TableView) -> str:
    body = render.to_latex(view)
    notes = "".join(
        rf"\par\footnotesize\textsuperscript{{{i}}}\,{render.tex_escape(n)}" + "\n"
        for i, n in enumerate(view.footnotes, 1)
    )
    head, sep, tail = body.rpartition(r"\end{table}")
    return head + notes + sep + tail if sep else body


def _tex_figure(name: str, caption: str) -> str:
    return (
        r"\begin{figure}[ht]\centering"
        + "\n"
        + rf"\includegraphics[width=\linewidth]{{figures/{name}.pdf}}"
        + "\n"
        + rf"\caption{{{render.tex_escape(caption)}}}"
        + "\n"
        + r"\end{figure}"
    )


# --- HTML -----------------------------------------------------------------------------------------------

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #ddd; text-align: right; }
th { background: #f4f4f4; text-align: center; }
tbody th { text-align: left; background: none; }
table.summary td, table.summary th, table.claims td { text-align: left; }
.caption { font-style: italic; color: #555; }
.notes { font-size: 0.85em; color: #555; }
.holds { color: #1a7f37; } .fails { color: #cf222e; } .inconclusive { color: #9a6700; }
.not-enough-runs { color: #57606a; }
img { max-width: 100%; }
"""


def html_page(report: Report, pngs: Mapping[str, bytes], extra: Sequence[Section] = ()) -> str:
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{esc(TITLE)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{esc(TITLE)}</h1>",
        "<p>Generated by <code>nlx report</code> from a results directory.</p>",
        '<table class="summary">',
    ]
    out += [f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in summary_lines(report)]
    out += ["</table>", f"<p>{_inline_html(LEGEND)}</p>"]
    if report.claims:
        out += [
            "<h2>Claims</h2>",
            '<table class="claims">',
            "<tr><th>table</th><th>claim</th><th>verdict</th></tr>",
        ]
        out += [
            f"<tr><td>{esc(c.table)}</td><td>{esc(c.text)}</td><td>{_html_verdict(c.verdict)}</td></tr>"
            for c in report.claims
        ]
        out.append("</table>")
    for view in report.tables:
        out += _html_table_section(report, view, pngs)
    out.append("<h2>Figure 4</h2>")
    out.append(
        _img(pngs["figure4"], "Figure 4") if "figure4" in pngs else "<p>No Figure 4 runs finished.</p>"
    )
    out.append(EXTRA_MARK)
    for section in extra:
        out += [f"<h2>{esc(section.title)}</h2>", section.html]
    out += ["<h2>How the claims are checked</h2>", f"<p>{_inline_html(RULE)}</p>", "</body>", "</html>", ""]
    return "\n".join(out)


def _html_table_section(report: Report, view: TableView, pngs: Mapping[str, bytes]) -> list[str]:
    esc = html.escape
    rec = view.record
    out = [f'<h2 id="table{esc(rec.table)}">Table {esc(rec.table)}: {esc(rec.title)}</h2>']
    if rec.caption:
        out.append(f'<p class="caption">{esc(rec.caption)}</p>')
    out.append(render.to_html(view))
    if view.footnotes:
        out.append(
            '<p class="notes">'
            + "<br>".join(f"<sup>{i}</sup> {esc(n)}" for i, n in enumerate(view.footnotes, 1))
            + "</p>"
        )
    claims = _claims_of(report, view.table)
    if claims:
        out.append("<ul>")
        for c in claims:
            lines = "".join(f"<li>{esc(e)}</li>" for e in c.evidence())
            what = f"{esc(c.text)} ({esc(metric_name(c.metric))})"
            out.append(f"<li>{_html_verdict(c.verdict)}: {what}<ul>{lines}</ul></li>")
        out.append("</ul>")
    out += [_img(pngs[name], cap) for name, cap in _figures_of(view, sorted(pngs))]
    return out


def _inline_html(markdown: str) -> str:
    """The little Markdown of LEGEND and RULE (``**bold**``, ``*italic*``, backticks) as HTML."""
    text = html.escape(markdown)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    text = re.sub(r"\*(.+?)\*", r"<i>\1</i>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _html_verdict(verdict: str) -> str:
    return f'<b class="{verdict.replace(" ", "-")}">{MARK[verdict]} {html.escape(verdict)}</b>'


def _img(png: bytes, alt: str) -> str:
    return (
        f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}"></p>'
    )


# --- terminal -------------------------------------------------------------------------------------------


def terminal(report: Report) -> list[RenderableType]:
    """What ``nlx report`` shows on stderr: each table with its footnotes, then the claims."""
    items: list[RenderableType] = [Text(f"{k}: {v}") for k, v in summary_lines(report)]
    for view in report.tables:
        notes = [Text(f"[{i}] {n}", style="dim") for i, n in enumerate(view.footnotes, 1)]
        items += [Text(""), render.to_rich(view), *notes]
    if report.claims:
        table = Table(title="claims", header_style="bold", title_justify="left")
        for col in ("table", "claim", "verdict"):
            table.add_column(col)
        style = {"holds": "green", "fails": "red", "inconclusive": "yellow", "not enough runs": "dim"}
        for c in report.claims:
            table.add_row(c.table, c.text, Text(c.verdict, style=style[c.verdict]))
        items += [Text(""), table]
    return items


def print_terminal(report: Report, console: Console) -> None:
    """Print :func:`terminal`; a table wider than the console is printed whole, not squeezed."""
    for item in terminal(report):
        wide = console.options.update_width(1000)
        width = Measurement.get(console, wide, item).maximum if isinstance(item, Table) else 0
        if width <= console.width:
            console.print(item)
        else:
            console.print(Segments(console.render(item, console.options.update_width(width))), crop=False)
