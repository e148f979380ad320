"""``nlx visualize`` as a library call: weights + video → attention figure (PNG, PDF), table, animation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nlx.errors import NlxError
from nlx.visualize.capture import Attention, capture_attention
from nlx.visualize.clip import Clip, choose_block, load_model, read_clip, to_device
from nlx.visualize.draw import Row, animate, write_figure
from nlx.visualize.geometry import Layout, Point, display_frames
from nlx.visualize.select import QueryView, query_view, resolve_queries, split_queries


@dataclass(frozen=True)
class Options:
    """What ``nlx visualize`` shows (see docs/visualize.md)."""

    block: str | None = None  # default: the first non-local block of res3
    queries: tuple[str, ...] = ("auto",)  # auto, t,h,w cells, px:FRAME,Y,X pixels
    num_queries: int = 3  # how many ``auto`` picks
    top: int = 20  # targets per query
    panels: int = 4  # displayed frames
    start: int | None = None  # first video frame of the clip (default: the centre window)
    crop: bool = False  # centre crop to data.crop instead of the whole frame
    device: str = "cpu"

    def check(self) -> None:
        for name, value in (
            ("--top", self.top),
            ("--frames", self.panels),
            ("--num-queries", self.num_queries),
        ):
            if value < 1:
                raise NlxError(f"{name} {value}: expected a positive number")


@dataclass(frozen=True)
class Visualization:
    """Everything the figure and the table show."""

    attention: Attention
    clip: Clip
    layout: Layout
    queries: tuple[QueryView, ...]
    top: int
    prediction: tuple[int, float]  # (class, softmax probability)

    def row(self, label: str = "") -> Row:
        images = [
            self.clip.video[i] for i in display_frames(self.clip.geometry.num_frames, self.layout.panels)
        ]
        return Row(images, self.layout.shown, self.queries, label)

    def title(self) -> str:
        att = self.attention
        return (
            f"{att.block} ({att.instantiation.replace('_', ' ')}, {att.scope}): "
            f"top {self.top} targets of {len(self.queries)} queries"
        )


def analyse(target: Path, video: Path, options: Options) -> Visualization:
    """Run the model of ``target`` on one clip of ``video`` and pick the queries and their targets."""
    options.check()
    cfg, model = load_model(target)
    name = choose_block(model, options.block)
    clip = read_clip(video, cfg, start=options.start, crop=options.crop)
    if options.panels > clip.geometry.num_frames:
        raise NlxError(f"--frames {options.panels}: the clip has only {clip.geometry.num_frames} frames")
    model.to(options.device)
    attention, logits = capture_attention(model, name, to_device(clip, options.device))
    layout = Layout(clip.geometry, options.panels)
    specs = split_queries(list(options.queries))
    cells = resolve_queries(specs, attention, layout, options.top, options.num_queries)
    views = tuple(query_view(attention, layout, cell, options.top) for cell in cells)
    probs = torch.softmax(logits.float().cpu()[0], dim=0)  # (K,)
    return Visualization(
        attention, clip, layout, views, options.top, (int(probs.argmax()), float(probs.max()))
    )


def default_out(video: Path) -> Path:
    return Path(f"attention_{video.stem}.png")


def visualize(
    target: Path, video: Path, options: Options, out: Path | None = None, animation: Path | None = None
) -> dict[str, Any]:
    """Write the figure (``out`` as .png and .pdf) and, if asked, the animation; returns the JSON record."""
    if animation is not None and animation.suffix.lower() not in (".gif", ".mp4"):
        raise NlxError(f"--animate {animation}: expected a .gif or .mp4 file")
    vis = analyse(target, video, options)
    files = write_figure([vis.row(video.name)], vis.title(), out or default_out(video))
    if animation is not None:
        files.append(animate(vis.row(video.name), vis.title(), animation))
    return {**to_json(vis), "weights": str(target), "video": str(video), "files": [str(p) for p in files]}


# --- JSON ---------------------------------------------------------------------------------------------


def _point(p: Point) -> dict[str, Any]:
    return {
        "cell": list(p.cell),
        "pixel": [round(p.pixel[0], 2), round(p.pixel[1], 2)],
        "frame": p.frame,
        "frames": list(p.frames),
    }


def to_json(vis: Visualization) -> dict[str, Any]:
    att, geo = vis.attention, vis.clip.geometry
    return {
        "block": att.block,
        "instantiation": att.instantiation,
        "scope": att.scope,
        "query_grid": list(att.query_grid),
        "key_grid": list(att.key_grid),
        "clip": {
            "start": vis.clip.start,
            "stride": vis.clip.stride,
            "frames": list(geo.frames),
            "video_size": list(geo.video_size),
            "input_size": list(geo.clip_size),
            "crop_offset": list(geo.offset),
        },
        "shown_frames": list(vis.layout.shown),
        "prediction": {"class": vis.prediction[0], "probability": round(vis.prediction[1], 4)},
        "top": vis.top,
        "queries": [
            {
                **_point(q.point),
                "concentration": round(q.concentration, 4),
                "targets": [
                    {**_point(t.point), "weight": t.weight, "share": round(t.share, 6)} for t in q.targets
                ],
            }
            for q in vis.queries
        ],
    }
