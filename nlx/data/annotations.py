"""The two annotation formats users already have, read into (classes, videos, labels).

* ``folder`` (torchvision / mmaction2 layout): ``root/<split>/<class>/**/*.mp4|avi|mkv|webm|mov``; the
  classes are the sorted subfolders of the train split (or the ``classes`` file).
* ``list`` (PySlowFast / mmaction2): text files of ``path label`` lines, paths relative to ``root`` (or
  absolute, spaces allowed: the label is split off the right); a label is a class index or a class
  name; with ``multilabel`` a line is ``path l1,l2,l3``. The classes come from the ``classes`` file (one
  name per line), else from the train list: ``0..max`` when every label is a number, else the sorted names.
* ``auto``: ``list`` when ``root/<train_list>`` or ``root/<val_list>`` exists, else ``folder``.

Every problem is an :class:`~nlx.errors.NlxError` naming the file (and line) and what was expected; every
listed video must exist when the dataset is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nlx.config.schema import DataConfig
from nlx.data.video import VIDEO_EXTENSIONS
from nlx.errors import NlxError

Split = Literal["train", "val"]


@dataclass(frozen=True)
class Annotations:
    classes: list[str]
    videos: list[Path]
    labels: list[tuple[int, ...]]  # one class per video, or several (multi-label)


@dataclass(frozen=True)
class _Line:
    where: str  # "file:line"
    path: Path
    labels: tuple[str, ...]


def resolve_format(cfg: DataConfig) -> Literal["list", "folder"]:
    root = Path(cfg.root)
    if cfg.format != "auto":
        return cfg.format
    if not root.is_dir():
        raise NlxError(f"{root}: data.root not found (a folder with list files or <split>/<class>/ folders)")
    if (root / cfg.train_list).is_file() or (root / cfg.val_list).is_file():
        return "list"
    if (root / cfg.train_split).is_dir():
        return "folder"
    raise NlxError(f"{root}: found neither list file {cfg.train_list} nor split folder {cfg.train_split}/ "
                   "(data.format: auto; set data.train_list or data.train_split)")  # fmt: skip


def load_annotations(cfg: DataConfig, split: Split) -> Annotations:
    """The videos and labels of ``split`` (checked: classes known, files present, not empty)."""
    if resolve_format(cfg) == "folder":
        return _load_folder(cfg, split)
    return _load_list(cfg, split)


# --- class files ------------------------------------------------------------------------------------


def _read_class_file(cfg: DataConfig) -> list[str] | None:
    if cfg.classes is None:
        return None
    path = _under_root(cfg, cfg.classes)
    if not path.is_file():
        raise NlxError(f"{path}: classes file not found (data.classes; one class name per line)")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not names:
        raise NlxError(f"{path}: no class names (data.classes; one class name per line)")
    seen: set[str] = set()
    for number, name in enumerate(names, 1):
        if name in seen:
            raise NlxError(f"{path}:{number}: class {name!r} is listed twice")
        seen.add(name)
    return names


def _under_root(cfg: DataConfig, name: str) -> Path:
    path = Path(name)
    return path if path.is_absolute() else Path(cfg.root) / path


# --- folder format ----------------------------------------------------------------------------------


def _split_dir(cfg: DataConfig, split: Split) -> Path:
    name = cfg.train_split if split == "train" else cfg.val_split
    path = Path(cfg.root) / name
    if not path.is_dir():
        raise NlxError(f"{path}: split folder not found (data.{split}_split; expected <class>/<video> in it)")
    return path


def _subfolders(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _folder_videos(folder: Path) -> list[Path]:
    found = (p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS)
    return sorted(p for p in found if not p.name.startswith(".") and p.is_file())


def _load_folder(cfg: DataConfig, split: Split) -> Annotations:
    if cfg.multilabel:
        raise NlxError("data.multilabel: the folder format has one class per video; use format: list")
    classes = _read_class_file(cfg) or _subfolders(_split_dir(cfg, "train"))
    lookup = {name: i for i, name in enumerate(classes)}
    split_dir = _split_dir(cfg, split)
    videos: list[Path] = []
    labels: list[tuple[int, ...]] = []
    for name in _subfolders(split_dir):
        if name not in lookup:
            raise NlxError(f"{split_dir / name}: {name!r} is not one of the {len(classes)} classes")
        found = _folder_videos(split_dir / name)
        videos += found
        labels += [(lookup[name],)] * len(found)
    if not videos:
        kinds = ", ".join(VIDEO_EXTENSIONS)
        raise NlxError(f"{split_dir}: no videos ({kinds}) in <class>/ folders: empty dataset")
    return Annotations(classes, videos, labels)


# --- list format ------------------------------------------------------------------------------------


def _list_path(cfg: DataConfig, split: Split) -> Path:
    name = cfg.train_list if split == "train" else cfg.val_list
    path = _under_root(cfg, name)
    if not path.is_file():
        raise NlxError(f"{path}: list file not found (data.{split}_list, relative to data.root; "
                       "expected 'path label' lines)")  # fmt: skip
    return path


def _parse_line(text: str, where: str, cfg: DataConfig) -> _Line:
    parts = text.rsplit(None, 1)
    shape = "'path l1,l2,...'" if cfg.multilabel else "'path label'"
    if len(parts) != 2:
        raise NlxError(f"{where}: expected {shape} separated by whitespace, got {text!r}")
    tokens = tuple(parts[1].split(",")) if cfg.multilabel else (parts[1],)
    if not all(tokens) or (not cfg.multilabel and "," in parts[1]):
        hint = "" if cfg.multilabel else " (several labels need data.multilabel: true)"
        raise NlxError(f"{where}: expected {shape}, got {text!r}{hint}")
    return _Line(where, _under_root(cfg, parts[0].strip()), tokens)


def _read_list(cfg: DataConfig, split: Split) -> list[_Line]:
    path = _list_path(cfg, split)
    lines = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        text = raw.strip()
        if text and not text.startswith("#"):
            lines.append(_parse_line(text, f"{path}:{number}", cfg))
    if not lines:
        raise NlxError(f"{path}: no videos listed: empty dataset")
    return lines


class _Labels:
    """How label tokens map to class ids: numbers are indices when ``by_index``, anything else a name."""

    def __init__(self, classes: list[str], source: str, *, by_index: bool) -> None:
        self.classes, self.source, self.by_index = classes, source, by_index
        self._ids = {name: i for i, name in enumerate(classes)}
        self._count = f"{len(classes)} classes"

    def lookup(self, token: str, where: str) -> int:
        if self.by_index and token.isdigit():
            if int(token) < len(self.classes):
                return int(token)
            raise NlxError(f"{where}: label {token} out of range: {self._count} ({self.source})")
        if token in self._ids:
            return self._ids[token]
        raise NlxError(f"{where}: label {token!r} is not one of the {self._count} ({self.source})")


def _list_labels(cfg: DataConfig, train_lines: list[_Line] | None) -> _Labels:
    names = _read_class_file(cfg)
    if names is not None:
        return _Labels(names, f"data.classes {_under_root(cfg, cfg.classes or '')}", by_index=True)
    lines = train_lines if train_lines is not None else _read_list(cfg, "train")
    tokens = {t for line in lines for t in line.labels}
    source = f"from the train list {_list_path(cfg, 'train')}; data.classes can name them"
    if all(t.isdigit() for t in tokens):
        return _Labels([str(i) for i in range(max(map(int, tokens)) + 1)], source, by_index=True)
    return _Labels(sorted(tokens), source, by_index=False)


def _load_list(cfg: DataConfig, split: Split) -> Annotations:
    lines = _read_list(cfg, split)
    labels = _list_labels(cfg, lines if split == "train" else None)
    ids = [tuple(labels.lookup(t, line.where) for t in line.labels) for line in lines]
    missing = [line for line in lines if not line.path.is_file()]
    if missing:
        more = f" ({len(missing) - 1} more listed videos are missing)" if len(missing) > 1 else ""
        raise NlxError(f"{missing[0].where}: video not found: {missing[0].path}{more}")
    return Annotations(labels.classes, [line.path for line in lines], ids)
