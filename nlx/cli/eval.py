"""``nlx eval``: re-test a run or a checkpoint, with its protocol or another one."""

from __future__ import annotations

from pathlib import Path

import typer

from nlx.cli.output import Format, console, print_json, print_table


def evaluate(
    target: Path = typer.Argument(..., help="A run directory or a checkpoint file."),
    overrides: list[str] = typer.Argument(
        None, help="Overrides, e.g. [cyan]eval.test_clips=30 eval.test_crops=3[/cyan]."
    ),
    fmt: Format = typer.Option(Format.table, "--format", help="table or json"),
) -> None:
    """Multi-view test (Sec. 4.1): top-1/top-5 (or mAP) over the validation split.

    [dim]nlx eval results/3f2a9c0d1e4b eval.test_clips=30[/dim]
    """
    from nlx.train import evaluate as run_eval

    result = run_eval(target, list(overrides or []))
    if fmt is Format.json:
        print_json(result)
        return
    rows = [[k, f"{v:.2f}"] for k, v in result["metrics"].items()]
    rows += [
        ["videos", result["test_videos"]],
        ["views per video", result["test_views"]],
        ["skipped videos", result["skipped_videos"]],
    ]
    print_table(f"eval {target}", ["metric", "value"], rows, justify_right=("value",))
    console.print(f"[dim]weights: {result['weights']}[/dim]", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)
