"""``nlx report`` through the real entry point: files, JSON on stdout, determinism, errors."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from conftest import CliResult
from test_report_builder import build_results

Cli = Callable[..., CliResult]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_results(tmp_path_factory.mktemp("report_cli") / "results")


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_report_writes_every_file_and_shows_tables(cli: Cli, results: Path, tmp_path: Path) -> None:
    res = cli("report", results, "--out", tmp_path, "--no-figures")
    assert res.code == 0, res.err
    assert sorted(_files(tmp_path)) == ["REPORT.md", "report.html", "report.tex", "runs.csv"]
    assert res.out == ""  # the terminal view goes to stderr
    assert "Table 2a: Instantiations" in res.err and "42.50 ± 0.71" in res.err
    assert "[1] dot-product: seed 1 (run dot1): failed (loss is nan at iteration 57)" in res.err
    assert "inconclusive" in res.err and "wrote 4 files" in res.err


def test_report_format_json_prints_records_on_stdout(cli: Cli, results: Path, tmp_path: Path) -> None:
    res = cli("report", results, "--out", tmp_path, "--format", "json", "--no-figures", "--tables", "2a,2e")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert len(data["runs"]) == 18 and data["runs"][0]["run_id"] == "base0"
    assert [t["table"] for t in data["tables"]] == ["2a", "2e"]
    gaussian = data["tables"][0]["rows"][1]
    assert (gaussian["row"], gaussian["top1_mean"], gaussian["top1_n"], gaussian["top1_best"]) == (
        "gaussian", 42.5, 2, True,
    )  # fmt: skip
    assert data["tables"][0]["rows"][4]["top1_mean"] is None  # no run: null, not NaN
    assert {c["id"]: c["verdict"] for c in data["claims"]}["noise"] == "inconclusive"
    assert data["summary"] == {"holds": 5, "fails": 1, "inconclusive": 1, "not enough runs": 1}
    assert (tmp_path / "runs.csv").is_file() and (tmp_path / "REPORT.md").is_file()
    assert "Table 2a" not in res.err


def test_runs_csv_is_one_row_per_cell(cli: Cli, results: Path, tmp_path: Path) -> None:
    assert cli("report", results, "--out", tmp_path, "--to", "md", "--no-figures").code == 0
    runs = pd.read_csv(tmp_path / "runs.csv", keep_default_na=False, na_values=[""])
    assert list(runs.columns[:9]) == [
        "table",
        "row",
        "label",
        "group",
        "seed",
        "run_id",
        "status",
        "reason",
        "preset",
    ]
    assert {"top1", "top5", "mAP", "params", "flops", "wall_time_s", "iterations", "skipped_videos"} <= set(
        runs
    )
    assert {"model.name", "model.non_local.blocks", "model.non_local.instantiation", "init_from"} <= set(runs)
    assert len(runs) == 18
    cell = runs[(runs["table"] == "2a") & (runs["row"] == "dot_product")]
    assert list(cell["status"]) == ["done", "failed"] and list(cell["seed"]) == [0, 1]
    assert cell.iloc[1]["reason"] == "loss is nan at iteration 57"
    assert list(runs[runs["table"] == "2f"]["group"]) == ["R50", "R101"]
    assert runs[runs["run_id"] == "e_i3d0"]["flops"].item() == 54_000_000_000
    assert runs[runs["run_id"] == "nl5_0"][["table", "row"]].isna().all(axis=None)
    assert not (tmp_path / "report.tex").exists()


def test_report_is_byte_identical_when_rerun(cli: Cli, results: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert cli("report", results, "--out", first).code == 0
    before = _files(first)
    assert cli("report", results, "--out", first).code == 0
    assert cli("report", results, "--out", second).code == 0
    assert _files(first) == before == _files(second)
    assert {
        "figures/figure4.png",
        "figures/figure4.pdf",
        "figures/table2a.png",
        "figures/table2e_flops.pdf",
    } <= set(before)
    page = before["report.html"].decode()
    assert page.count('src="data:image/png;base64,') == 6 and "http" not in page  # self-contained
    assert "![Table 2a: ours vs. paper](figures/table2a.png)" in before["REPORT.md"].decode()


def test_default_out_is_the_results_directory(cli: Cli, results: Path, tmp_path: Path) -> None:
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    assert cli("report", copy, "--no-figures", "--tables", "2f").code == 0
    assert (copy / "REPORT.md").is_file() and (copy / "runs.csv").is_file()
    assert cli("report", copy, "--no-figures", "--tables", "2f").code == 0  # its own outputs are not runs


def test_missing_directory_is_a_one_line_error(cli: Cli, tmp_path: Path) -> None:
    res = cli("report", tmp_path / "nope")
    assert res.code == 2
    assert res.err.strip().count("\n") == 0 and "no such results directory" in res.err
    assert res.err.startswith("error:")
    empty = cli("report", tmp_path)
    assert empty.code == 2 and "nothing to report" in empty.err and empty.err.strip().count("\n") == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [(("--tables", "2z"), "no sweep record for table 2z"), (("--to", "pdf"), "unknown format pdf")],
)
def test_bad_options_are_one_line_errors(cli: Cli, results: Path, tmp_path: Path, args: tuple[str, ...],
                                         message: str) -> None:  # fmt: skip
    res = cli("report", results, "--out", tmp_path, "--no-figures", *args)
    assert res.code == 2 and message in res.err and res.err.strip().count("\n") == 0
