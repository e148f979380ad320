"""``nlx bench``: every subcommand at smoke size through the real CLI; structure of tables and JSON only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlx.bench.peer import peer_available

RATIOS = ("time_ratio", "memory_ratio", "op_memory_ratio")


def _json(out: str) -> dict:
    return json.loads(out)


def test_nonlocal_json_rows(cli, tmp_path: Path) -> None:
    save = tmp_path / "nl.json"
    res = cli("bench", "nonlocal", "--frames", "4", "--stages", "res3", "--repeat", "1",
              "--memory-cap-gb", "0.05", "--format", "json", "--save", save)  # fmt: skip
    assert res.code == 0, res.err
    report = _json(res.out)
    assert json.loads(save.read_text()) == report
    assert report["benchmark"] == "nonlocal" and report["machine"]["device"] == "cpu"
    rows = {r["instantiation"]: r for r in report["rows"]}
    assert set(rows) == {"gaussian", "embedded_gaussian", "dot_product", "concatenation"}
    for inst, row in rows.items():
        assert row["stage"] == "res3" and row["frames"] == 4 and row["shape"] == [1, 28, 28]
        assert row["channels"] == 512 and row["positions"] == 784 and row["keys"] == 196
        assert row["fast"]["status"] == "ok"
        assert row["fast"]["peak_bytes"] > 0 and len(row["fast"]["times_s"]) == 1
        if inst == "concatenation":  # the (N, M, 2d) pairs: ~0.6 GB, over the 50 MB cap
            assert row["naive"]["status"] == "skipped"
            assert row["naive"]["reason"].startswith("needs ~0.")
            assert row["naive"]["estimated_bytes"] > 0.05 * 2**30
            assert row["time_ratio"] is None and row["memory_ratio_estimated"] is True
            assert 0 < row["memory_ratio"] < 1
        else:
            assert row["naive"]["status"] == "ok"
            assert all(row[key] is not None and row[key] > 0 for key in RATIOS)
            assert row["time_ratio"] == pytest.approx(row["fast"]["time_s"] / row["naive"]["time_s"])


def test_nonlocal_table(cli) -> None:
    res = cli("bench", "nonlocal", "--frames", "4", "--stages", "res4", "--repeat", "1", "--no-op-memory",
              "--instantiations", "dot_product,concatenation", "--memory-cap-gb", "0.03")  # fmt: skip
    assert res.code == 0, res.err
    assert res.out == ""  # tables go to stderr
    assert "non-local block" in res.err and "4f res4" in res.err and "concat" in res.err
    assert "skipped" in res.err  # the naive concatenation: ~0.1 GB, over the 30 MB cap


def test_nonlocal_rejects_unknown_stage(cli) -> None:
    res = cli("bench", "nonlocal", "--frames", "4", "--stages", "res9")
    assert res.code == 2 and "res9" in res.err


def test_train_json(cli) -> None:
    res = cli("bench", "train", "--model", "c2d_r50", "--nonlocal", "1", "--frames", "4", "--size", "96",
              "--batch", "1", "--steps", "1", "--warmup", "0", "--format", "json")  # fmt: skip
    assert res.code == 0, res.err
    report = _json(res.out)
    assert report["benchmark"] == "train" and report["input"] == [1, 3, 4, 96, 96]
    for side in ("nlx", "peer"):
        assert {"params", "params_no_bn", "flops", "step_time_s", "clips_per_s", "peak_bytes"} <= report[
            side
        ].keys()
    assert report["throughput_ratio"] == pytest.approx(
        report["nlx"]["clips_per_s"] / report["peer"]["clips_per_s"]
    )
    # the peer is pytorchvideo when it is installed (else nlx's naive formula): the same network either way
    assert ("pytorchvideo" if peer_available() else "naive") in report["peer"]["implementation"]
    assert report["params_equal"] and report["flops_equal"]
    assert report["nlx"]["params"] == report["peer"]["params"]
    assert report["flush_denormal"] is True  # the default on CPU (docs/benchmarks.md: the γ = 0 init)


def test_train_table_and_odd_maps(cli) -> None:
    res = cli("bench", "train", "--nonlocal", "0", "--frames", "4", "--size", "64", "--batch", "1",
              "--steps", "1", "--warmup", "0", "--peer", "naive")  # fmt: skip
    assert res.code == 0, res.err
    assert "clips/s" in res.err and "parameters and FLOPs equal" in res.err
    odd = cli("bench", "train", "--nonlocal", "5", "--size", "112", "--steps", "1")
    assert odd.code == 2 and "odd" in odd.err


def test_bench_options_are_checked(cli) -> None:
    assert cli("bench", "nonlocal", "--amp", "fp8").code == 2
    assert cli("bench", "nonlocal", "--sdpa", "efficient").code == 2  # a CUDA kernel


def test_data(cli, tmp_path: Path) -> None:
    from nlx.data import write_video
    from nlx.data.testing import indexed_frames

    for i in range(2):
        write_video(tmp_path / f"v{i}.mp4", indexed_frames(12, 32, 32))
    (tmp_path / "train.csv").write_text("v0.mp4 0\nv1.mp4 1\n")
    res = cli("bench", "data", "--preset", "smoke", f"data.root={tmp_path}", "data.train_list=train.csv",
              "--workers", "0", "--batches", "2", "--batch-size", "2", "--format", "json")  # fmt: skip
    assert res.code == 0, res.err
    report = _json(res.out)
    assert report["benchmark"] == "data" and report["preset"] == "smoke"
    (row,) = report["rows"]
    assert row["workers"] == 0 and row["clips"] == 4 and row["clips_per_s"] > 0
