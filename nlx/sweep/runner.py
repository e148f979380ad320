"""The sweep: every unique run of a plan started once, after its dependency, through a launcher.

Runs whose ``final.json`` exists are skipped; interrupted runs resume from their last checkpoint; failed
runs are left alone unless ``rerun_failed`` (then the failed attempt is moved to ``<results>/failed/``
first). A run held by another process (another sweep, or ``nlx train``) is waited for, never started twice.
A failure is reported at once and the sweep goes on, unless ``fail_fast``. Ctrl-C (or SIGTERM) stops the
running runs with SIGTERM, so that they mark themselves interrupted, and ends with exit code 130.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from nlx.rundir import RunDir
from nlx.sweep.launch import SWEEP_LOG, Exit, Handle, Launcher
from nlx.sweep.plan import RunSpec, unique_runs
from nlx.sweep.records import Records
from nlx.sweep.state import Progress, SweepLock, log_tail, mark_failed, read_progress, reason_of, set_aside

ACTIVE = ("queued", "running")
EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


@dataclass
class RunState:
    """One unique run of the sweep and the cells (table, row, seed) it fills.

    ``status``: pending (not started), held (another process runs it: waiting for it), queued (submitted,
    not running yet), running, done, failed, blocked (its dependency failed), interrupted.
    """

    spec: RunSpec
    cells: list[RunSpec]
    run: RunDir
    lock: SweepLock
    status: str = "pending"
    detail: str = ""
    on_disk: str = "pending"
    reused: bool = False
    handle: Handle | None = None
    started: float | None = None
    ended: float | None = None
    progress: Progress | None = None
    retried: bool = False
    stop_requested: bool = False

    @property
    def run_id(self) -> str:
        return self.spec.run_id

    @property
    def total(self) -> int:
        return int(self.spec.tree.get("optim", {}).get("iterations") or 0)

    @property
    def label(self) -> str:
        first = self.cells[0]
        more = f" +{len(self.cells) - 1}" if len(self.cells) > 1 else ""
        return f"{first.table}:{first.row.id} s{first.seed}{more}"

    @property
    def elapsed(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended or time.time()) - self.started

    @property
    def record_status(self) -> str:
        """Status in ``sweeps/<table>.json``: done, failed, running, interrupted, pending or blocked."""
        return {"held": "running", "queued": "pending"}.get(self.status, self.status)


class Display(Protocol):
    def start(self, states: Sequence[RunState]) -> None: ...

    def refresh(self, states: Sequence[RunState]) -> None: ...

    def changed(self, state: RunState, lines: Sequence[str]) -> None: ...

    def note(self, text: str) -> None: ...

    def stop(self, states: Sequence[RunState]) -> None: ...


@dataclass
class SweepOptions:
    fail_fast: bool = False
    rerun_failed: bool = False
    poll_s: float = 0.5
    grace_s: float = 60.0


@dataclass
class SweepResult:
    specs: list[RunSpec]
    states: list[RunState]
    interrupted: bool = False
    exit_code: int = EXIT_OK


class Sweep:
    def __init__(
        self,
        specs: Sequence[RunSpec],
        results: Path,
        launcher: Launcher,
        records: Records,
        display: Display,
        options: SweepOptions | None = None,
    ) -> None:
        self.specs = list(specs)
        self.results = results
        self.launcher = launcher
        self.records = records
        self.display = display
        self.options = options or SweepOptions()
        self.states = [
            self._state(spec, [s for s in specs if s.run_id == spec.run_id]) for spec in unique_runs(specs)
        ]
        self.by_id = {s.run_id: s for s in self.states}
        self.stopping = False
        self.interrupted = False
        self._dirty = True

    def _state(self, spec: RunSpec, cells: list[RunSpec]) -> RunState:
        run = RunDir(self.results / spec.run_id)
        status = run.status()
        state = RunState(
            spec=spec, cells=cells, run=run, lock=SweepLock(self.results, spec.run_id), on_disk=status
        )
        if status == "done":
            state.status, state.reused, state.detail = "done", True, "done before"
        elif status == "failed" and not self.options.rerun_failed:
            state.status, state.detail = (
                "failed",
                f"{reason_of(run) or 'failed before'} (--rerun-failed retries it)",
            )
        elif status == "running":
            state.status, state.detail = "held", "another process runs it"
        return state

    # --- the loop ------------------------------------------------------------------------------------

    def run(self) -> SweepResult:
        self.display.start(self.states)
        self.records.write(self._statuses())
        with _sigterm_as_interrupt():
            try:
                self._loop()
            except KeyboardInterrupt:
                self.interrupted = self.stopping = True
                self.display.note(
                    "interrupted: stopping the running runs (SIGTERM); Ctrl-C again to kill them"
                )
                self._drain()
            finally:
                for state in self.states:
                    state.lock.release()
                self.records.write(self._statuses())
                self.display.stop(self.states)
        return SweepResult(self.specs, self.states, self.interrupted, self._exit_code())

    def _loop(self) -> None:
        while self._open():
            self._tick()
            time.sleep(self.options.poll_s)
        self._tick()

    def _open(self) -> bool:
        if any(s.status in ACTIVE for s in self.states):
            return True
        return not self.stopping and any(s.status in ("pending", "held") for s in self.states)

    def _tick(self) -> None:
        for state in self.states:
            if state.status in ACTIVE and state.handle is not None:
                self._poll(state, state.handle)
        self._launch_ready()
        for state in self.states:
            if state.status in ("running", "held", "queued"):
                state.progress = read_progress(state.run)
        if self._dirty:
            self.records.write(self._statuses())
            self._dirty = False
        self.display.refresh(self.states)

    def _drain(self) -> None:
        """Stop what runs and wait for it to end; a second Ctrl-C (or the grace period) kills it."""
        self._stop_active()
        deadline = time.time() + self.options.grace_s
        try:
            while any(s.status in ACTIVE for s in self.states):
                if time.time() > deadline:
                    self.launcher.kill(self._active_handles())
                for state in self.states:
                    if state.status in ACTIVE and state.handle is not None:
                        self._poll(state, state.handle)
                self.display.refresh(self.states)
                time.sleep(self.options.poll_s)
        except KeyboardInterrupt:
            self.launcher.kill(self._active_handles())
            for state in self.states:
                if state.status in ACTIVE:
                    self._set(state, "interrupted", "killed")

    def _active_handles(self) -> list[Handle]:
        return [s.handle for s in self.states if s.status in ACTIVE and s.handle is not None]

    def _stop_active(self) -> None:
        """SIGTERM (or scancel) to every run in progress: they end as interrupted, resumable."""
        for state in self.states:
            if state.status in ACTIVE:
                state.stop_requested = True
        self.launcher.stop(self._active_handles())

    # --- starting runs -------------------------------------------------------------------------------

    def _launch_ready(self) -> None:
        ready: list[RunState] = []
        slots = self.launcher.free_slots()
        for state in self.states:
            if state.status not in ("pending", "held") or not self._dependency_allows(state):
                continue
            if self.stopping or len(ready) >= slots:
                continue
            if self._claim(state):
                ready.append(state)
        if ready:
            after = {s.run_id: s.handle for s in self.states if s.handle is not None and s.status in ACTIVE}
            for state, handle in zip(ready, self.launcher.start([s.spec for s in ready], after), strict=True):
                self._started(state, handle)

    def _dependency_allows(self, state: RunState) -> bool:
        """Whether the run may start now; blocks it when its dependency failed."""
        if state.spec.depends_on is None:
            return True
        dep = self.by_id[state.spec.depends_on]
        if dep.status in ("failed", "blocked", "interrupted"):
            self._set(state, "blocked", f"dependency {dep.label} [{dep.run_id}] {dep.status}")
            return False
        if dep.status == "done":
            return True
        return self.launcher.chains and dep.status in ACTIVE and dep.handle is not None

    def _claim(self, state: RunState) -> bool:
        """Take the run's sweep lock and decide from its directory whether to start it."""
        if not state.lock.acquire():
            self._set(state, "held", "another sweep runs it")
            return False
        status = state.run.status()
        if status in ("done", "running") or (status == "failed" and not self._may_retry(state)):
            state.lock.release()
            detail = {"done": "done by another process", "running": "another process runs it"}.get(status, "")
            self._set(state, {"running": "held"}.get(status, status), detail or reason_of(state.run))
            return False
        if status == "failed":
            aside = set_aside(self.results, state.run_id)
            state.retried = True
            self.display.note(f"{state.label} [{state.run_id}]: failed attempt kept in {aside}")
        adopted = self.launcher.adopt(state.spec)
        if adopted is not None:
            self._started(state, adopted, "job of an earlier sweep")
            return False
        return True

    def _may_retry(self, state: RunState) -> bool:
        return self.options.rerun_failed and state.on_disk == "failed" and not state.retried

    def _started(self, state: RunState, handle: Handle, detail: str = "") -> None:
        state.handle, state.started, state.ended = handle, time.time(), None
        resumed = "resumed" if state.run.last_checkpoint() is not None else ""
        status = "running" if self.launcher.name == "local" else "queued"
        job = f"job {handle.job_id}" if handle.job_id else ""
        self._set(state, status, ", ".join(t for t in (detail, job, resumed) if t))

    # --- ends of runs --------------------------------------------------------------------------------

    def _poll(self, state: RunState, handle: Handle) -> None:
        if state.status == "queued" and self.launcher.running(handle):
            self._set(state, "running", state.detail)
        ended = self.launcher.poll(handle)
        if ended is not None:
            self._ended(state, ended)
            state.handle = None

    def _ended(self, state: RunState, ended: Exit) -> None:
        """Decide from the run's directory (and how its process ended) what became of it."""
        state.ended = time.time()
        run = state.run
        said = run.read_meta().get("status")
        if run.final.is_file():
            final = run.read_final() or {}
            metrics = ", ".join(f"{k} {v:.1f}" for k, v in (final.get("metrics") or {}).items())
            self._set(state, "done", metrics)
        elif ended.code == 2 and run.is_locked():
            self._set(state, "held", "another process runs it")  # it took the run between our check and start
        elif said != "failed" and (ended.interrupted or state.stop_requested or said == "interrupted"):
            self._set(state, "interrupted", ended.detail)
        else:
            reason = reason_of(run) or ended.detail
            mark_failed(run, f"{reason} (see {run.path / SWEEP_LOG})")
            self._failed(state, reason)
        state.lock.release()

    def _failed(self, state: RunState, reason: str) -> None:
        self._set(state, "failed", reason)
        if self.options.fail_fast and not self.stopping:
            self.stopping = True
            self.display.note("--fail-fast: stopping the other runs")
            self._stop_active()

    def _set(self, state: RunState, status: str, detail: str = "") -> None:
        if state.status == status and state.detail == detail:
            return
        state.status, state.detail = status, detail
        self._dirty = True
        log = state.handle.log if state.handle is not None else None
        lines = _failure_lines(state, log) if status == "failed" else []
        self.display.changed(state, lines)

    def _statuses(self) -> dict[str, str]:
        return {s.run_id: s.record_status for s in self.states}

    def _exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_OK if all(s.status == "done" for s in self.states) else EXIT_FAILED


def _failure_lines(state: RunState, log: Path | None) -> list[str]:
    return log_tail(state.run, log or state.run.path / SWEEP_LOG)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM to the sweep is handled as Ctrl-C: stop the runs cleanly, exit 130."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous: Callable[..., Any] | int | None = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
