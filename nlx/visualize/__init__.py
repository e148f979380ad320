"""What a non-local block attends to: the paper's Figures 1 and 3 for any run and video (docs/visualize.md).

    vis = analyse(Path("results/3f2a9c0d1e4b"), Path("video.mp4"), Options(top=20, panels=4))
    write_figure([vis.row()], vis.title(), Path("attention.png"))    # attention.png and attention.pdf

* :mod:`~nlx.visualize.capture`: a forward pre-hook keeps a block's input during one forward pass, then
  ``NonLocalBlock.pairwise_weights`` gives f/C; laid out densely over the clip whatever the scope.
* :mod:`~nlx.visualize.geometry`: feature cells → frames and pixels of the video.
* :mod:`~nlx.visualize.select`: top-k targets, ``auto`` queries, ``--queries`` parsing.
* :mod:`~nlx.visualize.clip`: the model of a run or checkpoint, and one test clip of a video.
* :mod:`~nlx.visualize.draw`: the figure (arrows across frames), PNG/PDF, GIF/MP4.
* :mod:`~nlx.visualize.events`: on the generated benchmark, do the arrows link the two flashes?
"""

from nlx.visualize.capture import Attention, block_attention, capture_attention, capture_inputs
from nlx.visualize.draw import Row, animate, figure, write_figure
from nlx.visualize.geometry import ClipGeometry, Layout, Point
from nlx.visualize.run import Options, Visualization, analyse, to_json, visualize
from nlx.visualize.select import QueryView, Target, auto_queries, query_view, top_keys

__all__ = [
    "Attention",
    "ClipGeometry",
    "Layout",
    "Options",
    "Point",
    "QueryView",
    "Row",
    "Target",
    "Visualization",
    "analyse",
    "animate",
    "auto_queries",
    "block_attention",
    "capture_attention",
    "capture_inputs",
    "figure",
    "query_view",
    "to_json",
    "top_keys",
    "visualize",
    "write_figure",
]
