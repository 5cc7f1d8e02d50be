"""Class-per-folder video datasets: ``root/<class_name>/<video>.mp4``."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spacetime.checks import check_in
from spacetime.errors import MissingFileError
from spacetime.video.datasets.base import LabeledVideoDataset

__all__ = ["VIDEO_EXTENSIONS", "VideoFolder", "find_videos", "check_missing"]

#: File suffixes recognised as videos (lower case).
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")


def find_videos(
    root: str | os.PathLike, extensions: Sequence[str] = VIDEO_EXTENSIONS
) -> tuple[list[tuple[str, int]], list[str]]:
    """``([(path, label)], class_names)`` for ``root/<class>/<file>`` (sorted, recursive).

    Classes are the sorted names of the sub-folders of ``root``; files are matched by suffix
    (case-insensitive) anywhere below their class folder.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise MissingFileError(f"root: video folder not found: {root}")
    exts = tuple(e.lower() for e in extensions)
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    videos = []
    for label, name in enumerate(classes):
        for f in sorted((root / name).rglob("*")):
            if f.is_file() and f.suffix.lower() in exts and not f.name.startswith("."):
                videos.append((str(f), label))
    if not videos:
        raise MissingFileError(f"root: no video files ({', '.join(exts)}) under {root}/<class>/")
    return videos, classes


def check_missing(
    videos: list[tuple[str, int]], missing: str, what: str
) -> list[tuple[str, int]]:
    """Drop (``missing="skip"``, with one warning) or reject (``"raise"``) absent video files."""
    check_in(missing, "missing", ("raise", "skip"))
    absent = [p for p, _ in videos if not os.path.isfile(p)]
    if not absent:
        return videos
    msg = (f"{what}: {len(absent)} of {len(videos)} listed videos are missing, e.g. "
           + ", ".join(absent[:3]))
    if missing == "raise":
        raise MissingFileError(msg + " (pass missing='skip' to drop them)")
    warnings.warn(msg + "; skipped", stacklevel=3)
    gone = set(absent)
    return [v for v in videos if v[0] not in gone]


class VideoFolder(LabeledVideoDataset):
    """Videos stored as ``root/<class_name>/*.mp4|avi|...``; labels are sorted class folders.

    Keyword arguments are those of :class:`~spacetime.video.datasets.base.LabeledVideoDataset`
    (``clip_sampler``, ``transform``, ``multi_clip``, ``decode_size``, ``on_error``, ``seed``).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        extensions: Sequence[str] = VIDEO_EXTENSIONS,
        **kwargs: Any,
    ) -> None:
        videos, classes = find_videos(root, extensions)
        self.root = Path(root).expanduser()
        super().__init__(videos, classes, **kwargs)
