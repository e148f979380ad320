"""Training progress: a rich bar on a terminal, plain periodic log lines otherwise."""

from __future__ import annotations

import logging
import sys
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

log = logging.getLogger("nlx.train")


class TrainProgress:
    """Shows iteration, loss, lr, clips/s and ETA; plain log lines when stderr is not a terminal."""

    def __init__(self, total: int, start: int, *, enabled: bool = True) -> None:
        self.total, self.start = total, start
        self.enabled = enabled
        self.rich = enabled and sys.stderr.isatty()
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> TrainProgress:
        if self.rich:
            self._progress = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("train", total=self.total, completed=self.start, status="")
        return self

    def update(self, iteration: int, record: dict[str, Any]) -> None:
        status = (
            f"loss {record['loss']:.3f}  err {record['top1_err']:.1f}%  lr {record['lr']:.2g}"
            f"  {record['clips_per_s']:.1f} clips/s"
        )
        if self._progress is not None:
            self._progress.update(self._task, completed=iteration, status=status)
        elif self.enabled:
            log.info("iteration %d/%d  %s", iteration, self.total, status)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
