"""Video data: annotations, frame-accurate decoding, clip sampling (Sec. 4.1), caching and loading.

``build_dataset`` reads a split as ``data`` describes it; ``build_loader`` batches it, with
``InfiniteSampler`` keys for training and ``SkipCounter`` to fail a run that skips too many bad videos.
See docs/data.md.
"""

from nlx.data.annotations import Annotations, load_annotations, resolve_format
from nlx.data.dataset import ClipSpec, VideoDataset, build_dataset
from nlx.data.loader import InfiniteSampler, SkipCounter, build_loader, collate, fixed_keys, sample_seed
from nlx.data.video import VideoDecodeError, probe, read_frames, read_video, write_video

__all__ = [
    "Annotations",
    "ClipSpec",
    "InfiniteSampler",
    "SkipCounter",
    "VideoDataset",
    "VideoDecodeError",
    "build_dataset",
    "build_loader",
    "collate",
    "fixed_keys",
    "load_annotations",
    "probe",
    "read_frames",
    "read_video",
    "resolve_format",
    "sample_seed",
    "write_video",
]
