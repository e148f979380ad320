"""The submitit launcher: runs as SLURM jobs (or submitit's local jobs, to try the same path on one machine).

Runs whose dependencies are met are submitted together as one job array per set of SLURM options, throttled
by ``slurm.array_parallelism``; a run that fine-tunes another (``init_from``) is submitted at once with
``--dependency=afterok:<job>`` (and ``--kill-on-invalid-dep=yes``, so that it is cancelled if its dependency
fails). Each job runs :class:`TrainJob`, a :class:`submitit.helpers.Checkpointable`: on preemption or
timeout, submitit calls its ``checkpoint()`` and requeues it (at most ``slurm.max_requeues`` times), and the
requeued job resumes from the run's last checkpoint. A job with several GPUs runs one task per GPU, and
:class:`submitit.helpers.TorchDistributedEnvironment` sets up ``torch.distributed`` for them. The job id of
each run is kept in ``<run>/slurm.json``: a later sweep waits for a job still in the queue instead of
submitting the run again.

Job files (submission scripts, pickles, stdout/stderr per job) go to ``<results>/slurm/``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import submitit
from submitit.helpers import Checkpointable, DelayedSubmission, TorchDistributedEnvironment

from nlx.config.load import build, load_config
from nlx.config.schema import SlurmConfig
from nlx.errors import NlxError
from nlx.io import read_json, write_json
from nlx.rundir import RunDir
from nlx.sweep.launch import Exit, Handle, cpu_count, visible_gpus, write_config
from nlx.sweep.plan import RunSpec

JOB_DIR = "slurm"
JOB_FILE = "slurm.json"
ACTIVE_STATES = ("PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED")


class TrainJob(Checkpointable):
    """What a SLURM job runs: ``nlx.train.train`` on the run's ``config.yaml``, resuming if it can."""

    def __init__(self, config: Path, out: Path, threads: int | None = None) -> None:
        self.config = config
        self.out = out
        self.threads = threads  # CPU threads for torch; None: what the job was given (SLURM's cpus_per_task)

    def __call__(self) -> dict[str, Any]:
        from nlx.train import train

        if self.threads:
            import torch

            os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(self.threads)
            torch.set_num_threads(self.threads)
        if submitit.JobEnvironment().num_tasks > 1:
            # one task per GPU: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT for torch.distributed
            TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
        final = train(load_config(self.config), self.out, resume=True)
        return dict(final.get("metrics") or {})

    def checkpoint(self, *args: Any, **kwargs: Any) -> DelayedSubmission:
        """Preempted or timed out: requeue the same run; the trainer resumes from its last checkpoint."""
        run = RunDir(self.out)
        meta = run.read_meta()
        if meta and not run.final.is_file():
            write_json(
                run.meta, {**meta, "status": "interrupted", "reason": "preempted or timed out: requeued"}
            )
        return DelayedSubmission(type(self)(self.config, self.out, self.threads))


def executor_parameters(
    slurm: SlurmConfig, cluster: str, name: str, gpus_here: int | None = None
) -> dict[str, Any]:
    """``AutoExecutor.update_parameters`` keywords for one run: one task per GPU, options from ``slurm:``."""
    gpus = slurm.gpus_per_node if cluster == "slurm" else min(slurm.gpus_per_node, gpus_here or 0)
    params: dict[str, Any] = {
        "name": name,
        "timeout_min": slurm.time_min,
        "nodes": slurm.nodes if cluster == "slurm" else 1,
        "gpus_per_node": gpus,
        "tasks_per_node": max(1, gpus),
        "cpus_per_task": slurm.cpus_per_task,
        "slurm_array_parallelism": slurm.array_parallelism,
        "slurm_signal_delay_s": 120,
    }
    if slurm.mem_gb is not None:
        params["mem_gb"] = slurm.mem_gb
    for key in ("partition", "account", "qos", "constraint"):
        if getattr(slurm, key) is not None:
            params[f"slurm_{key}"] = getattr(slurm, key)
    return params


def dependency_parameters(job_ids: Sequence[str]) -> dict[str, Any]:
    """Start only after these jobs completed successfully; cancelled if one of them fails."""
    return {
        "slurm_dependency": "afterok:" + ":".join(job_ids),
        "slurm_additional_parameters": {"kill-on-invalid-dep": "yes"},
    }


