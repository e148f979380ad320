"""The generated *mini* benchmark: labels that depend on long-range space-time relations.

Each video shows two *sources* in opposite quadrants of a noisy frame. Each source flashes a coloured
shape for a few frames, periodically; the two sources flash half a period apart, so that the two
flashes are always far apart both in space and in time. The class says whether the two sources share
their shape and/or their colour (4 balanced classes). Every single source is uniformly distributed over
shapes and colours whatever the class, so nothing about one flash alone predicts the label: only the
*relation* between two distant flashes does.

Why this measures what non-local blocks are for (see docs/data.md for the numbers):

* A C2D network combines frames only by local temporal max pools before its global average pool. The
  two flashes are further apart in time than those pools reach, so it sees a bag of single flashes,
  and an additive bag of per-flash features cannot tell "same" from "different" (a linear readout of
  ``e(a) + e(b)`` would need ``2h(a) > 0`` for every a and ``h(a) + h(b) < 0`` for every a ≠ b).
  It stays near chance (25%).
* A non-local block relates any two positions directly, so it can bind the two flashes; an I3D can
  too, through a deep stack of temporal convolutions; a space-only block cannot (the flashes are never
  in the same frame); a time-only block can only through the spatial reach of the features it pools.
* A clip of ``frames × stride`` = one period shows one flash of each source; a 4× longer clip
  (Table 2g) shows two of each and at twice the temporal resolution: more evidence against the noise,
  occlusions and dimmed flashes.
* Distractors (grey shapes flashing at random places and times, and a drifting texture) keep
  "something appeared" from being enough to find the sources.
"""

from __future__ import annotations

import io
import json
import math
import multiprocessing
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nlx.data.video import write_video
from nlx.io import write_bytes, write_json, write_text

CLASSES = (
    "different-shape-different-colour",
    "different-shape-same-colour",
    "same-shape-different-colour",
    "same-shape-same-colour",
)
SHAPES = ("hbar", "vbar")
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.95, 0.15, 0.1),
    "green": (0.1, 0.85, 0.2),
    "blue": (0.15, 0.3, 1.0),
    "yellow": (0.95, 0.9, 0.1),
}


@dataclass(frozen=True)
class SynthSpec:
    """Sizes of the generated dataset (the ``mini`` and ``smoke`` presets)."""

    train_videos: int = 2400
    val_videos: int = 480
    frames: int = 64
    size: int = 64
    fps: int = 16
    period: int = 32
    flash_frames: int = 4
    object_size: float = 0.34
    noise: float = 0.12
    distractors: int = 2
    dim_prob: float = 0.25
    shapes: tuple[str, ...] = SHAPES
    colours: tuple[str, ...] = tuple(COLOURS)
    extras: dict[str, float] = field(default_factory=dict)


PRESETS: dict[str, SynthSpec] = {
    "mini": SynthSpec(),
    "smoke": SynthSpec(train_videos=16, val_videos=8, frames=16, size=32, period=8, flash_frames=2),
}


@dataclass(frozen=True)
class Sample:
    """Everything that defines one video (its label follows from the two sources)."""

    label: int
    shapes: tuple[int, int]
    colours: tuple[int, int]
    quadrant: int
    phase: int
    seed: int


def sample_labels(n: int, spec: SynthSpec, rng: np.random.Generator) -> list[Sample]:
    """``n`` samples with balanced classes; each source is uniform over shapes and colours."""
    samples = []
    labels = np.arange(n) % len(CLASSES)
    rng.shuffle(labels)
    for label in labels:
        same_shape, same_colour = bool(label & 2), bool(label & 1)
        shapes = _pair(len(spec.shapes), same_shape, rng)
        colours = _pair(len(spec.colours), same_colour, rng)
        samples.append(
            Sample(
                label=int(label),
                shapes=shapes,
                colours=colours,
                quadrant=int(rng.integers(4)),
                phase=int(rng.integers(spec.period)),
                seed=int(rng.integers(2**31)),
            )
        )
    return samples


def _pair(k: int, same: bool, rng: np.random.Generator) -> tuple[int, int]:
    a = int(rng.integers(k))
    b = a if same else int((a + rng.integers(1, k)) % k)
    return (a, b) if rng.random() < 0.5 else (b, a)


