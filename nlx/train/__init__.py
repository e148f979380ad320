"""Training and evaluation with the paper's recipe (Sec. 4.1)."""

from nlx.train.engine import TrainingFailed
from nlx.train.evaluate import evaluate
from nlx.train.run import Interrupted, train

__all__ = ["Interrupted", "TrainingFailed", "evaluate", "train"]
