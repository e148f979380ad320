"""Synthetic results directories for the ``nlx report`` tests, written by hand as docs/results-format.md says.

``build_results(root)`` makes a small but complete directory: Tables 2a (ties, a failed and a missing
run, a row whose formatted mean sorts higher as a string), 2e (params/FLOPs ratios), 2f and 2g (a claim
across tables), Figure 4 curves, and one run no sweep record names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from nlx.report import load_records


def base_config(name: str = "c2d_r50", blocks: str = "none", seed: int = 0, **extra: Any) -> dict[str, Any]:
    nl = {"blocks": blocks, "instantiation": "embedded_gaussian", "scope": "spacetime"}
    nl.update(extra.pop("non_local", {}))
    cfg: dict[str, Any] = {
        "model": {"name": name, "width": 0.0625, "conv1_stride": [1, 2, 2], "non_local": nl},
        "data": {"frames": 4, "crop": 32},
        "optim": {"batch_size": 8, "iterations": 100},
        "runtime": {"seed": seed},
        "init_from": None,
    }
    cfg.update(extra)
    return cfg


def write_run(
    root: Path,
    run_id: str,
    config: Mapping[str, Any],
    metrics: Mapping[str, float] | None = None,
    *,
    status: str = "done",
    reason: str | None = None,
    params: int = 1_000_000,
    flops: int = 2_000_000_000,
    curves: Sequence[Mapping[str, Any]] = (),
) -> None:
    """A run directory: config.yaml, meta.json, metrics.jsonl, and final.json when ``status`` is done."""
    run = root / run_id
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(dict(config), sort_keys=True))
    meta: dict[str, Any] = {"run_id": run_id, "status": status, "git": {"sha": "d8c6a02", "dirty": False}}
    if reason:
        meta["reason"] = reason
    (run / "meta.json").write_text(json.dumps(meta))
    lines = [json.dumps(dict(c)) for c in curves]
    if status == "done" and metrics is not None:
        lines.append(json.dumps({"kind": "test", "iteration": 100, **metrics, "videos": 40, "views": 10}))
        final = {
            "run_id": run_id,
            "status": "done",
            "metrics": dict(metrics),
            "params": params,
            "flops": flops,
            "input_shape": [1, 3, 4, 32, 32],
            "iterations": 100,
            "wall_time_s": 12.5,
            "train_videos": 80,
            "test_videos": 40,
            "test_views": 10,
            "skipped_videos": 0,
            "skipped": [],
        }
        (run / "final.json").write_text(json.dumps(final))
    (run / "metrics.jsonl").write_text(
        "".join(line + "\n" for line in lines) + '{"kind": "tra'
    )  # torn last line


def write_record(
    root: Path,
    table: str,
    rows: Sequence[Mapping[str, Any]],
    claims: Sequence[Mapping[str, Any]] = (),
    metrics: Sequence[str] = ("top1", "top5"),
    title: str = "",
) -> None:
    record = {
        "table": table,
        "file": f"ablations/table{table}.yaml",
        "preset": "mini",
        "title": title or f"T{table}",
        "caption": f"Caption of {table}.",
        "metrics": list(metrics),
        "rows": list(rows),
        "claims": [{"metric": "top1", "chains": [], "within": None, "rows": [], **c} for c in claims],
        "updated": "2026-11-21T10:05:00+00:00",
    }
    (root / "sweeps").mkdir(parents=True, exist_ok=True)
    (root / "sweeps" / f"{table}.json").write_text(json.dumps(record, indent=2))


def row(
    row_id: str,
    label: str,
    paper: Mapping[str, float],
    runs: Sequence[tuple[int, str]],
    group: str | None = None,
) -> dict[str, Any]:
    return {
        "id": row_id,
        "label": label,
        "group": group,
        "paper": dict(paper),
        "runs": [{"seed": s, "run_id": r} for s, r in runs],
    }


def curve(baseline: bool) -> list[dict[str, Any]]:
    shift = 5.0 if baseline else 0.0
    out = []
    for it in (20, 40, 60, 80, 100):
        out.append(
            {"kind": "train", "iteration": it, "loss": 1.0, "top1_err": 80.0 - it / 2 + shift, "lr": 0.01}
        )
        if it % 40 == 0:
            out.append(
                {
                    "kind": "val",
                    "iteration": it,
                    "top1": 30.0 + it / 4 - shift,
                    "top1_err": 70.0 - it / 4 + shift,
                }
            )
    return out


def build_results(root: Path) -> Path:
    """The synthetic results directory the report tests share (see the module docstring)."""
    c2d = base_config()
    nl5 = base_config(blocks="5")
    # Table 2a. baseline shared with Figure 4; 'gaussian' and 'embedded' tie at 42.50; 'dot' has one
    # finished seed at 9.50 ("9.50" > "42.50" as strings) and one failed; 'concat' has no run directory.
    write_run(root, "base0", c2d | {"runtime": {"seed": 0}}, {"top1": 40.0, "top5": 80.0}, curves=curve(True))
    write_run(root, "base1", c2d | {"runtime": {"seed": 1}}, {"top1": 41.0, "top5": 81.0}, curves=curve(True))
    gauss = base_config(blocks="res4", non_local={"instantiation": "gaussian"})
    write_run(root, "gauss0", gauss, {"top1": 42.0, "top5": 84.0})
    write_run(root, "gauss1", gauss, {"top1": 43.0, "top5": 84.0})
    embed = base_config(blocks="res4")
    write_run(root, "embed0", embed, {"top1": 42.5, "top5": 83.0})
    write_run(root, "embed1", embed, {"top1": 42.5, "top5": 85.0})
    dot = base_config(blocks="res4", non_local={"instantiation": "dot_product"})
    write_run(root, "dot0", dot, {"top1": 9.5, "top5": 30.0})
    write_run(root, "dot1", dot, status="failed", reason="loss is nan at iteration 57")
    write_record(
        root,
        "2a",
        [
            row("baseline", "C2D baseline", {"top1": 71.8, "top5": 89.7}, [(0, "base0"), (1, "base1")]),
            row("gaussian", "Gaussian", {"top1": 72.5, "top5": 90.2}, [(0, "gauss0"), (1, "gauss1")]),
            row(
                "embedded_gaussian",
                "Gaussian, embed",
                {"top1": 72.7, "top5": 90.5},
                [(0, "embed0"), (1, "embed1")],
            ),
            row("dot_product", "dot-product", {"top1": 72.9, "top5": 90.3}, [(0, "dot0"), (1, "dot1")]),
            row(
                "concatenation",
                "concatenation",
                {"top1": 72.8, "top5": 90.5},
                [(0, "concat0"), (1, "concat1")],
            ),
        ],
        claims=[
            {"id": "holds", "text": "Gaussian beats the baseline", "chains": [["gaussian", ">", "baseline"]]},
            {"id": "fails", "text": "The baseline beats Gaussian", "chains": [["baseline", ">", "gaussian"]]},
            {
                "id": "noise",
                "text": "Gaussian beats embedded",
                "chains": [["gaussian", ">", "embedded_gaussian"]],
            },
            {
                "id": "chain",
                "text": "embed >= Gaussian > baseline",
                "chains": [["embedded_gaussian", ">=", "gaussian", ">", "baseline"]],
            },
            {
                "id": "missing",
                "text": "concatenation beats the baseline",
                "chains": [["concatenation", ">", "baseline"]],
            },
            {
                "id": "single",
                "text": "dot-product is worse than the baseline",
                "chains": [["dot_product", "<", "baseline"]],
            },
            {
                "id": "similar",
                "text": "Gaussian and embedded are within 0.5",
                "within": 0.5,
                "rows": ["gaussian", "embedded_gaussian"],
            },
        ],
        title="Instantiations",
    )
    # Table 2e: params/FLOPs relative to the first row.
    r101 = base_config(name="c2d_r101")
    write_run(root, "e_c2d0", r101, {"top1": 50.0, "top5": 85.0}, params=40_000_000, flops=30_000_000_000)
    write_run(
        root,
        "e_i3d0",
        base_config(name="i3d_r101"),
        {"top1": 51.0, "top5": 86.0},
        params=60_000_000,
        flops=54_000_000_000,
    )
    write_run(
        root,
        "e_nl0",
        base_config(name="c2d_r101", blocks="5"),
        {"top1": 52.0, "top5": 86.5},
        params=48_000_000,
        flops=36_000_000_000,
    )
    write_record(
        root,
        "2e",
        [
            row(
                "c2d",
                "C2D baseline",
                {"params": 1.0, "flops": 1.0, "top1": 73.1, "top5": 91.0},
                [(0, "e_c2d0")],
            ),
            row(
                "i3d_311",
                "I3D 3×1×1",
                {"params": 1.2, "flops": 1.5, "top1": 74.4, "top5": 91.1},
                [(0, "e_i3d0")],
            ),
            row(
                "nl_c2d",
                "NL C2D, 5-block",
                {"params": 1.2, "flops": 1.2, "top1": 75.1, "top5": 91.7},
                [(0, "e_nl0")],
            ),
        ],
        claims=[
            {
                "id": "fewer_flops",
                "text": "NL C2D needs fewer FLOPs than I3D",
                "metric": "flops",
                "chains": [["nl_c2d", "<", "i3d_311"]],
            },
        ],
        metrics=("params", "flops", "top1", "top5"),
        title="Non-local vs. 3D Conv",
    )
    # Tables 2f and 2g (groups; a claim across tables).
    write_run(root, "f_i3d0", base_config(name="i3d_r50"), {"top1": 44.0, "top5": 82.0})
    write_run(
        root, "g_i3d0", base_config(name="i3d_r50", init_from="run:f_i3d0"), {"top1": 47.0, "top5": 84.0}
    )
    write_run(root, "f_r101", base_config(name="i3d_r101"), {"top1": 45.0, "top5": 83.0})
    write_record(
        root,
        "2f",
        [
            row("r50_i3d", "I3D", {"top1": 73.3, "top5": 90.7}, [(0, "f_i3d0")], group="R50"),
            row("r101_i3d", "I3D", {"top1": 74.4, "top5": 91.1}, [(0, "f_r101")], group="R101"),
        ],
        title="Non-local 3D ConvNet",
    )
    write_record(
        root,
        "2g",
        [
            row("r50_i3d", "I3D", {"top1": 74.9, "top5": 91.7}, [(0, "g_i3d0")], group="R50"),
        ],
        claims=[
            {"id": "longer", "text": "128 frames beat 32", "chains": [["r50_i3d", ">", "2f:r50_i3d"]]},
            {
                "id": "longer_file",
                "text": "same, file spelling",
                "chains": [["r50_i3d", ">", "table2f.yaml#r50_i3d"]],
            },
        ],
        title="Longer clips",
    )
    # Figure 4's 5-block arm (in no record), and runs Figure 4 must ignore.
    write_run(root, "nl5_0", nl5, {"top1": 45.0, "top5": 86.0}, curves=curve(False))
    write_run(
        root,
        "nl5_space",
        base_config(blocks="5", non_local={"scope": "space"}),
        {"top1": 1.0},
        curves=curve(False)[:1],
    )
    return root


def test_builder_writes_valid_records(tmp_path: Path) -> None:
    root = build_results(tmp_path / "results")
    records = load_records(root)
    assert [r.table for r in records] == ["2a", "2e", "2f", "2g"]
    assert [r.id for r in records[0].rows][:2] == ["baseline", "gaussian"]
    assert records[0].claims[3].chains == (("embedded_gaussian", ">=", "gaussian", ">", "baseline"),)
