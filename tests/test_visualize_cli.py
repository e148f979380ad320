"""``nlx visualize`` end to end on a smoke run, its errors, and the report's attention section."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from conftest import CliResult

from nlx.config import load_preset
from nlx.config.load import dump_yaml, to_tree
from nlx.factory import build_model
from nlx.io import save_torch, write_json, write_text

Cli = Callable[..., CliResult]
BLOCK = "res3.nonlocal_blocks.1"


def make_run(folder: Path, data: Path, *overrides: str) -> Path:
    """A finished run directory by hand: smoke preset (8-frame clips: a 2×4×4 res3 map), random weights."""
    cfg = load_preset("smoke").resolve(
        None,
        None,
        [f"data.root={data}", "data.frames=8", "data.stride=1", "model.non_local.blocks=5", *overrides],
    )
    torch.manual_seed(0)
    model = build_model(cfg.model)
    write_text(folder / "config.yaml", dump_yaml(to_tree(cfg)))
    save_torch(folder / "model_final.pt", {"model": model.state_dict()})
    write_json(folder / "meta.json", {"run_id": folder.name, "status": "done"})
    write_json(folder / "final.json", {"run_id": folder.name, "status": "done", "metrics": {"top1": 25.0}})
    return folder


@pytest.fixture(scope="module")
def run(smoke_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("vis") / "results" / "nl5", smoke_data)


def test_cli_writes_png_pdf_gif_and_json(cli: Cli, run: Path, smoke_data: Path, tmp_path: Path) -> None:
    video = smoke_data / "val" / "00000.mp4"
    out, gif = tmp_path / "fig.png", tmp_path / "a.gif"
    res = cli("visualize", run, video, "--top", "5", "--out", out, "--animate", gif, "--format", "json")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["block"] == BLOCK and data["query_grid"] == [2, 4, 4] and data["key_grid"] == [2, 2, 2]
    assert data["clip"]["frames"] == list(range(4, 12)) and data["shown_frames"] == [5, 7, 9, 11]
    assert len(data["queries"]) == 3 and all(len(q["targets"]) == 5 for q in data["queries"])
    weights = [t["weight"] for t in data["queries"][0]["targets"]]
    assert weights == sorted(weights, reverse=True) and 0 < sum(weights) <= 1 + 1e-6
    first = data["queries"][0]["targets"][0]
    assert set(first) == {"cell", "pixel", "frame", "frames", "weight", "share"}
    t, h, w = first["cell"]  # a key of the 2×2×2 grid on a 32×32 clip of a 32×32 video: 16-pixel cells
    assert first["pixel"] == [16 * h + 7.5, 16 * w + 7.5] and first["frame"] == [5, 9][t]
    files = [tmp_path / n for n in ("fig.png", "fig.pdf", "a.gif")]
    assert data["files"] == [str(p) for p in files] and all(p.stat().st_size > 1000 for p in files)
    png = (tmp_path / "fig.png").read_bytes()
    again = cli("visualize", run / "model_final.pt", video, "--top", "5", "--out", tmp_path / "fig2.png")
    assert again.code == 0, again.err
    assert (tmp_path / "fig2.png").read_bytes() == png  # byte-stable
    assert "top-5 mass" in again.err and "wrote" in again.err and again.out == ""


def test_cli_explicit_queries_scope_and_mp4(cli: Cli, smoke_data: Path, tmp_path: Path) -> None:
    run = make_run(tmp_path / "space", smoke_data, "model.non_local.scope=space")
    video = smoke_data / "val" / "00001.mp4"
    res = cli("visualize", run, video, "-q", "1,0,3;px:5,20.5,3", "--frames", "2", "--top", "20", "--crop",
              "--out", tmp_path / "f.png", "--animate", tmp_path / "a.mp4", "--format", "json")  # fmt: skip
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert [q["cell"] for q in data["queries"]] == [[1, 0, 3], [0, 2, 0]]
    for q in data["queries"]:  # space: 4 keys per frame, all in the query's frame
        assert len(q["targets"]) == 4 and all(t["cell"][0] == q["cell"][0] for t in q["targets"])
    assert (tmp_path / "a.mp4").stat().st_size > 1000


@pytest.mark.parametrize(
    "args,message",
    [
        (["{tmp}/nowhere", "{video}"], "no such run directory or checkpoint"),
        (["{run}", "{tmp}/missing.mp4"], "missing.mp4: no such video"),
        (["{run}", "{video}", "--block", "res9.x"], f"no such non-local block (the model has: {BLOCK}, "),
        (
            ["{run}", "{video}", "-q", "2,0,0"],
            "outside the feature map of res3.nonlocal_blocks.1 (T', H', W') = (2, 4, 4)",
        ),
        (["{run}", "{video}", "-q", "1,2"], "expected auto, a cell t,h,w or a pixel px:FRAME,Y,X"),
        (["{run}", "{video}", "-q", "px:40,1,1"], "video frame 40 is outside the clip (frames 4-11)"),
        (["{run}", "{video}", "--top", "0"], "--top 0: expected a positive number"),
        (["{run}", "{video}", "--frames", "9"], "--frames 9: the clip has only 8 frames"),
        (["{run}", "{video}", "--animate", "{tmp}/a.avi"], "expected a .gif or .mp4 file"),
        (["{baseline}", "{video}"], "the model has no non-local blocks"),
    ],
)
def test_bad_inputs_exit_2_with_one_line(
    cli: Cli, run: Path, smoke_data: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    baseline = (
        make_run(tmp_path / "base", smoke_data, "model.non_local.blocks=none")
        if "{baseline}" in args
        else run
    )
    values = {"tmp": tmp_path, "run": run, "video": smoke_data / "val" / "00000.mp4", "baseline": baseline}
    res = cli("visualize", *(a.format(**values) for a in args), "--out", tmp_path / "f.png")
    assert res.code == 2, res.err
    assert message in res.err and len(res.err.strip().splitlines()) == 1 and "Traceback" not in res.err
    assert not (tmp_path / "f.png").exists()


# --- the report section -------------------------------------------------------------------------------


def test_report_section_measures_the_flashes_and_is_deterministic(run: Path, tmp_path: Path) -> None:
    from nlx.report import build_report, write_report
    from nlx.report.extra import ATTENTION_TITLE, attention_section

    results = run.parent
    report = build_report(results)
    section = attention_section(report, results)  # nlx report's default: written into the results
    assert section.title == ATTENTION_TITLE
    md = section.markdown
    assert "![What a non-local block attends to (Figures 1 and 3)](figures/attention.png)" in md
    assert f"block {BLOCK}" in md and "val/00000.mp4, val/00001.mp4, val/00002.mp4" in md
    assert "| shown | 3 | 7 |" in md and "| first 48 | 8 | " in md  # one query per flash the clips sample
    assert "| first 48, control: input similarity | 8 | " in md and "| — |" in md
    assert "**Verdict:** " in md and "that uniform weights would give" in md and "input alone." in md
    assert "data:image/png;base64," in section.html and r"\includegraphics" in section.latex
    png = (results / "figures" / "attention.png").read_bytes()
    assert (results / "figures" / "attention.pdf").is_file()
    again = attention_section(report, results.parent / "b")  # elsewhere: the run is found in ../results
    assert again == section and (results.parent / "b" / "figures" / "attention.png").read_bytes() == png
    write_report(
        report, tmp_path / "c", formats=("md",), figures=False
    )  # the section draws: not without figures
    assert "## What a non-local block attends to" not in (tmp_path / "c" / "REPORT.md").read_text()
    write_report(report, tmp_path / "d", formats=("md",), figures=False, extra=[section])
    assert "## What a non-local block attends to" in (tmp_path / "d" / "REPORT.md").read_text()


def test_report_section_is_a_note_without_run_or_events(run: Path, smoke_data: Path, tmp_path: Path) -> None:
    from nlx.report import build_report
    from nlx.report.extra import attention_section

    other = make_run(tmp_path / "results" / "seed1", smoke_data, "runtime.seed=1")
    section = attention_section(build_report(other.parent), tmp_path / "results")
    assert section.markdown.startswith("No finished 5-block NL C2D R50 run") and "\n" not in section.markdown
    no_events = make_run(tmp_path / "r2" / "nl5", tmp_path / "empty-data")
    section = attention_section(build_report(no_events.parent), no_events.parent)
    assert section.markdown.startswith("No val_events.jsonl in the data.root of run nl5:")
    assert not (no_events.parent / "figures").exists()
    lost = tmp_path / "lost-data"  # events, but no videos
    lost.mkdir()
    (lost / "val_events.jsonl").write_text((smoke_data / "val_events.jsonl").read_text())
    no_videos = make_run(tmp_path / "r3" / "nl5", lost)
    section = attention_section(build_report(no_videos.parent), no_videos.parent)
    assert (
        section.markdown
        == f"No attention figure for run nl5: {lost}: none of the validation videos could be read"
    )
