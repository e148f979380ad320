"""``nlx plan`` and ``nlx sweep``: statuses, records, scheduling, end to end at smoke size (kill -9 and
resume, no work twice, concurrent sweeps, failures, --fail-fast, --rerun-failed, dependencies)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from io import StringIO
from pathlib import Path
from textwrap import dedent
from typing import ClassVar

import pytest
from rich.console import Console

from nlx.config.presets import load_preset
from nlx.io import read_jsonl, write_json
from nlx.report.records import load_records
from nlx.rundir import RunDir
from nlx.sweep.display import PlainDisplay
from nlx.sweep.launch import Exit, Handle
from nlx.sweep.plan import Planner, RunSpec
from nlx.sweep.records import Records
from nlx.sweep.runner import Sweep, SweepOptions
from nlx.sweep.state import SweepLock

REPO = Path(__file__).resolve().parents[1]
TABLES = sorted((REPO / "ablations").glob("table2*.yaml"))
PLAN_KEYS = {"table", "row", "seed", "run_id", "status", "depends_on"}


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(dedent(text))
    return path


@pytest.fixture
def mini_preset(tmp_path: Path) -> str:
    """The mini preset if the repository has it, else a stand-in of the same shape (with a long variant)."""
    if (REPO / "ablations" / "presets" / "mini.yaml").is_file():
        return "mini"
    path = write(
        tmp_path / "presets",
        "mini.yaml",
        f"""\
        base: {REPO / "ablations" / "presets" / "smoke.yaml"}
        data: {{frames: 8}}
        optim: {{iterations: 40, steps: [30]}}
        """,
    )
    return str(path)


# --- plan ---------------------------------------------------------------------------------------------


def test_plan_lists_all_seven_tables_with_shared_runs_once(cli, mini_preset: str, tmp_path: Path) -> None:
    result = cli(
        "plan", *TABLES, "--preset", mini_preset, "--results", tmp_path / "results", "--format", "json"
    )
    assert result.code == 0, result.err
    cells = json.loads(result.out)
    assert {c["table"] for c in cells} == {"2a", "2b", "2c", "2d", "2e", "2f", "2g"}
    assert all(set(c) == PLAN_KEYS for c in cells)
    baseline = [
        c
        for c in cells
        if (c["table"], c["row"], c["seed"])
        in {
            ("2a", "baseline", 0),
            ("2b", "baseline", 0),
            ("2c", "r50_baseline", 0),
            ("2d", "r50_baseline", 0),
        }
    ]
    assert len(baseline) == 4 and len({c["run_id"] for c in baseline}) == 1
    seen: set[str] = set()
    for c in cells:  # the first cell of a run is pending, every later one will reuse it
        assert c["status"] == ("will reuse" if c["run_id"] in seen else "pending"), c
        seen.add(c["run_id"])
    assert len(seen) < len(cells)
    order = [c["run_id"] for c in cells]
    for c in cells:
        if c["depends_on"]:
            assert c["table"] == "2g" and order.index(c["depends_on"]) < order.index(c["run_id"])
    assert not (tmp_path / "results").exists()
    table = cli("plan", *TABLES, "--preset", mini_preset, "--results", tmp_path / "results")
    assert table.code == 0 and table.out == ""
    assert "will reuse" in table.err and "nothing was started" in table.err
    assert f"{len(cells)} cells, {len(seen)} unique runs" in table.err


def test_plan_statuses_come_from_the_results_directory(cli, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t.yaml",
        "table: t\nseeds: 1\nrows: [{id: a}, {id: b, set: {optim.lr: 0.5}}, {id: c, set: {optim.lr: 0.7}}]\n",
    )
    first = json.loads(cli("plan", path, "--preset", "smoke", "--results", tmp_path, "--format", "json").out)
    a, b, c = (RunDir(tmp_path / x["run_id"]) for x in first)
    a.path.mkdir()
    write_json(a.final, {"status": "done"})
    b.path.mkdir()
    write_json(b.meta, {"status": "failed", "reason": "loss is nan"})
    c.checkpoints.mkdir(parents=True)
    (c.checkpoints / "ckpt_00000002.pt").write_bytes(b"")
    again = json.loads(cli("plan", path, "--preset", "smoke", "--results", tmp_path, "--format", "json").out)
    assert [x["status"] for x in again] == ["done", "failed", "interrupted"]
    shown = cli("plan", path, "--preset", "smoke", "--results", tmp_path, "-o", "optim.momentum=0.8")
    assert "optim.lr=0.5" in shown.err  # what makes the row differ from the preset


def test_plan_and_sweep_reject_bad_options(cli, tmp_path: Path) -> None:
    path = write(tmp_path, "t.yaml", "table: t\nrows: [{id: a}]\n")
    for args, message in [
        (("--seeds", "x"), "--seeds"),
        (("-o", "optim.bogus=1"), "optim.bogus: unknown key"),
        (("--preset", "nope"), "preset 'nope' not found"),
    ]:
        for command in ("plan", "sweep"):
            result = cli(
                command,
                path,
                "--results",
                tmp_path / "r",
                *(("--preset", "smoke") if "--preset" not in args else ()),
                *args,
            )
            assert result.code == 2 and message in result.err, (command, args, result.err)
    missing = cli(
        "sweep",
        path,
        "--preset",
        "smoke",
        "--results",
        tmp_path / "r",
        "-o",
        f"data.root={tmp_path / 'nowhere'}",
    )
    assert missing.code == 2 and "data.root" in missing.err and "nowhere" in missing.err
    assert cli("plan", tmp_path / "gone.yaml", "--preset", "smoke").code == 2
    assert not (tmp_path / "r").exists()


# --- the scheduler with a launcher that pretends ------------------------------------------------------


class FakeLauncher:
    """Ends each run at the next poll: done, or failed for the ids in ``failing``."""

    name = "local"

    def __init__(
        self,
        results: Path,
        failing: set[str] = frozenset(),
        chains: bool = False,
        slots: int = 1,
        polls: int = 1,
    ) -> None:
        self.results, self.failing, self.chains, self.slots, self.polls = (
            results,
            failing,
            chains,
            slots,
            polls,
        )
        self.seen: dict[str, int] = {}
        self.started: list[str] = []
        self.after: dict[str, str | None] = {}
        self.active: list[Handle] = []
        self.stopped: list[str] = []

    def describe(self) -> str:
        return "fake"

    def free_slots(self) -> int:
        return self.slots - len(self.active)

    def start(self, specs: Sequence[RunSpec], after: Mapping[str, Handle]) -> list[Handle]:
        handles = []
        for spec in specs:
            run = RunDir(self.results / spec.run_id)
            run.path.mkdir(parents=True, exist_ok=True)
            write_json(run.meta, {"status": "running"})
            dep = after.get(spec.depends_on or "")
            self.after[spec.run_id] = dep.spec.run_id if dep is not None else None
            self.started.append(spec.run_id)
            handles.append(Handle(spec=spec, run=run, log=run.path / "sweep.log"))
        self.active += handles
        return handles

    def adopt(self, spec: RunSpec) -> Handle | None:
        return None

    def running(self, handle: Handle) -> bool:
        return True

    def poll(self, handle: Handle) -> Exit | None:
        self.seen[handle.spec.run_id] = self.seen.get(handle.spec.run_id, 0) + 1
        if self.seen[handle.spec.run_id] < self.polls:
            return None
        self.active.remove(handle)
        if handle.spec.run_id in self.failing:
            write_json(handle.run.meta, {"status": "failed", "reason": "loss is nan"})
            (handle.run.path / "sweep.log").write_text("E run failed: loss is nan\n")
            return Exit(1, "exit 1")
        write_json(handle.run.final, {"status": "done", "metrics": {"top1": 50.0}})
        return Exit(0, "exit 0")

    def stop(self, handles: Sequence[Handle]) -> None:
        self.stopped += [h.spec.run_id for h in handles]

    def kill(self, handles: Sequence[Handle]) -> None:
        pass


def fake_sweep(
    path: Path, results: Path, launcher: FakeLauncher, **options: bool
) -> tuple[int, list[RunSpec], str]:
    planner = Planner(load_preset("smoke"))
    specs = planner.plan([path])
    out = StringIO()
    records = Records(results, [planner.ablation(path)], specs, "smoke", lambda p: planner.ablation(p).table)
    display = PlainDisplay(Console(file=out, width=200), "test")
    result = Sweep(specs, results, launcher, records, display, SweepOptions(poll_s=0.02, **options)).run()
    return result.exit_code, specs, out.getvalue()


CHAIN = """\
    table: t
    seeds: 1
    rows:
      - {id: a}
      - {id: b, init_from: a, set: {optim.lr: 0.02}}
      - {id: c, init_from: b, set: {optim.lr: 0.03}}
      - {id: d, set: {optim.lr: 0.04}}
    """


def test_dependents_wait_and_are_blocked_by_a_failure(tmp_path: Path) -> None:
    path = write(tmp_path, "t.yaml", CHAIN)
    specs = Planner(load_preset("smoke")).plan([path])
    ids = {s.row.id: s.run_id for s in specs}
    launcher = FakeLauncher(tmp_path / "results", failing={ids["b"]})
    code, _, log = fake_sweep(path, tmp_path / "results", launcher)
    assert code == 1
    assert launcher.started == [ids["a"], ids["b"], ids["d"]]  # c never starts
    assert "blocked" in log and "loss is nan" in log
    record = json.loads((tmp_path / "results" / "sweeps" / "t.json").read_text())
    assert {r["id"]: r["runs"][0]["status"] for r in record["rows"]} == {
        "a": "done",
        "b": "failed",
        "c": "blocked",
        "d": "done",
    }
    again = FakeLauncher(tmp_path / "results")
    assert (
        fake_sweep(path, tmp_path / "results", again)[0] == 1 and again.started == []
    )  # failed stays failed
    retry = FakeLauncher(tmp_path / "results")
    code, _, log = fake_sweep(path, tmp_path / "results", retry, rerun_failed=True)
    assert code == 0 and retry.started == [ids["b"], ids["c"]]
    assert (
        tmp_path / "results" / "failed" / f"{ids['b']}.1" / "meta.json"
    ).is_file() and "failed attempt kept" in log


def test_fail_fast_starts_nothing_after_a_failure(tmp_path: Path) -> None:
    path = write(tmp_path, "t.yaml", CHAIN)
    specs = Planner(load_preset("smoke")).plan([path])
    launcher = FakeLauncher(tmp_path / "results", failing={specs[0].run_id}, slots=1)
    code, _, log = fake_sweep(path, tmp_path / "results", launcher, fail_fast=True)
    assert code == 1 and launcher.started == [specs[0].run_id] and "--fail-fast" in log


def test_chained_launcher_submits_dependents_with_their_dependency(tmp_path: Path) -> None:
    """With SLURM afterok the dependent is submitted at once, naming its dependency's job."""
    path = write(tmp_path, "t.yaml", CHAIN)
    launcher = FakeLauncher(tmp_path / "results", chains=True, slots=10, polls=3)
    launcher.name = "slurm"
    code, specs, log = fake_sweep(path, tmp_path / "results", launcher)
    ids = {s.row.id: s.run_id for s in specs}
    assert code == 0 and launcher.started == [ids["a"], ids["d"], ids["b"], ids["c"]]
    assert launcher.after == {ids["a"]: None, ids["d"]: None, ids["b"]: ids["a"], ids["c"]: ids["b"]}
    assert "queued" in log  # submitted, then running


