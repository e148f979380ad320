"""Ablation files and planning: rows, grids with GitHub Actions include/exclude, seeds, base:, defaults,
dependencies, run ids (hash of the resolved config), and one-line errors for bad files."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from nlx.config.presets import load_preset
from nlx.errors import ConfigError
from nlx.sweep.matrix import expand_matrix, load_ablation
from nlx.sweep.plan import Planner, RunSpec, canonical, parse_seeds, run_id

REPO = Path(__file__).resolve().parents[1]
ABLATIONS = REPO / "ablations"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(dedent(text))
    return path


def plan(
    *paths: Path, preset: str = "smoke", overrides: tuple[str, ...] = (), seeds: list[int] | None = None
) -> list[RunSpec]:
    return Planner(load_preset(preset), overrides, seeds).plan(list(paths))


def cell(specs: list[RunSpec], table: str, row: str, seed: int = 0) -> RunSpec:
    return next(s for s in specs if s.table == table and s.row.id == row and s.seed == seed)


# --- GitHub Actions matrix semantics (docs.github.com, "Running variations of jobs in a workflow") ----


def test_github_include_example_fruit_animal() -> None:
    """The documentation's include example: six combinations."""
    combos = expand_matrix(
        {"fruit": ["apple", "pear"], "animal": ["cat", "dog"]},
        include=[
            {"color": "green"},
            {"color": "pink", "animal": "cat"},
            {"fruit": "apple", "shape": "circle"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"},
        ],
    )
    assert combos == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


def test_github_exclude_example_os_version_environment() -> None:
    """An excluded configuration only has to match partially: 18 - 1 - 2 = 15 combinations."""
    combos = expand_matrix(
        {
            "os": ["macos-latest", "windows-latest"],
            "version": [12, 14, 16],
            "environment": ["staging", "production"],
        },
        exclude=[
            {"os": "macos-latest", "version": 12, "environment": "production"},
            {"os": "windows-latest", "version": 16},
        ],
    )
    assert len(combos) == 9
    assert {"os": "macos-latest", "version": 12, "environment": "production"} not in combos
    assert not [c for c in combos if c["os"] == "windows-latest" and c["version"] == 16]
    full = expand_matrix(
        {
            "os": ["macos-latest", "windows-latest", "ubuntu-latest"],
            "version": [12, 14, 16],
            "environment": ["staging", "production"],
        },
        exclude=[
            {"os": "macos-latest", "version": 12, "environment": "production"},
            {"os": "windows-latest", "version": 16},
        ],
    )
    assert len(full) == 15


def test_github_expanding_and_adding_combinations() -> None:
    """An include that fits adds a key to matching combinations; one that would overwrite an original value
    of every combination becomes a combination of its own."""
    expanded = expand_matrix(
        {"os": ["windows-latest", "ubuntu-latest"], "node": [14, 16]},
        include=[{"os": "windows-latest", "node": 16, "npm": 6}],
    )
    assert len(expanded) == 4
    assert [c for c in expanded if "npm" in c] == [{"os": "windows-latest", "node": 16, "npm": 6}]
    added = expand_matrix(
        {"os": ["windows-latest", "ubuntu-latest"], "node": [12, 14, 16]},
        include=[{"os": "windows-latest", "node": 17}],
    )
    assert len(added) == 7 and added[-1] == {"os": "windows-latest", "node": 17}


def test_github_include_only_matrix() -> None:
    combos = expand_matrix(
        {},
        include=[{"site": "production", "datacenter": "site-a"}, {"site": "staging", "datacenter": "site-b"}],
    )
    assert combos == [
        {"site": "production", "datacenter": "site-a"},
        {"site": "staging", "datacenter": "site-b"},
    ]


def test_exclude_runs_before_include() -> None:
    combos = expand_matrix({"a": [1, 2]}, exclude=[{"a": 2}], include=[{"a": 2, "b": 0}])
    assert combos == [{"a": 1}, {"a": 2, "b": 0}]


# --- ablation files ---------------------------------------------------------------------------------


def test_grid_rows_with_templates_labels_and_paper_numbers() -> None:
    abl = load_ablation(ABLATIONS / "table2a.yaml")
    assert [r.id for r in abl.rows] == [
        "baseline",
        "gaussian",
        "embedded_gaussian",
        "dot_product",
        "concatenation",
    ]
    gaussian = abl.row("gaussian")
    assert gaussian.label == "Gaussian" and gaussian.paper == {"top1": 72.5, "top5": 90.2}
    # per-file defaults reach every row, and a row's own set wins
    assert gaussian.overrides["model.non_local.blocks"] == "res4"
    assert abl.row("baseline").overrides["model.non_local.blocks"] == "none"
    assert abl.seeds == (0, 1)


def test_explicit_rows_grid_exclude_include_and_seed_list(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t.yaml",
        """\
        table: t
        seeds: [3, 7]
        defaults: {optim.lr: 0.02}
        rows:
          - {id: base, set: {model.non_local.blocks: none}}
        grid:
          axes:
            model.non_local.blocks: [res3, res4]
            model.non_local.scope: [space, time]
          exclude:
            - {model.non_local.scope: time, model.non_local.blocks: res3}
          include:
            - {model.non_local.blocks: res4, optim.lr: 0.05}
            - {model.non_local.blocks: "5", id: five, label: 5-block}
          id: "{model.non_local.blocks}-{model.non_local.scope}"
        """,
    )
    abl = load_ablation(path)
    assert [r.id for r in abl.rows] == ["base", "res3-space", "res4-space", "res4-time", "five"]
    assert abl.row("res4-time").overrides["optim.lr"] == 0.05  # include over defaults
    assert abl.row("res3-space").overrides["optim.lr"] == 0.02
    assert abl.row("five").label == "5-block"
    specs = plan(path)
    assert [(s.row.id, s.seed) for s in specs][:2] == [("base", 3), ("base", 7)]
    assert len(specs) == 10
    assert [s.seed for s in plan(path, seeds=[0])] == [0] * 5


def test_seeds_count_and_command_line_seeds(tmp_path: Path) -> None:
    path = write(tmp_path, "t.yaml", "table: t\nseeds: 3\nrows: [{id: a}]\n")
    assert load_ablation(path).seeds == (0, 1, 2)
    assert parse_seeds("3") == [0, 1, 2] and parse_seeds("0") == [0] and parse_seeds("1") == [0]
    assert parse_seeds("0,1,2") == [0, 1, 2] and parse_seeds("5,") == [5] and parse_seeds(None) is None
    for bad in ("x", "1,1", "-1,2"):
        with pytest.raises(ConfigError, match="--seeds"):
            parse_seeds(bad)


def test_base_inheritance(tmp_path: Path) -> None:
    write(
        tmp_path,
        "parent.yaml",
        """\
        table: p
        title: Parent
        seeds: 2
        defaults: {model.name: c2d_r101}
        rows: [{id: a, set: {model.non_local.blocks: res3}}]
        """,
    )
    child = write(tmp_path, "child.yaml", "base: parent.yaml\ntable: c\nseeds: 1\n")
    abl = load_ablation(child)
    assert (abl.table, abl.title, abl.seeds) == ("c", "Parent", (0,))
    assert abl.row("a").overrides == {"model.name": "c2d_r101", "model.non_local.blocks": "res3"}
    assert cell(plan(child), "c", "a").config.model.name == "c2d_r101"


# --- dependencies -----------------------------------------------------------------------------------


def test_dependency_in_the_same_file_comes_first(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t.yaml",
        """\
        table: t
        seeds: 2
        rows:
          - {id: tuned, init_from: base, variant: long}
          - {id: base}
        """,
    )
    specs = plan(path)
    assert [(s.row.id, s.seed) for s in specs] == [("base", 0), ("tuned", 0), ("base", 1), ("tuned", 1)]
    for seed in (0, 1):
        tuned, base = cell(specs, "t", "tuned", seed), cell(specs, "t", "base", seed)
        assert tuned.depends_on == base.run_id and tuned.tree["init_from"] == f"run:{base.run_id}"
        assert tuned.config.data.frames == 8  # the smoke preset's long variant


def test_cross_file_dependency_table2g_on_table2f() -> None:
    specs = plan(ABLATIONS / "table2g.yaml", seeds=[0])
    tables = [s.table for s in specs]
    assert set(tables) == {"2f", "2g"}
    for spec in (s for s in specs if s.table == "2g"):
        dep = cell(specs, "2f", spec.row.id)
        assert spec.depends_on == dep.run_id and specs.index(dep) < specs.index(spec)


def test_dependency_cycle_and_missing_row(tmp_path: Path) -> None:
    cyc = write(
        tmp_path, "cyc.yaml", "table: c\nrows:\n  - {id: a, init_from: b}\n  - {id: b, init_from: a}\n"
    )
    with pytest.raises(ConfigError, match=r"cyc\.yaml: row a: init_from forms a cycle"):
        plan(cyc)
    missing = write(tmp_path, "missing.yaml", "table: m\nrows:\n  - {id: a, init_from: nope}\n")
    with pytest.raises(
        ConfigError, match=r"missing\.yaml: row a: init_from 'nope': .* has no row 'nope' \(rows: a\)"
    ):
        plan(missing)
    other = write(tmp_path, "other.yaml", "table: o\nrows:\n  - {id: a, init_from: 'cyc.yaml#zz'}\n")
    with pytest.raises(ConfigError, match=r"init_from 'cyc\.yaml#zz': .*cyc\.yaml has no row 'zz'"):
        plan(other)
    nofile = write(tmp_path, "nofile.yaml", "table: n\nrows:\n  - {id: a, init_from: 'gone.yaml#a'}\n")
    with pytest.raises(ConfigError, match=r"gone\.yaml not found"):
        plan(nofile)


# --- run ids ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def all_tables() -> list[RunSpec]:
    return plan(*sorted(ABLATIONS.glob("table2*.yaml")), preset="paper")


def test_c2d_baseline_is_one_run_in_2a_2b_2c_2d(all_tables: list[RunSpec]) -> None:
    ids = {
        cell(all_tables, t, r).run_id
        for t, r in [
            ("2a", "baseline"),
            ("2b", "baseline"),
            ("2c", "r50_baseline"),
            ("2d", "r50_baseline"),
            ("2f", "r50_c2d"),
        ]
    }
    assert len(ids) == 1
    assert cell(all_tables, "2a", "baseline", 1).run_id not in ids  # another seed, another run


def test_res4_one_block_is_one_run_in_2a_2b_2c(all_tables: list[RunSpec]) -> None:
    ids = {
        cell(all_tables, "2a", "embedded_gaussian").run_id,
        cell(all_tables, "2b", "res4").run_id,
        cell(all_tables, "2c", "r50_1").run_id,
    }
    assert len(ids) == 1
    five = {cell(all_tables, "2c", "r50_5").run_id, cell(all_tables, "2d", "r50_spacetime").run_id}
    assert len(five) == 1
    assert len({s.run_id for s in all_tables}) < len(all_tables)


def test_run_id_ignores_operational_keys_not_the_seed() -> None:
    preset = load_preset("paper")

    def rid(*overrides: str) -> str:
        from nlx.config.load import build, to_tree
        from nlx.config.schema import Config

        return run_id(to_tree(build(Config, preset.tree_for(None, None, overrides))))

    base = rid()
    for same in (
        "runtime.workers=1",
        "runtime.threads=3",
        "runtime.log_every=7",
        "runtime.checkpoint_every=9",
        "runtime.keep_checkpoints=5",
        "data.cache=disk",
        "data.cache_dir=/tmp/x",
        "slurm.partition=gpu",
        "slurm.time_min=10",
    ):
        assert rid(same) == base, same
    for different in ("runtime.seed=1", "optim.lr=0.02", "model.non_local.blocks=res3", "data.frames=8"):
        assert rid(different) != base, different
    assert "slurm" not in canonical({"slurm": {"partition": "x"}, "runtime": {"seed": 0}})


def test_seed_changes_the_id_and_overrides_apply_after_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "t.yaml", "table: t\nseeds: 2\nrows: [{id: a, set: {optim.lr: 0.5}}]\n")
    specs = plan(path)
    assert specs[0].run_id != specs[1].run_id
    lowered = plan(path, overrides=("optim.lr=0.1", "runtime.workers=0"))
    assert lowered[0].config.optim.lr == 0.1 and lowered[0].run_id != specs[0].run_id
    assert plan(path, overrides=("runtime.workers=1",))[0].run_id == specs[0].run_id


