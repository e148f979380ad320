"""THE PLACE FOR EXTRA REPORT SECTIONS (attention visualisation, notes): edit :func:`extra_sections`.

:func:`nlx.report.write_report` calls it when its caller passes no ``extra``; each :class:`Section` it
returns is added to REPORT.md and report.html (and report.tex when it has ``latex``), after Figure 4 and
before "How the claims are checked", at the marker ``<!-- nlx report: extra sections ... -->``.

Keep the report a pure function of the results directory: read files under ``report`` / the results, not
clocks or the network. For a figure, write it under ``out / "figures"`` with :func:`nlx.io.write_bytes`
(PNG saved with :func:`nlx.report.figures.save` inside :func:`nlx.report.figures.style` is byte-stable),
link it from Markdown as ``figures/NAME.png`` and inline it in HTML with :func:`embed_png`.

The one section so far is the paper's Figure 3 for our 5-block model (:func:`attention_section`, see
docs/visualize.md): what its first res3 block attends to on validation videos of the generated benchmark,
and whether the arrows link the two flashes that decide the label.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from nlx.errors import NlxError
from nlx.io import write_bytes

if TYPE_CHECKING:
    from nlx.report.report import Report, Section
    from nlx.visualize.benchmark import BenchmarkFigure

ATTENTION_TITLE = "What a non-local block attends to (Figures 1 and 3)"
ATTENTION_FIGURE = "attention"
SHOWN_VIDEOS = 3
MEASURED_VIDEOS = 48
TOP = 20


def extra_sections(report: Report, out: Path) -> list[Section]:
    """Extra sections of the report, in order."""
    return [attention_section(report, out)]


def embed_png(png: bytes, alt: str) -> str:
    """An ``<img>`` with the PNG inlined (report.html has no external assets)."""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


# --- the attention figure ---------------------------------------------------------------------------------


def attention_run(runs: pd.DataFrame) -> str | None:
    """The run of the figure: Figure 4's 5-block arm (C2D R50, 5 spacetime embedded-Gaussian blocks, done,
    not fine-tuned from another run) with seed 0; the first run id if several."""
    from nlx.report.figures import FIG4_ARMS, figure4_arm

    chosen = sorted(
        str(r["run_id"])
        for r in runs.to_dict("records")
        if figure4_arm(r) == FIG4_ARMS["5"] and _seed(r) == 0
    )
    return chosen[0] if chosen else None


def _seed(run: dict[str, Any]) -> int | None:
    for key in ("seed", "runtime.seed"):
        value = run.get(key)
        if value is not None and not pd.isna(value):
            return int(value)
    return None


def run_folder(report: Report, out: Path, run_id: str) -> Path | None:
    """The run's folder in the report's results directory, if its files are there."""
    run = report.results_dir / run_id
    return run if (run / "config.yaml").is_file() else None


def data_root(run: Path, results: Path) -> Path | None:
    """The run's ``data.root``; a relative one is tried from the working directory, then from the results
    directory's parent (the checkout that ``make reproduce`` runs in)."""
    try:
        cfg = yaml.safe_load((run / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    root = (cfg.get("data") or {}).get("root") if isinstance(cfg, dict) else None
    if not root:
        return None
    path = Path(str(root))
    candidates = [path] if path.is_absolute() else [path, results.parent / path]
    return next((c for c in candidates if (c / "val_events.jsonl").is_file()), None)


def attention_section(report: Report, out: Path) -> Section:
    """The figure and the measurement, or a one-line note saying why there is none."""
    from nlx.report.report import Section

    run_id = attention_run(report.runs)
    if run_id is None:
        return _note(
            "No finished 5-block NL C2D R50 run (spacetime, embedded Gaussian, seed 0): no attention figure."
        )
    run = run_folder(report, out, run_id)
    if run is None or not (run / "model_final.pt").is_file():
        return _note(
            f"The weights of run {run_id} (model_final.pt) are not beside this report: no attention figure."
        )
    root = data_root(run, run.parent)
    if root is None:
        return _note(f"No val_events.jsonl in the data.root of run {run_id}: no attention figure.")
    from nlx.visualize.benchmark import benchmark_figure

    try:
        result = benchmark_figure(run, root, show=SHOWN_VIDEOS, measured=MEASURED_VIDEOS, top=TOP)
    except NlxError as err:  # weights that do not fit the config, no readable video: say so, do not fail
        return _note(f"No attention figure for run {run_id}: {err}")
    write_bytes(out / "figures" / f"{ATTENTION_FIGURE}.png", result.png)
    write_bytes(out / "figures" / f"{ATTENTION_FIGURE}.pdf", result.pdf)
    return Section(ATTENTION_TITLE, _markdown(run_id, result), _html(run_id, result), _latex(run_id, result))


def _note(text: str) -> Section:
    from nlx.report.report import Section

    return Section(ATTENTION_TITLE, text, f"<p>{html.escape(text)}</p>", "")


def _rows(result: BenchmarkFigure) -> list[list[str]]:
    from nlx.visualize.benchmark import summary_row

    return [
        summary_row("shown", result.shown),
        summary_row(f"first {MEASURED_VIDEOS}", result.measured),
        summary_row(f"first {MEASURED_VIDEOS}, control: input similarity", result.control, arrows_only=True),
    ]


def _caption(run_id: str, result: BenchmarkFigure) -> str:
    return (
        f"Run {run_id} (NL C2D R50, 5 blocks, seed 0), block {result.block}, on validation videos "
        f"{', '.join(result.videos)}: a query (dot) on a flash of each source, arrows to its {TOP} highest "
        "weights f/C, opacity by weight; squares mark where each source flashes (val_events.jsonl). "
        "Colour: red = source 0, cyan = source 1."
    )


def _explanation(result: BenchmarkFigure) -> str:
    skipped = f" {result.skipped} unreadable videos were skipped." if result.skipped else ""
    return (
        f"A query is the feature cell holding a flash's centre; its top-{TOP} targets count as on the other "
        "flash when they are within one key cell of the other source's flash centre in a time cell where it "
        "flashes. Chance is the share of keys that count, i.e. what uniform weights would give. The control "
        "ranks the keys by the similarity x_iᵀx̂_j of the block's own input (Eq. 2 without the learned θ, φ): "
        "flashes resemble each other, so even an untrained block links them somewhat; only arrows compare, "
        f"as the control's weights have no learned scale (docs/visualize.md).{skipped}"
    )


def _markdown(run_id: str, result: BenchmarkFigure) -> str:
    from nlx.report.render import md_escape
    from nlx.visualize.benchmark import SUMMARY_COLUMNS
    from nlx.visualize.events import verdict

    table = ["| " + " | ".join(SUMMARY_COLUMNS) + " |", "|" + "---|" * len(SUMMARY_COLUMNS)]
    table += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in _rows(result)]
    return "\n".join(
        [
            md_escape(_caption(run_id, result)),
            "",
            f"![{ATTENTION_TITLE}](figures/{ATTENTION_FIGURE}.png)",
            "",
            *table,
            "",
            md_escape(_explanation(result)),
            "",
            f"**Verdict:** {md_escape(verdict(result.measured, result.control, TOP))}",
        ]
    )


def _html(run_id: str, result: BenchmarkFigure) -> str:
    from nlx.visualize.benchmark import SUMMARY_COLUMNS
    from nlx.visualize.events import verdict

    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in SUMMARY_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in _rows(result))
    return "\n".join(
        [
            f'<p class="caption">{esc(_caption(run_id, result))}</p>',
            embed_png(result.png, ATTENTION_TITLE),
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>",
            f'<p class="notes">{esc(_explanation(result))}</p>',
            f"<p><b>Verdict:</b> {esc(verdict(result.measured, result.control, TOP))}</p>",
        ]
    )


def _latex(run_id: str, result: BenchmarkFigure) -> str:
    from nlx.report.render import tex_escape as esc
    from nlx.visualize.benchmark import SUMMARY_COLUMNS
    from nlx.visualize.events import verdict

    def line(cells: Sequence[str]) -> str:
        return " & ".join(esc(c) for c in cells) + r" \\"

    return "\n".join(
        [
            rf"\subsection*{{{esc(ATTENTION_TITLE)}}}",
            r"\begin{figure}[ht]\centering",
            rf"\includegraphics[width=\linewidth]{{figures/{ATTENTION_FIGURE}.pdf}}",
            rf"\caption{{{esc(_caption(run_id, result))}}}",
            r"\end{figure}",
            r"\begin{center}\footnotesize",
            r"\begin{tabular}{l" + "r" * (len(SUMMARY_COLUMNS) - 1) + "}",
            r"\toprule",
            line(SUMMARY_COLUMNS),
            r"\midrule",
            *(line(row) for row in _rows(result)),
            r"\bottomrule",
            r"\end{tabular}",
            r"\end{center}",
            esc(_explanation(result)),
            "",
            rf"\textbf{{Verdict:}} {esc(verdict(result.measured, result.control, TOP))}",
            "",
        ]
    )
