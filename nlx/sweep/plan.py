"""From ablation files and a preset to the list of runs, each with a content hash as its id.

A run id is the hash of the canonical resolved config: seed included; output paths and purely operational
keys (workers, threads, logging, caching, SLURM) excluded; ``init_from`` replaced by the dependency's run
id. The same model trained at the same scale therefore has the same id in every table (the C2D baseline
of 2a-2d, the res4 1-block model of 2a, 2b and 2c) and is trained once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlx.config.load import Tree, build, deep_merge, to_tree
from nlx.config.presets import Preset
from nlx.config.schema import Config
from nlx.errors import ConfigError
from nlx.rundir import RunDir, Status
from nlx.sweep.matrix import Ablation, Row, load_ablation

NON_SEMANTIC: tuple[str, ...] = (
    "runtime.workers",
    "runtime.threads",
    "runtime.log_every",
    "runtime.checkpoint_every",
    "runtime.keep_checkpoints",
    "data.cache",
    "data.cache_dir",
    "slurm",
)


@dataclass(frozen=True)
class RunSpec:
    """One (table, row, seed) cell and the run that fills it."""

    table: str
    row: Row
    seed: int
    run_id: str
    tree: Tree = field(repr=False)
    depends_on: str | None
    ablation: Path

    @property
    def config(self) -> Config:
        return build(Config, self.tree)

    def changes(self) -> dict[str, Any]:
        """What this row sets on top of the preset (for display)."""
        shown = dict(self.row.overrides)
        if self.row.variant:
            shown["variant"] = self.row.variant
        return shown


def canonical(tree: Tree) -> Tree:
    """The resolved tree without the keys that do not change what a run computes."""
    out = json.loads(json.dumps(tree))
    for dotted in NON_SEMANTIC:
        *parents, leaf = dotted.split(".")
        node = out
        for p in parents:
            node = node.get(p, {})
        node.pop(leaf, None)
    return out


def run_id(tree: Tree) -> str:
    blob = json.dumps(canonical(tree), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


class Planner:
    """Resolves rows (and the rows they depend on, in other files too) into :class:`RunSpec` s."""

    def __init__(
        self, preset: Preset, overrides: Sequence[str] = (), seeds: Sequence[int] | None = None
    ) -> None:
        self.preset = preset
        self.overrides = tuple(overrides)
        self.seeds = tuple(seeds) if seeds is not None else None
        self._files: dict[Path, Ablation] = {}
        self._specs: dict[tuple[Path, str, int], RunSpec] = {}
        self._order: list[RunSpec] = []

    def ablation(self, path: Path) -> Ablation:
        key = path.resolve()
        if key not in self._files:
            self._files[key] = load_ablation(path)
        return self._files[key]

    def plan(self, paths: Iterable[Path]) -> list[RunSpec]:
        """Every cell of every file, each after the cells it depends on (also those of files not listed)."""
        for path in paths:
            ablation = self.ablation(path)
            for row in ablation.rows:
                for seed in self.seeds if self.seeds is not None else ablation.seeds:
                    self.resolve(ablation, row, seed, ())
        return list(self._order)

    def resolve(self, ablation: Ablation, row: Row, seed: int, chain: tuple[str, ...]) -> RunSpec:
        key = (ablation.path.resolve(), row.id, seed)
        if key in self._specs:
            return self._specs[key]
        where = f"{ablation.path}: row {row.id}"
        if where in chain:
            raise ConfigError(f"{where}: init_from forms a cycle ({' -> '.join((*chain, where))})")
        depends_on = None
        tree = self.preset.tree_for(row.overrides, row.variant, self.overrides)
        tree = deep_merge(tree, {"runtime": {"seed": seed}})
        if row.init_from:
            dep_ablation, dep_row = self._dependency(ablation, row.init_from, where)
            dep = self.resolve(dep_ablation, dep_row, seed, (*chain, where))
            depends_on = dep.run_id
            tree = deep_merge(tree, {"init_from": f"run:{dep.run_id}"})
        try:
            tree = to_tree(build(Config, tree))
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from err
        spec = RunSpec(
            table=ablation.table,
            row=row,
            seed=seed,
            run_id=run_id(tree),
            tree=tree,
            depends_on=depends_on,
            ablation=ablation.path,
        )
        self._specs[key] = spec
        self._order.append(spec)
        return spec

    def _dependency(self, ablation: Ablation, ref: str, where: str) -> tuple[Ablation, Row]:
        file_part, sep, row_id = ref.rpartition("#")
        other = ablation
        if sep:
            path = ablation.path.parent / file_part
            if not path.is_file():
                raise ConfigError(f"{where}: init_from {ref!r}: {path} not found")
            other = self.ablation(path)
        for row in other.rows:
            if row.id == row_id:
                return other, row
        known = ", ".join(r.id for r in other.rows)
        raise ConfigError(f"{where}: init_from {ref!r}: {other.path} has no row {row_id!r} (rows: {known})")


def unique_runs(specs: Iterable[RunSpec]) -> list[RunSpec]:
    """One spec per run id, in plan order (the first cell that needs it)."""
    seen: dict[str, RunSpec] = {}
    for spec in specs:
        seen.setdefault(spec.run_id, spec)
    return list(seen.values())


def cell_status(spec: RunSpec, results: Path, first_for_run: bool) -> Status | str:
    """done / failed / running / interrupted / pending, or "will reuse" for a later cell of a shared run."""
    status = RunDir(results / spec.run_id).status()
    if status in ("pending", "interrupted") and not first_for_run:
        return "will reuse"
    return status


def parse_seeds(text: str | None) -> list[int] | None:
    """``--seeds``: ``3`` is a count (seeds 0, 1, 2; ``0`` and ``1`` both give seed 0); ``0,1,2`` or ``5,``
    is a list."""
    if text is None or not text.strip():
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        numbers = [int(p) for p in parts if p]
    except ValueError as err:
        expected = "expected a count (3) or a comma-separated list (0,1,2 or 5,)"
        raise ConfigError(f"--seeds {text!r}: {expected}") from err
    if not numbers or any(n < 0 for n in numbers) or len(set(numbers)) != len(numbers):
        raise ConfigError(f"--seeds {text!r}: expected a count or a list of distinct non-negative seeds")
    if len(parts) == 1:
        return list(range(max(1, numbers[0])))
    return numbers


@dataclass(frozen=True)
class PlanCell:
    """One line of ``nlx plan``: a cell, its run, the run's status and what makes the row differ."""

    table: str
    row: str
    label: str
    seed: int
    run_id: str
    status: str
    depends_on: str | None
    dependency: str | None
    changes: str

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "row": self.row,
            "seed": self.seed,
            "run_id": self.run_id,
            "status": self.status,
            "depends_on": self.depends_on,
        }


