"""Clips end to end: windows, jitter, test views, wrap/clamp, odd sizes, the cache, bad videos, loaders."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from nlx.config.schema import DataConfig
from nlx.data import (
    InfiniteSampler,
    SkipCounter,
    VideoDataset,
    build_dataset,
    build_loader,
    collate,
    write_video,
)
from nlx.data import cache as cache_module
from nlx.data.sampling import draw_jitter, scaled_size, train_start
from nlx.data.testing import clip_frame_ids, indexed_frames, write_audio_only
from nlx.errors import NlxError

# 4 frames every 2nd (an 8-frame window), short side in [32, 40], 32 crop; tests at short side 32.
CFG = DataConfig(format="list", frames=4, stride=2, train_short_side=(32, 40), crop=32, test_short_side=32)


def make_list(root: Path, videos: dict[str, np.ndarray], *, labels: list[str] | None = None,
              **overrides: object) -> DataConfig:  # fmt: skip
    """Write ``videos`` under ``root`` and a train.csv listing them; the config that reads them."""
    lines = []
    for i, (name, frames) in enumerate(videos.items()):
        write_video(root / name, frames)
        lines.append(f"{name} {labels[i] if labels else i % 2}")
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    return dataclasses.replace(CFG, root=str(root), **overrides)  # type: ignore[arg-type]


def ids(clip: torch.Tensor) -> list[int]:
    return clip_frame_ids(clip, CFG.mean, CFG.std)


@pytest.fixture
def sixty_four(tmp_path: Path) -> VideoDataset:
    cfg = make_list(tmp_path, {"a.mp4": indexed_frames(64, 48, 64), "b.mp4": indexed_frames(64, 48, 64)})
    return build_dataset(cfg, "train", "train")


def test_train_clip_window_stride_and_shape(sixty_four: VideoDataset) -> None:
    for seed in range(6):
        item = sixty_four[(1, seed)]
        assert item["clip"].shape == (3, 4, 32, 32) and item["clip"].dtype == torch.float32
        assert item["label"].dtype == torch.int64 and item["label"].item() == 1 and item["index"] == 1
        start = train_start(64, 8, np.random.default_rng(seed))
        assert ids(item["clip"]) == [start, start + 2, start + 4, start + 6]


def test_train_clip_is_a_function_of_its_key(sixty_four: VideoDataset) -> None:
    assert torch.equal(sixty_four[(0, 7)]["clip"], sixty_four[(0, 7)]["clip"])
    assert not torch.equal(sixty_four[(0, 7)]["clip"], sixty_four[(0, 8)]["clip"])


def test_flip_mirrors_the_same_crop(tmp_path: Path) -> None:
    cfg = make_list(tmp_path, {"a.mp4": indexed_frames(16, 48, 64)})
    flipping = build_dataset(cfg, "train", "train")
    still = build_dataset(dataclasses.replace(cfg, flip=False), "train", "train")
    seen = set()
    for seed in range(8):
        flipped = draw_jitter(48, 64, (32, 40), 32, True, _after_start(seed, 16)).flip
        a, b = flipping[(0, seed)]["clip"], still[(0, seed)]["clip"]
        assert torch.equal(a, b.flip(-1) if flipped else b)
        blue = a[2].mean(dim=(0, 1))  # (W,): 64 on the video's left half, 192 on its right
        assert (blue[0] > blue[-1]) == flipped
        seen.add(flipped)
    assert seen == {False, True}


def _after_start(seed: int, num_frames: int) -> np.random.Generator:
    """The generator of ``seed`` after the temporal draw, as the dataset uses it."""
    rng = np.random.default_rng(seed)
    train_start(num_frames, 8, rng)
    return rng


def test_test_views_spacing_and_fully_convolutional_size(tmp_path: Path) -> None:
    cfg = make_list(tmp_path, {"wide.mp4": indexed_frames(100, 48, 80)})
    data = build_dataset(cfg, "train", "test", test_clips=5)
    views = data[0]["clip"]
    assert views.shape == (5, 3, 4, 32, 53)  # whole frame, short side 32
    assert [ids(v)[0] for v in views] == [0, 23, 46, 69, 92]
    assert ids(views[-1]) == [92, 94, 96, 98]


@pytest.mark.parametrize(("height", "width"), [(48, 80), (80, 48)])
def test_three_crops_are_slices_of_the_whole_frame(tmp_path: Path, height: int, width: int) -> None:
    cfg = make_list(tmp_path, {"v.mp4": indexed_frames(20, height, width)})
    whole = build_dataset(cfg, "train", "test", test_clips=2)[0]["clip"]  # (2, 3, T, H', W')
    crops = build_dataset(cfg, "train", "test", test_clips=2, test_crops=3)[0]["clip"]  # (6, 3, T, 32, 32)
    assert crops.shape == (6, 3, 4, 32, 32)
    for c in range(2):
        for k, offset in enumerate((0, 10, 21)):  # left/top, centre, right/bottom of a 53-pixel side
            window = (slice(None),) * 2 + ((slice(None), slice(offset, offset + 32)) if width > height else
                                           (slice(offset, offset + 32), slice(None)))  # fmt: skip
            assert torch.equal(crops[3 * c + k], whole[c][window])


@pytest.mark.parametrize(("wrap", "expected"), [(True, [0, 2, 1, 0]), (False, [0, 2, 2, 2])])
def test_three_frame_video_wraps_or_clamps(tmp_path: Path, wrap: bool, expected: list[int]) -> None:
    cfg = make_list(tmp_path, {"short.mp4": indexed_frames(3, 32, 32)}, wrap=wrap)
    assert ids(build_dataset(cfg, "train", "train")[(0, 5)]["clip"]) == expected
    views = build_dataset(cfg, "train", "test", test_clips=3)[0]["clip"]
    assert [ids(v) for v in views] == [expected] * 3


@pytest.mark.parametrize(("height", "width"), [(47, 65), (80, 48)])
def test_odd_and_portrait_videos(tmp_path: Path, height: int, width: int) -> None:
    cfg = make_list(tmp_path, {"v.mp4": indexed_frames(12, height, width)})
    assert build_dataset(cfg, "train", "train")[(0, 3)]["clip"].shape == (3, 4, 32, 32)
    h, w = scaled_size(height, width, 32)
    assert build_dataset(cfg, "train", "test", test_clips=2)[0]["clip"].shape == (2, 3, 4, h, w)


def test_multilabel_items_and_batches(tmp_path: Path) -> None:
    frames = indexed_frames(8, 32, 32)
    cfg = make_list(tmp_path, {"a.mp4": frames, "b.mp4": frames}, labels=["0,2", "1"], multilabel=True)
    data = build_dataset(cfg, "train", "val")
    batch = collate([data[(0, 0)], data[(1, 0)]])
    assert batch["label"].tolist() == [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    assert batch["clip"].shape == (2, 3, 4, 32, 32)


@pytest.mark.parametrize("mode", ["memory", "disk"])
def test_cache_hits_and_redecodes_a_changed_video(tmp_path: Path, mode: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    videos = {"v.mp4": indexed_frames(16, 32, 32)}
    cfg = make_list(tmp_path, videos, cache=mode, cache_dir=str(tmp_path / "c"))
    uncached = build_dataset(dataclasses.replace(cfg, cache="off"), "train", "train")
    data = build_dataset(cfg, "train", "train")
    decodes = []
    real = cache_module.read_video
    monkeypatch.setattr(cache_module, "read_video", lambda path: decodes.append(path) or real(path))
    before = data[(0, 1)]["clip"]
    assert torch.equal(before, uncached[(0, 1)]["clip"])
    data[(0, 2)], data[(0, 3)]
    assert len(decodes) == 1
    if mode == "disk":
        assert len(list((tmp_path / "c").rglob("*.npy"))) == 1
        fresh = build_dataset(cfg, "train", "train")  # another run of the sweep: no decoding at all
        fresh[(0, 4)]
        assert len(decodes) == 1
    write_video(tmp_path / "v.mp4", indexed_frames(16, 32, 32)[::-1].copy())
    os.utime(tmp_path / "v.mp4", ns=(1, 1))  # a different mtime even on coarse file systems
    assert ids(data[(0, 1)]["clip"]) == [15 - i for i in ids(before)]
    assert len(decodes) == 2


# --- bad videos --------------------------------------------------------------------------------------


def _truncated(path: Path) -> None:
    write_video(path, indexed_frames(16, 32, 32))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # the index (moov) is at the end: gone


def _truncated_faststart(path: Path) -> None:
    """Index first, half the frame data gone: opens, then fails mid-way through decoding."""
    import av

    noisy = indexed_frames(16, 32, 32) ^ np.random.default_rng(0).integers(0, 32, (16, 32, 32, 3), np.uint8)
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=16)
        stream.width = stream.height = 32
        for frame in noisy:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])


BAD = {
    "truncated.mp4": _truncated,
    "cut-mid-way.mp4": _truncated_faststart,
    "text.mp4": lambda p: p.write_text("this is not a video\n" * 20),
    "empty.mp4": lambda p: p.write_bytes(b""),
    "audio.mp4": write_audio_only,
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_video_is_skipped_logged_and_counted(tmp_path: Path, name: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    cfg = make_list(tmp_path, {"good.mp4": indexed_frames(8, 32, 32), "other.mp4": indexed_frames(8, 32, 32)})
    BAD[name](tmp_path / name)
    (tmp_path / "train.csv").write_text(f"good.mp4 0\n{name} 1\nother.mp4 0\n")
    for mode, key in (("train", (1, 0)), ("test", 1)):
        data = build_dataset(cfg, "train", mode)  # type: ignore[arg-type]
        with caplog.at_level(logging.WARNING):
            assert data[key] == {"skipped": str(tmp_path / name), "index": 1}
        assert str(tmp_path / name) in caplog.text
    batch = collate([data[0], data[1], data[2]])
    assert batch["clip"].shape[0] == 2 and batch["index"].tolist() == [0, 2]
    assert batch["skipped"] == [str(tmp_path / name)]
    counter = SkipCounter()
    counter.add(batch)
    counter.add(batch)  # the same video again is not a new skip
    assert counter.count == 1
    counter.check(len(data), 0.5)
    with pytest.raises(NlxError, match=rf"1 of 3 videos \(33%\) could not be decoded.*0.01: .*{name}"):
        counter.check(len(data), 0.01)


def test_video_deleted_after_build_is_skipped(tmp_path: Path) -> None:
    cfg = make_list(tmp_path, {"v.mp4": indexed_frames(8, 32, 32)})
    data = build_dataset(cfg, "train", "train")
    (tmp_path / "v.mp4").unlink()
    assert data[(0, 0)]["skipped"] == str(tmp_path / "v.mp4")


def test_all_skipped_batch_and_counter_message() -> None:
    batch = collate([{"skipped": "a.mp4", "index": 0}, {"skipped": "b.mp4", "index": 1}])
    assert batch["clip"] is None and batch["label"] is None and batch["index"].numel() == 0
    counter = SkipCounter()
    counter.add(batch)
    counter.update(["c.mp4", "d.mp4"])
    assert counter.paths == ["a.mp4", "b.mp4", "c.mp4", "d.mp4"]
    with pytest.raises(NlxError, match=r"^4 of 100 videos \(4%\) could not.*: a.mp4, b.mp4, c.mp4, ...$"):
        counter.check(100, 0.01)


def test_keys_must_match_the_mode(sixty_four: VideoDataset) -> None:
    with pytest.raises(TypeError, match="sample_seed"):
        sixty_four[0]


# --- loaders -----------------------------------------------------------------------------------------


def test_loader_batches_do_not_depend_on_workers(sixty_four: VideoDataset) -> None:
    def first_batches(workers: int) -> list[dict[str, object]]:
        sampler = InfiniteSampler(len(sixty_four), seed=0, batch_size=3)
        loader = build_loader(sixty_four, batch_size=3, sampler=sampler, workers=workers)
        out = []
        for batch, _ in zip(loader, range(2), strict=False):
            out.append(batch)
        return out

    alone, parallel = first_batches(0), first_batches(2)
    for a, b in zip(alone, parallel, strict=True):
        assert torch.equal(a["clip"], b["clip"]) and torch.equal(a["index"], b["index"])
        assert torch.equal(a["label"], b["label"]) and a["skipped"] == b["skipped"] == []


def test_default_order_for_validation_and_test(sixty_four: VideoDataset) -> None:
    loader = build_loader(sixty_four, batch_size=2, sampler=None, workers=0, seed=5)
    first, again = next(iter(loader)), next(iter(loader))
    assert first["index"].tolist() == [0, 1] and torch.equal(first["clip"], again["clip"])
    test = build_dataset(dataclasses.replace(CFG, root=str(sixty_four.videos[0].parent)), "train", "test",
                         test_clips=2, test_crops=3)  # fmt: skip
    batch = next(iter(build_loader(test, batch_size=2, sampler=None, workers=0)))
    assert batch["clip"].shape == (2, 6, 3, 4, 32, 32)