def test_a_run_held_by_another_sweep_is_waited_for(tmp_path: Path) -> None:
    path = write(tmp_path, "t.yaml", "table: t\nseeds: 1\nrows: [{id: a}]\n")
    spec = Planner(load_preset("smoke")).plan([path])[0]
    results = tmp_path / "results"
    final = results / spec.run_id / "final.json"
    script = dedent(f"""\
        import time
        from pathlib import Path
        from nlx.io import write_json
        from nlx.sweep.state import SweepLock
        lock = SweepLock(Path({str(results)!r}), {spec.run_id!r})
        assert lock.acquire()
        print("held", flush=True)
        time.sleep(1.5)
        write_json(Path({str(final)!r}), {{"status": "done"}})
        """)
    other = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert other.stdout is not None and other.stdout.readline().strip() == "held"
    launcher = FakeLauncher(results)
    code, _, log = fake_sweep(path, results, launcher)
    other.wait()
    assert (
        code == 0
        and launcher.started == []
        and "another sweep runs it" in log
        and "done by another process" in log
    )
    assert SweepLock(results, spec.run_id).acquire()


class FakePopen:
    """Stands for a training process: records its command and environment."""

    calls: ClassVar[list[tuple[list[str], dict[str, str]]]] = []

    def __init__(self, cmd: list[str], **kwargs: object) -> None:
        FakePopen.calls.append((cmd, dict(kwargs["env"])))  # type: ignore[call-overload]
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


