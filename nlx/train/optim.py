"""SGD with momentum and the paper's step schedule in iterations (Sec. 4.1)."""

from __future__ import annotations

from torch import nn
from torch.optim import SGD, Optimizer
from torch.optim.lr_scheduler import LambdaLR

from nlx.config.schema import OptimConfig


def parameter_groups(model: nn.Module, cfg: OptimConfig) -> list[dict[str, object]]:
    """Weight decay on every parameter (the paper), or not on BN and biases (the authors' code)."""
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not cfg.wd_exclude_bn_bias:
        return [{"params": [p for _, p in trainable], "weight_decay": cfg.weight_decay}]
    no_decay = {
        id(p)
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        for p in m.parameters(recurse=False)
    }
    decay = [p for n, p in trainable if p.ndim > 1 and id(p) not in no_decay and not n.endswith(".bias")]
    rest = [p for _, p in trainable if all(p is not q for q in decay)]
    return [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]


def lr_factor(iteration: int, cfg: OptimConfig) -> float:
    """The multiplier of ``cfg.lr`` at ``iteration``: ÷10 at every step, after an optional linear warm-up."""
    factor = cfg.lr_decay ** sum(iteration >= s for s in cfg.steps)
    if iteration < cfg.warmup_iterations:
        alpha = iteration / cfg.warmup_iterations
        factor *= cfg.warmup_factor * (1 - alpha) + alpha
    return factor


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> tuple[Optimizer, LambdaLR]:
    optimizer = SGD(
        parameter_groups(model, cfg),
        lr=cfg.lr,
        momentum=cfg.momentum,
        nesterov=cfg.nesterov and cfg.momentum > 0,
    )
    scheduler = LambdaLR(optimizer, lambda it: lr_factor(it, cfg))
    return optimizer, scheduler
