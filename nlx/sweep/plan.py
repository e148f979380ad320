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

    def __init__(self, preset: Preset, overrides: Sequence[str] = (), seeds: Sequence[int] | None = None) -> None:
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
        if not sep:
            return ablation, ablation.row(ref)
        path = ablation.path.parent / file_part
        if not path.is_file():
            raise ConfigError(f"{where}: init_from {ref!r}: {path} not found")
        other = self.ablation(path)
        return other, other.row(row_id)


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
