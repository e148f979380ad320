"""A :class:`TableView` as Markdown (``DataFrame.to_markdown``), LaTeX booktabs (``Styler.to_latex``), HTML
(``Styler.to_html``) and a rich table. Cells are formatted from the numbers here; "best" comes from the view.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from rich.table import Table
from rich.text import Text

from nlx.report.stats import RATIO_METRICS
from nlx.report.tables import DECIMALS, TableView, Value, metric_name

DASH = "—"
WIDE = 10  # LaTeX tables with more data columns are scaled to the line width


@dataclass(frozen=True)
class Style:
    """How one output format spells the pieces of a cell."""

    pm: str
    times: str
    dash: str
    escape: Callable[[str], str]
    sup: Callable[[int], str]
    delta: str = "Δ"


_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "^": r"\textasciicircum{}",
    "×": r"$\times$",
    "±": r"$\pm$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "−": "$-$",
    "—": "---",
    "–": "--",
    "Δ": r"$\Delta$",
    "→": r"$\to$",
    "~": r"$\sim$",
    "·": r"$\cdot$",
    "√": r"$\surd$",
    "²": r"\textsuperscript{2}",
}
_TEX_RE = re.compile("|".join(re.escape(k) for k in _TEX))


def tex_escape(text: str) -> str:
    """Escape LaTeX's special characters in plain text, and spell the few non-ASCII symbols we use."""
    return _TEX_RE.sub(lambda m: _TEX[m.group(0)], text)


def md_escape(text: str) -> str:
    return text.replace("|", r"\|")


MD = Style(" ± ", "×", DASH, md_escape, lambda n: f"<sup>{n}</sup>")
TEX = Style(r" $\pm$ ", r"$\times$", "---", tex_escape, lambda n: rf"\textsuperscript{{{n}}}", r"$\Delta$")
HTML = Style(" ± ", "×", DASH, html.escape, lambda n: f"<sup>{n}</sup>")
TEXT = Style(" ± ", "×", DASH, lambda s: s, lambda n: f" [{n}]")


def ours(value: Value, metric: str, style: Style) -> str:
    """Our mean ± std (std only with two or more seeds); a ratio with ``×`` for params/FLOPs."""
    if value.n == 0 or math.isnan(value.mean):
        return style.dash
    text = f"{value.mean:.{DECIMALS}f}"
    if value.n >= 2 and (metric not in RATIO_METRICS or round(value.std, DECIMALS) > 0):
        text += f"{style.pm}{value.std:.{DECIMALS}f}"
    return text + (style.times if metric in RATIO_METRICS else "")


def paper(value: Value, metric: str, style: Style) -> str:
    if math.isnan(value.paper):
        return style.dash
    return f"{value.paper:.1f}" + (style.times if metric in RATIO_METRICS else "")


def delta(value: Value, style: Style) -> str:
    return style.dash if math.isnan(value.delta) else f"{value.delta:+.{DECIMALS}f}"


def label(view: TableView, index: int, style: Style) -> str:
    row = view.rows[index]
    return style.escape(row.label) + (style.sup(row.footnote) if row.footnote else "")


def seeds(view: TableView, index: int) -> str:
    row = view.rows[index]
    return f"{row.done}/{row.expected}"


# --- frames ---------------------------------------------------------------------------------------------


