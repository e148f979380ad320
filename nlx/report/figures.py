"""Figures, drawn with matplotlib's object API (Agg canvas, no pyplot state) into PNG and PDF bytes.

Saved with fixed metadata and the default style, so the same results give byte-identical files.

* ``figure4``: Figure 4 of the paper, top-1 training error (dashed) and validation error (solid) over
  iterations, C2D R50 baseline vs. 5-block non-local C2D R50, averaged over seeds;
* ``table<id>``: per table, our mean with std error bars beside the paper's values (own axis: the scales
  differ);
* ``table<id>_flops``: accuracy vs. FLOPs (relative to the first row) for tables with a ``flops`` column.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import matplotlib.style
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from nlx.io import read_jsonl
from nlx.report.stats import RATIO_METRICS
from nlx.report.tables import TableView, metric_name

OURS, PAPER = "#1f77b4", "#d62728"
FIG4_ARMS = {"none": "C2D baseline", "5": "NL C2D, 5-block"}
FIG4_COLORS = {"C2D baseline": "#1f77b4", "NL C2D, 5-block": "#d62728"}
_META = {"png": {"Software": None}, "pdf": {"Creator": None, "Producer": None, "CreationDate": None}}
DPI = 120


def save(fig: Figure, fmt: str) -> bytes:
    """PNG or PDF bytes with no software version or date in them (call inside :func:`style`)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata=_META[fmt], dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def style() -> AbstractContextManager[None]:
    """matplotlib's default style, whatever the user's matplotlibrc says: draw and save inside it."""
    return matplotlib.style.context("default")


# --- Figure 4 -------------------------------------------------------------------------------------------


def figure4_arm(run: Mapping[str, Any]) -> str | None:
    """Which curve of Figure 4 a run belongs to: C2D R50 with no block, or with 5 spacetime
    embedded-Gaussian blocks, done and not fine-tuned from another run (no ``long`` variant); else None."""
    if (
        run.get("status") != "done"
        or _text(run.get("model.name")) != "c2d_r50"
        or _text(run.get("init_from"))
    ):
        return None
    blocks = _text(run.get("model.non_local.blocks"))
    if blocks == "none":
        return FIG4_ARMS["none"]
    scope = _text(run.get("model.non_local.scope")) or "spacetime"
    kind = _text(run.get("model.non_local.instantiation")) or "embedded_gaussian"
    if blocks == "5" and scope == "spacetime" and kind == "embedded_gaussian":
        return FIG4_ARMS["5"]
    return None


