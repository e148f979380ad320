"""Frame-accurate decoding: every container and codec we write, seeking, odd sizes, the writer."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlx.data.testing import frame_ids, indexed_frames, write_audio_only
from nlx.data.video import (
    FrameIndex,
    VideoDecodeError,
    plan_segments,
    probe,
    read_frames,
    read_video,
    write_video,
)

WANTED = [5, 119, 0, 37, 38, 100, 64, 64, 3, 118]


@pytest.mark.parametrize(
    ("name", "codec", "gop"),
    [("a.mp4", "libx264", 10), ("a.mkv", "libx264", 7), ("a.avi", "mpeg4", 12), ("a.webm", "libvpx-vp9", 9),
     ("a.mov", "libx264", 16)],
)  # fmt: skip
def test_frame_accurate_after_seeks(tmp_path: Path, name: str, codec: str, gop: int) -> None:
    path = tmp_path / name
    write_video(path, indexed_frames(120, 32, 48), fps=25, codec=codec, gop=gop)
    index = probe(path)
    assert index.num_frames == 120
    assert (index.height, index.width) == (32, 48)
    assert len(index.keyframes) > 1  # there is something to seek to
    assert frame_ids(read_frames(path, WANTED, index)) == WANTED
    assert frame_ids(read_video(path)) == list(range(120))


def test_seeks_only_when_it_skips_frames(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    write_video(path, indexed_frames(120, 32, 32), gop=10)
    index = probe(path)
    assert len(plan_segments(index, [1, 2, 3])) == 1
    assert len(plan_segments(index, [1, 2, 100, 101])) == 2
    assert len(plan_segments(index, list(range(120)))) == 1


def test_streams_without_timestamps_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    write_video(path, indexed_frames(30, 32, 32))
    counted = FrameIndex(30, 32, 32, pts=None, keyframes=(0,), seek_ts=(0,))
    assert frame_ids(read_frames(path, [29, 3, 3, 17], counted)) == [29, 3, 3, 17]


@pytest.mark.parametrize(("height", "width"), [(47, 65), (80, 48)])
def test_odd_and_portrait_sizes(tmp_path: Path, height: int, width: int) -> None:
    path = tmp_path / "v.mp4"
    write_video(path, indexed_frames(20, height, width))
    frames = read_frames(path, [0, 19])
    assert frames.shape == (2, height, width, 3)
    assert frame_ids(frames) == [0, 19]


def test_out_of_range_and_empty_requests(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    write_video(path, indexed_frames(10, 32, 32))
    assert read_frames(path, []).shape == (0, 32, 32, 3)
    with pytest.raises(IndexError):
        read_frames(path, [10])


def test_writer_is_atomic_and_rejects_unknown_suffixes(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "v.mp4"
    write_video(path, indexed_frames(4, 32, 32))
    assert [p.name for p in path.parent.iterdir()] == ["v.mp4"]  # no temporary file left behind
    with pytest.raises(ValueError, match="suffix"):
        write_video(tmp_path / "v.gif", indexed_frames(4, 32, 32))


def test_no_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "audio.mp4"
    write_audio_only(path)
    with pytest.raises(VideoDecodeError, match="no video stream"):
        probe(path)
