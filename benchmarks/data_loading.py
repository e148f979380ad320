"""Loader throughput on generated videos, with and without the decoded-clip cache.

(a) the mini benchmark's clips: 64-frame 64×64 MP4s, 16 frames × stride 2, crop 56 from short side [64, 80];
(b) the paper's clips (Sec. 4.1): 10 s 340×256 MP4s at 25 fps, 32 × 2, crop 224 from short side [256, 320].

    .venv/bin/python benchmarks/data_loading.py [--workers 0 1 2] [--json out.json]

Everything is written to a temporary folder and removed afterwards.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from tabulate import tabulate

from nlx.bench.data import bench_data
from nlx.config.schema import DataConfig
from nlx.data import write_video

COLUMNS = ["label", "cache", "workers", "clips_per_s", "clips_per_s_per_worker", "decode_ms_per_clip",
           "clip_ms_per_clip", "cache_fill_s"]  # fmt: skip


def moving_pattern(frames: int, height: int, width: int, seed: int) -> np.ndarray:
    """(T, H, W, 3) uint8: drifting coloured gradients, a moving square and mild noise (codec-realistic)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    phase, speed, colour = rng.uniform(0, 6.3, 3), rng.uniform(0.5, 2.0, 2), rng.uniform(60, 200, 3)
    out = np.empty((frames, height, width, 3), np.uint8)
    side = max(height // 5, 4)
    for t in range(frames):
        base = 128 + 60 * np.sin(x / width * 6 + phase[0] + 0.1 * t) * np.cos(y / height * 4 + phase[1])
        image = np.stack([base, np.roll(base, t, axis=1), 255 - base], axis=-1)
        top = int(t * speed[0]) % (height - side)
        left = int(t * speed[1] * 2) % (width - side)
        image[top : top + side, left : left + side] = colour
        image += rng.normal(0, 4, image.shape)
        out[t] = np.clip(image, 0, 255).astype(np.uint8)
    return out


def generate(root: Path, count: int, frames: int, height: int, width: int, fps: int) -> float:
    """``count`` videos under ``root`` and a train.csv (4 classes); seconds taken."""
    start, lines = time.perf_counter(), []
    for i in range(count):
        name = f"v{i:04d}.mp4"
        write_video(root / name, moving_pattern(frames, height, width, seed=i), fps=fps)
        lines.append(f"{name} {i % 4}")
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--mini-videos", type=int, default=96)
    parser.add_argument("--paper-videos", type=int, default=8)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="nlx-bench-data-") as tmp:
        mini_root, paper_root = Path(tmp) / "mini", Path(tmp) / "paper"
        print(f"generating {args.mini_videos} mini videos: "
              f"{generate(mini_root, args.mini_videos, 64, 64, 64, 16):.1f} s")  # fmt: skip
        print(f"generating {args.paper_videos} paper videos: "
              f"{generate(paper_root, args.paper_videos, 250, 256, 340, 25):.1f} s")  # fmt: skip
        mini = DataConfig(root=str(mini_root), frames=16, stride=2, train_short_side=(64, 80), crop=56,
                          test_short_side=64, cache_dir=str(Path(tmp) / "cache-mini"))  # fmt: skip
        paper = DataConfig(root=str(paper_root), frames=32, stride=2, train_short_side=(256, 320), crop=224,
                           test_short_side=256, cache_dir=str(Path(tmp) / "cache-paper"))  # fmt: skip
        for cfg, label, batch, batches, caches in (
            (mini, "mini 16x2 crop 56, 64x64 src", 32, 12, ("off", "memory", "disk")),
            (paper, "paper 32x2 crop 224, 340x256 src", 8, 6, ("off", "disk")),
        ):
            for cache in caches:
                run = dataclasses.replace(cfg, cache=cache)
                rows += bench_data(run, workers=args.workers, batches=batches, batch_size=batch, label=label)
                latest = rows[-len(args.workers) :]
                print(tabulate([[r[c] for c in COLUMNS] for r in latest], tablefmt="plain"), flush=True)
    print()
    print(tabulate([[r[c] for c in COLUMNS] for r in rows], headers=COLUMNS, tablefmt="github"))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