def _get(tree: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def _flat(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, sub in value.items() for k, v in _flat(sub, f"{prefix}.{key}").items()}
    return {prefix: value}


def differences(spec: RunSpec, base: Tree) -> str:
    """The row's overrides whose resolved value differs from the preset's, plus its variant."""
    shown = []
    for key, value in spec.row.overrides.items():
        for dotted in _flat(value, key):
            mine = _get(spec.tree, dotted)
            if mine != _get(base, dotted):
                shown.append(f"{dotted}={json.dumps(mine) if not isinstance(mine, str) else mine}")
    if spec.row.variant:
        shown.append(f"variant={spec.row.variant}")
    return " ".join(shown)


def _dependency_cell(spec: RunSpec, specs: Sequence[RunSpec]) -> RunSpec | None:
    """The cell named by the row's ``init_from`` (among the cells sharing its dependency's run)."""
    if spec.depends_on is None or spec.row.init_from is None:
        return None
    file_part, _, row_id = spec.row.init_from.rpartition("#")
    same_run = [s for s in specs if s.run_id == spec.depends_on]
    file_name = Path(file_part).name if file_part else None
    named = [s for s in same_run if s.row.id == row_id and file_name in (None, s.ablation.name)]
    return (named or same_run)[0] if same_run else None


def plan_cells(specs: Sequence[RunSpec], results: Path, base: Tree) -> list[PlanCell]:
    """Every cell in plan order with its status; a run shared by cells: "will reuse" after the first."""
    first = {s.run_id: s for s in reversed(specs)}
    cells = []
    for spec in specs:
        dep = _dependency_cell(spec, specs)
        cells.append(
            PlanCell(
                table=spec.table,
                row=spec.row.id,
                label=spec.row.label,
                seed=spec.seed,
                run_id=spec.run_id,
                status=str(cell_status(spec, results, first[spec.run_id] is spec)),
                depends_on=spec.depends_on,
                dependency=f"{dep.table}:{dep.row.id}" if dep is not None else None,
                changes=differences(spec, base),
            )
        )
    return cells


def plan_summary(cells: Sequence[PlanCell]) -> str:
    """``84 cells, 58 unique runs (3 done, 55 pending)``."""
    unique: dict[str, str] = {}
    for cell in cells:
        unique.setdefault(cell.run_id, cell.status)
    order = ("done", "running", "failed", "interrupted", "pending")
    listed = ", ".join(f"{n} {s}" for s in order if (n := sum(1 for v in unique.values() if v == s)))
    return f"{len(cells)} cells, {len(unique)} unique runs ({listed})"
