"""The loader benchmark runs and reports what the CLI prints."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from nlx.bench.data import bench_data
from nlx.config.schema import DataConfig
from nlx.data import write_video
from nlx.data.testing import indexed_frames


def test_bench_data_rows(tmp_path: Path) -> None:
    for i in range(2):
        write_video(tmp_path / f"v{i}.mp4", indexed_frames(12, 32, 32))
    (tmp_path / "train.csv").write_text("v0.mp4 0\nv1.mp4 1\n")
    cfg = DataConfig(root=str(tmp_path), frames=4, stride=2, train_short_side=(32, 36), crop=32,
                     test_short_side=32)  # fmt: skip
    for cache in ("off", "disk"):
        run = dataclasses.replace(cfg, cache=cache, cache_dir=str(tmp_path / "cache"))
        (row,) = bench_data(run, workers=[0], batches=2, batch_size=2, samples=2)
        assert row["clips"] == 4 and row["workers"] == 0 and row["cache"] == cache
        assert row["clips_per_s"] == row["clips_per_s_per_worker"]
        assert float(str(row["clips_per_s"])) > 0
        assert {"label", "frames", "crop", "decode_ms_per_clip"} <= row.keys()
