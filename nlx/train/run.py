"""A training run from a config to a complete run directory (see docs/results-format.md)."""

from __future__ import annotations

import contextlib
import json
import logging
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import nlx
from nlx.config.load import dump_yaml, to_tree
from nlx.config.schema import Config
from nlx.data import InfiniteSampler, SkipCounter, build_dataset, build_loader
from nlx.errors import ConfigError, NlxError
from nlx.factory import build_model, init_pretrained, input_shape, profile_config
from nlx.io import append_jsonl, read_jsonl, save_torch, write_json, write_text
from nlx.rundir import RunDir
from nlx.train.checkpoint import load_checkpoint, load_weights, read_weights, save_checkpoint
from nlx.train.engine import (
    TrainingFailed,
    Window,
    any_rank,
    freeze_bn,
    gather,
    set_train_mode,
    test,
    test_metrics,
    train_step,
    validate,
)
from nlx.train.optim import build_optimizer
from nlx.train.progress import TrainProgress
from nlx.train.runtime import Runtime, setup_runtime, teardown

log = logging.getLogger("nlx.train")
VAL_SEED = 1_000_003


class Interrupted(Exception):
    """SIGTERM (or SIGINT) arrived: the run stops cleanly and can be resumed."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def git_state() -> dict[str, Any]:
    root = Path(nlx.__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}
    if sha.returncode != 0:
        return {"sha": None, "dirty": None}
    return {"sha": sha.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def versions() -> dict[str, str]:
    import av
    import numpy
    import torchvision

    return {
        "nlx": nlx.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "av": av.__version__,
        "numpy": numpy.__version__,
    }


def resolve_init_from(value: str, out: Path) -> Path:
    """``run:<id>`` names a run beside this one (a sweep dependency); anything else is a path."""
    if value.startswith("run:"):
        return out.parent / value[4:]
    return Path(value)


# --- setup ----------------------------------------------------------------------------------------


def _attach_log(run: RunDir, runtime: Runtime) -> list[logging.Handler]:
    """log.txt and stderr on rank 0; the other ranks only report warnings."""
    root = logging.getLogger("nlx")
    root.setLevel(logging.INFO if runtime.is_main else logging.WARNING)
    if not runtime.is_main:
        return []
    to_file = logging.FileHandler(run.log)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setFormatter(logging.Formatter("%(levelname).1s %(message)s"))
    handlers: list[logging.Handler] = [to_file, to_stderr]
    for h in handlers:
        root.addHandler(h)
    return handlers


def prepare_model(cfg: Config, out: Path, runtime: Runtime) -> nn.Module:
    """Build, initialise (ImageNet or another run) and place the model; the caller wraps it for DDP."""
    model = build_model(cfg.model)
    if cfg.init_from is not None:
        source = resolve_init_from(cfg.init_from, out)
        for note in load_weights(model, read_weights(source), str(source)):
            log.info("init_from: %s", note)
        log.info("initialised from %s", source)
    else:
        report = init_pretrained(model, cfg.model)
        if report is not None:
            log.info(
                "ImageNet init: %d tensors copied, %d inflated; new: %d",
                report.copied,
                len(report.inflated),
                len(report.kept_init),
            )
    if cfg.model.freeze_bn:
        freeze_bn(model)
    model.to(runtime.device)
    if cfg.runtime.channels_last:
        model.to(memory_format=torch.channels_last_3d)
    if runtime.distributed and cfg.runtime.sync_bn and not cfg.model.freeze_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def _check_classes(cfg: Config, num_classes: int, where: str) -> None:
    if cfg.model.num_classes != num_classes:
        raise ConfigError(
            f"model.num_classes: {cfg.model.num_classes}, but {where} has {num_classes} classes"
        )


@contextlib.contextmanager
def _signals() -> Iterator[None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- the run -------------------------------------------------------------------------------------


def train(cfg: Config, out: Path, *, resume: bool = False, argv: list[str] | None = None) -> dict[str, Any]:
    """Train ``cfg`` into run directory ``out`` and return its ``final.json`` content.

    Raises :class:`TrainingFailed` (non-finite loss: status ``failed``), :class:`NlxError` (bad input)
    and :class:`Interrupted` (status ``interrupted``; ``resume=True`` continues from the last checkpoint).
    """
    runtime = setup_runtime(cfg.runtime)
    run = RunDir(out)
    try:
        lock = run.lock() if runtime.is_main else contextlib.nullcontext()
        with lock, _signals():
            if run.final.is_file():
                log.info("%s is complete already", run.path)
                final = run.read_final()
                assert final is not None
                return final
            return _train_locked(cfg, run, runtime, resume, argv or sys.argv)
    finally:
        teardown(runtime)


def _train_locked(
    cfg: Config, run: RunDir, runtime: Runtime, resume: bool, argv: list[str]
) -> dict[str, Any]:
    if runtime.is_main and not resume and (run.list_checkpoints() or run.metrics.is_file()):
        raise NlxError(
            f"{run.path}: holds a started run; pass --resume to continue it or choose another --out"
        )
    meta: dict[str, Any] = {}
    if runtime.is_main:
        run.path.mkdir(parents=True, exist_ok=True)
        write_text(run.config, dump_yaml(to_tree(cfg)))
        meta = {
            "run_id": run.path.name,
            "status": "running",
            "argv": argv,
            "git": git_state(),
            "versions": versions(),
            "host": socket.gethostname(),
            "device": runtime.describe(),
            "world_size": runtime.world_size,
            "started": run.read_meta().get("started", _now()),
        }
        write_json(run.meta, meta)
    handlers = _attach_log(run, runtime)
    try:
        final = _fit_and_test(cfg, run, runtime)
    except TrainingFailed as err:
        _finish_meta(run, runtime, meta, "failed", str(err))
        raise
    except (Interrupted, KeyboardInterrupt) as err:
        _finish_meta(run, runtime, meta, "interrupted", f"interrupted ({type(err).__name__} {err})")
        raise
    except NlxError as err:
        _finish_meta(run, runtime, meta, "failed", str(err), quiet=True)  # the CLI prints the one-line error
        raise
    except Exception as err:
        _finish_meta(run, runtime, meta, "failed", f"{type(err).__name__}: {err}")
        raise
    finally:
        for h in handlers:
            logging.getLogger("nlx").removeHandler(h)
            h.close()
    _finish_meta(run, runtime, meta, "done", None)
    return final


def _finish_meta(
    run: RunDir, runtime: Runtime, meta: dict[str, Any], status: str, reason: str | None, quiet: bool = False
) -> None:
    if not runtime.is_main or not meta:
        return
    meta = {**meta, "status": status, "ended": _now()}
    if reason:
        meta["reason"] = reason
        if not quiet:
            log.error("run %s: %s", status, reason)
    write_json(run.meta, meta)


def _fit_and_test(cfg: Config, run: RunDir, runtime: Runtime) -> dict[str, Any]:
    started = time.perf_counter()
    torch.manual_seed(cfg.runtime.seed)
    if cfg.optim.batch_size % runtime.world_size:
        raise ConfigError(
            f"optim.batch_size: {cfg.optim.batch_size} is not divisible by {runtime.world_size} processes"
        )
    train_set = build_dataset(cfg.data, "train", "train")
    _check_classes(cfg, train_set.num_classes, f"the training set ({cfg.data.root})")
    model = prepare_model(cfg, run.path, runtime)
    ddp: nn.Module = model
    if runtime.distributed:
        ddp = DistributedDataParallel(
            model, device_ids=[runtime.local_rank] if runtime.device.type == "cuda" else None
        )
    step_model: nn.Module = torch.compile(ddp) if cfg.runtime.compile else ddp  # type: ignore[assignment]
    optimizer, scheduler = build_optimizer(model, cfg.optim)
    scaler = torch.amp.GradScaler(runtime.device.type, enabled=cfg.runtime.amp == "fp16")
    start = 0
    last = run.last_checkpoint()
    if last is not None:
        start = load_checkpoint(last, model, optimizer, scheduler, scaler)
        if runtime.is_main:
            _truncate_metrics(run, start)
        log.info("resumed from %s at iteration %d", last.name, start)
    skips = SkipCounter()
    _fit(cfg, run, runtime, (model, step_model), (optimizer, scheduler, scaler), train_set, start, skips)
    if runtime.is_main:
        save_torch(run.final_model, {"model": model.state_dict()})
    final = _final_test(cfg, run, runtime, model, skips, started)
    final["train_videos"] = len(train_set)
    if runtime.is_main:
        write_json(run.final, final)
    return final


def _fit(
    cfg: Config,
    run: RunDir,
    runtime: Runtime,
    models: tuple[nn.Module, nn.Module],
    opt: tuple[Any, Any, torch.amp.GradScaler],
    train_set: Any,
    start: int,
    skips: SkipCounter,
) -> None:
    model, step_model = models
    optimizer, scheduler, scaler = opt
    total = cfg.optim.iterations
    per_rank = cfg.optim.batch_size // runtime.world_size
    sampler = InfiniteSampler(
        len(train_set), seed=cfg.runtime.seed, batch_size=per_rank, start_iteration=start,
        rank=runtime.rank, world_size=runtime.world_size,
    )  # fmt: skip
    loader = build_loader(
        train_set, batch_size=per_rank, sampler=sampler, workers=cfg.runtime.workers, seed=cfg.runtime.seed
    )
    val = _ValSet(cfg, runtime) if runtime.is_main else None
    window = Window()
    iteration = start
    with TrainProgress(total, start, enabled=runtime.is_main) as progress:
        for batch in loader:
            if iteration >= total:
                break
            skips.add(batch)
            skips.check(len(train_set), cfg.data.max_skip_fraction)
            set_train_mode(step_model, cfg.model.freeze_bn)
            if not any_rank(batch["clip"] is None, runtime):
                window.add(*train_step(step_model, batch, optimizer, scaler, cfg, runtime))
            scheduler.step()
            iteration += 1
            if iteration % cfg.runtime.log_every == 0 or iteration == total:
                record = _train_record(
                    iteration, total, len(train_set), cfg, window, scheduler.get_last_lr()[0]
                )
                progress.update(iteration, record)
                if runtime.is_main:
                    append_jsonl(run.metrics, record)
                window = Window()
            if iteration % cfg.eval.every == 0 or iteration == total:
                _validate(cfg, run, runtime, model, val, iteration)
            if runtime.is_main and (iteration % cfg.runtime.checkpoint_every == 0 or iteration == total):
                save_checkpoint(
                    run, iteration, model, optimizer, scheduler, scaler, cfg.runtime.keep_checkpoints
                )
    if runtime.distributed:
        dist.barrier()


def _truncate_metrics(run: RunDir, iteration: int) -> None:
    """Drop the records logged after the resumed checkpoint (they will be logged again)."""
    kept = [
        r for r in read_jsonl(run.metrics) if r.get("iteration", 0) <= iteration and r.get("kind") != "test"
    ]
    write_text(run.metrics, "".join(json.dumps(r) + "\n" for r in kept))


def _train_record(
    iteration: int, total: int, size: int, cfg: Config, window: Window, lr: float
) -> dict[str, Any]:
    return {
        "kind": "train",
        "iteration": iteration,
        "epoch": round(iteration * cfg.optim.batch_size / max(1, size), 3),
        **{k: round(v, 5) for k, v in window.summary().items()},
        "lr": lr,
    }


class _ValSet:
    """The fixed subset and fixed jitter of the periodic single-clip validation."""

    def __init__(self, cfg: Config, runtime: Runtime) -> None:
        self.dataset = build_dataset(cfg.data, "val", "val")
        _check_classes(cfg, self.dataset.num_classes, f"the validation set ({cfg.data.root})")
        order = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(VAL_SEED)).tolist()
        chosen = sorted(order[: cfg.eval.val_videos or len(order)])
        self.keys = [(i, VAL_SEED + i) for i in chosen]

    def batches(self, cfg: Config) -> Iterator[dict[str, Any]]:
        return iter(
            build_loader(
                self.dataset,
                batch_size=cfg.eval.batch_size,
                sampler=self.keys,
                workers=cfg.runtime.workers,
                seed=VAL_SEED,
            )
        )


def _validate(
    cfg: Config, run: RunDir, runtime: Runtime, model: nn.Module, val: _ValSet | None, iteration: int
) -> None:
    if runtime.is_main and val is not None:
        result = validate(model, val.batches(cfg), cfg, runtime)
        append_jsonl(
            run.metrics,
            {"kind": "val", "iteration": iteration, **{k: round(v, 4) for k, v in result.items()}},
        )
        log.info(
            "iteration %d: validation %s", iteration, ", ".join(f"{k} {v:.2f}" for k, v in result.items())
        )
    if runtime.distributed:
        dist.barrier()


def _final_test(
    cfg: Config, run: RunDir, runtime: Runtime, model: nn.Module, skips: SkipCounter, started: float
) -> dict[str, Any]:
    result = run_test(cfg, model, runtime)
    skips.update(result.pop("skip_counter").paths)
    profile = profile_config(cfg)
    if runtime.is_main:
        append_jsonl(
            run.metrics,
            {
                "kind": "test",
                "iteration": cfg.optim.iterations,
                **result["metrics"],
                "videos": result["test_videos"],
                "views": result["test_views"],
            },
        )
        log.info("test: %s", ", ".join(f"{k} {v:.2f}" for k, v in result["metrics"].items()))
    return {
        "run_id": run.path.name,
        "status": "done",
        "metrics": result["metrics"],
        "params": profile.params,
        "flops": profile.flops,
        "input_shape": list(input_shape(cfg)),
        "iterations": cfg.optim.iterations,
        "wall_time_s": round(time.perf_counter() - started, 2),
        "test_videos": result["test_videos"],
        "test_views": result["test_views"],
        "skipped_videos": skips.count,
        "skipped": [str(p) for p in skips.paths[:20]],
    }


def run_test(cfg: Config, model: nn.Module, runtime: Runtime) -> dict[str, Any]:
    """The multi-view test of Sec. 4.1 on the whole validation split, sharded over ranks."""
    dataset = build_dataset(
        cfg.data, "val", "test", test_clips=cfg.eval.test_clips, test_crops=cfg.eval.test_crops
    )
    _check_classes(cfg, dataset.num_classes, f"the validation set ({cfg.data.root})")
    mine = list(range(runtime.rank, len(dataset), runtime.world_size))
    loader = build_loader(dataset, batch_size=1, sampler=mine, workers=cfg.runtime.workers, seed=VAL_SEED)
    skips = SkipCounter()

    def batches() -> Iterator[dict[str, Any]]:
        for batch in loader:
            skips.add(batch)
            skips.check(len(dataset), cfg.data.max_skip_fraction)
            yield batch

    indices, scores, labels = gather(*test(model, batches(), cfg, runtime), runtime)
    return {
        "metrics": {k: round(v, 4) for k, v in test_metrics(scores, labels, cfg).items()},
        "test_videos": len(indices),
        "test_views": cfg.eval.test_clips * cfg.eval.test_crops,
        "skip_counter": skips,
    }