def _frame(view: TableView, style: Style) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Display strings with a (metric, what) column index and the matching bold mask."""
    cols: dict[tuple[str, str], list[str]] = {("", "seeds"): [seeds(view, i) for i in range(len(view.rows))]}
    bold: dict[tuple[str, str], list[bool]] = {("", "seeds"): [False] * len(view.rows)}
    for m in view.metrics:
        name = metric_name(m)
        cols[(name, "ours")] = [ours(r.values[m], m, style) for r in view.rows]
        cols[(name, "paper")] = [paper(r.values[m], m, style) for r in view.rows]
        cols[(name, style.delta)] = [delta(r.values[m], style) for r in view.rows]
        bold[(name, "ours")] = [view.best[(r.id, m)] for r in view.rows]
        bold[(name, "paper")] = bold[(name, style.delta)] = [False] * len(view.rows)
    labels = [label(view, i, style) for i in range(len(view.rows))]
    if view.has_groups:
        groups = [style.escape(r.group or "") for r in view.rows]
        index = pd.MultiIndex.from_arrays([groups, labels], names=["", "model"])
    else:
        index = pd.Index(labels, name="model")
    columns = pd.MultiIndex.from_tuples(list(cols))
    frame = pd.DataFrame(list(zip(*cols.values(), strict=True)), index=index, columns=columns)
    mask = pd.DataFrame(list(zip(*bold.values(), strict=True)), index=index, columns=columns)
    return frame, mask


def to_markdown(view: TableView) -> str:
    frame, mask = _frame(view, MD)
    frame = frame.where(~mask, "**" + frame + "**")
    headers = ["group"] if view.has_groups else []
    headers += ["model", "seeds"] + [_md_header(m, w) for m, w in list(frame.columns)[1:]]
    rows = []
    previous = None
    for i, values in enumerate(frame.itertuples(index=False)):
        first = []
        if view.has_groups:
            group = view.rows[i].group or ""
            first.append(MD.escape(group) if group != previous else "")
            previous = group
        rows.append([*first, label(view, i, MD), *values])
    table = pd.DataFrame(rows, columns=headers)
    align = ["left"] * (len(headers) - frame.shape[1]) + ["right"] * frame.shape[1]
    return table.to_markdown(index=False, colalign=align, disable_numparse=True)


def _md_header(metric: str, what: str) -> str:
    return metric if what == "ours" else f"{metric} {what}"


def to_latex(view: TableView) -> str:
    """A booktabs ``table`` (``Styler.to_latex(hrules=True)``); groups separated by a ``\\midrule``."""
    frame, mask = _frame(view, TEX)
    styler = frame.style.apply(lambda _: mask.map(lambda b: "textbf:--rwrap;" if b else ""), axis=None)
    styler = styler.hide(axis="index", names=True)
    rec = view.record
    caption = f"Table {rec.table}: {rec.title}. {rec.caption}".strip()
    text = styler.to_latex(
        hrules=True,
        column_format="l" * frame.index.nlevels + "r" * frame.shape[1],
        multicol_align="c",
        multirow_align="t",
        clines="skip-last;data" if view.has_groups else None,
        caption=tex_escape(caption),
        label=f"tab:{rec.table}",
        position="ht",
        position_float="centering",
    )
    text = re.sub(r"\\cline\{[0-9-]+\}\n(?=\\bottomrule)", "", text)
    text = re.sub(r"\\cline\{[0-9-]+\}", r"\\midrule", text)
    if frame.shape[1] > WIDE:
        text = text.replace("\\begin{tabular}", "\\resizebox{\\linewidth}{!}{%\n\\begin{tabular}")
        text = text.replace("\\end{tabular}", "\\end{tabular}}")
    return text


def to_html(view: TableView) -> str:
    frame, mask = _frame(view, HTML)
    styler = (
        frame.style.apply(lambda _: mask.map(lambda b: "font-weight: bold" if b else ""), axis=None)
        .hide(axis="index", names=True)
        .set_uuid(f"t{re.sub(r'[^A-Za-z0-9]', '', view.table)}")
        .set_table_attributes('class="nlx"')
    )
    return styler.to_html(cell_ids=False, sparse_index=True, sparse_columns=True)


def to_rich(view: TableView) -> Table:
    rec = view.record
    table = Table(title=f"Table {rec.table}: {rec.title}", header_style="bold", title_justify="left")
    if view.has_groups:
        table.add_column("group")
    table.add_column("model")
    table.add_column("seeds", justify="right")
    for m in view.metrics:
        name = metric_name(m)
        table.add_column(name, justify="right")
        table.add_column(f"{name} paper", justify="right", style="dim")
        table.add_column("Δ", justify="right")
    previous: str | None = None
    for i, row in enumerate(view.rows):
        cells: list[Text | str] = []
        if view.has_groups:
            if i and row.group != previous:
                table.add_section()
            cells.append(row.group or "" if row.group != previous or i == 0 else "")
            previous = row.group
        cells += [label(view, i, TEXT), seeds(view, i)]
        for m in view.metrics:
            v = row.values[m]
            cells += [
                Text(ours(v, m, TEXT), style="bold green" if view.best[(row.id, m)] else ""),
                paper(v, m, TEXT),
                delta(v, TEXT),
            ]
        table.add_row(*cells)
    return table
