"""Typed, frozen configuration mirroring the YAML files (``ablations/presets/*.yaml``).

Every section is a frozen dataclass; :mod:`nlx.config.load` builds them from YAML, rejecting unknown keys,
wrong types and impossible values with the key's full path. Defaults are the paper's (Sec. 4.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from nlx.errors import ConfigError


def _require(ok: bool, path: str, expected: str) -> None:
    if not ok:
        raise ConfigError(f"{path}: expected {expected}")


@dataclass(frozen=True)
class PoolConfig:
    kernel: tuple[int, int, int] = (3, 3, 3)
    stride: tuple[int, int, int] = (2, 2, 2)
    padding: tuple[int, int, int] = (0, 0, 0)

    def validate(self, path: str) -> None:
        _require(all(k >= 1 for k in self.kernel), f"{path}.kernel", "positive sizes")
        _require(all(s >= 1 for s in self.stride), f"{path}.stride", "positive strides")
        _require(all(0 <= 2 * p <= k for p, k in zip(self.padding, self.kernel, strict=True)),
                 f"{path}.padding", "at most half the kernel")  # fmt: skip


@dataclass(frozen=True)
class NonLocalConfig:
    """Which non-local blocks a model has: a named placement or explicit [stage, index] pairs."""

    blocks: str | int | list[tuple[int, int]] = "none"
    instantiation: Literal["gaussian", "embedded_gaussian", "dot_product", "concatenation"] = (
        "embedded_gaussian"
    )
    scope: Literal["spacetime", "space", "time"] = "spacetime"
    subsample: bool = True
    subsample_position: Literal["after", "before"] = "after"
    scale: bool = False
    norm: Literal["bn", "none"] = "bn"
    init: Literal["kaiming", "normal"] = "kaiming"
    r101_layout: Literal["paper", "slowfast"] = "paper"
    implementation: Literal["fast", "naive"] = "fast"

    def validate(self, path: str) -> None:
        from nlx.models.resnet import NAMED_PLACEMENTS

        if isinstance(self.blocks, str | int):
            _require(str(self.blocks) in NAMED_PLACEMENTS, f"{path}.blocks",
                     f"one of {', '.join(NAMED_PLACEMENTS)} or a list of [stage, index] pairs")  # fmt: skip
        _require(not (self.scale and self.instantiation == "concatenation"), f"{path}.scale",
                 "false for the concatenation instantiation (it has no dot product to scale)")  # fmt: skip


@dataclass(frozen=True)
class ModelConfig:
    name: str = "c2d_r50"
    num_classes: int = 400
    width: float = 1.0
    dropout: float = 0.5
    stride_on: Literal["1x1", "3x3"] = "1x1"
    conv1_stride: tuple[int, int, int] = (2, 2, 2)
    pool1: PoolConfig | None = PoolConfig((3, 3, 3), (2, 2, 2), (1, 0, 0))
    pool2: PoolConfig | None = PoolConfig((3, 1, 1), (2, 1, 1), (1, 0, 0))
    zero_init_residual: bool = False
    pretrained: str = "none"
    freeze_bn: bool = False
    non_local: NonLocalConfig = field(default_factory=NonLocalConfig)

    def validate(self, path: str) -> None:
        from nlx.models import list_models

        _require(self.name in list_models(), f"{path}.name", f"one of {', '.join(list_models())}")
        _require(self.num_classes >= 1, f"{path}.num_classes", "a positive integer")
        _require(0 < self.width <= 4, f"{path}.width", "a width multiplier in (0, 4]")
        _require(0 <= self.dropout < 1, f"{path}.dropout", "a probability in [0, 1)")
        _require(all(s >= 1 for s in self.conv1_stride), f"{path}.conv1_stride", "positive strides")
        self._validate_positions(f"{path}.non_local.blocks")

    def _validate_positions(self, path: str) -> None:
        from nlx.models.resnet import DEPTHS, STAGES

        blocks = self.non_local.blocks
        if isinstance(blocks, str | int):
            return
        depth = int(self.name.rsplit("_r", 1)[1])
        sizes = dict(zip(STAGES, DEPTHS[depth], strict=True))
        for stage, index in blocks:
            _require(stage in sizes and 0 <= index < sizes[stage], path,
                     f"[stage, index] pairs that exist in ResNet-{depth} (stages 2-5 have "
                     f"{', '.join(map(str, sizes.values()))} blocks), got [{stage}, {index}]")  # fmt: skip


@dataclass(frozen=True)
class DataConfig:
    """Where the videos are and how clips are sampled (Sec. 4.1)."""

    format: Literal["auto", "list", "folder"] = "auto"  # auto: list if root/<train_list> exists, else folder
    root: str = "data/kinetics400"
    train_list: str = "train.csv"
    val_list: str = "val.csv"
    train_split: str = "train"
    val_split: str = "val"
    classes: str | None = None
    multilabel: bool = False
    frames: int = 32
    stride: int = 2
    train_short_side: tuple[int, int] = (256, 320)
    crop: int = 224
    test_short_side: int = 256
    flip: bool = True
    mean: tuple[float, float, float] = (0.45, 0.45, 0.45)
    std: tuple[float, float, float] = (0.225, 0.225, 0.225)
    wrap: bool = True
    max_skip_fraction: float = 0.01
    cache: Literal["off", "memory", "disk"] = "off"
    cache_dir: str = ".nlx-cache"

    def validate(self, path: str) -> None:
        _require(self.frames >= 1, f"{path}.frames", "a positive number of frames")
        _require(self.stride >= 1, f"{path}.stride", "a positive frame stride")
        lo, hi = self.train_short_side
        _require(1 <= lo <= hi, f"{path}.train_short_side", "[min, max] with 1 <= min <= max")
        _require(1 <= self.crop <= lo, f"{path}.crop", f"a size between 1 and train_short_side min ({lo})")
        _require(self.crop <= self.test_short_side, f"{path}.test_short_side", f"at least crop ({self.crop})")
        _require(all(s > 0 for s in self.std), f"{path}.std", "positive values")
        _require(0 <= self.max_skip_fraction <= 1, f"{path}.max_skip_fraction", "a fraction in [0, 1]")


@dataclass(frozen=True)
class OptimConfig:
    """SGD with momentum and a step schedule in iterations (Sec. 4.1)."""

    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    wd_exclude_bn_bias: bool = False
    iterations: int = 400_000
    steps: tuple[int, ...] = (150_000, 300_000)
    lr_decay: float = 0.1
    warmup_iterations: int = 0
    warmup_factor: float = 0.1
    clip_grad_norm: float | None = None
    label_smoothing: float = 0.0

    def validate(self, path: str) -> None:
        _require(self.batch_size >= 1, f"{path}.batch_size", "a positive integer")
        _require(self.lr > 0, f"{path}.lr", "a positive learning rate")
        _require(0 <= self.momentum < 1, f"{path}.momentum", "a value in [0, 1)")
        _require(self.weight_decay >= 0, f"{path}.weight_decay", "a non-negative value")
        _require(self.iterations >= 1, f"{path}.iterations", "a positive integer")
        _require(list(self.steps) == sorted(self.steps) and all(s > 0 for s in self.steps),
                 f"{path}.steps", "increasing positive iteration numbers")  # fmt: skip
        _require(0 < self.lr_decay <= 1, f"{path}.lr_decay", "a factor in (0, 1]")
        _require(0 <= self.warmup_iterations < self.iterations, f"{path}.warmup_iterations",
                 "fewer than optim.iterations")  # fmt: skip
        _require(self.clip_grad_norm is None or self.clip_grad_norm > 0, f"{path}.clip_grad_norm",
                 "a positive norm or null")  # fmt: skip
        _require(0 <= self.label_smoothing < 1, f"{path}.label_smoothing", "a value in [0, 1)")


@dataclass(frozen=True)
class EvalConfig:
    """Periodic single-clip validation (Figure 4) and the final multi-view test (Sec. 4.1, "Inference")."""

    every: int = 10_000
    val_videos: int | None = None
    test_clips: int = 10
    test_crops: Literal[1, 3] = 1
    head: Literal["dense", "global"] = "dense"
    batch_size: int = 8
    precise_bn: bool = False

    def validate(self, path: str) -> None:
        _require(self.every >= 1, f"{path}.every", "a positive number of iterations")
        _require(self.test_clips >= 1, f"{path}.test_clips", "a positive number of clips")
        _require(self.batch_size >= 1, f"{path}.batch_size", "a positive integer")
        _require(
            self.val_videos is None or self.val_videos >= 1,
            f"{path}.val_videos",
            "a positive integer or null",
        )


@dataclass(frozen=True)
class RuntimeConfig:
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: Literal["off", "bf16", "fp16"] = "off"
    channels_last: bool = False
    compile: bool = False
    deterministic: bool = False
    workers: int = 4
    threads: int = 0
    sync_bn: bool = False
    log_every: int = 20
    checkpoint_every: int = 5_000
    keep_checkpoints: int = 2

    def validate(self, path: str) -> None:
        _require(self.workers >= 0, f"{path}.workers", "a non-negative integer")
        _require(self.threads >= 0, f"{path}.threads", "a non-negative integer (0 = torch's default)")
        _require(self.log_every >= 1, f"{path}.log_every", "a positive integer")
        _require(self.checkpoint_every >= 1, f"{path}.checkpoint_every", "a positive integer")
        _require(self.keep_checkpoints >= 1, f"{path}.keep_checkpoints", "a positive integer")


@dataclass(frozen=True)
class SlurmConfig:
    """Options of ``nlx sweep --launcher slurm`` (submitit)."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time_min: int = 4320
    gpus_per_node: int = 8
    nodes: int = 1
    cpus_per_task: int = 10
    mem_gb: int | None = None
    array_parallelism: int = 16
    constraint: str | None = None
    max_requeues: int = 3

    def validate(self, path: str) -> None:
        _require(self.time_min >= 1, f"{path}.time_min", "a positive number of minutes")
        _require(self.gpus_per_node >= 0, f"{path}.gpus_per_node", "a non-negative integer")
        _require(self.nodes >= 1, f"{path}.nodes", "a positive integer")
        _require(self.array_parallelism >= 1, f"{path}.array_parallelism", "a positive integer")


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    slurm: SlurmConfig = field(default_factory=SlurmConfig)
    init_from: str | None = None
