"""``nlx data``: the generated mini benchmark."""

from __future__ import annotations

from pathlib import Path

import typer

from nlx.cli.output import console

data_app = typer.Typer(
    help='The generated mini benchmark: videos (synth) and its single-frame "ImageNet" (pretrain).',
    no_args_is_help=True,
)


@data_app.command("synth")
def synth(
    out: Path = typer.Argument(..., help="Output folder (MP4s, train.txt, val.txt, classes.txt)."),
    preset: str = typer.Option("mini", "--preset", help="mini or smoke."),
    seed: int = typer.Option(0, "--seed", help="Everything follows from the seed."),
    workers: int = typer.Option(2, "--workers", help="Processes that render and encode."),
    force: bool = typer.Option(False, "--force", help="Regenerate even if OUT is complete."),
) -> None:
    """Generate the [bold]mini[/bold] benchmark: two distant flashes whose relation is the label.

    See docs/data.md.
    """
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
        info = generate(
            out,
            PRESETS[preset],
            seed=seed,
            workers=workers,
            progress=lambda d, n: progress.update(task, completed=d, total=n),
        )
    console.print(
        f"[green]wrote[/green] {out}: {info['train_videos']} train + {info['val_videos']} val videos,"
        " 4 classes"
    )


@data_app.command("pretrain")
def pretrain(
    root: Path = typer.Argument(
        ..., help="The generated dataset (weights go to ROOT/pretrained/r{depth}.pth)."
    ),
    preset: str = typer.Option(
        "mini", "--preset", help="The preset whose width and stem the 2D network takes."
    ),
    depths: str = typer.Option("50,101", "--depths", help="ResNet depths to pretrain."),
    iterations: int = typer.Option(1000, "--iterations", help="SGD iterations per network."),
    batch_size: int = typer.Option(32, "--batch-size"),
    lr: float = typer.Option(0.1, "--lr"),
    seed: int = typer.Option(0, "--seed"),
    force: bool = typer.Option(False, "--force", help="Retrain even if the weights exist."),
) -> None:
    """Pretrain the mini preset's "ImageNet": 2D ResNets that name the shape and colour of one flash."""
    from nlx.config.presets import load_preset
    from nlx.data.synth import PRESETS as SYNTH
    from nlx.errors import NlxError
    from nlx.train.pretrain import PretrainSpec, pretrain_2d

    if preset not in SYNTH:
        raise NlxError(f"--preset: expected one of {', '.join(SYNTH)}, got {preset!r}")
    cfg = load_preset(preset)
    spec = SYNTH[preset]
    train = PretrainSpec(iterations=iterations, batch_size=batch_size, lr=lr, seed=seed)
    for depth in (int(d) for d in depths.split(",")):
        out = root / "pretrained" / f"r{depth}.pth"
        if out.is_file() and not force:
            console.print(f"{out} exists already")
            continue
        console.print(f"pretraining ResNet-{depth} on single frames ({iterations} iterations)")
        summary = pretrain_2d(cfg, f"c2d_r{depth}", spec, out, train)
        console.print(
            f"[green]wrote[/green] {out}: top-1 {summary['train_top1']:.1f}% on the last 10% of training,"
            f" {summary['seconds']:.0f} s"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
