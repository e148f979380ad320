"""``nlx data``: the generated mini benchmark."""

from __future__ import annotations

from pathlib import Path

import typer

from nlx.cli.output import console

data_app = typer.Typer(help="Datasets: generate the mini benchmark.", no_args_is_help=True)


@data_app.command("synth")
def synth(
    out: Path = typer.Argument(..., help="Output folder (MP4s, train.txt, val.txt, classes.txt)."),
    preset: str = typer.Option("mini", "--preset", help="mini or smoke."),
    seed: int = typer.Option(0, "--seed", help="Everything follows from the seed."),
    workers: int = typer.Option(2, "--workers", help="Processes that render and encode."),
    force: bool = typer.Option(False, "--force", help="Regenerate even if OUT is complete."),
) -> None:
    """Generate the [bold]mini[/bold] benchmark: two distant flashes whose relation is the label (docs/data.md)."""
    from rich.progress import Progress

    from nlx.data.synth import PRESETS, generate
    from nlx.errors import NlxError
    from nlx.io import read_json

    if preset not in PRESETS:
        raise NlxError(f"--preset: expected one of {', '.join(PRESETS)}, got {preset!r}")
    marker = out / ".complete"
    if marker.is_file() and not force:
        info = read_json(marker)
        if info.get("seed") == seed and info.get("train_videos") == PRESETS[preset].train_videos:
            console.print(f"{out} is complete already ({info['train_videos']} + {info['val_videos']} videos)")
            return
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"rendering {preset}", total=None)
        info = generate(out, PRESETS[preset], seed=seed, workers=workers, progress=lambda d, n: progress.update(task, completed=d, total=n))
    console.print(f"[green]wrote[/green] {out}: {info['train_videos']} train + {info['val_videos']} val videos, 4 classes")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
