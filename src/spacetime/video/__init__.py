"""spacetime.video: video I/O, clip sampling, clip transforms and video datasets.

Models and optical flow live in the subpackages :mod:`spacetime.video.models` and
:mod:`spacetime.video.flow` (import them explicitly). Guide: ``docs/video_data.md``.
"""

from spacetime.video.clips import (
    ClipInfo,
    ClipSampler,
    ConstantClipsPerVideoSampler,
    RandomClipSampler,
    UniformClipSampler,
    clips_to_indices,
)
from spacetime.video.datasets import (
    HMDB51,
    UCF101,
    BadVideoWarning,
    FlowClips,
    Kinetics,
    LabeledVideoDataset,
    SkippedItem,
    SyntheticMotion,
    VideoFolder,
    collate_clips,
    generate_synthetic_motion,
)
from spacetime.video.io import (
    VideoDecodeWarning,
    VideoInfo,
    raw_bytes_per_minute,
    raw_video_bytes,
    read_video,
    video_info,
    write_video,
)
from spacetime.video.transforms import (
    CenterCrop,
    ClipTransform,
    Compose,
    ConvertLayout,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    Resize,
    ShortSideResize,
    ToFloat,
    video_eval_transform,
    video_train_transform,
)

__all__ = [
    # io
    "read_video",
    "write_video",
    "video_info",
    "VideoInfo",
    "VideoDecodeWarning",
    "raw_video_bytes",
    "raw_bytes_per_minute",
    # clips
    "ClipInfo",
    "ClipSampler",
    "UniformClipSampler",
    "RandomClipSampler",
    "ConstantClipsPerVideoSampler",
    "clips_to_indices",
    # transforms
    "ClipTransform",
    "Compose",
    "ToFloat",
    "Resize",
    "ShortSideResize",
    "CenterCrop",
    "RandomCrop",
    "RandomHorizontalFlip",
    "Normalize",
    "ConvertLayout",
    "video_train_transform",
    "video_eval_transform",
    # datasets
    "LabeledVideoDataset",
    "VideoFolder",
    "UCF101",
    "HMDB51",
    "Kinetics",
    "SyntheticMotion",
    "generate_synthetic_motion",
    "collate_clips",
    "SkippedItem",
    "BadVideoWarning",
    "FlowClips",
]
