"""UCF101 (Soomro et al., 2012) with its official three train/test splits."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from spacetime.checks import check_in
from spacetime.errors import FileFormatError, MissingFileError
from spacetime.video.clips import RandomClipSampler, UniformClipSampler
from spacetime.video.datasets.base import LabeledVideoDataset
from spacetime.video.datasets.folder import check_missing

__all__ = ["UCF101", "read_ucf101_split"]


def _lines(path: Path) -> list[tuple[int, list[str]]]:
    if not path.is_file():
        raise MissingFileError(f"split file not found: {path}")
    text = path.read_text(encoding="utf-8", errors="replace")
    return [(n, ln.split()) for n, ln in enumerate(text.splitlines(), 1) if ln.strip()]


def read_ucf101_split(
    split_dir: str | os.PathLike, fold: int = 1, train: bool = True
) -> tuple[list[tuple[str, int]], list[str]]:
    """Parse ``classInd.txt`` and ``trainlist0{fold}.txt`` / ``testlist0{fold}.txt``.

    Formats (the official ``ucfTrainTestlist`` folder): ``classInd.txt`` lines ``1 ApplyEyeMakeup``
    (1-based); ``trainlist01.txt`` lines ``ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1``;
    ``testlist01.txt`` lines ``ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi`` (label taken from
    the folder). Returns ``([(relative_path, label)], class_names)`` with 0-based labels.
    """
    check_in(fold, "fold", (1, 2, 3))
    split_dir = Path(split_dir).expanduser()
    ind = split_dir / "classInd.txt"
    names: dict[int, str] = {}
    for n, parts in _lines(ind):
        if len(parts) != 2 or not parts[0].isdigit():
            raise FileFormatError(f"{ind}:{n}: expected '<index> <ClassName>', got {parts}")
        names[int(parts[0])] = parts[1]
    if sorted(names) != list(range(1, len(names) + 1)):
        raise FileFormatError(f"{ind}: class indices must be 1..{len(names)}")
    class_names = [names[i] for i in range(1, len(names) + 1)]
    by_name = {c: i for i, c in enumerate(class_names)}
    listing = split_dir / f"{'trainlist' if train else 'testlist'}0{fold}.txt"
    videos = []
    for n, parts in _lines(listing):
        rel = parts[0].replace("\\", "/")
        cls = rel.split("/")[0]
        if cls not in by_name:
            raise FileFormatError(f"{listing}:{n}: unknown class folder {cls!r} in {rel!r}")
        label = by_name[cls]
        if len(parts) >= 2:
            if not parts[1].isdigit() or int(parts[1]) - 1 != label:
                raise FileFormatError(
                    f"{listing}:{n}: label {parts[1]!r} disagrees with class {cls!r} "
                    f"(index {label + 1} in classInd.txt)"
                )
        videos.append((rel, label))
    return videos, class_names


class UCF101(LabeledVideoDataset):
    """UCF101 action recognition: 101 classes, 13,320 clips, three official splits.

    Args:
        root: folder with ``<ClassName>/v_<ClassName>_gXX_cYY.avi``.
        split_dir: folder with ``classInd.txt``, ``trainlist0{1,2,3}.txt``, ``testlist0{...}``.
        fold: split 1, 2 or 3.
        train: training list (default sampler: one random 16-frame clip) or test list (default
            sampler: 10 uniformly spaced 16-frame clips, stacked for test-time averaging).
        missing: ``"raise"`` if a listed video file is absent, or ``"skip"`` it with a warning.
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
        rel, class_names = read_ucf101_split(split_dir, fold, train)
        self.root, self.fold, self.train = Path(root).expanduser(), fold, train
        videos = check_missing([(str(self.root / r), y) for r, y in rel], missing, "UCF101")
        kwargs.setdefault("clip_sampler",
                          RandomClipSampler(16) if train else UniformClipSampler(16, 10))
        super().__init__(videos, class_names, **kwargs)
