"""Ablation files (``ablations/table2*.yaml``): a declarative matrix of rows, expanded into runs.

A file names its table, the paper's rows (label as printed, the paper's numbers) and the claims the paper
makes about them. Rows are explicit, or come from a ``grid`` (a Cartesian product of override values with
``exclude`` and ``include`` following GitHub Actions' documented matrix rules), or both. ``defaults`` are
overrides applied to every row; ``base:`` inherits another ablation file; ``seeds`` (a count or a list)
repeats every row; ``init_from: ROW`` or ``init_from: FILE#ROW`` makes a row start from another row's run
of the same seed (Table 2g fine-tunes from 2f).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlx.config.load import build, read_with_bases
from nlx.errors import ConfigError

ROW_KEYS = ("id", "label", "group", "variant", "init_from", "paper")
_TEMPLATE = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class RowSpec:
    id: str | None = None
    label: str | None = None
    group: str | None = None
    variant: str | None = None
    init_from: str | None = None
    paper: dict[str, float] = field(default_factory=dict)
    set: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GridSpec:
    axes: dict[str, list[Any]] = field(default_factory=dict)
    exclude: list[dict[str, Any]] = field(default_factory=list)
    include: list[dict[str, Any]] = field(default_factory=list)
    id: str | None = None
    label: str | None = None


OPERATORS = (">", ">=", "<", "<=")


@dataclass(frozen=True)
class ClaimSpec:
    """A claim of the paper about a table, checked by ``nlx report`` against the runs.

    ``chain``/``chains``: each chain is ``ROW OP ROW [OP ROW ...]`` with OP in ``> >= < <=``, all of which
    must hold for ``metric``; ``within`` with ``rows``: the rows' means lie within that distance of each
    other. A row of another file is named ``FILE#ROW`` (relative to this file).
    """

    id: str
    text: str
    metric: str = "top1"
    chain: list[str] = field(default_factory=list)
    chains: list[list[str]] = field(default_factory=list)
    within: float | None = None
    rows: list[str] = field(default_factory=list)

    def all_chains(self) -> list[list[str]]:
        return [*self.chains, *([self.chain] if self.chain else [])]

    def row_refs(self) -> list[str]:
        return [t for c in self.all_chains() for t in c if t not in OPERATORS] + list(self.rows)


@dataclass(frozen=True)
class AblationSpec:
    table: str
    title: str = ""
    caption: str = ""
    metrics: list[str] = field(default_factory=lambda: ["top1", "top5"])
    seeds: int | list[int] = 1
    defaults: dict[str, Any] = field(default_factory=dict)
    rows: list[RowSpec] = field(default_factory=list)
    grid: GridSpec | None = None
    claims: list[ClaimSpec] = field(default_factory=list)
    reference: str = ""

    def validate(self, path: str) -> None:
        if isinstance(self.seeds, int) and self.seeds < 1:
            raise ConfigError(f"{path}.seeds: expected a positive count or a list of seeds")
        if isinstance(self.seeds, list) and (not self.seeds or len(set(self.seeds)) != len(self.seeds)):
            raise ConfigError(f"{path}.seeds: expected a non-empty list of distinct seeds")


@dataclass(frozen=True)
class Row:
    """One row of a table: what differs from the preset, and what the paper reports for it."""

    id: str
    label: str
    overrides: Mapping[str, Any]
    group: str | None = None
    variant: str | None = None
    init_from: str | None = None
    paper: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Ablation:
    path: Path
    table: str
    title: str
    caption: str
    metrics: tuple[str, ...]
    seeds: tuple[int, ...]
    rows: tuple[Row, ...]
    claims: tuple[ClaimSpec, ...]
    reference: str = ""

    def row(self, row_id: str) -> Row:
        for row in self.rows:
            if row.id == row_id:
                return row
        known = ", ".join(r.id for r in self.rows)
        raise ConfigError(f"{self.path}: no row with id {row_id!r} (rows: {known})")


# --- GitHub Actions matrix semantics ------------------------------------------------------------------


def expand_matrix(
    axes: Mapping[str, Sequence[Any]],
    exclude: Iterable[Mapping[str, Any]] = (),
    include: Iterable[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Combinations of a GitHub Actions ``strategy.matrix``.

    The product of ``axes``; an ``exclude`` entry removes every combination it matches partially; then each
    ``include`` entry is added to every product combination whose *original* values it does not overwrite
    (values added by earlier includes may be overwritten), and becomes a combination of its own when it
    fits none.
    """
    keys = list(axes)
    combos = [dict(zip(keys, values, strict=True)) for values in itertools.product(*(axes[k] for k in keys))]
    if not keys:
        combos = []
    excludes = list(exclude)
    combos = [c for c in combos if not any(all(c.get(k) == v for k, v in e.items()) for e in excludes)]
    originals = [dict(c) for c in combos]
    extra: list[dict[str, Any]] = []
    for entry in include:
        fits = [
            i for i, orig in enumerate(originals) if all(orig[k] == v for k, v in entry.items() if k in orig)
        ]
        for i in fits:
            combos[i].update(entry)
        if not fits:
            extra.append(dict(entry))
    return combos + extra


