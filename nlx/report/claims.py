"""Checking the paper's claims against our runs, with the seeds' spread taken into account.

The rule (also in ``docs/report.md``). For a link ``A op B`` on a metric, with means ``mA``, ``mB`` over
the finished seeds and standard errors ``sA``, ``sB``:

* the *gap* is ``d = mA - mB`` for ``>``/``>=`` and ``d = mB - mA`` for ``<``/``<=`` (positive = as claimed);
* the *noise margin* is ``Z * sqrt(sA² + sB²)`` with ``Z = 2``. A row with one seed has no spread of its
  own: its standard error is the seed-to-seed std pooled over every row (of any table) with two or more
  seeds for that metric; when no row has two seeds there is no noise estimate and the margin is 0;
* strict (``>``, ``<``): **holds** if ``d > margin``, **fails** if ``d < -margin``, otherwise
  **inconclusive** (within noise). Non-strict (``>=``, ``<=``): **fails** if ``d < -margin``, otherwise
  **holds**. With a margin of exactly 0 (params, FLOPs, or no noise estimate) the relation is checked as is;
* a row without any finished seed makes the link **not enough runs**;
* a claim (one or more chains ``A op B op C ...``, each link checked) **fails** if any link fails, else is
  **not enough runs** if any link lacks runs, else **inconclusive** if any link is, else **holds**;
* ``within d`` over rows: spread = max - min of the rows' means, margin as above for the two extreme
  rows; **holds** if spread <= d + margin (noted "within noise" when spread > d), else **fails**.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from nlx.report.records import OPERATORS, RecordClaim, SweepRecord, resolve_ref
from nlx.report.stats import Stats

Z = 2.0
VERDICTS = ("holds", "fails", "inconclusive", "not enough runs")


@dataclass(frozen=True)
class Operand:
    """One row named by a claim, with its statistics for the claim's metric."""

    ref: str
    table: str
    row: str
    n: int
    mean: float
    sem: float
    noise: str  # "seeds" | "pooled" | "none"
    missing: str = ""  # why there is nothing to compare (unknown table/row, no finished seed)

    @property
    def name(self) -> str:
        return self.ref


@dataclass(frozen=True)
class Link:
    left: Operand
    op: str
    right: Operand
    gap: float
    margin: float
    verdict: str


@dataclass(frozen=True)
class Within:
    operands: tuple[Operand, ...]
    limit: float
    spread: float
    margin: float
    verdict: str


@dataclass(frozen=True)
class ClaimResult:
    table: str
    id: str
    text: str
    metric: str
    verdict: str
    links: tuple[Link, ...] = ()
    within: Within | None = None

    def evidence(self) -> list[str]:
        """The numbers that decided the verdict, one line per link (or one for ``within``)."""
        lines = [_link_text(link, self.metric) for link in self.links]
        if self.within is not None:
            lines.append(_within_text(self.within, self.metric))
        return lines


def evaluate_claims(
    records: Sequence[SweepRecord], stats: Stats, every: Sequence[SweepRecord] | None = None
) -> list[ClaimResult]:
    """The claims of ``records``; rows of other tables are looked up in ``every`` (default: ``records``)."""
    known = list(every if every is not None else records)
    return [evaluate_claim(rec.table, claim, known, stats) for rec in records for claim in rec.claims]


def evaluate_claim(home: str, claim: RecordClaim, records: list[SweepRecord], stats: Stats) -> ClaimResult:
    def operand(ref: str) -> Operand:
        return _operand(ref, home, claim.metric, records, stats)

    links = tuple(
        _link(operand(chain[i - 1]), chain[i], operand(chain[i + 1]))
        for chain in claim.chains
        for i in range(1, len(chain) - 1, 2)
    )
    within = None
    if claim.within is not None and claim.rows:
        within = _within(tuple(operand(r) for r in claim.rows), claim.within)
    verdicts = [link.verdict for link in links] + ([within.verdict] if within else [])
    return ClaimResult(home, claim.id, claim.text, claim.metric, combine(verdicts), links, within)


def combine(verdicts: Sequence[str]) -> str:
    """A conjunction: one failing part fails it; then missing runs; then noise; else it holds."""
    if not verdicts:
        return "not enough runs"
    for verdict in ("fails", "not enough runs", "inconclusive"):
        if verdict in verdicts:
            return verdict
    return "holds"


