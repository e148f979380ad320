"""What a sweep reads from and does to run directories: its lock, a run's progress, failed attempts set aside.

Two locks guard a run. The trainer holds ``<run>/.lock`` while it works (:meth:`RunDir.lock`). A sweep holds
``<results>/.locks/<run id>`` from the moment it decides to start a run until that run ends, so that two
sweeps on the same results directory never start the same run: the second one waits. Both are ``flock``
locks, which the kernel drops when their process dies, even by ``kill -9``.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from nlx.io import write_json
from nlx.rundir import RunDir

LOCK_DIR = ".locks"
FAILED_DIR = "failed"


class SweepLock:
    """A non-blocking ``flock`` on ``<results>/.locks/<run id>``, held by the sweep that launches the run."""

    def __init__(self, results: Path, run_id: str) -> None:
        self.path = results / LOCK_DIR / run_id
        self._fh: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._fh is not None

    def acquire(self) -> bool:
        """Take the lock if nobody holds it; ``False`` if another process does."""
        if self._fh is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        self._fh = fh
        return True

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


@dataclass(frozen=True)
class Progress:
    """The last logged iteration of a run and its latest metric, from the tail of ``metrics.jsonl``."""

    iteration: int
    metric: str


def tail_bytes(path: Path, size: int = 16_384) -> str:
    """The last ``size`` bytes of a file (less at the start of a line cut in the middle); '' if absent."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            fh.seek(max(0, end - size))
            data = fh.read()
    except OSError:
        return ""
    text = data.decode(errors="replace")
    return text if end <= size else text.partition("\n")[2]


def tail_lines(path: Path, count: int = 15) -> list[str]:
    return tail_bytes(path).splitlines()[-count:]


def tail_records(path: Path) -> list[dict[str, Any]]:
    """The last JSON records of a JSON-lines file; a line torn by a kill is skipped."""
    records = []
    for line in tail_bytes(path).splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def read_progress(run: RunDir) -> Progress | None:
    records = tail_records(run.metrics)
    if not records:
        return None
    last = records[-1]
    return Progress(iteration=int(last.get("iteration") or 0), metric=describe_record(last))


def describe_record(record: dict[str, Any]) -> str:
    """``loss 1.234`` for a training line, ``val top1 41.0`` / ``test top1 63.5`` for evaluations."""
    kind = record.get("kind")
    if kind == "train" and "loss" in record:
        return f"loss {record['loss']:.3f}"
    for key in ("top1", "mAP"):
        if key in record and kind in ("val", "test"):
            return f"{kind} {key} {record[key]:.1f}"
    return str(kind or "")


def log_tail(run: RunDir, captured: Path | None = None, count: int = 12) -> list[str]:
    """The end of what the run's process printed (``captured``: the launcher's log), else of ``log.txt``."""
    lines = tail_lines(captured, count) if captured is not None else []
    return lines or tail_lines(run.log, count)


def set_aside(results: Path, run_id: str) -> Path:
    """Move a failed run's directory to ``<results>/failed/<run id>.<n>`` (one atomic rename); return it."""
    folder = results / FAILED_DIR
    folder.mkdir(parents=True, exist_ok=True)
    n = 1
    while (folder / f"{run_id}.{n}").exists():
        n += 1
    target = folder / f"{run_id}.{n}"
    os.rename(results / run_id, target)
    return target


def mark_failed(run: RunDir, reason: str) -> None:
    """Record ``failed`` in ``meta.json`` for a run whose process died without saying so (kill, crash)."""
    meta = run.read_meta()
    if meta.get("status") in ("failed", "done", "interrupted") or run.final.is_file():
        return
    write_json(run.meta, {"run_id": run.path.name, **meta, "status": "failed", "reason": reason})


def reason_of(run: RunDir) -> str:
    return str(run.read_meta().get("reason") or "")
