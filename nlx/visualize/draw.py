"""Figures 1 and 3 of the paper: displayed frames side by side, arrows from each query to its top-k targets.

Drawn with matplotlib's object API (no pyplot state). Arrows are :class:`~matplotlib.patches.ConnectionPatch`
between the subplots of the query's and the target's frames; an arrow's opacity is its target's share of the
weight divided by the query's largest share (so each query's strongest arrow is opaque), with a floor of
``MIN_ALPHA`` so that every one of the top-k stays visible. PNG and PDF are saved with fixed metadata
(:func:`nlx.report.figures.save`), so the same inputs give the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import ConnectionPatch
from PIL import Image

from nlx.errors import NlxError
from nlx.io import write_bytes
from nlx.report.figures import save, style
from nlx.visualize.select import QueryView

PALETTE = ("#ff3b30", "#ffd60a", "#00e5ff", "#4cd964", "#ff2dff", "#ff9500", "#5ac8fa", "#ffffff")
MIN_ALPHA = 0.15
PANEL_INCHES = 2.4
ANIMATION_FPS = 4  # MP4: each query is held for ANIMATION_FPS frames (one second)


@dataclass(frozen=True)
class Mark:
    """A ground-truth marker: a hollow square at ``pixel`` (y, x) on displayed frame ``panel``."""

    panel: int
    pixel: tuple[float, float]
    colour: str


@dataclass(frozen=True)
class Row:
    """One strip of displayed frames with its queries (a video in the report's figure)."""

    images: Sequence[np.ndarray]  # K frames (H₀, W₀, 3) uint8
    shown: Sequence[int]  # the video frame of each
    queries: Sequence[QueryView]
    label: str = ""
    colours: Sequence[str] = PALETTE
    marks: Sequence[Mark] = ()


def colour(i: int, colours: Sequence[str] = PALETTE) -> str:
    return colours[i % len(colours)]


def new_figure(rows: int, panels: int, aspect: float, title: str) -> tuple[Figure, np.ndarray]:
    """A figure of ``rows × panels`` image axes; ``aspect`` = frame height / width."""
    height = (PANEL_INCHES * aspect + 0.25) * rows + 0.3  # a panel title above each row, the title on top
    fig = Figure(figsize=(PANEL_INCHES * panels, height))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, panels, squeeze=False)
    top, gap = 1 - 0.5 / height, 0.25 / (PANEL_INCHES * aspect)  # 0.5 in for the title, 0.25 in per row
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.01, top=top, wspace=0.04, hspace=gap)
    fig.suptitle(title, fontsize=9, y=1 - 0.1 / height)
    return fig, axes


def draw_row(fig: Figure, axes: Sequence[Axes], row: Row) -> None:
    for ax, image, frame in zip(axes, row.images, row.shown, strict=True):
        ax.imshow(image, interpolation="nearest")
        ax.set_title(f"frame {frame}", fontsize=8, pad=2)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_autoscale_on(False)
    if row.label:
        axes[0].set_ylabel(row.label, fontsize=8)
    for mark in row.marks:
        axes[mark.panel].plot(
            mark.pixel[1], mark.pixel[0], "s", ms=11, mfc="none", mec=mark.colour, mew=1.0, ls="none"
        )
    for i, query in enumerate(row.queries):
        _draw_query(fig, axes, query, colour(i, row.colours), str(i + 1))


def _draw_query(fig: Figure, axes: Sequence[Axes], query: QueryView, tint: str, label: str) -> None:
    q = query.point
    source = axes[q.panel]
    for target in reversed(query.targets):  # the strongest arrows are drawn last, on top
        t = target.point
        alpha = max(target.alpha, MIN_ALPHA)
        dest = axes[t.panel]
        if t.panel == q.panel and np.allclose(t.pixel, q.pixel):
            dest.plot(t.pixel[1], t.pixel[0], "o", ms=9, mfc="none", mec=tint, alpha=alpha, ls="none")
            continue
        arrow = ConnectionPatch(
            xyA=(q.pixel[1], q.pixel[0]), coordsA="data", axesA=source,
            xyB=(t.pixel[1], t.pixel[0]), coordsB="data", axesB=dest,
            arrowstyle="-|>", mutation_scale=7, lw=1.1, color=tint, alpha=alpha, shrinkA=2, shrinkB=1,
        )  # fmt: skip
        fig.add_artist(arrow)
    source.plot(q.pixel[1], q.pixel[0], "o", ms=6, mfc=tint, mec="black", mew=0.8, ls="none")
    source.annotate(label, (q.pixel[1], q.pixel[0]), textcoords="offset points", xytext=(4, 4), fontsize=8,
                    color=tint, fontweight="bold")  # fmt: skip


def figure(rows: Sequence[Row], title: str) -> Figure:
    panels = len(rows[0].images)
    h, w = rows[0].images[0].shape[:2]
    fig, axes = new_figure(len(rows), panels, h / w, title)
    for ax_row, row in zip(axes, rows, strict=True):
        draw_row(fig, list(ax_row), row)
    return fig


def figure_bytes(rows: Sequence[Row], title: str) -> dict[str, bytes]:
    """``{"png": ..., "pdf": ...}`` of :func:`figure`, drawn and saved in matplotlib's default style."""
    with style():
        fig = figure(rows, title)
        return {fmt: save(fig, fmt) for fmt in ("png", "pdf")}


def write_figure(rows: Sequence[Row], title: str, out: Path) -> list[Path]:
    """``out`` with suffixes .png and .pdf (byte-stable); returns the two paths."""
    paths = []
    for fmt, data in figure_bytes(rows, title).items():
        paths.append(out.with_suffix(f".{fmt}"))
        write_bytes(paths[-1], data)
    return paths


def render_rgb(fig: Figure) -> np.ndarray:
    """The figure as an (H, W, 3) uint8 image at its own size (even height and width, for video codecs)."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgb = np.asarray(canvas.buffer_rgba())[..., :3]  # (H, W, 3)
    return np.ascontiguousarray(rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2])


def animate(row: Row, title: str, out: Path) -> Path:
    """One frame per query (each with its own arrows), as a GIF (Pillow) or an MP4 (H.264)."""
    suffix = out.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise NlxError(f"--animate {out}: expected a .gif or .mp4 file")
    frames = []
    with style():
        for i, query in enumerate(row.queries):
            single = Row(row.images, row.shown, [query], row.label, [colour(i, row.colours)], row.marks)
            frames.append(render_rgb(figure([single], f"{title} — query {i + 1}/{len(row.queries)}")))
    if suffix == ".gif":
        images = [Image.fromarray(f) for f in frames]
        buf = io.BytesIO()
        images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=1000, loop=0)
        write_bytes(out, buf.getvalue())
    else:
        from nlx.data.video import write_video

        write_video(out, np.repeat(np.stack(frames), ANIMATION_FPS, axis=0), fps=ANIMATION_FPS)
    return out