def test_local_launcher_gives_each_run_its_gpus_and_cpu_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nlx.sweep import launch

    monkeypatch.setattr(launch.subprocess, "Popen", FakePopen)
    FakePopen.calls = []
    path = write(tmp_path, "t.yaml", CHAIN)
    specs = Planner(load_preset("smoke"), ["runtime.device=auto"]).plan([path])
    gpus = launch.LocalLauncher(tmp_path, jobs=None, gpus=["0", "1", "2", "3"], gpus_per_run=2, cpus=16)
    assert (gpus.jobs, gpus.threads, gpus.free_slots()) == (2, 8, 2)
    first, second = gpus.start(specs[:2], {})
    assert gpus.free_slots() == 0
    assert [env["CUDA_VISIBLE_DEVICES"] for _, env in FakePopen.calls] == ["0,1", "2,3"]
    assert all(env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "8" for _, env in FakePopen.calls)
    cmd = FakePopen.calls[0][0]
    assert cmd[1:5] == ["-m", "nlx", "train", str(tmp_path / specs[0].run_id / "config.yaml")]
    assert cmd[5:] == ["--out", str(tmp_path / specs[0].run_id), "--resume", "--gpus", "2"]
    assert (tmp_path / specs[0].run_id / "config.yaml").is_file()
    first.process.returncode = 0  # type: ignore[union-attr]
    assert gpus.poll(first) == Exit(0, "exit 0") and gpus.poll(second) is None
    gpus.start(specs[2:3], {})
    assert FakePopen.calls[-1][1]["CUDA_VISIBLE_DEVICES"] == "0,1"  # the group that was freed
    assert launch.LocalLauncher(tmp_path, jobs=8, gpus=["0", "1", "2", "3"]).jobs == 4  # one run per GPU

    FakePopen.calls = []
    cpu = launch.LocalLauncher(tmp_path / "cpu", jobs=2, gpus=[], cpus=2)
    threaded = Planner(load_preset("smoke"), ["runtime.threads=3"]).plan([path])
    cpu.start([specs[0], threaded[0]], {})
    assert [env["OMP_NUM_THREADS"] for _, env in FakePopen.calls] == ["1", "3"]
    assert all("--gpus" not in cmd for cmd, _ in FakePopen.calls)