class SubmititLauncher:
    """Submits runs through ``submitit.AutoExecutor`` (cluster ``slurm`` or ``local``), watches the jobs."""

    def __init__(
        self, results: Path, cluster: str = "slurm", jobs: int | None = None, grace_s: float = 60.0
    ) -> None:
        if cluster == "slurm" and submitit.SlurmExecutor.affinity() < 0:
            raise NlxError(
                "--launcher slurm: srun not found, this is not a SLURM cluster "
                "(use --launcher local, or --launcher submitit-local to try the submitit path here)"
            )
        self.results = results
        self.cluster = cluster
        self.name = "slurm" if cluster == "slurm" else "submitit-local"
        self.chains = cluster == "slurm"  # SLURM holds a dependent job until its dependency succeeds
        self.jobs = max(1, jobs or 1)
        self.grace_s = grace_s
        self.folder = results / JOB_DIR
        self._gpus_here = len(visible_gpus()) if cluster != "slurm" else None
        self._active: list[Handle] = []

    def describe(self) -> str:
        if self.cluster == "slurm":
            return f"SLURM through submitit (job files in {self.folder})"
        return f"submitit's local executor, {self.jobs} job(s) at a time (job files in {self.folder})"

    def free_slots(self) -> int:
        return 1_000_000 if self.cluster == "slurm" else self.jobs - len(self._active)

    def _executor(self, max_requeues: int) -> submitit.AutoExecutor:
        return submitit.AutoExecutor(
            folder=self.folder,
            cluster=self.cluster,
            slurm_max_num_timeout=max_requeues,
            local_max_num_timeout=max_requeues,
        )

    def start(self, specs: Sequence[RunSpec], after: Mapping[str, Handle]) -> list[Handle]:
        """Runs without a pending dependency as job arrays (one per set of options), the others one by one."""
        handles: list[Handle] = []
        groups: dict[str, list[RunSpec]] = {}
        for spec in specs:
            dep = after.get(spec.depends_on or "")
            if dep is not None and dep.job_id is not None:
                handles += self._submit([spec], dependency_parameters([dep.job_id]))
            else:
                key = repr(sorted(self._parameters(spec, "nlx-sweep").items()))
                groups.setdefault(key, []).append(spec)
        for group in groups.values():
            handles += self._submit(group, {})
        return handles

    def _parameters(self, spec: RunSpec, name: str) -> dict[str, Any]:
        slurm = build(SlurmConfig, spec.tree.get("slurm") or {}, "slurm")
        return executor_parameters(slurm, self.cluster, name, self._gpus_here)

    def _submit(self, specs: Sequence[RunSpec], extra: Mapping[str, Any]) -> list[Handle]:
        first = specs[0]
        name = f"nlx-{first.table}-{first.row.id}-s{first.seed}" if len(specs) == 1 else "nlx-sweep"
        slurm = build(SlurmConfig, first.tree.get("slurm") or {}, "slurm")
        executor = self._executor(slurm.max_requeues)
        executor.update_parameters(**self._parameters(first, name), **extra)
        runs = [RunDir(self.results / s.run_id) for s in specs]
        for spec, run in zip(specs, runs, strict=True):
            write_config(run, spec)
        threads = None if self.cluster == "slurm" else max(1, cpu_count() // self.jobs)
        with _batch(executor, len(specs) > 1):
            jobs = [
                executor.submit(TrainJob(run.config.resolve(), run.path.resolve(), threads)) for run in runs
            ]
        handles = []
        for spec, run, job in zip(specs, runs, jobs, strict=True):
            folder = str(self.folder.resolve())
            record = {"job_id": str(job.job_id), "cluster": self.cluster, "folder": folder}
            write_json(run.path / JOB_FILE, {**record, "submitted": time.time()})
            handles.append(Handle(spec=spec, run=run, log=Path(job.paths.stderr), job=job))
        self._active += handles
        return handles

    def adopt(self, spec: RunSpec) -> Handle | None:
        """The job of an earlier sweep that is still queued or running for this run, if any (SLURM only)."""
        run = RunDir(self.results / spec.run_id)
        if self.cluster != "slurm" or not (run.path / JOB_FILE).is_file():
            return None
        try:
            info = read_json(run.path / JOB_FILE)
            job: Any = submitit.SlurmJob(folder=info["folder"], job_id=str(info["job_id"]))
            state = str(job.state).upper()
        except Exception:  # an unreadable record or no sacct: submit again
            return None
        if not state.startswith(ACTIVE_STATES):
            return None
        handle = Handle(spec=spec, run=run, log=Path(job.paths.stderr), job=job)
        self._active.append(handle)
        return handle

    def running(self, handle: Handle) -> bool:
        return str(handle.job.state).upper().startswith("RUNNING") or handle.run.is_locked()

    def poll(self, handle: Handle) -> Exit | None:
        if not handle.job.done():
            return None
        if handle in self._active:
            self._active.remove(handle)
        state = str(handle.job.state).upper()
        code = 0 if handle.run.final.is_file() else (130 if state.startswith("CANCELLED") else None)
        return Exit(code, f"job {handle.job_id} {state.lower()}")

    def stop(self, handles: Sequence[Handle]) -> None:
        """Cancel the jobs: SLURM sends SIGTERM, the trainer marks itself interrupted."""
        for h in handles:
            with contextlib.suppress(Exception):
                h.job.cancel(check=False)

    def kill(self, handles: Sequence[Handle]) -> None:
        self.stop(handles)


@contextlib.contextmanager
def _batch(executor: submitit.AutoExecutor, array: bool) -> Iterator[None]:
    if not array:
        yield
        return
    with executor.batch():
        yield
