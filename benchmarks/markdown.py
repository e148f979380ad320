"""Markdown tables of saved ``nlx bench`` results, as docs/benchmarks.md shows them.

    .venv/bin/python benchmarks/markdown.py benchmarks/results/cpu-*.json

The tables are a pure function of the JSON files that ``nlx bench ... --save FILE`` writes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tabulate import tabulate

GB, MB = 2**30, 2**20


def _ratio(value: float | None, estimated: bool = False) -> str:
    if value is None:
        return "—"
    return f"≤ {value:.3f} (est.)" if estimated else f"{value:.2f}"


def _time(side: dict[str, Any]) -> str:
    return f"{side['time_s'] * 1e3:,.0f}" if side["status"] == "ok" else side["status"]


def _memory(side: dict[str, Any], key: str = "peak_bytes") -> str:
    if side["status"] == "skipped":
        return f"skipped (needs ~{side['estimated_bytes'] / GB:.0f} GB)"
    if side["status"] != "ok" or key not in side:
        return "—" if side["status"] == "ok" else side["status"]
    return f"{side[key] / MB:,.0f}"


def nonlocal_table(report: dict[str, Any]) -> str:
    rows = []
    for r in report["rows"]:
        t, h, w = r["shape"]
        rows.append([
            f"{r['frames']}f {r['stage']} ({t}×{h}×{w}×{r['channels']})", r["instantiation"],
            _time(r["fast"]), _time(r["naive"]), _ratio(r["time_ratio"]),
            _memory(r["fast"]), _memory(r["naive"]),
            _ratio(r["memory_ratio"], bool(r.get("memory_ratio_estimated"))),
            _ratio(r["op_memory_ratio"]),
        ])  # fmt: skip
    headers = ["map (T×H×W×C)", "instantiation", "fast ms", "naive ms", "time f/n", "fast MB", "naive MB",
               "block mem f/n", "op mem f/n"]  # fmt: skip
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def train_table(report: dict[str, Any]) -> str:
    rows = []
    for name in ("nlx", "peer"):
        r = report[name]
        rows.append([
            name, f"{r['params']:,}", f"{r['flops'] / 1e9:.2f}", f"{r['step_time_s'] * 1e3:,.0f}",
            f"{r['clips_per_s']:.3f}", f"{r['peak_bytes'] / MB:,.0f}",
        ])  # fmt: skip
    headers = ["", "params", "GFLOPs/clip", "median step ms", "clips/s", "peak MB"]
    shape = "×".join(map(str, report["input"]))
    opts = ", ".join(f"{k}={v}" for k, v in report["options"].items())
    head = (
        f"{report['model']}, {report['nonlocal']} NL blocks, input {shape}, {report['device']} ({opts}); "
        f"peer: {report['peer']['implementation']}; params equal: {report['params_equal']}, "
        f"FLOPs equal: {report['flops_equal']}; **nlx / peer throughput {report['throughput_ratio']:.3f}**, "
        f"peak memory {report['memory_ratio']:.3f} ({report['steps']} alternated steps each)"
    )
    return head + "\n\n" + tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, nargs="+")
    for path in parser.parse_args().files:
        report = json.loads(path.read_text())
        machine = report["machine"]
        print(f"<!-- {path}: {machine.get('gpu') or machine['cpu']}, {machine['threads']} threads, "
              f"torch {machine['torch']} -->")  # fmt: skip
        tables = {"nonlocal": nonlocal_table, "train": train_table}
        print(tables[report["benchmark"]](report) if report["benchmark"] in tables else "")
        print()


if __name__ == "__main__":
    main()