def compare(gap: float, margin: float, strict: bool) -> str:
    """The verdict for one link, from the gap (positive = as claimed) and the noise margin."""
    if margin == 0:
        ok = gap > 0 if strict else gap >= 0
        return "holds" if ok else "fails"
    if gap < -margin:
        return "fails"
    if not strict or gap > margin:
        return "holds"
    return "inconclusive"


def _operand(ref: str, home: str, metric: str, records: list[SweepRecord], stats: Stats) -> Operand:
    table, row = resolve_ref(ref, home, records)
    shown = ref if table == home else f"{table}:{row}"
    rec = next((r for r in records if r.table == table), None)
    if rec is None:
        return Operand(
            shown, table, row, 0, math.nan, math.nan, "none", f"table {table} is not in the results"
        )
    cell = stats.get(table, row, metric)
    if rec.row(row) is None:
        return Operand(shown, table, row, 0, math.nan, math.nan, "none", f"table {table} has no row {row}")
    if cell is None:
        return Operand(shown, table, row, 0, math.nan, math.nan, "none", f"runs do not report {metric}")
    if cell.n == 0:
        return Operand(shown, table, row, 0, math.nan, math.nan, "none", f"{shown} has no finished run")
    if cell.n >= 2:
        return Operand(shown, table, row, cell.n, cell.mean, cell.sem, "seeds")
    pooled = stats.pooled_std(metric)
    if math.isnan(pooled):
        return Operand(shown, table, row, 1, cell.mean, 0.0, "none")
    return Operand(shown, table, row, 1, cell.mean, pooled, "pooled")


def _margin(*operands: Operand) -> float:
    return Z * math.sqrt(sum(o.sem**2 for o in operands))


def _link(left: Operand, op: str, right: Operand) -> Link:
    if op not in OPERATORS:
        raise ValueError(f"unknown operator {op!r}")
    if left.n == 0 or right.n == 0:
        return Link(left, op, right, math.nan, math.nan, "not enough runs")
    gap = left.mean - right.mean if op in (">", ">=") else right.mean - left.mean
    margin = _margin(left, right)
    return Link(left, op, right, gap, margin, compare(gap, margin, strict=op in (">", "<")))


def _within(operands: tuple[Operand, ...], limit: float) -> Within:
    if any(o.n == 0 for o in operands):
        return Within(operands, limit, math.nan, math.nan, "not enough runs")
    hi = max(operands, key=lambda o: o.mean)
    lo = min(operands, key=lambda o: o.mean)
    spread = hi.mean - lo.mean
    margin = _margin(hi, lo)
    return Within(operands, limit, spread, margin, "holds" if spread <= limit + margin else "fails")


def fmt_value(metric: str, value: float) -> str:
    if math.isnan(value):
        return "—"
    if metric == "params":
        return f"{value / 1e6:.2f}M"
    if metric == "flops":
        return f"{value / 1e9:.2f}G"
    return f"{value:.2f}"


def _operand_text(o: Operand, metric: str) -> str:
    if o.n == 0:
        return f"{o.name} (— : {o.missing})"
    noise = {"seeds": "", "pooled": ", pooled std", "none": ", no noise estimate"}[o.noise]
    return f"{o.name} {fmt_value(metric, o.mean)} (n={o.n}{noise})"


def _link_text(link: Link, metric: str) -> str:
    head = f"{_operand_text(link.left, metric)} {link.op} {_operand_text(link.right, metric)}"
    if math.isnan(link.gap):
        return f"{head}: {link.verdict}"
    margin = fmt_value(metric, link.margin)
    return f"{head}: gap {_signed(link.gap, metric)}, noise margin {margin}: {link.verdict}"


def _within_text(w: Within, metric: str) -> str:
    rows = ", ".join(_operand_text(o, metric) for o in w.operands)
    if math.isnan(w.spread):
        return f"within {w.limit:g} of each other: {rows}: {w.verdict}"
    noise = " (within noise)" if w.verdict == "holds" and w.spread > w.limit else ""
    return (
        f"spread {fmt_value(metric, w.spread)} vs. limit {w.limit:g} + noise margin "
        f"{fmt_value(metric, w.margin)} over {rows}: {w.verdict}{noise}"
    )


def _signed(value: float, metric: str) -> str:
    text = fmt_value(metric, abs(value))
    return f"+{text}" if value >= 0 else f"-{text}"
