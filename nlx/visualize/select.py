"""Which queries to show and which of their keys: top-k targets, ``auto`` queries, ``--queries`` parsing.

* Targets of a query: its ``k`` valid keys of highest weight ``f/C``, ties broken by the lower key index
  (a stable sort), fewer when the scope relates fewer keys (a ``time`` block has T' keys per query).
* ``auto``: the queries whose outgoing weights are most concentrated, measured by the **top-k mass** (the
  share of the row's weight, as :meth:`~nlx.visualize.capture.Attention.shares` normalises it, that falls
  on its ``k`` highest keys), picked greedily and spread out: a query is skipped when it lies within
  ``separation`` cells (Chebyshev distance in (t, h, w)) of one already picked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from nlx.errors import NlxError
from nlx.visualize.capture import Attention
from nlx.visualize.geometry import Cell, Layout, Point, cell_index, in_grid, index_cell


@dataclass(frozen=True)
class Target:
    point: Point  # a key cell placed on the video
    weight: float  # f(x_i, x̂_j) / C(x̂) as the block computes it
    share: float  # the weight as a share of the row (see Attention.shares)
    alpha: float  # opacity: share / the query's largest share


@dataclass(frozen=True)
class QueryView:
    point: Point  # the query cell placed on the video
    concentration: float  # top-k mass of its row
    targets: tuple[Target, ...]  # highest weight first


def top_keys(att: Attention, row: int, k: int) -> list[int]:
    """Indices of the ``k`` valid keys of highest weight in ``row``, highest first, ties by lower index."""
    scores = att.weights[row].masked_fill(~att.valid[row], float("-inf"))  # (M,)
    order = torch.sort(scores, descending=True, stable=True).indices  # (M,)
    count = min(k, int(att.valid[row].sum()))
    return [int(j) for j in order[:count]]


def concentration(att: Attention, k: int) -> torch.Tensor:
    """Top-k mass of every row: (N,)."""
    shares = att.shares()  # (N, M)
    k = min(k, shares.shape[1])
    return shares.topk(k, dim=1).values.sum(dim=1)  # (N,)


def auto_queries(att: Attention, k: int, count: int, separation: int = 2) -> list[Cell]:
    """``count`` spread-out query cells with the most concentrated rows, most concentrated first."""
    mass = concentration(att, k)  # (N,)
    order = torch.sort(-mass, stable=True).indices  # highest mass first, ties by lower index
    picked: list[Cell] = []
    for i in order.tolist():
        cell = index_cell(i, att.query_grid)
        if all(max(abs(a - b) for a, b in zip(cell, c, strict=True)) >= separation for c in picked):
            picked.append(cell)
        if len(picked) == count:
            break
    return picked


def query_view(att: Attention, layout: Layout, cell: Cell, k: int) -> QueryView:
    """The query ``cell`` with its top-``k`` targets, placed on the video."""
    row = cell_index(cell, att.query_grid)
    shares = att.shares()[row]  # (M,)
    keys = top_keys(att, row, k)
    top = max((float(shares[j]) for j in keys), default=0.0)
    targets = tuple(
        Target(
            point=layout.place(index_cell(j, att.key_grid), att.key_grid),
            weight=float(att.weights[row, j]),
            share=float(shares[j]),
            alpha=float(shares[j]) / top if top > 0 else 0.0,
        )
        for j in keys
    )
    mass = float(sum(shares[j] for j in keys))
    return QueryView(layout.place(cell, att.query_grid), mass, targets)


# --- --queries ----------------------------------------------------------------------------------------

_CELL = re.compile(r"^(-?\d+),(-?\d+),(-?\d+)$")
_PIXEL = re.compile(r"^px:(\d+),(\d+(?:\.\d+)?),(\d+(?:\.\d+)?)$")


def split_queries(items: list[str]) -> list[str]:
    """``["auto"]``, ``["1,2,3 0,4,4"]``, ``["1,2,3;0,4,4"]`` → one spec per query."""
    return [part for item in items for part in re.split(r"[;\s]+", item.strip()) if part]


def resolve_queries(specs: list[str], att: Attention, layout: Layout, k: int, count: int) -> list[Cell]:
    """Query cells from ``--queries`` specs: ``auto``, a cell ``t,h,w`` of the block's input, or a video pixel
    ``px:FRAME,Y,X`` (the cell holding it, in the clip frame nearest to FRAME)."""
    specs = specs or ["auto"]
    cells: list[Cell] = []
    for spec in specs:
        if spec == "auto":
            cells += [c for c in auto_queries(att, k, count) if c not in cells]
        elif match := _CELL.match(spec):
            cell = (int(match[1]), int(match[2]), int(match[3]))
            if not in_grid(cell, att.query_grid):
                t, h, w = att.query_grid
                raise NlxError(
                    f"--queries {spec}: outside the feature map of {att.block} "
                    f"(T', H', W') = ({t}, {h}, {w}): t < {t}, h < {h}, w < {w}"
                )
            cells.append(cell)
        elif match := _PIXEL.match(spec):
            frame, y, x = int(match[1]), float(match[2]), float(match[3])
            height, width = layout.geometry.video_size
            if not (0 <= y < height and 0 <= x < width):
                raise NlxError(
                    f"--queries {spec}: pixel ({y:g}, {x:g}) is outside the {height}×{width} video"
                )
            try:
                cells.append(layout.cell_at(frame, (y, x), att.query_grid))
            except ValueError as err:
                raise NlxError(f"--queries {spec}: {err}") from err
        else:
            raise NlxError(f"--queries {spec}: expected auto, a cell t,h,w or a pixel px:FRAME,Y,X")
    return cells
