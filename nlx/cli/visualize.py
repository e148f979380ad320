"""``nlx visualize``: what a non-local block attends to (the paper's Figures 1 and 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from nlx.cli.output import Format, console, print_json, print_table

QUERIES_HELP = "auto, a cell t,h,w of the block's input, or px:FRAME,Y,X; repeat or separate with ';'."
BLOCK_HELP = "Non-local block, e.g. res3.nonlocal_blocks.1 (default: the first of res3)."
CROP_HELP = "Centre-crop to data.crop, or the whole frame at data.test_short_side."
OUT_HELP = "Figure path; .png and .pdf are written (default: attention_<video>.png)."


def visualize(
    target: Path = typer.Argument(..., help="A run directory, model_final.pt or a checkpoint."),
    video: Path = typer.Argument(..., help="A video file (any format PyAV reads)."),
    block: str | None = typer.Option(None, "--block", help=BLOCK_HELP),
    queries: list[str] = typer.Option(["auto"], "--queries", "-q", help=QUERIES_HELP),
    num_queries: int = typer.Option(3, "--num-queries", help="How many queries auto picks."),
    top: int = typer.Option(20, "--top", help="Targets (highest weights) per query."),
    frames: int = typer.Option(4, "--frames", help="Frames shown, evenly spaced over the clip."),
    start: int | None = typer.Option(
        None, "--start", help="First video frame of the clip (default: centred)."
    ),
    crop: bool = typer.Option(False, "--crop/--full", help=CROP_HELP),
    out: Path | None = typer.Option(None, "--out", "-o", help=OUT_HELP),
    animation: Path | None = typer.Option(
        None, "--animate", help="Also a .gif or .mp4, one frame per query."
    ),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    fmt: Format = typer.Option(Format.table, "--format", help="table (stderr) or json (stdout)."),
) -> None:
    """Arrows from query positions to their top-k targets over frames of one clip (Figures 1 and 3).

    [dim]nlx visualize results/3f2a9c0d1e4b data/mini/val/00000.mp4 --top 20 --frames 4[/dim]
    """
    from nlx.visualize import Options
    from nlx.visualize import visualize as run

    options = Options(block, tuple(queries), num_queries, top, frames, start, crop, device)
    result = run(target, video, options, out, animation)
    if fmt is Format.json:
        print_json(result)
        return
    _show(result)


def _cell(p: dict[str, Any]) -> str:
    return ",".join(map(str, p["cell"]))


def _pixel(p: dict[str, Any]) -> str:
    return f"({p['pixel'][0]:g}, {p['pixel'][1]:g})"


def _show(result: dict[str, Any]) -> None:
    rows = []
    for i, q in enumerate(result["queries"], 1):
        rows.append(
            [
                f"{i}",
                "query",
                _cell(q),
                q["frame"],
                _pixel(q),
                f"top-{result['top']} mass {q['concentration']:.3f}",
            ]
        )
        rows += [
            ["", f"{r}", _cell(t), t["frame"], _pixel(t), f"{t['weight']:.4g}"]
            for r, t in enumerate(q["targets"], 1)
        ]
    grid = tuple(result["query_grid"])
    title = f"{result['block']} ({result['instantiation']}, {result['scope']}), grid {grid}"
    print_table(
        title,
        ["query", "rank", "cell t,h,w", "frame", "pixel (y, x)", "weight"],
        rows,
        justify_right=("weight",),
    )
    for path in result["files"]:
        console.print(f"wrote {path}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("visualize")(visualize)