def _mask(shape: str, size: int, angle: float) -> np.ndarray:
    """A soft (size, size) mask of ``shape`` in [0, 1]; ``small-<shape>`` is drawn at half the size."""
    if shape.startswith("small-"):
        inner = _mask(shape[len("small-") :], size // 2, angle)
        out = np.zeros((size, size))
        o = (size - inner.shape[0]) // 2
        out[o : o + inner.shape[0], o : o + inner.shape[0]] = inner
        return out
    r = (np.arange(size) + 0.5) / size * 2 - 1
    y, x = np.meshgrid(r, r, indexing="ij")
    c, s = math.cos(angle), math.sin(angle)
    xr, yr = c * x + s * y, -s * x + c * y
    if shape == "circle":
        d = np.sqrt(x**2 + y**2) - 0.85
    elif shape == "square":
        d = np.maximum(abs(xr), abs(yr)) - 0.7
    elif shape == "triangle":
        d = np.maximum(np.maximum(-yr - 0.55, yr * 0.5 + xr * 0.866 - 0.45), yr * 0.5 - xr * 0.866 - 0.45)
    elif shape == "hbar":
        d = np.maximum(abs(xr) - 0.9, abs(yr) - 0.28)
    elif shape == "vbar":
        d = np.maximum(abs(xr) - 0.28, abs(yr) - 0.9)
    elif shape == "cross":
        d = np.minimum(np.maximum(abs(xr) - 0.85, abs(yr) - 0.3), np.maximum(abs(xr) - 0.3, abs(yr) - 0.85))
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return np.clip(0.5 - d * size / 2, 0.0, 1.0)


@dataclass(frozen=True)
class Flash:
    """One appearance of a source: which source, on which frames, where (pixel centre) and how."""

    source: int
    frames: tuple[int, ...]
    center: tuple[int, int]
    shape: str
    colour: str
    strength: float
    angle: float


def events(sample: Sample, spec: SynthSpec) -> list[Flash]:
    """Every flash of both sources, in the order they are drawn (deterministic from the sample's seed)."""
    rng = np.random.default_rng([sample.seed, 0])
    h, t = spec.size, spec.frames
    obj = _object_pixels(spec)
    flashes = []
    for k, quadrant in enumerate((sample.quadrant, 3 - sample.quadrant)):
        cy, cx = _position(quadrant, h, obj, rng)
        start = (sample.phase + k * spec.period // 2) % spec.period - spec.period
        while start < t:
            frames = tuple(f for f in range(start, start + spec.flash_frames) if 0 <= f < t)
            dim = rng.random() < spec.dim_prob
            strength = float(rng.uniform(0.45, 0.7) if dim else rng.uniform(0.85, 1.0))
            angle = float(rng.uniform(-0.3, 0.3))
            jy, jx = (int(v) for v in rng.integers(-2, 3, size=2))
            if frames:
                shape, colour = spec.shapes[sample.shapes[k]], spec.colours[sample.colours[k]]
                flashes.append(Flash(k, frames, (cy + jy, cx + jx), shape, colour, strength, angle))
            start += spec.period
    return flashes


def _object_pixels(spec: SynthSpec) -> int:
    return max(4, round(spec.object_size * spec.size))


def render(sample: Sample, spec: SynthSpec) -> np.ndarray:
    """The frames (T, H, W, 3) uint8 of one video."""
    video = _background(spec, np.random.default_rng([sample.seed, 1]))  # (T, H, W, 3) float in [0, 1]
    obj = _object_pixels(spec)
    for flash in events(sample, spec):
        mask = _mask(flash.shape, obj, flash.angle) * flash.strength
        _paste(video, list(flash.frames), mask, np.array(COLOURS[flash.colour]), *flash.center)
    rng = np.random.default_rng([sample.seed, 2])
    _distractors(video, spec, obj, rng)
    video += rng.normal(0.0, spec.noise, size=video.shape)
    return (np.clip(video, 0, 1) * 255).astype(np.uint8)


def _background(spec: SynthSpec, rng: np.random.Generator) -> np.ndarray:
    """A dim drifting texture: low-frequency noise translated over time."""
    t, h = spec.frames, spec.size
    base = rng.normal(0, 1, size=(h // 8 + 3, h // 8 + 3, 3))
    up = np.kron(base, np.ones((8, 8, 1)))
    up = (up - up.min()) / (np.ptp(up) + 1e-6)
    vy, vx = rng.uniform(-0.3, 0.3, size=2)
    frames = np.empty((t, h, h, 3), dtype=np.float64)
    for i in range(t):
        oy, ox = round(8 + vy * i) % 8, round(8 + vx * i) % 8
        frames[i] = up[oy : oy + h, ox : ox + h]
    return 0.3 + 0.15 * frames


def _position(quadrant: int, h: int, obj: int, rng: np.random.Generator) -> tuple[int, int]:
    qy, qx = divmod(quadrant, 2)
    half = h // 2
    lo, hi = obj // 2 + 1, half - obj // 2 - 1
    return qy * half + int(rng.integers(lo, max(lo + 1, hi))), qx * half + int(
        rng.integers(lo, max(lo + 1, hi))
    )


def _paste(
    video: np.ndarray, frames: list[int], mask: np.ndarray, colour: np.ndarray, cy: int, cx: int
) -> None:
    size = mask.shape[0]
    h, w = video.shape[1:3]
    y0, x0 = cy - size // 2, cx - size // 2
    ys, xs = slice(max(0, y0), min(h, y0 + size)), slice(max(0, x0), min(w, x0 + size))
    m = mask[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0, None]  # (h', w', 1)
    for f in frames:
        video[f, ys, xs] = video[f, ys, xs] * (1 - m) + colour * m


def _distractors(video: np.ndarray, spec: SynthSpec, obj: int, rng: np.random.Generator) -> None:
    t, h = spec.frames, spec.size
    for _ in range(spec.distractors * max(1, t // spec.period)):
        grey = np.full(3, rng.uniform(0.7, 0.95))
        start = int(rng.integers(-spec.flash_frames + 1, t))
        frames = [f for f in range(start, start + spec.flash_frames) if 0 <= f < t]
        mask = _mask(spec.shapes[int(rng.integers(len(spec.shapes)))], obj, rng.uniform(-0.3, 0.3))
        _paste(
            video,
            frames,
            mask,
            grey,
            int(rng.integers(obj // 2, h - obj // 2)),
            int(rng.integers(obj // 2, h - obj // 2)),
        )


def iter_split(n: int, spec: SynthSpec, seed: int, split: str) -> Iterator[tuple[str, Sample]]:
    """(relative path, sample) for the ``n`` videos of ``split``, deterministic from ``seed``."""
    rng = np.random.default_rng([seed, {"train": 0, "val": 1}[split]])
    for i, sample in enumerate(sample_labels(n, spec, rng)):
        yield f"{split}/{i:05d}.mp4", sample


def _write_one(job: tuple[Path, Sample, SynthSpec]) -> None:
    path, sample, spec = job
    write_video(path, render(sample, spec), fps=spec.fps)


def generate(
    out: Path,
    spec: SynthSpec,
    seed: int = 0,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write the dataset under ``out``: MP4s, ``train.txt`` / ``val.txt`` (``path label``), ``classes.txt``.

    Deterministic from ``seed``. ``.complete`` (the spec and seed as JSON) is written last: a folder
    without it is an interrupted generation and is regenerated.
    """
    jobs: list[tuple[Path, Sample, SynthSpec]] = []
    lists: dict[str, list[str]] = {}
    for split, n in (("train", spec.train_videos), ("val", spec.val_videos)):
        items = list(iter_split(n, spec, seed, split))
        lists[split] = [f"{rel} {s.label}" for rel, s in items]
        jobs += [(out / rel, s, spec) for rel, s in items]
    out.mkdir(parents=True, exist_ok=True)
    done = 0
    with multiprocessing.get_context("spawn").Pool(max(1, workers)) if workers > 1 else _Serial() as pool:
        for _ in pool.imap_unordered(_write_one, jobs, chunksize=8):
            done += 1
            if progress is not None:
                progress(done, len(jobs))
    for split, lines in lists.items():
        write_text(out / f"{split}.txt", "\n".join(lines) + "\n")
    for split in lists:
        records = [
            _event_record(rel, s, spec)
            for rel, s, _ in ((str(p.relative_to(out)), smp, sp) for p, smp, sp in jobs)
            if rel.startswith(f"{split}/")
        ]
        write_text(out / f"{split}_events.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    write_text(out / "classes.txt", "\n".join(CLASSES) + "\n")
    info = {
        "seed": seed,
        "spec": {k: v for k, v in asdict(spec).items() if k != "extras"},
        "classes": list(CLASSES),
        "train_videos": spec.train_videos,
        "val_videos": spec.val_videos,
    }
    example_figure(out / "example.png", spec, seed)
    write_json(out / ".complete", info)
    return info


def _event_record(rel: str, sample: Sample, spec: SynthSpec) -> dict[str, Any]:
    """Where and when the two sources flash: ground truth for checking what a non-local block attends to."""
    return {
        "path": rel,
        "label": sample.label,
        "flashes": [
            {
                "source": f.source,
                "frames": list(f.frames),
                "center_yx": list(f.center),
                "shape": f.shape,
                "colour": f.colour,
            }
            for f in events(sample, spec)
        ],
    }


class _Serial:
    """``Pool``'s interface, in this process (for ``workers <= 1``)."""

    def __enter__(self) -> _Serial:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def imap_unordered(
        self, fn: Callable[[Any], object], jobs: list[Any], chunksize: int = 1
    ) -> Iterator[object]:
        return (fn(job) for job in jobs)


def render_frame(spec: SynthSpec, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """One frame (H, W, 3) uint8 of the generated world with a single source flash, and its class
    ``shape × len(colours) + colour``: the "ImageNet" of the mini preset (see :mod:`nlx.train.pretrain`)."""
    one = SynthSpec(**{**asdict(spec), "frames": 1})
    shape, colour = int(rng.integers(len(spec.shapes))), int(rng.integers(len(spec.colours)))
    video = _background(one, rng)  # (1, H, W, 3)
    obj = _object_pixels(spec)
    dim = rng.random() < spec.dim_prob
    strength = rng.uniform(0.45, 0.7) if dim else rng.uniform(0.85, 1.0)
    mask = _mask(spec.shapes[shape], obj, rng.uniform(-0.3, 0.3)) * strength
    cy, cx = (int(v) for v in rng.integers(obj // 2, spec.size - obj // 2, size=2))
    _paste(video, [0], mask, np.array(COLOURS[spec.colours[colour]]), cy, cx)
    if rng.random() < 0.5:
        _distractors(video, SynthSpec(**{**asdict(one), "period": 1, "flash_frames": 1}), obj, rng)
    video += rng.normal(0.0, spec.noise, size=video.shape)
    return (np.clip(video[0], 0, 1) * 255).astype(np.uint8), shape * len(spec.colours) + colour


def example_figure(path: Path, spec: SynthSpec, seed: int = 0, frames: int = 8) -> None:
    """A PNG of one generated video: ``frames`` frames over one period, flashes outlined (docs/data.md)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sample = next(s for _, s in iter_split(8, spec, seed, "val") if s.label == 1)
    video = render(sample, spec)
    flashes = events(sample, spec)
    first = min(fl.frames[0] for fl in flashes if fl.source == 0) % (spec.period // frames)
    shown = [first + round(i * spec.period / frames) for i in range(frames)]  # one period, both flashes in it
    fig, axes = plt.subplots(1, frames, figsize=(1.6 * frames, 2.1))
    for ax, f in zip(axes, shown, strict=True):
        ax.imshow(video[f], interpolation="nearest")
        ax.set_title(f"frame {f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        for flash in (fl for fl in flashes if f in fl.frames):
            r = _object_pixels(spec) * 0.75
            cy, cx = flash.center
            ax.add_patch(plt.Rectangle((cx - r, cy - r), 2 * r, 2 * r, fill=False, lw=1.2, ec="white"))
            ax.text(
                cx - r + 1, cy + r - 1, "AB"[flash.source], color="white", fontsize=8, ha="left", va="bottom"
            )
    fig.suptitle(
        f"class: {CLASSES[sample.label]}  (source A, source B: same colour, different orientation)",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    write_bytes(path, buf.getvalue())