def figure4_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs of Figure 4, one row per distinct run: ``run_id`` and ``arm`` (the curve)."""
    chosen = {(str(r["run_id"]), arm) for r in runs.to_dict("records") if (arm := figure4_arm(r))}
    return pd.DataFrame(sorted(chosen, key=lambda t: (t[1], t[0])), columns=["run_id", "arm"])


def _text(value: Any) -> str:
    return "" if value is None or pd.isna(value) else str(value)


def load_curves(results_dir: Path, chosen: pd.DataFrame) -> pd.DataFrame:
    """``train`` and ``val`` top-1 error of the chosen runs, from their ``metrics.jsonl``."""
    rows = []
    for run_id, arm in chosen[["run_id", "arm"]].itertuples(index=False):
        for rec in read_jsonl(results_dir / str(run_id) / "metrics.jsonl"):
            kind, it = rec.get("kind"), rec.get("iteration")
            err = rec.get("top1_err")
            if err is None and kind == "val" and isinstance(rec.get("top1"), int | float):
                err = 100.0 - float(rec["top1"])
            if kind in ("train", "val") and isinstance(it, int | float) and isinstance(err, int | float):
                rows.append(
                    {"arm": arm, "run_id": run_id, "kind": kind, "iteration": int(it), "top1_err": float(err)}
                )
    return pd.DataFrame(rows, columns=["arm", "run_id", "kind", "iteration", "top1_err"])


def figure4(curves: pd.DataFrame) -> Figure | None:
    if curves.empty:
        return None
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    mean = curves.groupby(["arm", "kind", "iteration"], sort=True)["top1_err"].mean().reset_index()
    seeds = curves.groupby("arm")["run_id"].nunique()
    for (arm, kind), part in mean.groupby(["arm", "kind"], sort=True):
        ls = "--" if kind == "train" else "-"
        what = "train" if kind == "train" else "val"
        ax.plot(
            part["iteration"],
            part["top1_err"],
            ls,
            color=FIG4_COLORS.get(str(arm), "k"),
            lw=1.4,
            label=f"{arm}, {what} (n={seeds[arm]})",
        )
    ax.set_xlabel("iterations")
    ax.set_ylabel("top-1 error (%)")
    ax.set_title("Figure 4: training (dashed) and validation (solid) error, R50")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


# --- per-table bars -------------------------------------------------------------------------------------


def _row_names(view: TableView) -> list[str]:
    return [f"{r.group} {r.label}" if r.group else r.label for r in view.rows]


def table_bars(view: TableView) -> Figure | None:
    metrics = [m for m in view.metrics if m not in RATIO_METRICS]
    if not metrics or not any(r.values[m].n for r in view.rows for m in metrics):
        return None
    width = max(5.0, 1.0 * len(view.rows) + 1.5)
    fig = Figure(figsize=(width * len(metrics) / max(1, len(metrics) - 0.4 * (len(metrics) - 1)), 4.0))
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        _bars(ax, view, metric)
    fig.suptitle(f"Table {view.table}: {view.record.title}")
    fig.tight_layout()
    return fig


def _bars(ax: Axes, view: TableView, metric: str) -> None:
    x = list(range(len(view.rows)))
    values = [r.values[metric] for r in view.rows]
    means = [v.mean if v.n else math.nan for v in values]
    errs = [v.std if v.n >= 2 and not math.isnan(v.std) else 0.0 for v in values]
    ax.bar(
        x,
        [0 if math.isnan(m) else m for m in means],
        yerr=errs,
        color=OURS,
        alpha=0.8,
        capsize=3,
        label="ours (mean ± std)",
    )
    _zoom(
        ax,
        [m - e for m, e in zip(means, errs, strict=True)] + [m + e for m, e in zip(means, errs, strict=True)],
    )
    lo = ax.get_ylim()[0]
    for xi, m in zip(x, means, strict=True):
        if math.isnan(m):
            ax.text(xi, lo, "no run", ha="center", va="bottom", color="0.4", fontsize=7, rotation=90)
    ax.set_ylabel(f"ours: {metric_name(metric)} (%)", color=OURS)
    ax.set_xticks(x, _row_names(view), fontsize=8, rotation=30, ha="right", rotation_mode="anchor")
    twin = ax.twinx()
    papers = [v.paper for v in values]
    twin.plot(x, papers, "D", color=PAPER, ms=6, label="paper")
    _zoom(twin, papers)
    twin.set_ylabel(f"paper: {metric_name(metric)} (%)", color=PAPER)
    ax.set_title(metric_name(metric))
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=7, loc="upper left")


def _zoom(ax: Axes, values: Sequence[float]) -> None:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return
    lo, hi = min(finite), max(finite)
    pad = max(0.5, 0.25 * (hi - lo))
    ax.set_ylim(lo - pad, hi + 2 * pad)


# --- accuracy vs FLOPs ----------------------------------------------------------------------------------


def accuracy_vs_flops(view: TableView) -> Figure | None:
    acc = next((m for m in view.metrics if m not in RATIO_METRICS), None)
    if "flops" not in view.metrics or acc is None:
        return None
    pts = [(r, r.values["flops"], r.values[acc]) for r in view.rows]
    if not any(f.n and a.n for _, f, a in pts):
        return None
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    twin = ax.twinx()
    for row, flops, value in pts:
        name = f"{row.group} {row.label}" if row.group else row.label
        if flops.n and value.n:
            err = value.std if value.n >= 2 and not math.isnan(value.std) else 0.0
            ax.errorbar([flops.mean], [value.mean], yerr=[err], fmt="o", color=OURS, capsize=3)
            ax.annotate(name, (flops.mean, value.mean), textcoords="offset points", xytext=(5, 5), fontsize=8)
        if not (math.isnan(row.values["flops"].paper) or math.isnan(value.paper)):
            twin.plot([flops.paper], [value.paper], "D", mfc="none", color=PAPER)
    ax.set_xlabel("FLOPs relative to the first row (ours: dots, paper: diamonds)")
    ax.set_ylabel(f"ours: {metric_name(acc)} (%)", color=OURS)
    twin.set_ylabel(f"paper: {metric_name(acc)} (%)", color=PAPER)
    _zoom(ax, [v.mean for _, f, v in pts if f.n and v.n])
    _zoom(twin, [v.paper for _, _, v in pts])
    ax.set_title(f"Table {view.table}: {metric_name(acc)} vs. FLOPs")
    ax.grid(alpha=0.3)
    return fig
