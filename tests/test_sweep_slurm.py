"""``nlx sweep --launcher slurm``: submitit parameters and sbatch scripts (without a cluster), and the same
path end to end through submitit's local executor (``--launcher submitit-local``)."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

import pytest
import submitit
from test_sweep import smoke_sweep

from nlx.config.load import build
from nlx.config.presets import load_preset
from nlx.config.schema import SlurmConfig
from nlx.io import read_json
from nlx.sweep.slurm import TrainJob, dependency_parameters, executor_parameters


def paper_slurm(*overrides: str) -> SlurmConfig:
    return build(SlurmConfig, load_preset("paper").tree_for(None, None, overrides)["slurm"], "slurm")


def sbatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, params: dict, array: int | None = None) -> str:
    """The sbatch script submitit would write for these parameters (srun need not exist)."""
    monkeypatch.setattr(submitit.SlurmExecutor, "affinity", classmethod(lambda cls: 2))
    executor = submitit.AutoExecutor(folder=tmp_path / "slurm", cluster="slurm")
    executor.update_parameters(**params)
    inner = executor._executor
    if array is not None:
        inner.parameters["map_count"] = array
    return inner._make_submission_file_text("python -m submitit.core._submit x", "uid")


def test_paper_preset_and_command_line_become_sbatch_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slurm = paper_slurm(
        "slurm.partition=gpu",
        "slurm.account=vision",
        "slurm.time_min=600",
        "slurm.mem_gb=400",
        "slurm.constraint=h100",
        "slurm.array_parallelism=4",
    )
    params = executor_parameters(slurm, "slurm", "nlx-2a-baseline-s0")
    text = sbatch(tmp_path, monkeypatch, params)
    for line in (
        "--partition=gpu",
        "--account=vision",
        "--time=600",
        "--mem=400GB",
        "--constraint=h100",
        "--gpus-per-node=8",
        "--ntasks-per-node=8",
        "--nodes=1",
        "--job-name=nlx-2a-baseline-s0",
        f"--cpus-per-task={slurm.cpus_per_task}",
        "--signal=USR2@120",
    ):
        assert f"#SBATCH {line}" in text, line
    array = sbatch(tmp_path, monkeypatch, params, array=10)
    assert "#SBATCH --array=0-9%4" in array  # throttled by slurm.array_parallelism
    dependent = sbatch(tmp_path, monkeypatch, {**params, **dependency_parameters(["123_4"])})
    assert (
        "#SBATCH --dependency=afterok:123_4" in dependent and "#SBATCH --kill-on-invalid-dep=yes" in dependent
    )


def test_local_executor_parameters_fit_the_machine() -> None:
    params = executor_parameters(paper_slurm("slurm.nodes=2"), "local", "x", gpus_here=0)
    assert (params["gpus_per_node"], params["tasks_per_node"], params["nodes"]) == (0, 1, 1)
    assert executor_parameters(paper_slurm(), "local", "x", gpus_here=2)["tasks_per_node"] == 2


def test_train_job_requeues_itself_on_preemption(tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text(json.dumps({"run_id": "x", "status": "running"}))
    job = TrainJob(tmp_path / "config.yaml", tmp_path, threads=3)
    delayed = job.checkpoint()
    assert isinstance(delayed.function, TrainJob) and delayed.function.out == tmp_path
    assert delayed.function.threads == 3
    assert read_json(tmp_path / "meta.json")["status"] == "interrupted"  # until the requeued job resumes


def test_slurm_launcher_needs_a_cluster(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(submitit.SlurmExecutor, "affinity", classmethod(lambda cls: -1))
    path = tmp_path / "t.yaml"
    path.write_text("table: t\nrows: [{id: a}]\n")
    result = cli("sweep", path, "--preset", "smoke", "--launcher", "slurm", "--results", tmp_path / "r")
    assert result.code == 2 and "not a SLURM cluster" in result.err


@pytest.mark.slow
def test_submitit_local_executor_runs_a_dependency_chain(smoke_data: Path, tmp_path: Path, cli) -> None:
    path = tmp_path / "pair.yaml"
    path.write_text(
        dedent("""\
        table: pair
        seeds: 1
        defaults: {eval.every: 4, eval.test_clips: 1}
        rows:
          - {id: first}
          - {id: second, init_from: first, set: {optim.lr: 0.01}}
        """)
    )
    results = tmp_path / "results"
    args = smoke_sweep(path, smoke_data, results, "--launcher", "submitit-local")
    result = cli("sweep", *args, "--format", "json")
    assert result.code == 0, result.err
    cells = json.loads(result.out)
    assert [c["status"] for c in cells] == ["done", "done"] and cells[1]["depends_on"] == cells[0]["run_id"]
    first, second = (results / c["run_id"] for c in cells)
    assert f"initialised from {first}" in (second / "log.txt").read_text()
    jobs = [read_json(run / "slurm.json")["job_id"] for run in (first, second)]
    assert all((results / "slurm" / f"{job}_0_log.err").is_file() for job in jobs)
    again = cli("sweep", *args)
    assert again.code == 0 and "2 done before" in again.err
    assert [
        read_json(run / "slurm.json")["job_id"] for run in (first, second)
    ] == jobs  # nothing submitted again


@pytest.mark.parametrize("state,adopted", [("RUNNING", True), ("PENDING", True), ("COMPLETED", False)])
def test_a_job_still_in_the_queue_is_adopted_not_resubmitted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: str, adopted: bool
) -> None:
    from nlx.io import write_json
    from nlx.sweep.plan import Planner
    from nlx.sweep.slurm import JOB_FILE, SubmititLauncher

    monkeypatch.setattr(submitit.SlurmExecutor, "affinity", classmethod(lambda cls: 2))
    monkeypatch.setattr(submitit.SlurmJob, "state", property(lambda self: state))
    path = tmp_path / "t.yaml"
    path.write_text("table: t\nrows: [{id: a}]\n")
    spec = Planner(load_preset("smoke")).plan([path])[0]
    launcher = SubmititLauncher(tmp_path / "results", "slurm")
    assert launcher.adopt(spec) is None  # never submitted
    write_json(tmp_path / "results" / spec.run_id / JOB_FILE, {"job_id": "4242_3", "folder": str(tmp_path)})
    handle = launcher.adopt(spec)
    assert (handle is not None) == adopted
    if handle is not None:
        assert handle.job_id == "4242_3" and launcher.chains
