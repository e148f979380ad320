"""The report's attention figure: a trained run on validation videos of the generated benchmark.

For each video, the clip is the window whose displayed frames show both sources' flashes
(:func:`~nlx.visualize.events.shown_start`); one query sits on a flash of each source (the first that a
displayed frame shows), with its top-k arrows; squares mark the flashes (ground truth). The numbers of
:mod:`nlx.visualize.events` are computed on the videos shown and on the first ``measured`` videos.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from nlx.config.schema import Config
from nlx.data.video import DECODE_ERRORS, probe
from nlx.errors import NlxError
from nlx.visualize.capture import Attention, block_attention, capture_input, input_similarity
from nlx.visualize.clip import Clip, choose_block, load_model, read_clip
from nlx.visualize.draw import Row, figure_bytes
from nlx.visualize.events import (
    SOURCE_COLOURS,
    Link,
    Summary,
    VideoEvents,
    flash_marks,
    measure,
    query_cells,
    read_events,
    shown_start,
    summarise,
)
from nlx.visualize.geometry import Layout, display_frames
from nlx.visualize.select import QueryView, query_view

UNREADABLE: tuple[type[BaseException], ...] = (NlxError, *DECODE_ERRORS)


@dataclass(frozen=True)
class BenchmarkFigure:
    block: str
    videos: tuple[str, ...]  # the videos shown
    shown: Summary  # measured on the videos shown
    measured: Summary  # measured on the first ``measured`` videos
    control: Summary  # the same with keys ranked by input similarity (input_similarity): arrows only
    skipped: int  # unreadable videos among them
    png: bytes
    pdf: bytes


@contextmanager
def one_thread() -> Iterator[None]:
    """Single-threaded CPU kernels: the same floats (so the same figure bytes) on any machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def flash_queries(
    att: Attention, layout: Layout, events: VideoEvents, top: int
) -> tuple[list[QueryView], list[str]]:
    """One query per source, on its first flash that a displayed frame shows (else the first that the clip
    samples), and the source's colour."""
    views, colours = [], []
    for source in (0, 1):
        placed = [
            (cell, flash)
            for flash in events.flashes
            if flash.source == source
            and (cell := query_cells(flash, layout.geometry, att.query_grid)) is not None
        ]
        if not placed:
            continue
        visible = [c for c, f in placed if layout.place(c, att.query_grid).frame in f.frames]
        views.append(query_view(att, layout, (visible or [placed[0][0]])[0], top))
        colours.append(SOURCE_COLOURS[source])
    return views, colours


def video_row(clip: Clip, att: Attention, events: VideoEvents, top: int, panels: int) -> Row:
    layout = Layout(clip.geometry, panels)
    queries, colours = flash_queries(att, layout, events, top)
    images = [clip.video[j] for j in display_frames(clip.geometry.num_frames, panels)]
    return Row(images, layout.shown, queries, events.path, colours, flash_marks(events, layout.shown))


def _video(root: Path, events: VideoEvents, cfg: Config, panels: int) -> Clip | None:
    """The displayed clip of one video, or None when it cannot be read (the report must not fail on it)."""
    path = root / events.path
    try:
        frames = probe(path).num_frames
        start = shown_start(events, frames, cfg.data.frames, cfg.data.stride, panels, cfg.data.wrap)
        return read_clip(path, cfg, start=start)
    except UNREADABLE:
        return None


def benchmark_figure(
    run: Path, root: Path, *, show: int = 3, measured: int = 48, top: int = 20, panels: int = 4
) -> BenchmarkFigure:
    """Figure and numbers for ``run`` (weights + config) on ``root``'s validation videos: the first ``show``
    readable videos are drawn, the first ``measured`` of ``val_events.jsonl`` measured (unreadable ones
    skipped and counted)."""
    cfg, model = load_model(run)
    name = choose_block(model, None)
    rows: list[Row] = []
    links: list[Link] = []
    controls: list[Link] = []
    shown: list[Link] = []
    skipped = 0
    with one_thread():
        for events in read_events(root / "val_events.jsonl")[: max(show, measured)]:
            clip = _video(root, events, cfg, panels)
            if clip is None:
                skipped += 1
                continue
            block, x, _ = capture_input(model, name, clip.tensor)
            att = block_attention(block, x, name)
            found = measure(att, clip.geometry, events, top)
            links += found
            controls += measure(input_similarity(block, x, name), clip.geometry, events, top)
            if len(rows) < show:
                rows.append(video_row(clip, att, events, top, panels))
                shown += found
        if not rows:
            raise NlxError(f"{root}: none of the validation videos could be read")
        title = f"{name}: top {top} targets of a query on each source's flash (squares: the flashes)"
        drawn = figure_bytes(rows, title)
    return BenchmarkFigure(
        block=name,
        videos=tuple(row.label for row in rows),
        shown=summarise(shown),
        measured=summarise(links),
        control=summarise(controls),
        skipped=skipped,
        png=drawn["png"],
        pdf=drawn["pdf"],
    )


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


SUMMARY_COLUMNS = (
    "set",
    "videos",
    "queries",
    "top-k weight on the other flash",
    "arrows on it",
    "all weight on it",
    "chance (uniform)",
    "top-k weight / chance",
    "top-k weight on its own flash",
)


def summary_row(label: str, s: Summary, arrows_only: bool = False) -> list[str]:
    """A row of :data:`SUMMARY_COLUMNS`; ``arrows_only`` for the control, whose weights have no scale."""
    weight = (lambda v: "—") if arrows_only else _pct
    ratio = "—" if arrows_only else f"{s.ratio:.2f}×"
    return [label, str(s.videos), str(s.queries), weight(s.top_share), _pct(s.arrows), weight(s.all_share),
            _pct(s.chance), ratio, weight(s.own_share)]  # fmt: skip
