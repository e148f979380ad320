"""Launchers: how a sweep starts runs and learns that they ended. Local subprocesses live here.

A launcher starts runs (:meth:`Launcher.start`), says when one ended (:meth:`Launcher.poll`) and stops them
(:meth:`Launcher.stop`). Whether a run succeeded is read from its directory afterwards (``final.json``),
never from the launcher alone. The local launcher runs ``python -m nlx train <run>/config.yaml --out <run>
--resume`` per run, N at a time, with the CPU threads divided between them and, on a machine with GPUs, its
own GPU(s) through ``CUDA_VISIBLE_DEVICES``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Protocol

from nlx.config.load import dump_yaml
from nlx.io import write_text
from nlx.rundir import RunDir
from nlx.sweep.plan import RunSpec

SWEEP_LOG = "sweep.log"
INTERRUPTED_CODES = (130, -signal.SIGINT, -signal.SIGTERM)


@dataclass(frozen=True)
class Exit:
    """How a run's process (or cluster job) ended: its exit code where known, and words for the display."""

    code: int | None
    detail: str

    @property
    def interrupted(self) -> bool:
        return self.code in INTERRUPTED_CODES


@dataclass
class Handle:
    """A run started by a launcher."""

    spec: RunSpec
    run: RunDir
    log: Path
    started: float = field(default_factory=time.time)
    process: subprocess.Popen[bytes] | None = None
    job: Any = None
    gpus: tuple[str, ...] = ()
    _log_fh: IO[bytes] | None = None

    @property
    def job_id(self) -> str | None:
        return str(self.job.job_id) if self.job is not None else None


class Launcher(Protocol):
    name: str
    chains: bool  # True: a run may be started before its dependency ends (SLURM afterok)

    def describe(self) -> str: ...

    def free_slots(self) -> int: ...

    def start(self, specs: Sequence[RunSpec], after: Mapping[str, Handle]) -> list[Handle]: ...

    def adopt(self, spec: RunSpec) -> Handle | None: ...

    def running(self, handle: Handle) -> bool: ...

    def poll(self, handle: Handle) -> Exit | None: ...

    def stop(self, handles: Sequence[Handle]) -> None: ...

    def kill(self, handles: Sequence[Handle]) -> None: ...


def write_config(run: RunDir, spec: RunSpec) -> None:
    """The run's resolved config, written atomically where the trainer and the report expect it."""
    write_text(run.config, dump_yaml(spec.tree))


def visible_gpus() -> list[str]:
    """The GPUs this process may use: ``CUDA_VISIBLE_DEVICES`` if set, else every device torch sees."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # no usable CUDA runtime: a CPU machine
        return []


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def describe_returncode(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return {
        0: "exit 0",
        1: "exit 1 (run failed)",
        2: "exit 2 (bad input)",
        130: "exit 130 (interrupted)",
    }.get(code, f"exit {code}")


class LocalLauncher:
    """N runs at a time in subprocesses of this machine; one GPU group per run where there are GPUs."""

    name = "local"
    chains = False

    def __init__(
        self,
        results: Path,
        jobs: int | None = None,
        gpus: Sequence[str] | None = None,
        gpus_per_run: int = 1,
        cpus: int | None = None,
        grace_s: float = 60.0,
    ) -> None:
        self.results = results
        gpus = list(visible_gpus() if gpus is None else gpus)
        groups = [
            tuple(gpus[i : i + gpus_per_run]) for i in range(0, len(gpus) - gpus_per_run + 1, gpus_per_run)
        ]
        self.jobs = max(1, jobs if jobs is not None else (len(groups) or 1))
        self.gpu_groups: list[tuple[str, ...]] = groups[: self.jobs] if groups else []
        if groups:
            self.jobs = min(self.jobs, len(groups))
        self.gpus_per_run = gpus_per_run
        self.threads = max(1, (cpus or cpu_count()) // self.jobs)
        self.grace_s = grace_s
        self._active: list[Handle] = []

    def describe(self) -> str:
        where = f"GPUs {', '.join(','.join(g) for g in self.gpu_groups)}" if self.gpu_groups else "CPU"
        return f"{self.jobs} at a time on {where}, {self.threads} CPU thread(s) each"

    def free_slots(self) -> int:
        return self.jobs - len(self._active)

    def adopt(self, spec: RunSpec) -> Handle | None:
        return None

    def start(self, specs: Sequence[RunSpec], after: Mapping[str, Handle]) -> list[Handle]:
        return [self._start_one(spec, RunDir(self.results / spec.run_id)) for spec in specs]

    def _start_one(self, spec: RunSpec, run: RunDir) -> Handle:
        used = {g for h in self._active for g in h.gpus}
        gpus = next((g for g in self.gpu_groups if not set(g) & used), ())
        write_config(run, spec)
        log = run.path / SWEEP_LOG
        cmd = [sys.executable, "-m", "nlx", "train", str(run.config), "--out", str(run.path), "--resume"]
        if len(gpus) > 1:
            cmd += ["--gpus", str(len(gpus))]
        fh = log.open("ab")
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        fh.write(f"=== {stamp} nlx sweep: {' '.join(cmd)}\n".encode())
        fh.flush()
        process = subprocess.Popen(
            cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self._env(spec, gpus)
        )
        handle = Handle(spec=spec, run=run, log=log, process=process, gpus=gpus, _log_fh=fh)
        self._active.append(handle)
        return handle

    def _env(self, spec: RunSpec, gpus: tuple[str, ...]) -> dict[str, str]:
        configured = int(spec.tree.get("runtime", {}).get("threads") or 0)
        threads = str(configured or self.threads)
        env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "PYTHONUNBUFFERED": "1"}
        if self.gpu_groups:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        return env

    def running(self, handle: Handle) -> bool:
        return handle.process is not None and handle.process.poll() is None

    def poll(self, handle: Handle) -> Exit | None:
        assert handle.process is not None
        code = handle.process.poll()
        if code is None:
            return None
        self._close(handle)
        return Exit(code, describe_returncode(code))

    def stop(self, handles: Sequence[Handle]) -> None:
        """SIGTERM: the trainer marks itself interrupted and exits 130; its checkpoints stay for --resume."""
        for h in handles:
            if h.process is not None and h.process.poll() is None:
                h.process.send_signal(signal.SIGTERM)

    def kill(self, handles: Sequence[Handle]) -> None:
        for h in handles:
            if h.process is not None and h.process.poll() is None:
                h.process.kill()

    def _close(self, handle: Handle) -> None:
        if handle in self._active:
            self._active.remove(handle)
        if handle._log_fh is not None:
            handle._log_fh.close()
            handle._log_fh = None