# --- loading ------------------------------------------------------------------------------------------


def load_ablation(path: Path) -> Ablation:
    """Read and check an ablation file; errors name the file and the key."""
    tree = read_with_bases(path)
    try:
        spec = build(AblationSpec, tree, "")
        rows = _rows(spec)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err
    seeds = tuple(range(spec.seeds)) if isinstance(spec.seeds, int) else tuple(spec.seeds)
    ablation = Ablation(
        path=path,
        table=spec.table,
        title=spec.title,
        caption=spec.caption,
        metrics=tuple(spec.metrics),
        seeds=seeds,
        rows=tuple(rows),
        claims=tuple(spec.claims),
        reference=spec.reference,
    )
    _check_claims(ablation)
    return ablation


def _rows(spec: AblationSpec) -> list[Row]:
    rows = [_row_from_spec(r, spec.defaults, f"rows[{i}]") for i, r in enumerate(spec.rows)]
    if spec.grid is not None:
        combos = expand_matrix(spec.grid.axes, spec.grid.exclude, spec.grid.include)
        rows += [_row_from_combo(c, spec.grid, spec.defaults, f"grid[{i}]") for i, c in enumerate(combos)]
    seen: set[str] = set()
    for row in rows:
        if row.id in seen:
            raise ConfigError(f"rows: duplicate row id {row.id!r}")
        seen.add(row.id)
    if not rows:
        raise ConfigError("rows: expected at least one row (or a grid)")
    return rows


def _row_from_spec(spec: RowSpec, defaults: Mapping[str, Any], where: str) -> Row:
    if spec.id is None:
        raise ConfigError(f"{where}.id: expected a row id (letters, digits, _ and -)")
    _check_id(spec.id, f"{where}.id")
    return Row(
        id=spec.id,
        label=spec.label or spec.id,
        overrides={**defaults, **spec.set},
        group=spec.group,
        variant=spec.variant,
        init_from=spec.init_from,
        paper=dict(spec.paper),
    )


def _row_from_combo(combo: Mapping[str, Any], grid: GridSpec, defaults: Mapping[str, Any], where: str) -> Row:
    fields = {k: v for k, v in combo.items() if k in ROW_KEYS}
    overrides = {k: v for k, v in combo.items() if k not in ROW_KEYS}
    row_id = fields.get("id") or (
        _fill(grid.id, combo) if grid.id else "-".join(_slug(v) for v in overrides.values())
    )
    _check_id(str(row_id), f"{where}.id")
    label = fields.get("label") or (_fill(grid.label, combo) if grid.label else str(row_id))
    paper = fields.get("paper") or {}
    if not isinstance(paper, Mapping):
        raise ConfigError(f"{where}.paper: expected a mapping of metric -> value")
    return Row(
        id=str(row_id),
        label=str(label),
        overrides={**defaults, **overrides},
        group=fields.get("group"),
        variant=fields.get("variant"),
        init_from=fields.get("init_from"),
        paper={str(k): float(v) for k, v in paper.items()},
    )


def _fill(template: str, combo: Mapping[str, Any]) -> str:
    def value(m: re.Match[str]) -> str:
        if m.group(1) not in combo:
            raise ConfigError(f"grid template {template!r}: {m.group(1)} is not a key of the combination")
        return str(combo[m.group(1)])

    return _TEMPLATE.sub(value, template)


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", str(value)).strip("_") or "x"


def _check_id(row_id: str, where: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", row_id):
        raise ConfigError(f"{where}: expected letters, digits, _ and - only, got {row_id!r}")


def _check_claims(ablation: Ablation) -> None:
    ids = {r.id for r in ablation.rows}
    for i, claim in enumerate(ablation.claims):
        where = f"{ablation.path}: claims[{i}] ({claim.id})"
        for chain in claim.all_chains():
            ops = chain[1::2]
            if len(chain) < 3 or len(chain) % 2 == 0 or any(op not in OPERATORS for op in ops):
                expected = "expected ROW OP ROW [OP ROW ...] with OP in > >= < <="
                raise ConfigError(f"{where}: chain {chain}: {expected}")
        if not claim.all_chains() and (claim.within is None or len(claim.rows) < 2):
            raise ConfigError(f"{where}: expected chain(s), or within: and at least 2 rows")
        for ref in claim.row_refs():
            file_part, sep, row_id = ref.rpartition("#")
            if not sep and ref not in ids:
                raise ConfigError(f"{where}: names unknown row {ref!r}")
            if sep:
                other = ablation.path.parent / file_part
                if not other.is_file():
                    raise ConfigError(f"{where}: {ref!r}: {other} not found")
                other_rows = read_with_bases(other).get("rows", [])
                other_ids = {r.get("id") for r in other_rows if isinstance(r, dict)}
                if row_id not in other_ids:
                    raise ConfigError(f"{where}: {other} has no row {row_id!r}")
