"""``nlx plan`` (what would run, nothing starts) and ``nlx sweep`` (run it: locally or on SLURM)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nlx.cli.output import Format, console, print_json

FILES_HELP = "Ablation files, e.g. [cyan]ablations/table2*.yaml[/cyan]."
PRESET_HELP = "Scale: paper, mini, smoke or a preset YAML file."
OVERRIDE_HELP = "Config override [cyan]key.path=value[/cyan], after preset, variant and row (repeatable)."
SEEDS_HELP = (
    "Replace the files' seeds: a count ([cyan]3[/cyan] = 0,1,2) "
    "or a list ([cyan]0,1,2[/cyan]; one seed: [cyan]5,[/cyan])."
)


class LauncherName(str, Enum):
    local = "local"
    slurm = "slurm"
    submitit_local = "submitit-local"


STATUS_STYLE = {
    "done": "green",
    "failed": "red",
    "running": "cyan",
    "interrupted": "yellow",
    "will reuse": "dim",
}


def _styled(status: str) -> str:
    style = STATUS_STYLE.get(status)
    return f"[{style}]{status}[/{style}]" if style else status


def plan(
    files: list[Path] = typer.Argument(..., help=FILES_HELP),
    preset: str = typer.Option("mini", "--preset", "-p", help=PRESET_HELP),
    results: Path = typer.Option(
        Path("results"), "--results", help="Results directory the statuses are read from."
    ),
    overrides: list[str] = typer.Option([], "--override", "-o", help=OVERRIDE_HELP),
    seeds: str | None = typer.Option(None, "--seeds", help=SEEDS_HELP),
    fmt: Format = typer.Option(Format.table, "--format", help="table (stderr) or json (stdout)."),
) -> None:
    """List every run of the files without starting any: table, row, seed, run id, status, dependency.

    A run shared by several cells (the C2D baseline of Tables 2a-2d) is listed once as pending, then
    as [dim]will reuse[/dim].  [dim]nlx plan ablations/table2*.yaml --preset mini[/dim]
    """
    from nlx.sweep.plan import parse_seeds, plan_summary
    from nlx.sweep.session import plan as make_plan

    cells = make_plan(files, preset, overrides, parse_seeds(seeds), results)
    if fmt is Format.json:
        print_json([c.to_json() for c in cells])
        return
    table = Table(title=f"plan ({preset} preset, {results})", header_style="bold", title_justify="left")
    for name, width in (("table", 5), ("row", 8), ("seed", 4), ("run id", 12), ("status", 11)):
        table.add_column(name, no_wrap=True, min_width=width)
    table.add_column("after", no_wrap=True)
    table.add_column("changes to the preset", overflow="fold", min_width=20)
    for c in cells:
        table.add_row(
            c.table, c.row, str(c.seed), c.run_id, _styled(c.status), c.dependency or "", escape(c.changes)
        )
    (console if console.is_terminal else Console(stderr=True, width=max(console.width, 160))).print(table)
    console.print(f"{plan_summary(cells)}; nothing was started", highlight=False)


def sweep(
    files: list[Path] = typer.Argument(..., help=FILES_HELP),
    preset: str = typer.Option("mini", "--preset", "-p", help=PRESET_HELP),
    results: Path = typer.Option(
        Path("results"), "--results", help="Results directory: <run id>/ per run, sweeps/<table>.json."
    ),
    jobs: int | None = typer.Option(
        None, "--jobs", "-j", help="Runs at once (default: one per GPU, or 1 on a CPU)."
    ),
    launcher: LauncherName = typer.Option(
        LauncherName.local,
        "--launcher",
        help="local (subprocesses), slurm (submitit), submitit-local (the SLURM path, run here).",
    ),
    fail_fast: bool = typer.Option(False, "--fail-fast", help="Stop everything at the first failed run."),
    rerun_failed: bool = typer.Option(
        False, "--rerun-failed", help="Run failed runs again (the failed attempt is kept in RESULTS/failed/)."
    ),
    seeds: str | None = typer.Option(None, "--seeds", help=SEEDS_HELP),
    overrides: list[str] = typer.Option([], "--override", "-o", help=OVERRIDE_HELP),
    gpus_per_run: int = typer.Option(
        1, "--gpus-per-run", help="Local launcher: GPUs per run (torchrun); runs at once = GPUs / this."
    ),
    fmt: Format = typer.Option(
        Format.table,
        "--format",
        help="table: live display on stderr; json: also the final statuses on stdout.",
    ),
) -> None:
    """Run every run of the files once: skip done runs, resume interrupted ones, wait for dependencies.

    Exit code 0: all done; 1: a run failed or was blocked by a failed dependency; 2: bad input;
    130: interrupted.  [dim]nlx sweep ablations/table2c.yaml --preset mini --jobs 2[/dim]
    """
    from nlx.sweep.plan import parse_seeds
    from nlx.sweep.session import SweepRequest, result_cells, run_sweep

    request = SweepRequest(
        files=list(files), preset=preset, results=results, overrides=list(overrides),
        seeds=parse_seeds(seeds), jobs=jobs, launcher=launcher.value, gpus_per_run=gpus_per_run,
        fail_fast=fail_fast, rerun_failed=rerun_failed,
    )  # fmt: skip
    result = run_sweep(request, console)
    if fmt is Format.json:
        print_json(result_cells(result))
    raise typer.Exit(result.exit_code)


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
    app.command("sweep")(sweep)