# --- bad files --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,message",
    [
        ("table: t\nrows: [{id: a}]\ncolour: red\n", r"bad\.yaml: colour: unknown key"),
        ("table: t\nrows: [{id: a, sett: {}}]\n", r"bad\.yaml: rows\[0\]\.sett: unknown key"),
        (
            "table: t\nseeds: two\nrows: [{id: a}]\n",
            r"bad\.yaml: seeds: expected an integer or a list of integers",
        ),
        ("table: t\nrows: [{id: a}, {id: a}]\n", r"bad\.yaml: rows: duplicate row id 'a'"),
        ("table: t\nrows: [{id: 'a b'}]\n", r"bad\.yaml: rows\[0\]\.id: expected letters"),
        (
            "table: t\nrows: [{id: a, set: {model.bogus: 1}}]\n",
            r"bad\.yaml: row a: model\.bogus: unknown key",
        ),
        (
            "table: t\nrows: [{id: a, set: {optim.lr: fast}}]\n",
            r"bad\.yaml: row a: optim\.lr: expected a number",
        ),
        (
            "table: t\nrows: [{id: a}]\nclaims: [{id: c, text: x, chain: [a, '>', zz]}]\n",
            r"names unknown row 'zz'",
        ),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, text: str, message: str, cli) -> None:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ConfigError, match=message):
        plan(path)
    for command in ("plan", "sweep"):
        result = cli(command, path, "--preset", "smoke", "--results", tmp_path / "results")
        assert result.code == 2, result.err
        assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1
        assert "bad.yaml" in result.err
    assert not (tmp_path / "results").exists()  # nothing started, nothing written
