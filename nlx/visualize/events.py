"""Do the arrows link the two events? A measurement on the generated benchmark (``nlx.data.synth``).

Each validation video of the benchmark has two *sources* that flash half a period apart in opposite
quadrants; its label is the relation between the two flashes, so a model that classifies it has to relate
them. ``val_events.jsonl`` says where and when every flash is. For a query placed on a flash of one source
(the query cell holding the flash centre, in the time cell holding most of the flash's sampled frames):

* **hit cells**: the key cells within one cell (Chebyshev distance ≤ 1 on the key grid, same time cell) of
  the *other* source's flash centres, in the time cells where the other source flashes (any of its frames
  sampled there);
* **top-k weight**: the share of the query's top-k weight (as :meth:`Attention.shares` normalises it) that
  falls on hit cells; **arrows**: the fraction of its top-k targets that are hit cells; **all weight**: the
  share of the whole row on hit cells;
* **chance**: the fraction of the query's valid keys that are hit cells, which is what each of the three
  would be in expectation if the weights were uniform;
* **own source**: the top-k weight share on the query's own source's flashes (same definition), for context.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nlx.data import sampling
from nlx.visualize.capture import Attention
from nlx.visualize.draw import Mark
from nlx.visualize.geometry import (
    Cell,
    ClipGeometry,
    Grid,
    cell_frames,
    cell_index,
    display_frames,
    pixel_cell,
)
from nlx.visualize.select import top_keys

SOURCE_COLOURS = ("#ff3b30", "#00e5ff")  # source 0, source 1


@dataclass(frozen=True)
class Flash:
    source: int
    frames: tuple[int, ...]  # video frames
    center: tuple[int, int]  # (y, x) in video pixels


@dataclass(frozen=True)
class VideoEvents:
    path: str  # relative to the data root
    label: int
    flashes: tuple[Flash, ...]


@dataclass(frozen=True)
class Link:
    """The measurement for one query on one flash."""

    video: str
    source: int
    query: Cell
    top_share: float  # of the top-k weight, on the other source
    arrows: float  # of the top-k targets, on the other source
    all_share: float  # of the whole row, on the other source
    chance: float  # of the valid keys, on the other source
    own_share: float  # of the top-k weight, on the query's own source


def read_events(path: Path) -> list[VideoEvents]:
    """``val_events.jsonl`` as written by :func:`nlx.data.synth.generate`, in file order."""
    out = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        flashes = tuple(
            Flash(
                int(f["source"]),
                tuple(int(i) for i in f["frames"]),
                (int(f["center_yx"][0]), int(f["center_yx"][1])),
            )
            for f in rec["flashes"]
        )
        out.append(VideoEvents(str(rec["path"]), int(rec["label"]), flashes))
    return out


# --- which clip ---------------------------------------------------------------------------------------


def shown_start(
    events: VideoEvents, num_frames: int, frames: int, stride: int, panels: int, wrap: bool
) -> int:
    """The window start whose displayed frames show a flash of as many sources as possible (then the one
    closest to the centre window, then the earliest): the figure shows the events the arrows should link."""
    span = frames * stride
    centre = sampling.evenly_spaced_starts(num_frames, span, 1)[0]

    def score(start: int) -> tuple[int, int, int]:
        window = sampling.window_indices(start, frames, stride, num_frames, wrap)  # (T,)
        shown = {int(window[i]) for i in display_frames(frames, panels)}
        seen = {f.source for f in events.flashes if shown & set(f.frames)}
        return (-len(seen), abs(start - centre), start)

    return min(range(max(num_frames - span, 0) + 1), key=score)


# --- cells of the flashes -----------------------------------------------------------------------------


def _time_cells(flash: Flash, geometry: ClipGeometry, cells: int) -> list[tuple[int, int]]:
    """(time cell, number of the flash's frames the clip samples in it), for cells that sample any."""
    out = []
    for t in range(cells):
        sampled = [geometry.frames[i] for i in cell_frames(t, cells, geometry.num_frames)]
        count = sum(f in flash.frames for f in sampled)
        if count:
            out.append((t, count))
    return out


def _spatial_cell(flash: Flash, geometry: ClipGeometry, grid: Grid) -> tuple[int, int] | None:
    """The cell of ``grid`` holding the flash centre, or None when the centre is outside the clip (crop)."""
    y, x = geometry.to_clip((float(flash.center[0]), float(flash.center[1])))
    height, width = geometry.clip_size
    if not (-0.5 <= y < height - 0.5 and -0.5 <= x < width - 0.5):
        return None
    return pixel_cell(y, x, grid[1:], geometry.clip_size)


def query_cells(flash: Flash, geometry: ClipGeometry, grid: Grid) -> Cell | None:
    """The query cell of a flash: its centre, in the time cell that samples most of its frames."""
    times = _time_cells(flash, geometry, grid[0])
    where = _spatial_cell(flash, geometry, grid)
    if not times or where is None:
        return None
    t = max(times, key=lambda tc: (tc[1], -tc[0]))[0]
    return (t, *where)


def hit_cells(flashes: Iterable[Flash], geometry: ClipGeometry, grid: Grid) -> set[int]:
    """Key indices within one cell of the flashes' centres, in the time cells where they flash."""
    hits: set[int] = set()
    for flash in flashes:
        where = _spatial_cell(flash, geometry, grid)
        if where is None:
            continue
        for t, _ in _time_cells(flash, geometry, grid[0]):
            for h in range(max(where[0] - 1, 0), min(where[0] + 2, grid[1])):
                for w in range(max(where[1] - 1, 0), min(where[1] + 2, grid[2])):
                    hits.add(cell_index((t, h, w), grid))
    return hits


# --- the measurement ----------------------------------------------------------------------------------


def measure(att: Attention, geometry: ClipGeometry, events: VideoEvents, top: int) -> list[Link]:
    """One :class:`Link` per flash (of either source) that the clip samples and shows."""
    shares = att.shares()  # (N, M)
    links = []
    for flash in events.flashes:
        query = query_cells(flash, geometry, att.query_grid)
        if query is None:
            continue
        other = hit_cells([f for f in events.flashes if f.source != flash.source], geometry, att.key_grid)
        own = hit_cells([f for f in events.flashes if f.source == flash.source], geometry, att.key_grid)
        row = cell_index(query, att.query_grid)
        keys = top_keys(att, row, top)
        valid = [int(j) for j in att.valid[row].nonzero().flatten()]
        mass = float(shares[row, keys].sum())
        if not other or not valid or mass <= 0:
            continue
        links.append(
            Link(
                video=events.path,
                source=flash.source,
                query=query,
                top_share=float(sum(shares[row, j] for j in keys if j in other)) / mass,
                arrows=sum(j in other for j in keys) / len(keys),
                all_share=float(sum(shares[row, j] for j in valid if j in other)) / float(shares[row].sum()),
                chance=sum(j in other for j in valid) / len(valid),
                own_share=float(sum(shares[row, j] for j in keys if j in own)) / mass,
            )
        )
    return links


@dataclass(frozen=True)
class Summary:
    videos: int
    queries: int
    top_share: float
    arrows: float
    all_share: float
    chance: float
    own_share: float

    @property
    def ratio(self) -> float:
        """Top-k weight on the other source over chance."""
        return self.top_share / self.chance if self.chance > 0 else float("nan")


def summarise(links: Sequence[Link]) -> Summary:
    """Means over queries (every flash of every video counts once)."""

    def mean(values: Iterable[float]) -> float:
        data = list(values)
        return float(np.mean(data)) if data else float("nan")

    return Summary(
        videos=len({link.video for link in links}),
        queries=len(links),
        top_share=mean(link.top_share for link in links),
        arrows=mean(link.arrows for link in links),
        all_share=mean(link.all_share for link in links),
        chance=mean(link.chance for link in links),
        own_share=mean(link.own_share for link in links),
    )


def verdict(block: Summary, control: Summary, top: int) -> str:
    """One honest sentence: the block's top-k weight on the other flash against chance (≥ 2×: links, 1.25-2×:
    weakly, less: does not), and its arrows against the parameter-free control's (input similarity)."""
    if block.queries == 0:
        return "No query could be placed on a flash: nothing measured."
    numbers = (
        f"{100 * block.top_share:.1f}% of a flash query's top-{top} weight lands on the other source's "
        f"flash, {block.ratio:.1f}× the {100 * block.chance:.1f}% that uniform weights would give"
    )
    versus = (
        f"{100 * block.arrows:.1f}% of its arrows do, against {100 * control.arrows:.1f}% when keys are "
        "ranked by the similarity of the block's input alone"
    )
    if block.ratio < 1.25:
        return f"No, the arrows do not link the two events more than chance: {numbers}; {versus}."
    if block.ratio < 2:
        return f"Only weakly: {numbers}; {versus}."
    linked = "Yes, the arrows link the two events"
    if block.arrows >= 1.25 * control.arrows:
        return f"{linked}, beyond what feature similarity explains: {numbers}; {versus}."
    return f"{linked}, but not more than feature similarity does: {numbers}; {versus}."


def flash_marks(
    events: VideoEvents, shown: Sequence[int], colours: Sequence[str] = SOURCE_COLOURS
) -> list[Mark]:
    """Squares on the displayed frames where a source flashes (video pixels, ground truth)."""
    return [
        Mark(panel, (float(f.center[0]), float(f.center[1])), colours[f.source % len(colours)])
        for panel, frame in enumerate(shown)
        for f in events.flashes
        if frame in f.frames
    ]
