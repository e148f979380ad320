"""``nlx bench train``: training throughput and peak memory of an nlx model and of its peer, side by side.

Both networks are built for the same clip size, get the same speed options (AMP, channels-last,
``torch.compile``, SDPA backend), the same optimiser (SGD, momentum 0.9, weight decay 1e-4) and random
clips and labels of the same shape. After warm-up steps, single training steps of the two alternate
(nlx, peer, then peer, nlx, ...) and each step is timed on its own; clips/s is the batch size over the
median step time. Peak memory is measured on one more step of each (see :mod:`nlx.bench.measure`).

The peer is pytorchvideo (:mod:`nlx.bench.peer`) when it is installed, else the same nlx network with the
naive non-local formula, labelled as such.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nlx.bench.measure import AMP_DTYPES, SpeedOptions, alternate, median_or_none, peak_memory, speed_context
from nlx.bench.peer import PEER_PLACEMENT_OPTIONS, build_peer, peer_available, peer_version
from nlx.errors import NlxError
from nlx.models.registry import create_model, list_models
from nlx.models.resnet import NonLocalPlacement, VideoResNet
from nlx.profile import count_flops, count_params

NONLOCAL_CHOICES = {"0": "none", "1": "1", "5": "5", "10": "10"}


@dataclass(frozen=True)
class TrainBenchConfig:
    model: str = "c2d_r50"
    nonlocal_blocks: str = "5"
    frames: int = 32
    size: int = 224
    batch: int = 8
    steps: int = 10
    warmup: int = 2
    num_classes: int = 400
    peer: str = "auto"  # auto | pytorchvideo | naive

    def input_shape(self) -> tuple[int, int, int, int, int]:
        return (self.batch, 3, self.frames, self.size, self.size)


def placement(cfg: TrainBenchConfig) -> NonLocalPlacement:
    if cfg.nonlocal_blocks not in NONLOCAL_CHOICES:
        raise NlxError(
            f"--nonlocal must be one of {', '.join(NONLOCAL_CHOICES)}; got {cfg.nonlocal_blocks!r}"
        )
    return NonLocalPlacement(blocks=NONLOCAL_CHOICES[cfg.nonlocal_blocks], **PEER_PLACEMENT_OPTIONS)


def check_config(cfg: TrainBenchConfig) -> None:
    if cfg.model not in list_models():
        raise NlxError(f"--model: unknown model {cfg.model!r} (known: {', '.join(list_models())})")
    if min(cfg.frames, cfg.size, cfg.batch, cfg.steps) < 1 or cfg.warmup < 0:
        raise NlxError("--frames, --size, --batch and --steps must be positive, --warmup non-negative")
    if cfg.peer not in ("auto", "pytorchvideo", "naive"):
        raise NlxError(f"--peer must be auto, pytorchvideo or naive; got {cfg.peer!r}")
    if cfg.peer == "pytorchvideo" and not peer_available():
        raise NlxError('--peer pytorchvideo: pytorchvideo is not installed (pip install -e ".[bench]")')
    _check_even_nonlocal_maps(cfg)


def _check_even_nonlocal_maps(cfg: TrainBenchConfig) -> None:
    """pytorchvideo's 2×2 subsampling pool floors odd sizes and nlx's ceils them: refuse such sizes."""
    if cfg.nonlocal_blocks == "0":
        return
    side = _pooled_side(cfg.size)
    for stage in (3, 4):
        if side % 2:
            raise NlxError(
                f"--size {cfg.size}: res{stage} is {side}×{side}, odd, and the two implementations "
                "subsample odd maps differently; use a size whose res4 map is even (e.g. 96, 160, 224)"
            )
        side = math.ceil(side / 2)


def _pooled_side(size: int) -> int:
    """The side of the res3 map: conv1 stride 2 (pad 3), pool1 3×3 stride 2 unpadded, res3 stride 2."""
    conv1 = (size + 6 - 7) // 2 + 1
    pool1 = (conv1 - 3) // 2 + 1
    return (pool1 - 1) // 2 + 1


def build_pair(cfg: TrainBenchConfig) -> tuple[VideoResNet, nn.Module, str]:
    """The nlx model, its peer and the peer's description."""
    nl = placement(cfg)
    model = create_model(cfg.model, nonlocal_placement=nl, num_classes=cfg.num_classes)
    assert isinstance(model, VideoResNet)
    use_pytorchvideo = cfg.peer == "pytorchvideo" or (cfg.peer == "auto" and peer_available())
    if use_pytorchvideo:
        peer = build_peer(model, nl, cfg.num_classes)
        return model, peer, f"pytorchvideo {peer_version()} create_resnet + create_nonlocal"
    naive = NonLocalPlacement(blocks=nl.blocks, implementation="naive", **PEER_PLACEMENT_OPTIONS)
    peer = create_model(cfg.model, nonlocal_placement=naive, num_classes=cfg.num_classes)
    return model, peer, "nlx with the naive non-local formula (pytorchvideo not installed)"


