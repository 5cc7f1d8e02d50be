"""HMDB51 (Kuehne et al., 2011) with its official three splits."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from spacetime.checks import check_in
from spacetime.errors import FileFormatError, MissingFileError
from spacetime.video.clips import RandomClipSampler, UniformClipSampler
from spacetime.video.datasets.base import LabeledVideoDataset
from spacetime.video.datasets.folder import check_missing

__all__ = ["HMDB51", "read_hmdb51_split"]


def read_hmdb51_split(
    split_dir: str | os.PathLike, fold: int = 1, train: bool = True
) -> tuple[list[tuple[str, int]], list[str]]:
    """Parse the ``<class>_test_split<fold>.txt`` files of the official ``testTrainMulti_7030``.

    Each line is ``<video>.avi <tag>`` with tag 1 = training, 2 = testing, 0 = unused (not
    loaded). Classes are the sorted class names. Returns ``([("<class>/<video>", label)],
    class_names)``.
    """
    check_in(fold, "fold", (1, 2, 3))
    split_dir = Path(split_dir).expanduser()
    if not split_dir.is_dir():
        raise MissingFileError(f"split_dir: HMDB51 split folder not found: {split_dir}")
    pattern = re.compile(rf"^(.+)_test_split{fold}\.txt$")
    files = {m.group(1): f for f in split_dir.iterdir() if (m := pattern.match(f.name))}
    if not files:
        raise MissingFileError(f"split_dir: no '<class>_test_split{fold}.txt' files in {split_dir}")
    class_names = sorted(files)
    want = "1" if train else "2"
    videos = []
    for label, name in enumerate(class_names):
        text = files[name].read_text(encoding="utf-8", errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise FileFormatError(
                    f"{files[name]}:{n}: expected '<video>.avi 0|1|2', got {line.strip()!r}"
                )
            if parts[1] == want:
                videos.append((f"{name}/{parts[0]}", label))
    return videos, class_names


class HMDB51(LabeledVideoDataset):
    """HMDB51 action recognition: 51 classes, 70/30 train/test videos per class and split.

    Args:
        root: folder with ``<class>/<video>.avi``.
        split_dir: folder with ``<class>_test_split{1,2,3}.txt``.
        fold: split 1, 2 or 3.
        train: tag-1 videos (default sampler: one random 16-frame clip) or tag-2 videos
            (default: 10 uniformly spaced clips, stacked).
        missing: ``"raise"`` or ``"skip"`` listed videos that are absent.
        **kwargs: :class:`~spacetime.video.datasets.base.LabeledVideoDataset` options.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split_dir: str | os.PathLike,
        fold: int = 1,
        train: bool = True,
        *,
        missing: str = "raise",
        **kwargs: Any,
    ) -> None:
        rel, class_names = read_hmdb51_split(split_dir, fold, train)
        self.root, self.fold, self.train = Path(root).expanduser(), fold, train
        videos = check_missing([(str(self.root / r), y) for r, y in rel], missing, "HMDB51")
        kwargs.setdefault("clip_sampler",
                          RandomClipSampler(16) if train else UniformClipSampler(16, 10))
        super().__init__(videos, class_names, **kwargs)
