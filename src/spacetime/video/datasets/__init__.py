"""spacetime.video.datasets: labelled video datasets and the built-in synthetic motion dataset.

File datasets (:class:`VideoFolder`, :class:`UCF101`, :class:`HMDB51`, :class:`Kinetics`) share
:class:`LabeledVideoDataset`: each item is a dict with the clip(s) of one video (see
:mod:`spacetime.video.datasets.base` for the keys and the bad-file policy ``on_error``); use
:func:`collate_clips` as the DataLoader's ``collate_fn``. :class:`SyntheticMotion` is generated
procedurally and cached (no download).
"""

from spacetime.video.datasets.base import (
    BadVideoWarning,
    LabeledVideoDataset,
    SkippedItem,
    collate_clips,
    item_generator,
)
from spacetime.video.datasets.flow_clips import FlowClips, flow_cache_sources, stack_flows
from spacetime.video.datasets.folder import VIDEO_EXTENSIONS, VideoFolder, find_videos
from spacetime.video.datasets.hmdb51 import HMDB51, read_hmdb51_split
from spacetime.video.datasets.kinetics import (
    Kinetics,
    kinetics_filename,
    locate_kinetics_video,
    read_kinetics_csv,
)
from spacetime.video.datasets.multiclip import MultiClipVideos
from spacetime.video.datasets.splits import (
    VIDEO_DATA_FORMS,
    VideoData,
    VideoSplits,
    video_group,
    video_splits,
)
from spacetime.video.datasets.synthetic import (
    APPEARANCE_CLASSES,
    MOTION_CLASSES,
    SyntheticMotion,
    default_cache_dir,
    generate_synthetic_motion,
    synthetic_class_names,
)
from spacetime.video.datasets.ucf101 import UCF101, read_ucf101_split

__all__ = [
    "BadVideoWarning",
    "LabeledVideoDataset",
    "SkippedItem",
    "collate_clips",
    "item_generator",
    "VIDEO_EXTENSIONS",
    "VideoFolder",
    "find_videos",
    "UCF101",
    "read_ucf101_split",
    "HMDB51",
    "read_hmdb51_split",
    "Kinetics",
    "read_kinetics_csv",
    "kinetics_filename",
    "locate_kinetics_video",
    "MultiClipVideos",
    "VIDEO_DATA_FORMS",
    "VideoData",
    "VideoSplits",
    "video_splits",
    "video_group",
    "SyntheticMotion",
    "generate_synthetic_motion",
    "synthetic_class_names",
    "default_cache_dir",
    "MOTION_CLASSES",
    "APPEARANCE_CLASSES",
    "FlowClips",
    "stack_flows",
    "flow_cache_sources",
]
