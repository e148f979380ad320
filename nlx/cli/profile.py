"""``nlx profile``: parameters and FLOPs per model or per ablation row (Table 2e's columns)."""

from __future__ import annotations

from pathlib import Path

import typer

from nlx.cli.output import Format, console, print_json, print_table


def profile(
    target: str = typer.Argument(..., help="A model name (see [cyan]nlx models[/cyan]) or an ablation file."),
    overrides: list[str] = typer.Argument(None, help="Config overrides, [cyan]key.path=value[/cyan]."),
    preset: str = typer.Option("paper", "--preset", "-p", help="Scale: paper, mini, smoke or a preset file."),
    fmt: Format = typer.Option(Format.table, "--format", help="table or json"),
) -> None:
    """Parameters and FLOPs (multiply-adds, torch's flop counter) of one clip, with ratios to the first row.

    [dim]nlx profile c2d_r101 · nlx profile ablations/table2e.yaml --preset paper[/dim]
    """
    from nlx.sweep.profiling import profile_target

    rows = profile_target(target, Path(target), preset, overrides or [])
    if fmt is Format.json:
        print_json(rows)
        return
    table = [
        [
            r["row"],
            f"{r['params'] / 1e6:.2f}M",
            f"{r['flops'] / 1e9:.2f}G",
            f"{r['params_ratio']:.2f}×",
            f"{r['flops_ratio']:.2f}×",
            r["input"],
        ]
        for r in rows
    ]
    numbers = ("params", "FLOPs", "params ×", "FLOPs ×")
    print_table(f"profile ({preset} preset)", ["row", *numbers, "input"], table, justify_right=numbers)
    console.print(
        "[dim]params: convolutions, non-local blocks and fc, without BN; FLOPs: multiply-adds[/dim]"
    )


def register(app: typer.Typer) -> None:
    app.command("profile")(profile)
