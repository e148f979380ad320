"""The run directory: plain files that survive rsync, with ``final.json`` written last as the completion mark.

<run>/config.yaml      resolved config
<run>/meta.json        provenance (git sha and dirty flag, versions, host, device, times) and status
<run>/metrics.jsonl    one JSON object per logged step or evaluation
<run>/log.txt          the human log
<run>/checkpoints/     ckpt_<iteration>.pt (model, optimiser, scheduler, scaler, RNG, iteration)
<run>/model_final.pt   final weights (what ``init_from`` and ``nlx eval`` read)
<run>/final.json       test metrics, params, FLOPs, wall time, skipped videos: written last
<run>/.lock            held (flock) while a process works on the run
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from nlx.errors import NlxError
from nlx.io import read_json

Status = Literal["done", "failed", "running", "interrupted", "pending"]
_CKPT = re.compile(r"^ckpt_(\d+)\.pt$")


class RunLocked(NlxError):
    """Another process holds the run's lock."""


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def meta(self) -> Path:
        return self.path / "meta.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def log(self) -> Path:
        return self.path / "log.txt"

    @property
    def final(self) -> Path:
        return self.path / "final.json"

    @property
    def final_model(self) -> Path:
        return self.path / "model_final.pt"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def checkpoint(self, iteration: int) -> Path:
        return self.checkpoints / f"ckpt_{iteration:08d}.pt"

    def list_checkpoints(self) -> list[tuple[int, Path]]:
        if not self.checkpoints.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.checkpoints.iterdir() if (m := _CKPT.match(p.name))]
        return sorted(found)

    def last_checkpoint(self) -> Path | None:
        found = self.list_checkpoints()
        return found[-1][1] if found else None

    def read_meta(self) -> dict[str, Any]:
        try:
            return dict(read_json(self.meta))
        except (OSError, ValueError):
            return {}

    def read_final(self) -> dict[str, Any] | None:
        try:
            return dict(read_json(self.final))
        except (OSError, ValueError):
            return None

    def is_locked(self) -> bool:
        if not (self.path / ".lock").exists():
            return False
        with (self.path / ".lock").open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False

    def status(self) -> Status:
        if self.final.is_file():
            return "done"
        if self.is_locked():
            return "running"
        if self.read_meta().get("status") == "failed":
            return "failed"
        if self.list_checkpoints() or self.meta.is_file():
            return "interrupted"
        return "pending"

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run's lock; the kernel drops it when the process dies, even by kill -9."""
        self.path.mkdir(parents=True, exist_ok=True)
        fh = (self.path / ".lock").open("a")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            fh.close()
            raise RunLocked(f"{self.path}: another process is working on this run") from err
        try:
            os.utime(self.path / ".lock")
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()