# --- end to end at smoke size -------------------------------------------------------------------------


def smoke_sweep(path: object, data: Path, results: Path, *extra: object) -> tuple[object, ...]:
    """Arguments of ``nlx plan``/``nlx sweep`` for ``path`` at the smoke preset on ``data``, one thread
    per run, results in ``results``."""
    return (path, "--preset", "smoke", "-o", f"data.root={data}", "--results", results,
            "-o", "runtime.threads=1", *extra)  # fmt: skip


def sweep_cmd(*args: object) -> list[str]:
    return [sys.executable, "-m", "nlx", "sweep", *map(str, args)]


def run_files(results: Path) -> dict[str, tuple[float, int]]:
    """Per finished run: final.json's mtime and the number of metrics lines."""
    return {
        p.name: ((p / "final.json").stat().st_mtime_ns, len(read_jsonl(p / "metrics.jsonl")))
        for p in (results.iterdir() if results.is_dir() else ())
        if (p / "final.json").is_file()
    }


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.slow
def test_table2a_kill9_resume_and_second_run_does_nothing(
    smoke_data: Path, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    results = tmp_path / "results"
    args = (
        "ablations/table2a.yaml",
        "--preset",
        "smoke",
        "--seeds",
        "0",
        "-o",
        f"data.root={smoke_data}",
        "--results",
        results,
        "--jobs",
        "2",
    )
    cells = json.loads(cli("plan", *args[:-2], "--format", "json").out)
    ids = {c["run_id"] for c in cells}
    assert len(cells) == 5 and len(ids) == 5
    sweep = subprocess.Popen(
        sweep_cmd(*args),
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def started(with_checkpoint: bool) -> list[RunDir]:
        runs = [RunDir(results / i) for i in ids]
        return [
            r
            for r in runs
            if r.meta.is_file() and not r.final.is_file() and (r.last_checkpoint() or not with_checkpoint)
        ]

    try:
        wait_for(lambda: run_files(results) and started(False), 150, "one run done and another running")
        deadline = time.time() + 10
        while not started(True) and time.time() < deadline:  # best: kill it right after a checkpoint
            time.sleep(0.02)
        resumable = [r.path.name for r in started(True)]
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)  # the sweep and its children, at once
        sweep.wait()
    complete = run_files(results)
    killed = {r.path.name for r in started(False)}
    assert complete and killed and len(complete) < 5
    result = cli("sweep", *args)
    assert result.code == 0, result.err
    after = run_files(results)
    assert set(after) == ids
    assert {k: after[k] for k in complete} == complete  # complete runs untouched
    for run_id in resumable:
        if run_id not in complete:
            assert "resumed from ckpt_" in (results / run_id / "log.txt").read_text()
    for run_id in ids:
        iterations = [
            r["iteration"] for r in read_jsonl(results / run_id / "metrics.jsonl") if r["kind"] == "train"
        ]
        if run_id in killed:  # lines logged after its last checkpoint are logged again on resume
            assert sorted(set(iterations)) == [1, 2, 3, 4] and iterations[-1] == 4, run_id
        else:
            assert iterations == [1, 2, 3, 4], run_id
    again = cli("sweep", *args, "--format", "json")
    assert again.code == 0 and run_files(results) == after and "running" not in again.err
    assert {c["status"] for c in json.loads(again.out)} == {"done"}
    check_record(results, "2a", cells)


def check_record(results: Path, table: str, cells: list[dict]) -> None:
    """sweeps/<table>.json as docs/results-format.md describes it, and readable by nlx report."""
    record = json.loads((results / "sweeps" / f"{table}.json").read_text())
    assert set(record) == {
        "table",
        "file",
        "preset",
        "title",
        "caption",
        "metrics",
        "rows",
        "claims",
        "updated",
    }
    assert (
        record["table"] == table
        and record["file"] == f"ablations/table{table}.yaml"
        and record["preset"] == "smoke"
    )
    mine = [c for c in cells if c["table"] == table]
    assert [r["id"] for r in record["rows"]] == list(dict.fromkeys(c["row"] for c in mine))
    for row in record["rows"]:
        assert set(row) == {"id", "label", "group", "paper", "runs"}
        assert row["runs"] == [
            {"seed": c["seed"], "run_id": c["run_id"], "status": "done"}
            for c in mine
            if c["row"] == row["id"]
        ]
    for claim in record["claims"]:
        assert set(claim) == {"id", "text", "metric", "chains", "within", "rows"}
    (loaded,) = [r for r in load_records(results) if r.table == table]
    assert {r.id: [x.run_id for x in r.runs] for r in loaded.rows} == {
        r["id"]: [x["run_id"] for x in r["runs"]] for r in record["rows"]
    }


PAIR = """\
    table: pair
    title: A run and one fine-tuned from it
    seeds: 1
    defaults: {eval.every: 4, eval.test_clips: 1}  # less evaluation: faster tests
    rows:
      - {id: first, label: first}
      - {id: second, label: second, init_from: first, set: {optim.lr: 0.01}}
    claims:
      - {id: better, text: fine-tuning helps, chain: [second, ">", first]}
    """


@pytest.mark.slow
def test_two_sweeps_at_once_train_each_run_once_in_dependency_order(smoke_data: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "pair.yaml", PAIR)
    results = tmp_path / "results"
    args = smoke_sweep(path, smoke_data, results, "--jobs", "1")
    sweeps = [
        subprocess.Popen(
            sweep_cmd(*args), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    errs = [p.communicate(timeout=180)[1] for p in sweeps]
    assert [p.returncode for p in sweeps] == [0, 0], errs
    runs = sorted(
        (RunDir(p) for p in results.iterdir() if (p / "final.json").is_file()),
        key=lambda r: r.read_meta()["started"],
    )
    assert len(runs) == 2
    for run in runs:
        assert (run.path / "sweep.log").read_text().count("nlx sweep:") == 1  # started by one sweep, once
        assert [r["iteration"] for r in read_jsonl(run.metrics) if r["kind"] == "train"] == [1, 2, 3, 4]
    first, second = runs
    assert f"initialised from {first.path}" in second.log.read_text()
    assert second.read_meta()["started"] >= first.read_meta()["ended"]
    assert any("another sweep runs it" in e or "done by another process" in e for e in errs)
    record = json.loads((results / "sweeps" / "pair.json").read_text())
    assert [r["runs"][0]["run_id"] for r in record["rows"]] == [first.path.name, second.path.name]


FAILING = """\
    table: fails
    seeds: 1
    defaults: {eval.every: 4, eval.test_clips: 1}
    rows:
      - {id: bad, set: {optim.lr: 1.0e+30, optim.steps: [100]}}
      - {id: good}
      - {id: later, set: {optim.lr: 0.02}}
      - {id: after_bad, init_from: bad}
    """


@pytest.mark.slow
def test_failures_fail_fast_and_rerun_failed(smoke_data: Path, tmp_path: Path, cli) -> None:
    path = write(tmp_path, "fails.yaml", FAILING)
    results = tmp_path / "results"
    args = smoke_sweep(path, smoke_data, results)
    ids = {c["row"]: c["run_id"] for c in json.loads(cli("plan", *args, "--format", "json").out)}

    fast = cli("sweep", *args, "--jobs", "2", "--fail-fast", "--format", "json")
    assert fast.code == 1 and "--fail-fast" in fast.err and "loss is" in fast.err
    statuses = {c["row"]: c["status"] for c in json.loads(fast.out)}
    assert (
        statuses["bad"] == "failed"
        and statuses["later"] != "done"
        and statuses["after_bad"] in ("pending", "blocked")
    )
    assert statuses["good"] in ("done", "interrupted")  # stopped with SIGTERM unless it had finished
    if statuses["good"] == "interrupted":
        assert json.loads((results / ids["good"] / "meta.json").read_text())["status"] == "interrupted"
    assert not (results / ids["after_bad"]).exists()

    rest = cli("sweep", *args, "--jobs", "2", "--format", "json")
    assert rest.code == 1, rest.err
    statuses = {c["row"]: c["status"] for c in json.loads(rest.out)}
    assert statuses == {"bad": "failed", "good": "done", "later": "done", "after_bad": "blocked"}
    assert "--rerun-failed retries it" in rest.err
    before = run_files(results)

    retry = cli("sweep", *args, "--rerun-failed")
    assert retry.code == 1 and "failed attempt kept" in retry.err
    kept = results / "failed" / f"{ids['bad']}.1"
    assert json.loads((kept / "meta.json").read_text())["status"] == "failed"
    assert json.loads((results / ids["bad"] / "meta.json").read_text())["status"] == "failed"
    assert run_files(results) == before  # the others untouched
    record = json.loads((results / "sweeps" / "fails.json").read_text())
    assert {r["id"]: r["runs"][0]["status"] for r in record["rows"]} == statuses


@pytest.mark.slow
def test_ctrl_c_stops_runs_cleanly_and_exits_130(smoke_data: Path, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "one.yaml",
        "table: one\nseeds: 1\nrows: [{id: a, set: {optim.iterations: 400, optim.steps: [300]}}]\n",
    )
    results = tmp_path / "results"
    sweep = subprocess.Popen(
        sweep_cmd(*smoke_sweep(path, smoke_data, results)),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # A shell without job control starts background jobs with SIGINT ignored, and children inherit
        # that: give the sweep Ctrl-C's default, as in a terminal, however the suite was started.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )

    def runs() -> list[RunDir]:
        return (
            [RunDir(p) for p in results.iterdir() if (p / "meta.json").is_file()] if results.is_dir() else []
        )

    try:
        wait_for(runs, 120, "the run to start")
    finally:
        sweep.send_signal(signal.SIGINT)  # what Ctrl-C sends to the sweep
    _, err = sweep.communicate(timeout=120)
    assert sweep.returncode == 130, err
    (run,) = runs()
    assert run.read_meta()["status"] == "interrupted" and not run.final.is_file() and not run.is_locked()
    record = json.loads((results / "sweeps" / "one.json").read_text())
    assert record["rows"][0]["runs"][0]["status"] == "interrupted"
