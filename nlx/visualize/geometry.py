"""From feature-map cells to frames and pixels of the video (the conventions of docs/visualize.md).

Pixels are indexed by their centres: pixel ``(i, j)`` covers ``[i, i + 1) × [j, j + 1)`` in continuous
coordinates and its centre is ``(i + 0.5, j + 0.5)``; coordinates below are in *pixel-index units* (the
centre of the top-left pixel is ``(0, 0)``), as matplotlib's ``imshow`` draws them.

* A cell ``(t, h, w)`` of a grid ``(T', H', W')`` computed from a clip of ``T`` frames of ``H × W`` pixels
  covers clip frames ``[⌈t·T/T'⌉, ⌈(t+1)·T/T'⌉)`` and has its centre at pixel
  ``((h + 0.5)·H/H' − 0.5, (w + 0.5)·W/W' − 0.5)``. Keys on the subsampled grid ``(T', ⌈H'/2⌉, ⌈W'/2⌉)``
  map the same way with their own grid size.
* A clip pixel maps back to the decoded video frame by undoing the crop and then the resize (bilinear, half
  pixel centres): ``y₀ = (y + top + 0.5)·H₀/Hₛ − 0.5`` (and the same in x).
* ``K`` displayed frames split the clip into ``K`` windows of ``T/K`` frames (the paper's 4 of 32, stride 8);
  window ``k`` shows its middle clip frame ``⌊(k + ½)·T/K⌋``, and a time cell is drawn on the window that
  holds its middle frame.
"""

from __future__ import annotations

from dataclasses import dataclass

Grid = tuple[int, int, int]  # (T', H', W') of a feature map
Cell = tuple[int, int, int]  # (t, h, w) on a grid
Pixel = tuple[float, float]  # (y, x) in pixel-index units


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def key_grid(query_grid: Grid, pooled: bool) -> Grid:
    """The grid of the keys: the query grid max-pooled (1, 2, 2) with ceil_mode when ``pooled``."""
    t, h, w = query_grid
    return (t, ceil_div(h, 2), ceil_div(w, 2)) if pooled else query_grid


def cell_index(cell: Cell, grid: Grid) -> int:
    """Position of ``cell`` in the row-major (T', H', W') flattening that ``to_tokens`` uses."""
    t, h, w = cell
    return (t * grid[1] + h) * grid[2] + w


def index_cell(index: int, grid: Grid) -> Cell:
    t, rest = divmod(index, grid[1] * grid[2])
    h, w = divmod(rest, grid[2])
    return (t, h, w)


def in_grid(cell: Cell, grid: Grid) -> bool:
    return all(0 <= c < n for c, n in zip(cell, grid, strict=True))


def cell_frames(t: int, cells: int, frames: int) -> range:
    """Clip frames covered by time cell ``t`` of ``cells`` computed from ``frames`` frames."""
    return range(ceil_div(t * frames, cells), ceil_div((t + 1) * frames, cells))


def cell_center(h: int, w: int, grid_hw: tuple[int, int], clip_hw: tuple[int, int]) -> Pixel:
    """Clip pixel at the centre of spatial cell ``(h, w)`` of a ``grid_hw`` map of a ``clip_hw`` input."""
    (gh, gw), (ch, cw) = grid_hw, clip_hw
    return ((h + 0.5) * ch / gh - 0.5, (w + 0.5) * cw / gw - 0.5)