def describe(cfg: TrainBenchConfig, model: nn.Module, peer: nn.Module) -> dict[str, dict[str, int]]:
    """Parameters (all, and without BN) and multiply-adds per clip of both networks."""
    shape = (1, *cfg.input_shape()[1:])
    builders: dict[str, Callable[[], nn.Module]] = {  # meta-device copies for the FLOP counter
        "nlx": lambda: build_pair(cfg)[0],
        "peer": lambda: build_pair(cfg)[1],
    }
    out = {}
    for name, net in (("nlx", model), ("peer", peer)):
        no_bn, bn = count_params(net)
        out[name] = {"params": no_bn + bn, "params_no_bn": no_bn, "flops": count_flops(builders[name], shape)}
    return out


@dataclass
class Trainer:
    """One network, its optimiser and a batch of random clips: :meth:`step` is one training step."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    clips: Tensor
    labels: Tensor
    opts: SpeedOptions
    device: torch.device
    scaler: torch.amp.GradScaler | None = None

    def clear(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def step(self) -> None:
        self.clear()
        with speed_context(self.device, self.opts.amp, self.opts.sdpa):
            loss = F.cross_entropy(self.model(self.clips), self.labels)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()


def make_trainer(
    model: nn.Module, cfg: TrainBenchConfig, device: torch.device, opts: SpeedOptions, seed: int = 0
) -> Trainer:
    memory_format = torch.channels_last_3d if opts.channels_last else torch.contiguous_format
    model = model.to(device).train()
    if opts.channels_last:
        model = model.to(memory_format=memory_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    clips = torch.randn(cfg.input_shape(), generator=gen).to(device).contiguous(memory_format=memory_format)
    labels = torch.randint(0, cfg.num_classes, (cfg.batch,), generator=gen).to(device)
    run: nn.Module = torch.compile(model) if opts.compile else model  # type: ignore[assignment]
    scaler = torch.amp.GradScaler(device.type) if opts.amp == "fp16" else None
    return Trainer(run, optimizer, clips, labels, opts, device, scaler)


def _peak(trainer: Trainer, device: torch.device) -> int:
    """Peak memory of one more step, with the previous step's gradients freed before it."""
    trainer.clear()
    return peak_memory(trainer.step, device)


def bench_train(
    cfg: TrainBenchConfig,
    device: torch.device,
    opts: SpeedOptions = SpeedOptions(),
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Clips/s and peak memory of the nlx model and its peer, measured in alternation in one process."""
    check_config(cfg)
    if opts.amp != "off" and AMP_DTYPES[opts.amp] is torch.float16 and device.type == "cpu" and progress:
        progress("fp16 autocast on CPU is slow; bf16 is the CPU's half precision")
    torch.manual_seed(0)
    model, peer, peer_name = build_pair(cfg)
    counts = describe(cfg, model, peer)
    trainers = {"nlx": make_trainer(model, cfg, device, opts), "peer": make_trainer(peer, cfg, device, opts)}
    if progress:
        progress(f"warm-up: {cfg.warmup} steps each")
    for _ in range(cfg.warmup):
        for trainer in trainers.values():
            trainer.step()
    if progress:
        progress(f"timing: {cfg.steps} steps each, alternating")
    times = alternate({name: t.step for name, t in trainers.items()}, cfg.steps, device)
    peaks = {name: _peak(t, device) for name, t in trainers.items()}
    results: dict[str, Any] = {}
    for name in trainers:
        step_time = median_or_none(times[name])
        assert step_time is not None
        results[name] = {
            **counts[name],
            "step_times_s": times[name],
            "step_time_s": step_time,
            "clips_per_s": cfg.batch / step_time,
            "peak_bytes": peaks[name],
        }
    results["peer"]["implementation"] = peer_name
    return {
        "model": cfg.model,
        "nonlocal": cfg.nonlocal_blocks,
        "input": list(cfg.input_shape()),
        "device": str(device),
        "options": opts.as_dict(),
        "steps": cfg.steps,
        "warmup": cfg.warmup,
        "nlx": results["nlx"],
        "peer": results["peer"],
        "params_equal": counts["nlx"]["params"] == counts["peer"]["params"],
        "flops_equal": counts["nlx"]["flops"] == counts["peer"]["flops"],
        "throughput_ratio": results["nlx"]["clips_per_s"] / results["peer"]["clips_per_s"],
        "memory_ratio": results["nlx"]["peak_bytes"] / results["peer"]["peak_bytes"]
        if peaks["peer"]
        else None,
    }
