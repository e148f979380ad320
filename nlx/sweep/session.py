"""``nlx plan`` and ``nlx sweep`` as library functions: files, a preset and options to cells or a sweep."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from nlx.config.load import build, to_tree
from nlx.config.presets import load_preset
from nlx.config.schema import Config
from nlx.errors import NlxError
from nlx.sweep.display import LiveDisplay, PlainDisplay
from nlx.sweep.launch import Launcher, LocalLauncher, visible_gpus
from nlx.sweep.plan import PlanCell, Planner, RunSpec, plan_cells
from nlx.sweep.records import Records
from nlx.sweep.runner import Sweep, SweepOptions, SweepResult

LAUNCHERS = ("local", "slurm", "submitit-local")


@dataclass(frozen=True)
class Plan:
    planner: Planner
    specs: list[RunSpec]
    files: list[Path]

    def table_of(self, path: Path) -> str:
        return self.planner.ablation(path).table


def load_plan(
    files: Sequence[Path], preset: str, overrides: Sequence[str] = (), seeds: Sequence[int] | None = None
) -> Plan:
    """Every cell of ``files`` (and of the rows they depend on) at ``preset``; bad input raises NlxError."""
    if not files:
        raise NlxError("no ablation file given (e.g. ablations/table2a.yaml)")
    planner = Planner(load_preset(preset), overrides, seeds)
    specs = planner.plan(files)
    tables: dict[str, Path] = {}
    for path in files:
        ablation = planner.ablation(path)
        other = tables.setdefault(ablation.table, ablation.path.resolve())
        if other != ablation.path.resolve():
            raise NlxError(f"{path}: table {ablation.table!r} is also the table of {other}")
    return Plan(planner, specs, list(files))


def base_tree(preset: str, overrides: Sequence[str]) -> dict[str, Any]:
    """The preset's resolved config with the command-line overrides: what ``nlx plan`` compares rows to."""
    tree = load_preset(preset).tree_for(None, None, overrides)
    return dict(to_tree(build(Config, tree)))


def plan(
    files: Sequence[Path], preset: str, overrides: Sequence[str], seeds: Sequence[int] | None, results: Path
) -> list[PlanCell]:
    loaded = load_plan(files, preset, overrides, seeds)
    return plan_cells(loaded.specs, results, base_tree(preset, overrides))


@dataclass(frozen=True)
class SweepRequest:
    files: list[Path]
    preset: str = "mini"
    results: Path = Path("results")
    overrides: list[str] = field(default_factory=list)
    seeds: list[int] | None = None
    jobs: int | None = None
    launcher: str = "local"
    gpus_per_run: int = 1
    fail_fast: bool = False
    rerun_failed: bool = False
    poll_s: float = 0.5


def check_data(specs: Sequence[RunSpec], results: Path) -> None:
    """Fail before starting anything when a run's ``data.root`` does not exist (a forgotten ``-o``)."""
    from nlx.rundir import RunDir

    roots = {
        str(s.tree.get("data", {}).get("root"))
        for s in specs
        if not RunDir(results / s.run_id).final.is_file()
    }
    for root in sorted(roots):
        if not Path(root).is_dir():
            raise NlxError(f"data.root: {root} not found (point it at the dataset with -o data.root=PATH)")


def make_launcher(request: SweepRequest) -> Launcher:
    if request.launcher not in LAUNCHERS:
        raise NlxError(f"--launcher: expected one of {', '.join(LAUNCHERS)}, got {request.launcher!r}")
    if request.jobs is not None and request.jobs < 1:
        raise NlxError(f"--jobs: expected a positive number, got {request.jobs}")
    if request.launcher == "local":
        gpus = visible_gpus()
        if request.gpus_per_run < 1 or (gpus and request.gpus_per_run > len(gpus)):
            raise NlxError(
                f"--gpus-per-run: expected 1 to {len(gpus) or 1} on this machine, got {request.gpus_per_run}"
            )
        return LocalLauncher(request.results, request.jobs, gpus, request.gpus_per_run)
    from nlx.sweep.slurm import SubmititLauncher

    cluster = "slurm" if request.launcher == "slurm" else "local"
    return SubmititLauncher(request.results, cluster, request.jobs)


def run_sweep(request: SweepRequest, console: Console) -> SweepResult:
    """Plan, check, then run every unique run once; the result's ``exit_code`` is 0, 1 or 130."""
    loaded = load_plan(request.files, request.preset, request.overrides, request.seeds)
    if request.launcher != "slurm":
        check_data(loaded.specs, request.results)
    launcher = make_launcher(request)
    request.results.mkdir(parents=True, exist_ok=True)
    ablations = list({a.path.resolve(): a for a in map(loaded.planner.ablation, request.files)}.values())
    records = Records(
        request.results, ablations, loaded.specs, load_preset(request.preset).name, loaded.table_of
    )
    title = f"nlx sweep · {request.preset} · {request.results} · {launcher.describe()}"
    display = LiveDisplay(console, title) if console.is_terminal else PlainDisplay(console, title)
    options = SweepOptions(
        fail_fast=request.fail_fast, rerun_failed=request.rerun_failed, poll_s=request.poll_s
    )
    return Sweep(loaded.specs, request.results, launcher, records, display, options).run()


def result_cells(result: SweepResult) -> list[dict[str, Any]]:
    """``--format json`` of ``nlx sweep``: the plan's objects with each run's final status and detail."""
    states = {s.run_id: s for s in result.states}
    return [
        {
            "table": spec.table,
            "row": spec.row.id,
            "seed": spec.seed,
            "run_id": spec.run_id,
            "status": states[spec.run_id].record_status,
            "depends_on": spec.depends_on,
            "detail": states[spec.run_id].detail,
        }
        for spec in result.specs
    ]
