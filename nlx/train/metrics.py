"""Accuracy and mean average precision, in percent."""

from __future__ import annotations

import torch
from torch import Tensor


def topk_correct(scores: Tensor, labels: Tensor, ks: tuple[int, ...] = (1, 5)) -> dict[int, int]:
    """How many rows of ``scores`` (N, K) have their label among the top k, for each k (capped at K)."""
    top = scores.topk(min(max(ks), scores.shape[1]), dim=1).indices  # (N, k)
    hits = top == labels[:, None]
    return {k: int(hits[:, : min(k, scores.shape[1])].any(dim=1).sum()) for k in ks}


def accuracy(scores: Tensor, labels: Tensor) -> dict[str, float]:
    n = max(1, labels.shape[0])
    correct = topk_correct(scores, labels)
    return {"top1": 100.0 * correct[1] / n, "top5": 100.0 * correct[5] / n}


def mean_average_precision(scores: Tensor, targets: Tensor) -> float:
    """mAP over classes with at least one positive (Charades, Sec. 5.2), in percent."""
    aps = []
    for k in range(scores.shape[1]):
        positives = targets[:, k] > 0
        if not positives.any():
            continue
        order = scores[:, k].argsort(descending=True)
        hits = positives[order].float()
        precision = hits.cumsum(0) / torch.arange(1, len(hits) + 1)
        aps.append(float((precision * hits).sum() / hits.sum()))
    return 100.0 * sum(aps) / max(1, len(aps))
