"""Kinetics-400/600/700 (Kay et al., 2017) from the official annotation CSV files."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spacetime.errors import FileFormatError, MissingFileError
from spacetime.video.clips import RandomClipSampler, UniformClipSampler
from spacetime.video.datasets.base import LabeledVideoDataset
from spacetime.video.datasets.folder import check_missing

__all__ = ["Kinetics", "read_kinetics_csv", "kinetics_filename", "locate_kinetics_video"]

KINETICS_EXTENSIONS = (".mp4", ".mkv", ".webm")

_COLUMNS = ("label", "youtube_id", "time_start", "time_end")


def kinetics_filename(
    youtube_id: str, time_start: float | str, time_end: float | str, ext: str = ".mp4"
) -> str:
    """The conventional file name ``{youtube_id}_{start:06d}_{end:06d}.mp4``."""
    return f"{youtube_id}_{int(float(time_start)):06d}_{int(float(time_end)):06d}{ext}"


def locate_kinetics_video(
    root: str | os.PathLike, row: dict[str, str],
    extensions: Sequence[str] = KINETICS_EXTENSIONS,
) -> str:
    """Path of the video of a CSV ``row`` under ``root/[split/]<label>/`` (labels with spaces
    may also use underscores in folder names); the first candidate when none exists."""
    root = Path(root).expanduser()
    labels = [row["label"], row["label"].replace(" ", "_")]
    parents = [root / row["split"]] if row.get("split") else []
    parents.append(root)
    first = None
    for ext in extensions:
        name = kinetics_filename(row["youtube_id"], row["time_start"], row["time_end"], ext)
        for parent in parents:
            for label in labels:
                p = parent / label / name
                first = first or p
                if p.is_file():
                    return str(p)
    return str(first)


def read_kinetics_csv(csv_path: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of an annotation CSV with header ``label,youtube_id,time_start,time_end,split``
    (extra columns such as ``is_cc`` are kept, ``split`` is optional)."""
    path = Path(csv_path).expanduser()
    if not path.is_file():
        raise MissingFileError(f"csv_path: Kinetics annotation file not found: {path}")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = [c.strip() for c in (reader.fieldnames or [])]
        if any(c not in fields for c in _COLUMNS):
            raise FileFormatError(
                f"{path}: expected CSV columns {', '.join(_COLUMNS)}[, split], got {fields}"
            )
        rows = []
        for n, row in enumerate(reader, 2):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            try:
                float(row["time_start"]), float(row["time_end"])
            except ValueError as e:
                raise FileFormatError(f"{path}:{n}: bad time_start/time_end in {row}") from e
            rows.append(row)
    return rows


class Kinetics(LabeledVideoDataset):
    """Kinetics clips named ``{youtube_id}_{start:06d}_{end:06d}.mp4`` under
    ``root/[split/]<label>/`` (labels with spaces may also use underscores in folder names).

    Args:
        root: download folder.
        csv_path: annotation CSV (``label,youtube_id,time_start,time_end,split``).
        train: default sampler: one random clip (True) or 10 uniform clips, stacked (False).
        class_names: fix the label order (e.g. the training CSV's classes when loading the
            validation CSV); default: sorted labels of this CSV.
        extensions: file suffixes to try, in order.
        missing: ``"skip"`` (default: YouTube removals make some videos unavailable; one warning
            with the count) or ``"raise"``.
        **kwargs: :class:`~spacetime.video.datasets.base.LabeledVideoDataset` options.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        csv_path: str | os.PathLike,
        train: bool = True,
        *,
        class_names: Sequence[str] | None = None,
        extensions: Sequence[str] = KINETICS_EXTENSIONS,
        missing: str = "skip",
        **kwargs: Any,
    ) -> None:
        self.root, self.train = Path(root).expanduser(), train
        rows = read_kinetics_csv(csv_path)
        names = sorted({r["label"] for r in rows if r["label"]}) if class_names is None else list(
            class_names)
        by_name = {c: i for i, c in enumerate(names)}
        videos = []
        for r in rows:
            if r["label"] not in by_name:
                raise FileFormatError(f"{csv_path}: label {r['label']!r} not in class_names")
            videos.append((locate_kinetics_video(self.root, r, extensions), by_name[r["label"]]))
        videos = check_missing(videos, missing, "Kinetics")
        kwargs.setdefault("clip_sampler",
                          RandomClipSampler(16) if train else UniformClipSampler(16, 10))
        super().__init__(videos, names, **kwargs)