def pixel_cell(y: float, x: float, grid_hw: tuple[int, int], clip_hw: tuple[int, int]) -> tuple[int, int]:
    """The spatial cell whose area holds clip pixel ``(y, x)`` (clamped to the grid)."""
    (gh, gw), (ch, cw) = grid_hw, clip_hw
    h = int((y + 0.5) * gh // ch)
    w = int((x + 0.5) * gw // cw)
    return min(max(h, 0), gh - 1), min(max(w, 0), gw - 1)


def display_frames(frames: int, panels: int) -> tuple[int, ...]:
    """Clip frames shown for ``panels`` windows of a ``frames``-frame clip: each window's middle frame."""
    return tuple((2 * k + 1) * frames // (2 * panels) for k in range(panels))


def panel_of(t: int, cells: int, frames: int, panels: int) -> int:
    """The window (displayed frame) that holds the middle frame of time cell ``t``."""
    covered = cell_frames(t, cells, frames)
    middle = (covered.start + covered.stop - 1) / 2
    return min(int(middle * panels // frames), panels - 1)


@dataclass(frozen=True)
class ClipGeometry:
    """Where the pixels and frames of the model's input clip come from in the video."""

    video_size: tuple[int, int]  # (H₀, W₀) of the decoded frames
    scaled_size: tuple[int, int]  # (Hₛ, Wₛ) after the resize
    offset: tuple[int, int]  # (top, left) of the crop in the resized frame
    clip_size: tuple[int, int]  # (H, W) of the model's input
    frames: tuple[int, ...]  # video frame of each clip frame (T,)

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    def to_video(self, pixel: Pixel) -> Pixel:
        """Clip pixel → pixel of the decoded video frame (undo the crop, then the resize)."""
        (y, x), (top, left) = pixel, self.offset
        sy, sx = self.video_size[0] / self.scaled_size[0], self.video_size[1] / self.scaled_size[1]
        return ((y + top + 0.5) * sy - 0.5, (x + left + 0.5) * sx - 0.5)

    def to_clip(self, pixel: Pixel) -> Pixel:
        """Inverse of :meth:`to_video`."""
        (y, x), (top, left) = pixel, self.offset
        sy, sx = self.scaled_size[0] / self.video_size[0], self.scaled_size[1] / self.video_size[1]
        return ((y + 0.5) * sy - 0.5 - top, (x + 0.5) * sx - 0.5 - left)


@dataclass(frozen=True)
class Point:
    """A cell of a feature map placed on the video: its pixel, and the displayed frame it is drawn on."""

    cell: Cell
    pixel: Pixel  # (y, x) centre in the decoded video frame
    panel: int  # which displayed frame (0..K-1)
    frame: int  # the video frame that panel shows
    frames: tuple[int, int]  # first and last video frame the cell covers


@dataclass(frozen=True)
class Layout:
    """The clip's geometry and the ``panels`` displayed frames: places cells of any grid on the video."""

    geometry: ClipGeometry
    panels: int

    @property
    def shown(self) -> tuple[int, ...]:
        """Video frame of each panel."""
        return tuple(self.geometry.frames[i] for i in display_frames(self.geometry.num_frames, self.panels))

    def place(self, cell: Cell, grid: Grid) -> Point:
        t, h, w = cell
        geo = self.geometry
        covered = cell_frames(t, grid[0], geo.num_frames)
        panel = panel_of(t, grid[0], geo.num_frames, self.panels)
        pixel = geo.to_video(cell_center(h, w, grid[1:], geo.clip_size))
        span = (geo.frames[covered.start], geo.frames[covered.stop - 1])
        return Point(cell, pixel, panel, self.shown[panel], span)

    def cell_at(self, frame: int, pixel: Pixel, grid: Grid) -> Cell:
        """The cell of ``grid`` at video ``pixel`` in the clip frame nearest to video ``frame``."""
        geo = self.geometry
        if not min(geo.frames) <= frame <= max(geo.frames):
            raise ValueError(
                f"video frame {frame} is outside the clip (frames {min(geo.frames)}-{max(geo.frames)})"
            )
        i = min(range(geo.num_frames), key=lambda j: abs(geo.frames[j] - frame))  # the nearest clip frame
        t = next(t for t in range(grid[0]) if i in cell_frames(t, grid[0], geo.num_frames))
        h, w = pixel_cell(*geo.to_clip(pixel), grid[1:], geo.clip_size)
        return (t, h, w)
