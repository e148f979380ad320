"""``nlx train``: one run of the paper's recipe, on one CPU, one GPU or many (torchrun)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from nlx.cli.output import console


def train(
    config: str = typer.Argument(..., help="A preset name (paper, mini, smoke) or a YAML config file."),
    overrides: list[str] = typer.Argument(None, help="Overrides, [cyan]key.path=value[/cyan] (YAML values)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run directory (default: results/<run id>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint in --out."),
    variant: str | None = typer.Option(
        None, "--variant", help="A variant of the preset, e.g. long (Table 2g)."
    ),
    device: str | None = typer.Option(None, "--device", help="auto, cpu or cuda (runtime.device)."),
    gpus: int = typer.Option(
        1, "--gpus", help="Processes on this node through torchrun (one per GPU; gloo on CPU)."
    ),
) -> None:
    """Train a model and test it with the multi-view protocol of Sec. 4.1.

    [dim]nlx train mini model.name=c2d_r50 model.non_local.blocks=5 --out runs/nl5[/dim]
    """
    from nlx.config.presets import load_preset
    from nlx.sweep.plan import run_id
    from nlx.train import Interrupted, TrainingFailed
    from nlx.train import train as run_training

    extra = list(overrides or []) + ([f"runtime.device={device}"] if device else [])
    preset = load_preset(config)
    tree = preset.tree_for(None, variant, extra)
    cfg = preset.resolve(None, variant, extra)
    out = out or Path("results") / run_id(tree)
    if gpus > 1 and "WORLD_SIZE" not in os.environ:
        _exec_torchrun(gpus, out)
    from nlx.rundir import RunDir

    if RunDir(out).final.is_file():
        console.print(f"{out} is complete already (final.json exists); nothing to do", highlight=False)
        return
    console.print(f"[bold]run[/bold] {out}", highlight=False)
    try:
        final = run_training(cfg, out, resume=resume, argv=sys.argv)
    except TrainingFailed as err:
        console.print(f"[red]run failed:[/red] {err} (see {out / 'meta.json'})", highlight=False)
        raise typer.Exit(1) from err
    except (Interrupted, KeyboardInterrupt) as err:
        console.print(f"[yellow]interrupted[/yellow]: resume with --resume --out {out}", highlight=False)
        raise typer.Exit(130) from err
    metrics = ", ".join(f"{k} {v:.2f}" for k, v in final["metrics"].items())
    console.print(f"[green]done[/green] {out}: {metrics}", highlight=False)


def _exec_torchrun(gpus: int, out: Path) -> None:
    """Re-run this command under torchrun with ``gpus`` processes (and a fixed --out for every rank)."""
    args = [a for a in sys.argv[1:]]
    cleaned: list[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "--gpus":
            skip = True
            continue
        if a.startswith("--gpus="):
            continue
        cleaned.append(a)
    if "--out" not in cleaned and "-o" not in cleaned:
        cleaned += ["--out", str(out)]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={gpus}",
        "-m",
        "nlx",
        *cleaned,
    ]
    os.execv(sys.executable, cmd)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
