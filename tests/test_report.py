"""``nlx.report`` as a library: the runs table, paper-style tables, bold-best, claims, documents, figures."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from test_report_builder import build_results

from nlx.errors import NlxError
from nlx.report import Report, Section, best_mask, build_report, write_report
from nlx.report.claims import Z, combine, compare, evaluate_claim
from nlx.report.figures import figure4_runs
from nlx.report.pages import EXTRA_MARK
from nlx.report.records import RecordClaim, SweepRecord
from nlx.report.render import to_latex, to_markdown
from nlx.report.stats import Cell, Stats


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_results(tmp_path_factory.mktemp("report") / "results")


@pytest.fixture(scope="module")
def report(results: Path) -> Report:
    return build_report(results)


def _md_rows(markdown: str) -> list[list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("|")][2:]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines]


# --- the runs table -------------------------------------------------------------------------------------


def test_runs_frame_has_one_row_per_cell_then_unrecorded_runs(report: Report) -> None:
    runs = report.runs
    cells = runs[runs["table"].notna()]
    assert len(cells) == 10 + 3 + 2 + 1  # 2a: 5 rows x 2 seeds; 2e: 3; 2f: 2; 2g: 1
    assert list(cells[cells["table"] == "2a"]["row"].drop_duplicates()) == [
        "baseline", "gaussian", "embedded_gaussian", "dot_product", "concatenation",
    ]  # fmt: skip
    loose = runs[runs["table"].isna()]
    assert sorted(loose["run_id"]) == ["nl5_0", "nl5_space"]
    assert list(loose["seed"]) == [0, 0]
    status = dict(zip(runs["run_id"], runs["status"], strict=True))
    assert (status["base0"], status["dot1"], status["concat0"]) == ("done", "failed", "missing")
    failed = runs[runs["run_id"] == "dot1"].iloc[0]
    assert failed["reason"] == "loss is nan at iteration 57" and math.isnan(failed["top1"])
    base = runs[runs["run_id"] == "base1"].iloc[0]
    assert (base["top1"], base["params"], base["flops"], base["iterations"]) == (41.0, 1_000_000, 2e9, 100)
    assert (base["model.name"], base["model.non_local.blocks"], base["data.frames"]) == ("c2d_r50", "none", 4)
    assert base["model.conv1_stride"] == "[1, 2, 2]" and base["wall_time_s"] == 12.5


# --- tables ---------------------------------------------------------------------------------------------


def test_table_layout_keeps_file_order_labels_and_groups(report: Report) -> None:
    rows = _md_rows(to_markdown(report.table("2a")))
    assert [r[0].split("<sup>")[0] for r in rows] == [
        "C2D baseline", "Gaussian", "Gaussian, embed", "dot-product", "concatenation",
    ]  # fmt: skip
    grouped = _md_rows(to_markdown(report.table("2f")))
    assert [(r[0], r[1]) for r in grouped] == [("R50", "I3D"), ("R101", "I3D")]
    header = to_markdown(report.table("2f")).splitlines()[0]
    assert [h.strip() for h in header.strip("|").split("|")][:5] == [
        "group",
        "model",
        "seeds",
        "top-1",
        "top-1 paper",
    ]


def test_mean_std_n_and_delta_to_the_paper(report: Report) -> None:
    rows = {r[0].split("<sup>")[0]: r for r in _md_rows(to_markdown(report.table("2a")))}
    #            seeds   top-1               paper   Δ
    assert rows["C2D baseline"][1:5] == ["2/2", "40.50 ± 0.71", "71.8", "-31.30"]
    assert rows["Gaussian"][1:5] == ["2/2", "**42.50 ± 0.71**", "72.5", "-30.00"]
    assert rows["dot-product"][1:5] == ["1/2", "9.50", "72.9", "-63.40"]  # one seed: no std
    numbers = report.table("2a").numbers().set_index("row")
    assert numbers.at["gaussian", "top1_n"] == 2 and numbers.at["gaussian", "top1_delta"] == pytest.approx(
        -30.0
    )


def test_bold_best_from_numbers_with_ties(report: Report) -> None:
    view = report.table("2a")
    best = {
        row: view.best[(row, "top1")] for row in ("baseline", "gaussian", "embedded_gaussian", "dot_product")
    }
    # 42.50 twice: both bold; "9.50" sorts above "42.50 ± 0.71" as a string but is lower: not bold
    assert best == {"baseline": False, "gaussian": True, "embedded_gaussian": True, "dot_product": False}
    assert "9.50" > "42.50 ± 0.71"
    assert not view.best[("concatenation", "top1")]  # no run: never best
    md = to_markdown(view)
    assert "**42.50 ± 0.71**" in md and "**42.50 ± 0.00**" in md and "**9.50**" not in md
    assert view.best[("gaussian", "top5")] and view.best[("embedded_gaussian", "top5")]  # 84.00 tie


def test_best_mask_compares_numbers_as_shown() -> None:
    means = pd.DataFrame(
        {"top1": [72.5, 72.4999999, 9.5, math.nan], "flops": [1.2, 1.0, 1.0, math.nan]},
        index=["a", "b", "c", "d"],
    )
    mask = best_mask(means)
    assert list(mask["top1"]) == [True, True, False, False]  # equal at 2 decimals: tie
    assert list(mask["flops"]) == [False, True, True, False]  # lower is better for FLOPs
    assert not best_mask(pd.DataFrame({"top1": [math.nan, math.nan]})).any().any()


def test_missing_and_failed_runs_show_a_dash_and_a_footnote(report: Report) -> None:
    view = report.table("2a")
    rows = {r[0]: r for r in _md_rows(to_markdown(view))}
    assert rows["concatenation<sup>2</sup>"][1:5] == ["0/2", "—", "72.8", "—"]
    assert "dot-product<sup>1</sup>" in rows
    assert view.footnotes == (
        "dot-product: seed 1 (run dot1): failed (loss is nan at iteration 57)",
        "concatenation: seed 0 (run concat0): missing (no run directory); "
        "seed 1 (run concat1): missing (no run directory)",
    )


def test_table_2e_params_and_flops_are_ratios_to_the_first_row(report: Report) -> None:
    view = report.table("2e")
    n = view.numbers().set_index("row")
    assert n.at["i3d_311", "params_mean"] == pytest.approx(1.5) and n.at[
        "i3d_311", "flops_mean"
    ] == pytest.approx(1.8)
    assert n.at["nl_c2d", "flops_mean"] == pytest.approx(1.2) and n.at["c2d", "params_mean"] == pytest.approx(
        1.0
    )
    assert n.at["i3d_311", "params_delta"] == pytest.approx(0.3)
    rows = {r[0]: r for r in _md_rows(to_markdown(view))}
    # params: ours, paper, Δ; FLOPs: ours, paper, Δ -- the lowest is the best
    assert rows["C2D baseline"][2:8] == ["**1.00×**", "1.0×", "+0.00", "**1.00×**", "1.0×", "+0.00"]
    assert rows["I3D 3×1×1"][2:8] == ["1.50×", "1.2×", "+0.30", "1.80×", "1.5×", "+0.30"]
    assert view.best[("nl_c2d", "top1")] and not view.best[("nl_c2d", "flops")]


def test_latex_is_booktabs_with_bold_and_group_rules(report: Report) -> None:
    tex = to_latex(report.table("2a"))
    assert all(
        rule in tex for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\multicolumn{3}{c}{top-1}")
    )
    assert r"\textbf{42.50 $\pm$ 0.71}" in tex and r"\textbf{9.50" not in tex
    assert r"dot-product\textsuperscript{1}" in tex and "---" in tex
    grouped = to_latex(report.table("2f"))
    assert grouped.count(r"\midrule") == 2 and r"\cline" not in grouped  # after the header, between R50/R101
    assert r"\resizebox" in to_latex(report.table("2e"))  # 12 data columns + seeds


# --- claims ---------------------------------------------------------------------------------------------


def test_claim_verdicts(report: Report) -> None:
    verdicts = {(c.table, c.id): c.verdict for c in report.claims}
    assert verdicts == {
        ("2a", "holds"): "holds",
        ("2a", "fails"): "fails",
        ("2a", "noise"): "inconclusive",  # equal means, within the seeds' noise
        ("2a", "chain"): "holds",  # 42.5 >= 42.5 holds (not contradicted), 42.5 > 40.5 holds
        ("2a", "missing"): "not enough runs",
        ("2a", "single"): "holds",  # one seed: pooled std
        ("2a", "similar"): "holds",
        ("2e", "fewer_flops"): "holds",
        ("2g", "longer"): "holds",  # 2g:r50_i3d > 2f:r50_i3d across tables
        ("2g", "longer_file"): "holds",
    }


def test_claim_evidence_gives_the_deciding_numbers(report: Report) -> None:
    claims = {c.id: c for c in report.claims}
    margin = Z * math.sqrt(2 * (0.5**2))  # two rows with std 0.707, n=2: SE 0.5 each
    link = claims["holds"].links[0]
    assert (link.gap, link.margin) == (pytest.approx(2.0), pytest.approx(margin))
    assert claims["holds"].evidence() == [
        "gaussian 42.50 (n=2) > baseline 40.50 (n=2): gap +2.00, noise margin 1.41: holds"
    ]
    assert "gap -2.00" in claims["fails"].evidence()[0]
    assert claims["missing"].evidence()[0].startswith("concatenation (— : concatenation has no finished run)")
    single = claims["single"].links[0]
    pooled = math.sqrt((0.5 + 0.5 + 0.0) / 3)  # baseline, gaussian (std 0.707) and embedded (0) pooled
    assert single.left.noise == "pooled" and single.left.sem == pytest.approx(pooled)
    assert "2f:r50_i3d 44.00 (n=1, pooled std)" in claims["longer"].evidence()[0]
    assert claims["fewer_flops"].evidence()[0].startswith("nl_c2d 36.00G")


@pytest.mark.parametrize(
    ("gap", "margin", "strict", "verdict"),
    [
        (2.0, 1.0, True, "holds"),
        (0.5, 1.0, True, "inconclusive"),
        (-0.5, 1.0, True, "inconclusive"),
        (-2.0, 1.0, True, "fails"),
        (-0.5, 1.0, False, "holds"),  # >=: holds unless contradicted
        (-2.0, 1.0, False, "fails"),
        (0.0, 0.0, True, "fails"),  # no noise (FLOPs, or no estimate): checked exactly
        (0.0, 0.0, False, "holds"),
    ],
)
def test_compare_rule(gap: float, margin: float, strict: bool, verdict: str) -> None:
    assert compare(gap, margin, strict) == verdict


def test_combine_a_chain() -> None:
    assert combine(["holds", "holds"]) == "holds"
    assert combine(["holds", "inconclusive"]) == "inconclusive"
    assert combine(["inconclusive", "not enough runs"]) == "not enough runs"
    assert combine(["not enough runs", "fails", "holds"]) == "fails"


def _record(table: str, *rows: str) -> SweepRecord:
    from nlx.report.records import RecordRow

    return SweepRecord(
        table, "", "mini", "", "", ("top1",), tuple(RecordRow(r, r, None, {}, ()) for r in rows)
    )


def test_within_fails_beyond_noise_and_single_seeds_without_noise_estimate() -> None:
    rec = _record("2a", "a", "b", "c")
    stats = Stats({("2a", "a", "top1"): Cell((40.0, 41.0), 2), ("2a", "b", "top1"): Cell((43.0, 44.0), 2),
                   ("2a", "c", "top1"): Cell((), 2)})  # fmt: skip
    within = evaluate_claim(
        "2a", RecordClaim("w", "similar", "top1", within=0.5, rows=("a", "b")), [rec], stats
    )
    assert (
        within.verdict == "fails" and within.within is not None and within.within.spread == pytest.approx(3.0)
    )
    lenient = evaluate_claim(
        "2a", RecordClaim("w", "similar", "top1", within=2.0, rows=("a", "b")), [rec], stats
    )
    assert lenient.verdict == "holds"  # 3.0 <= 2.0 + 1.41
    assert "(within noise)" in lenient.evidence()[0]
    unknown = evaluate_claim("2a", RecordClaim("x", "x", "top1", chains=(("a", ">", "2z:a"),)), [rec], stats)
    assert unknown.verdict == "not enough runs" and "table 2z is not in the results" in unknown.evidence()[0]
    single = Stats({("2a", "a", "top1"): Cell((40.0,), 1), ("2a", "b", "top1"): Cell((40.1,), 1)})
    link = evaluate_claim("2a", RecordClaim("s", "s", "top1", chains=(("b", ">", "a"),)), [rec], single)
    assert link.verdict == "holds" and link.links[0].margin == 0 and "no noise estimate" in link.evidence()[0]


# --- documents, figures, selection ----------------------------------------------------------------------


def test_figure4_picks_c2d_r50_baseline_and_5_block_runs(report: Report) -> None:
    chosen = figure4_runs(report.runs)
    assert list(chosen.itertuples(index=False, name=None)) == [
        ("base0", "C2D baseline"), ("base1", "C2D baseline"), ("nl5_0", "NL C2D, 5-block"),
    ]  # fmt: skip
    val = report.curves[(report.curves["kind"] == "val") & (report.curves["arm"] == "C2D baseline")]
    assert sorted(set(val["iteration"])) == [40, 80] and len(val) == 4  # two seeds, torn last line skipped


def test_markdown_header_claims_and_extra_sections(report: Report, tmp_path: Path) -> None:
    extra = [Section("Attention maps", "Some *notes*.", "<p>Some notes.</p>")]
    files = write_report(report, tmp_path, formats=("md", "html"), figures=False, extra=extra)
    assert [p.name for p in files] == ["runs.csv", "REPORT.md", "report.html"]
    md = (tmp_path / "REPORT.md").read_text()
    assert "| preset | mini |" in md
    assert (
        "| runs | 16 cells (row × seed) in 4 tables: 13 done, 1 failed, 2 missing; 16 distinct runs; " in md
    )
    assert "| claims | 7 holds, 1 fails, 1 inconclusive, 1 not enough runs |" in md
    assert "| 2a | Gaussian beats embedded | top-1 | ⚠️ inconclusive |" in md
    assert (
        md.index(EXTRA_MARK) < md.index("## Attention maps\n\nSome *notes*.") < md.index("## How the claims")
    )
    page = (tmp_path / "report.html").read_text()
    assert "<h2>Attention maps</h2>\n<p>Some notes.</p>" in page and "font-weight: bold" in page


def test_table_selection(results: Path) -> None:
    only = build_report(results, ["table2f", "2g"])
    assert [v.table for v in only.tables] == ["2f", "2g"]
    assert {c.id: c.verdict for c in only.claims} == {"longer": "holds", "longer_file": "holds"}
    with pytest.raises(NlxError, match=r"no sweep record for table 2x \(recorded: 2a, 2e, 2f, 2g\)"):
        build_report(results, ["2x"])


def test_every_ablation_file_reports_and_the_papers_numbers_satisfy_its_claims(tmp_path: Path) -> None:
    """Runs that equal the paper's numbers minus a constant: every table renders, every claim holds."""
    from test_report_builder import base_config, row, write_record, write_run

    from nlx.sweep.matrix import load_ablation

    root = tmp_path / "results"
    files = sorted((Path(__file__).resolve().parents[1] / "ablations").glob("table2*.yaml"))
    for path in files:
        abl = load_ablation(path)
        rows = []
        for r in abl.rows:
            runs = [(seed, f"{abl.table}_{r.id}_{seed}") for seed in abl.seeds]
            for seed, run_id in runs:
                metrics = {"top1": r.paper["top1"] - 30 + 0.1 * seed, "top5": r.paper["top5"] - 10}
                cost = {
                    "params": int(40e6 * r.paper.get("params", 1)),
                    "flops": int(30e9 * r.paper.get("flops", 1)),
                }
                write_run(root, run_id, base_config(seed=seed), metrics, **cost)
            rows.append(row(r.id, r.label, r.paper, runs, r.group))
        claims = [
            {"id": c.id, "text": c.text, "metric": c.metric, "within": c.within, "rows": list(c.rows),
             "chains": [[t.replace("table", "").replace(".yaml#", ":") for t in ch] for ch in c.all_chains()]}
            for c in abl.claims
        ]  # fmt: skip
        write_record(root, abl.table, rows, claims, metrics=abl.metrics, title=abl.title)
    report = build_report(root)
    assert [v.table for v in report.tables] == ["2a", "2b", "2c", "2d", "2e", "2f", "2g"]
    assert len(report.claims) == sum(len(load_ablation(p).claims) for p in files)
    assert {f"{c.table}:{c.id}": c.verdict for c in report.claims if c.verdict != "holds"} == {}
    ratios = report.table("2e").numbers().set_index("row")
    assert (
        ratios.at["i3d_333", "flops_mean"] == pytest.approx(1.8) and ratios.at["nl_c2d", "params_delta"] == 0
    )
    write_report(report, tmp_path / "out", figures=False)
    tex = (tmp_path / "out" / "report.tex").read_text()
    assert r"I3D 3$\times$3$\times$3" in tex and "≥" not in tex and "×" not in tex
    md = (tmp_path / "out" / "REPORT.md").read_text()
    assert md.count("## Table 2") == 7 and "| claims | 17 holds |" in md


def test_top_k_is_left_out_when_every_run_has_at_most_k_classes(report: Report) -> None:
    from nlx.report.tables import build_table

    record = next(r for r in report.records if r.table == "2a")
    assert record.metrics[:2] == ("top1", "top5") or list(record.metrics[:2]) == ["top1", "top5"]
    few = build_table(record, report.stats, report.runs.assign(**{"model.num_classes": 4}))
    assert few.metrics == ("top1",)
    assert few.footnotes[0] == "top-5 left out: every run has at most 5 classes, so it is 100% by definition"
    many = build_table(record, report.stats, report.runs.assign(**{"model.num_classes": 400}))
    assert many.metrics == ("top1", "top5") and many.footnotes == report.table("2a").footnotes
