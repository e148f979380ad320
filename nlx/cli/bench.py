"""``nlx bench``: speed and memory of the non-local block, of whole-model training and of data loading."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from nlx.cli.output import Format, console, print_json

bench_app = typer.Typer(
    help="Benchmarks: the non-local block's fast paths, training against a peer, data loading.",
    no_args_is_help=True,
)

DEVICE = typer.Option("cpu", "--device", help="cpu or cuda")
FORMAT = typer.Option(Format.table, "--format", help="table or json (json goes to stdout)")
SAVE = typer.Option(None, "--save", help="Also write the JSON to this file (atomically).")
AMP = typer.Option("off", "--amp", help="off, bf16 or fp16: autocast (changes numerics)")
CHANNELS_LAST = typer.Option(False, "--channels-last", help="torch.channels_last_3d for weights and inputs")
COMPILE = typer.Option(
    False, "--compile", help="torch.compile every contender (compile time is in the warm-up)"
)
SDPA = typer.Option("auto", "--sdpa", help="SDPA backend: auto, math, flash, efficient or cudnn")
FLUSH_DENORMAL = typer.Option(
    True, "--flush-denormal/--keep-denormal", help="CPU: denormal floats as zero (docs/benchmarks.md)."
)


def _ints(text: str, option: str) -> list[int]:
    from nlx.errors import NlxError

    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise NlxError(f"{option}: expected comma-separated integers; got {text!r}") from None


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _speed(device: str, amp: str, channels_last: bool, compile_: bool, sdpa: str) -> tuple[Any, Any]:
    from nlx.bench.measure import SpeedOptions, check_options, resolve_device

    dev = resolve_device(device)
    check_options(dev, amp, sdpa)  # type: ignore[arg-type]
    return dev, SpeedOptions(amp=amp, channels_last=channels_last, compile=compile_, sdpa=sdpa)  # type: ignore[arg-type]


def _emit(report: dict[str, Any], fmt: Format, save: Path | None, table: Any) -> None:
    from nlx.io import write_json

    if save is not None:
        write_json(save, report)
        console.print(f"[dim]saved {save}[/dim]")
    if fmt is Format.json:
        print_json(report)
    else:
        table(report)


def print_table(
    title: str, columns: list[str], rows: list[list[Any]], justify_right: Sequence[str] = ()
) -> None:
    """A compact table (no vertical rules, cells never wrap) so that nine columns fit 80 characters."""
    from rich import box
    from rich.table import Table

    table = Table(
        title=title, header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True
    )
    for col in columns:
        table.add_column(col, justify="right" if col in justify_right else "left", no_wrap=True)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


def _mb(value: int | None) -> str:
    return "" if value is None else f"{value / 2**20:,.0f}"


def _ratio(value: float | None, estimated: bool = False) -> str:
    if value is None:
        return "—"
    return f"≤{value:.3f}" if estimated else f"{value:.3f}"


def _side(result: dict[str, Any]) -> tuple[str, str]:
    """(time in ms, peak memory in MB) of one contender, or why it did not run."""
    if result["status"] != "ok":
        return result["status"], result["status"]
    return f"{result['time_s'] * 1e3:,.1f}", _mb(result["peak_bytes"])


def _skipped(report: dict[str, Any]) -> list[str]:
    notes = []
    for r in report["rows"]:
        for impl in ("fast", "naive"):
            if r[impl]["status"] == "skipped":
                gb = r[impl]["estimated_bytes"] / 2**30
                notes.append(
                    f"{r['frames']}f {r['stage']} {r['instantiation']} {impl}: skipped (needs ~{gb:.1f} GB)"
                )
    return notes


SHORT = {
    "gaussian": "gauss",
    "embedded_gaussian": "emb-gauss",
    "dot_product": "dot",
    "concatenation": "concat",
}


def _nonlocal_table(report: dict[str, Any]) -> None:
    rows = []
    for r in report["rows"]:
        (fast_t, fast_m), (naive_t, naive_m) = _side(r["fast"]), _side(r["naive"])
        rows.append([
            f"{r['frames']}f {r['stage']}", SHORT.get(r["instantiation"], r["instantiation"]),
            fast_t, naive_t, _ratio(r["time_ratio"]),
            fast_m, naive_m, _ratio(r["memory_ratio"], bool(r.get("memory_ratio_estimated"))),
            _ratio(r["op_memory_ratio"]),
        ])  # fmt: skip
    columns = ["map", "f", "fast ms", "naive ms", "t f/n", "fast MB", "naive MB", "m f/n", "op"]
    batch, device = report["settings"]["batch"], report["machine"]["device"]
    title = f"non-local block, forward + backward, batch {batch} ({device})"
    print_table(title, columns, rows, justify_right=columns[2:])
    for note in _skipped(report):
        console.print(note, highlight=False)
    cap = report["settings"]["memory_cap_bytes"] / 2**30
    console.print(
        f"[dim]memory cap {cap:.2f} GB (--memory-cap-gb). t, m f/n = fast / naive time, peak memory: medians "
        "of runs alternated in this process; MB: peak above inputs and parameters of the whole block "
        "(op: f/n of the pairwise computation alone); ≤: naive estimated. "
        "Maps (T×H×W×C) and every number: --format json[/dim]"
    )


@bench_app.command("nonlocal")
def nonlocal_(
    device: str = DEVICE,
    frames: str = typer.Option("32,128", "--frames", help="Clip lengths whose feature maps are measured."),
    stages: str = typer.Option("res2,res3,res4", "--stages", help="Stages of C2D R50 (paper layout, 224²)."),
    instantiations: str = typer.Option(
        "gaussian,embedded_gaussian,dot_product,concatenation", "--instantiations", help="Which of the four."
    ),
    batch: int = typer.Option(1, "--batch", help="Clips per forward pass."),
    repeat: int = typer.Option(
        None, "--repeat", help="Timed runs per contender (default: 3 on CPU, 10 on CUDA)."
    ),
    memory_cap_gb: float = typer.Option(
        None, "--memory-cap-gb", help="Skip contenders estimated above this (default: half the free memory)."
    ),
    op_memory: bool = typer.Option(True, "--op-memory/--no-op-memory", help="Also measure the op alone."),
    flush_denormal: bool = FLUSH_DENORMAL,
    amp: str = AMP,
    channels_last: bool = CHANNELS_LAST,
    compile_: bool = COMPILE,
    sdpa: str = SDPA,
    fmt: Format = FORMAT,
    save: Path = SAVE,
) -> None:
    """Forward + backward time and peak memory of every instantiation's fast path vs the naive formula.

    [dim]nlx bench nonlocal --frames 32 --stages res3,res4 · nlx bench nonlocal --device cuda --amp bf16[/dim]
    """
    from nlx.bench.measure import machine, memory_cap
    from nlx.bench.nonlocal_block import bench_nonlocal

    dev, opts = _speed(device, amp, channels_last, compile_, sdpa)
    repeat = repeat or (10 if dev.type == "cuda" else 3)
    cap = memory_cap(dev, memory_cap_gb)
    settings = {"batch": batch, "repeat": repeat, "memory_cap_bytes": cap, "flush_denormal": flush_denormal,
                **opts.as_dict()}  # fmt: skip
    with console.status("non-local block") as status:
        rows = bench_nonlocal(
            frames=_ints(frames, "--frames"), stages=_names(stages), instantiations=_names(instantiations),
            batch=batch, repeat=repeat, device=dev, cap=cap, opts=opts, op_memory=op_memory,
            flush_denormal=flush_denormal, progress=lambda msg: status.update(f"non-local block: {msg}"),
        )  # fmt: skip
    report = {"benchmark": "nonlocal", "machine": machine(dev), "settings": settings, "rows": rows}
    _emit(report, fmt, save, _nonlocal_table)


def _train_table(report: dict[str, Any]) -> None:
    rows = []
    for name in ("nlx", "peer"):
        r = report[name]
        rows.append([
            name, f"{r['params']:,}", f"{r['flops'] / 1e9:.2f}", f"{r['step_time_s'] * 1e3:,.0f}",
            f"{r['clips_per_s']:.2f}", _mb(r["peak_bytes"]),
        ])  # fmt: skip
    shape = "×".join(map(str, report["input"]))
    columns = ["", "params", "GFLOPs/clip", "step ms", "clips/s", "peak MB"]
    print_table(f"{report['model']}, {report['nonlocal']} NL, input {shape}, {report['device']}",
                columns, rows, justify_right=columns[1:])  # fmt: skip
    equal = "equal" if report["params_equal"] and report["flops_equal"] else "[red]DIFFERENT[/red]"
    console.print(f"peer: {report['peer']['implementation']}; parameters and FLOPs {equal}")
    mem = report["memory_ratio"]
    console.print(
        f"nlx / peer: throughput [bold]{report['throughput_ratio']:.3f}[/bold]"
        + (f", peak memory {mem:.3f}" if mem is not None else "")
        + f" [dim](medians of {report['steps']} alternated steps each)[/dim]"
    )


@bench_app.command("train")
def train(
    model: str = typer.Option("c2d_r50", "--model", help="A model name (see [cyan]nlx models[/cyan])."),
    nonlocal_blocks: str = typer.Option("5", "--nonlocal", help="Non-local blocks: 0, 1, 5 or 10."),
    frames: int = typer.Option(None, "--frames", help="Clip length (default: 32 on CUDA, 16 on CPU)."),
    size: int = typer.Option(None, "--size", help="Crop size (default: 224 on CUDA, 160 on CPU)."),
    batch: int = typer.Option(None, "--batch", help="Clips per step (default: 8 on CUDA, 2 on CPU)."),
    steps: int = typer.Option(
        None, "--steps", help="Timed steps per model (default: 20 on CUDA, 10 on CPU)."
    ),
    warmup: int = typer.Option(
        None, "--warmup", help="Untimed steps per model first (default: 2, 3 with compile)."
    ),
    paper: bool = typer.Option(False, "--paper", help="The paper's size on any device: 32×224², 8 clips."),
    peer: str = typer.Option("auto", "--peer", help="auto, pytorchvideo or naive (nlx's naive non-local)."),
    flush_denormal: bool = FLUSH_DENORMAL,
    device: str = DEVICE,
    amp: str = AMP,
    channels_last: bool = CHANNELS_LAST,
    compile_: bool = COMPILE,
    sdpa: str = SDPA,
    fmt: Format = FORMAT,
    save: Path = SAVE,
) -> None:
    """Training clips/s and peak memory of an nlx model and the same pytorchvideo network, in alternation.

    [dim]nlx bench train --model c2d_r50 --nonlocal 5 · nlx bench train --device cuda --amp bf16[/dim]
    """
    from nlx.bench.measure import machine
    from nlx.bench.nonlocal_block import flush_denormals
    from nlx.bench.train import TrainBenchConfig, bench_train

    dev, opts = _speed(device, amp, channels_last, compile_, sdpa)
    big = paper or dev.type == "cuda"
    cfg = TrainBenchConfig(
        model=model,
        nonlocal_blocks=nonlocal_blocks,
        frames=frames or (32 if big else 16),
        size=size or (224 if big else 160),
        batch=batch or (8 if big else 2),
        steps=steps or (20 if dev.type == "cuda" else 10),
        warmup=(3 if compile_ else 2) if warmup is None else warmup,
        peer=peer,
    )
    flush = flush_denormal and dev.type == "cpu"
    with console.status("training benchmark") as status, flush_denormals(flush):
        result = bench_train(cfg, dev, opts, progress=lambda msg: status.update(f"training benchmark: {msg}"))
    report = {"benchmark": "train", "machine": machine(dev), "flush_denormal": flush, **result}
    _emit(report, fmt, save, _train_table)


DATA_COLUMNS = ("label", "cache", "workers", "clips_per_s", "clips_per_s_per_worker", "decode_ms_per_clip",
                "clip_ms_per_clip")  # fmt: skip


def _data_table(report: dict[str, Any]) -> None:
    rows = report["rows"]
    columns = [c for c in DATA_COLUMNS if any(c in r for r in rows)]
    table = [[r.get(c) for c in columns] for r in rows]
    print_table(f"data loading ({report['preset']} preset)", columns, table, justify_right=columns[2:])


@bench_app.command("data")
def data(
    overrides: list[str] = typer.Argument(None, help="Config overrides, [cyan]data.root=...[/cyan]."),
    preset: str = typer.Option("mini", "--preset", "-p", help="Clip sizes of a preset: mini or paper."),
    workers: str = typer.Option("0,2", "--workers", help="Loader worker counts to compare."),
    batches: int = typer.Option(10, "--batches", help="Batches read per worker count."),
    batch_size: int = typer.Option(8, "--batch-size", help="Clips per batch."),
    fmt: Format = FORMAT,
    save: Path = SAVE,
) -> None:
    """Clips/s of the training data pipeline at a preset's clip size, for several worker counts."""
    import importlib.util

    from nlx.bench.measure import machine
    from nlx.config.presets import load_preset
    from nlx.errors import NlxError

    if importlib.util.find_spec("nlx.bench.data") is None:
        raise NlxError("nlx bench data: the data benchmark (nlx.bench.data) is not part of this version yet")
    from nlx.bench.data import bench_data

    cfg = load_preset(preset).resolve(overrides=overrides or [])
    rows = bench_data(cfg.data, workers=_ints(workers, "--workers"), batches=batches, batch_size=batch_size)
    report = {
        "benchmark": "data",
        "machine": machine(__import__("torch").device("cpu")),
        "preset": preset,
        "rows": rows,
    }
    _emit(report, fmt, save, _data_table)


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
