"""Both annotation formats, class lists, multi-label, Kinetics-400 with only data.root, every error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nlx.config.schema import DataConfig
from nlx.data import build_dataset, load_annotations, resolve_format, write_video
from nlx.errors import NlxError

TINY = np.zeros((2, 16, 16, 3), np.uint8)


def video(path: Path) -> Path:
    write_video(path, TINY)
    return path


def folder_tree(root: Path) -> None:
    for split, names in {"train": ["b", "a"], "val": ["a"]}.items():
        for cls in names:
            for i in range(2):
                video(root / split / cls / f"{cls} {i}.mp4")
    video(root / "train" / "a" / "nested" / "deep.MKV")
    (root / "train" / "a" / "notes.txt").write_text("not a video")
    (root / "train" / "a" / ".hidden.mp4").write_text("ignored")


def write_list(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


def test_folder_format(tmp_path: Path) -> None:
    folder_tree(tmp_path)
    cfg = DataConfig(root=str(tmp_path))  # format auto, the default split names
    assert resolve_format(cfg) == "folder"
    train = load_annotations(cfg, "train")
    assert train.classes == ["a", "b"]
    names = ["a/a 0.mp4", "a/a 1.mp4", "a/nested/deep.MKV", "b/b 0.mp4", "b/b 1.mp4"]
    assert [p.relative_to(tmp_path / "train").as_posix() for p in train.videos] == names
    assert train.labels == [(0,), (0,), (0,), (1,), (1,)]
    val = build_dataset(cfg, "val", "test")
    assert (val.classes, len(val), val.num_classes, val.multilabel) == (["a", "b"], 2, 2, False)


def test_folder_unknown_class_and_empty_split(tmp_path: Path) -> None:
    folder_tree(tmp_path)
    video(tmp_path / "val" / "zebra" / "z.mp4")
    with pytest.raises(NlxError, match=r"val/zebra: 'zebra' is not one of the 2 classes"):
        load_annotations(DataConfig(root=str(tmp_path)), "val")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(NlxError, match="empty dataset"):
        load_annotations(DataConfig(root=str(tmp_path), format="folder", val_split="empty"), "val")
    with pytest.raises(NlxError, match="split folder not found"):
        load_annotations(DataConfig(root=str(tmp_path), format="folder", val_split="nope"), "val")


def test_kinetics_list_loads_with_only_root(tmp_path: Path) -> None:
    """PySlowFast's Kinetics-400 layout: train.csv / val.csv with 'path label' lines, labels 0..399."""
    for split in ("train", "val"):
        lines = [f"{split}/v{i}.mp4 {i * 57 % 400}" for i in range(8)] + [f"{split}/last.mp4 399"]
        for line in lines:
            video(tmp_path / line.split()[0])
        write_list(tmp_path / f"{split}.csv", lines)
    cfg = DataConfig(root=str(tmp_path))
    assert resolve_format(cfg) == "list"
    train, val = build_dataset(cfg, "train", "train"), build_dataset(cfg, "val", "val")
    assert train.num_classes == val.num_classes == 400
    assert len(train) == 9 and train.labels[1] == (57,)


def test_list_names_spaces_absolute_paths_comments(tmp_path: Path) -> None:
    video(tmp_path / "clips" / "a b c.mp4")
    outside = video(tmp_path.parent / f"{tmp_path.name}-abs.mp4")
    lines = ["# path label", "", "clips/a b c.mp4   jumping", f"{outside} running"]
    write_list(tmp_path / "train.txt", lines)
    cfg = DataConfig(root=str(tmp_path), format="list", train_list="train.txt")
    ann = load_annotations(cfg, "train")
    assert ann.classes == ["jumping", "running"]
    assert ann.videos == [tmp_path / "clips" / "a b c.mp4", outside]
    assert ann.labels == [(0,), (1,)]


def test_class_file_names_and_indices(tmp_path: Path) -> None:
    for name in ("x.mp4", "y.mp4", "z.mp4"):
        video(tmp_path / name)
    (tmp_path / "classes.txt").write_text("zebra\nant\n\nbee\n")
    write_list(tmp_path / "train.csv", ["x.mp4 bee", "y.mp4 0", "z.mp4 1"])
    ann = load_annotations(DataConfig(root=str(tmp_path), classes="classes.txt"), "train")
    assert ann.classes == ["zebra", "ant", "bee"]
    assert ann.labels == [(2,), (0,), (1,)]


def test_multilabel_lines(tmp_path: Path) -> None:
    for name in ("x.mp4", "y.mp4"):
        video(tmp_path / name)
    write_list(tmp_path / "train.csv", ["x.mp4 0,3", "y.mp4 2"])
    data = build_dataset(DataConfig(root=str(tmp_path), multilabel=True), "train", "train")
    assert data.multilabel and data.num_classes == 4
    assert data.label(0).tolist() == [1.0, 0.0, 0.0, 1.0]
    assert data.label(1).dtype.is_floating_point


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["x.mp4"], r"train.csv:1: expected 'path label' separated by whitespace, got 'x.mp4'"),
        (["x.mp4 1", "x.mp4 1,2"], r"train.csv:2: expected 'path label'.*data.multilabel"),
        (["x.mp4 dog"], r"train.csv:1: label 'dog' is not one of the 2 classes \(data.classes"),
        (["x.mp4 7"], r"train.csv:1: label 7 out of range: 2 classes"),
        (["x.mp4 0", "missing.mp4 1", "gone.mp4 1"],
         r"train.csv:2: video not found: .*missing.mp4 \(1 more listed videos are missing\)"),
        (["# only a comment"], r"train.csv: no videos listed: empty dataset"),
    ],
)  # fmt: skip
def test_list_errors_name_file_and_line(tmp_path: Path, lines: list[str], message: str) -> None:
    video(tmp_path / "x.mp4")
    (tmp_path / "classes.txt").write_text("cat\nfish\n")
    write_list(tmp_path / "train.csv", lines)
    with pytest.raises(NlxError, match=message):
        build_dataset(DataConfig(root=str(tmp_path), classes="classes.txt"), "train", "train")


def test_missing_files_and_roots(tmp_path: Path) -> None:
    with pytest.raises(NlxError, match=r"data.root not found"):
        resolve_format(DataConfig(root=str(tmp_path / "nope")))
    with pytest.raises(NlxError, match=r"found neither list file train.csv nor split folder train/"):
        resolve_format(DataConfig(root=str(tmp_path)))
    with pytest.raises(NlxError, match=r"val.txt: list file not found \(data.val_list"):
        load_annotations(DataConfig(root=str(tmp_path), format="list", val_list="val.txt"), "val")
    write_list(tmp_path / "val.csv", [f"{video(tmp_path / 'v.mp4')} 0"])
    with pytest.raises(NlxError, match=r"classes.txt: classes file not found"):
        load_annotations(DataConfig(root=str(tmp_path), format="list", classes="classes.txt"), "val")


def test_val_labels_must_be_train_classes(tmp_path: Path) -> None:
    for name in ("x.mp4", "y.mp4"):
        video(tmp_path / name)
    write_list(tmp_path / "train.csv", ["x.mp4 cat"])
    write_list(tmp_path / "val.csv", ["y.mp4 dog"])
    with pytest.raises(NlxError, match=r"val.csv:1: label 'dog' is not one of the 1 classes \(from"):
        load_annotations(DataConfig(root=str(tmp_path)), "val")
