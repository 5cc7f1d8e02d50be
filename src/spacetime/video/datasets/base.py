"""Shared machinery of the video datasets: items, the bad-file policy and the collate function.

Item format (a dict) returned by every dataset of :mod:`spacetime.video.datasets`:

==================  ===========================================================================
key                 value
==================  ===========================================================================
``video``           one clip, the transform's output (default: uint8 ``(T, 3, H, W)``); in
                    multi-clip mode the ``K`` clips stacked, ``(K, ...)``
``label``           int class index into ``dataset.class_names``
``video_index``     int index of the video that was actually read (differs from the requested
                    index only under ``on_error="retry_other"``)
``clip_index``      int, or int64 ``(K,)`` in multi-clip mode
``frame_indices``   int64 ``(T,)`` native frame indices, ``(K, T)`` in multi-clip mode
``path``            str, the video file
==================  ===========================================================================

Unreadable videos (missing, corrupt, truncated, zero frames) never kill an epoch or a DataLoader
worker. Each is reported once per process with a :class:`BadVideoWarning` naming the file and the
reason, recorded in ``dataset.bad_files`` (``{path: reason}``, per process: with DataLoader workers
each worker keeps its own record, and the batches carry them, see below), and handled by
``on_error``:

- ``"skip"`` (default): the item is a :class:`SkippedItem`; :func:`collate_clips` drops it from
  the batch and lists it in ``batch["skipped"]`` (so batches can be smaller than ``batch_size``;
  ``batch["batch_size"]`` is the number of clips kept, possibly 0).
- ``"retry_other"``: another video, drawn at random, is returned instead (up to ``max_retries``
  tries, then a :class:`SkippedItem`); batches keep their size.
- ``"raise"``: a :class:`~spacetime.errors.FileFormatError` /
  :class:`~spacetime.errors.MissingFileError` naming the file is raised.

Randomness (clip starts, random crops/flips): with ``seed=None`` torch's global generator is used
(PyTorch seeds it differently in every DataLoader worker and epoch); with an int ``seed`` every
item's draws come from a generator seeded by ``(seed, epoch, index)``, so a run is reproducible
whatever the number of workers; call ``dataset.set_epoch(e)`` to vary them per epoch.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset
from torch.utils.data._utils.collate import default_collate

from spacetime.checks import check_in, check_int
from spacetime.errors import FileFormatError, InputError, MissingFileError
from spacetime.video.clips import ClipSampler, RandomClipSampler, clips_to_indices
from spacetime.video.io import VideoInfo, read_video, video_info
from spacetime.video.transforms import ClipTransform

__all__ = [
    "BadVideoWarning",
    "SkippedItem",
    "LabeledVideoDataset",
    "collate_clips",
    "item_generator",
]


class BadVideoWarning(UserWarning):
    """A video of a dataset could not be read and was skipped or replaced."""


class SkippedItem(NamedTuple):
    """Placeholder returned for an unreadable video under ``on_error="skip"``."""

    index: int
    path: str
    reason: str


def item_generator(seed: int | None, *keys: int) -> torch.Generator | None:
    """A ``torch.Generator`` seeded from ``(seed, *keys)``; None when ``seed`` is None."""
    if seed is None:
        return None
    state = np.random.SeedSequence([seed, *keys]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def _decode_errors() -> tuple[type[BaseException], ...]:
    import av

    return (FileFormatError, MissingFileError, OSError, EOFError, av.FFmpegError)


class LabeledVideoDataset(Dataset):
    """Clips of labelled video files: the base of VideoFolder, UCF101, HMDB51 and Kinetics.

    Args:
        videos: ``(path, label)`` pairs.
        class_names: names of the labels, ``class_names[label]``.
        clip_sampler: picks each item's clip(s) (default ``RandomClipSampler(16)``: one random
            16-frame clip at native fps).
        transform: applied to each clip, a uint8 ``(T, 3, H, W)`` tensor, e.g.
            :func:`~spacetime.video.transforms.video_train_transform`; called as
            ``transform(clip, generator=g)`` when it is a
            :class:`~spacetime.video.transforms.ClipTransform`.
        multi_clip: return all the sampler's clips stacked ``(K, ...)`` (test-time averaging);
            default: True when the sampler gives more than one clip.
        decode_size: resize while decoding (int short side or ``(H, W)``; cheaper than a
            transform on full-size frames).
        on_error: ``"skip"``, ``"retry_other"`` or ``"raise"`` (see module docstring).
        max_retries: tries for ``"retry_other"``.
        seed: None (global RNG) or an int for reproducible per-item draws.
    """

    def __init__(
        self,
        videos: Sequence[tuple[str | os.PathLike, int]],
        class_names: Sequence[str],
        *,
        clip_sampler: ClipSampler | None = None,
        transform: Callable | None = None,
        multi_clip: bool | None = None,
        decode_size: int | tuple[int, int] | None = None,
        on_error: str = "skip",
        max_retries: int = 10,
        seed: int | None = None,
    ) -> None:
        check_in(on_error, "on_error", ("skip", "retry_other", "raise"))
        self.videos = [(str(p), int(label)) for p, label in videos]
        self.class_names = list(class_names)
        for p, label in self.videos:
            if not 0 <= label < len(self.class_names):
                raise InputError(
                    f"videos: label {label} of {p} is outside [0, {len(self.class_names) - 1}]"
                )
        self.clip_sampler = RandomClipSampler(16) if clip_sampler is None else clip_sampler
        self.transform = transform
        num_clips = getattr(self.clip_sampler, "num_clips", 1)
        self.multi_clip = num_clips > 1 if multi_clip is None else bool(multi_clip)
        if not self.multi_clip and num_clips > 1:
            raise InputError(f"multi_clip: False needs a one-clip sampler, got {num_clips} clips")
        self.decode_size = decode_size
        self.on_error = on_error
        self.max_retries = check_int(max_retries, "max_retries", min_value=0)
        self.seed = seed
        self.epoch = 0
        self.bad_files: dict[str, str] = {}
        self._info: dict[str, VideoInfo] = {}

    # -- bookkeeping --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.videos)

    @property
    def labels(self) -> list[int]:
        """Label of every video, in order."""
        return [label for _, label in self.videos]

    def set_epoch(self, epoch: int) -> None:
        """Change the per-item random draws of a seeded dataset (call once per epoch)."""
        self.epoch = check_int(epoch, "epoch", min_value=0)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({len(self)} videos, {len(self.class_names)} classes, "
                f"sampler={self.clip_sampler!r}, multi_clip={self.multi_clip}, "
                f"on_error={self.on_error!r})")

    def _report(self, path: str, reason: str, action: str) -> None:
        if path not in self.bad_files:
            warnings.warn(f"unreadable video {path}: {reason}; {action}", BadVideoWarning,
                          stacklevel=3)
        self.bad_files[path] = reason

    # -- loading ------------------------------------------------------------------------------
    def info(self, index: int) -> VideoInfo:
        """Metadata of video ``index`` (cached per process)."""
        path = self.videos[index][0]
        if path not in self._info:
            self._info[path] = video_info(path)
        return self._info[path]

    def load(self, index: int, generator: torch.Generator | None = None) -> dict[str, Any]:
        """Decode and transform the clip(s) of video ``index``; errors propagate."""
        path, label = self.videos[index]
        info = self.info(index)
        clips = self.clip_sampler(info.num_frames, info.fps, generator)
        idx = clips_to_indices(clips)  # (K, T)
        K, T = idx.shape
        frames = read_video(path, frame_indices=idx.flatten(), size=self.decode_size,
                            strict=True)
        frames = frames.view(K, T, *frames.shape[1:])
        out = []
        for k in range(K):
            clip = frames[k]
            if self.transform is not None:
                if isinstance(self.transform, ClipTransform):
                    clip = self.transform(clip, generator=generator)
                else:
                    clip = self.transform(clip)
            out.append(clip)
        clip_index = torch.tensor([c.clip_index for c in clips], dtype=torch.long)
        if self.multi_clip:
            return {"video": torch.stack(out), "label": label, "video_index": index,
                    "clip_index": clip_index, "frame_indices": idx, "path": path}
        return {"video": out[0], "label": label, "video_index": index,
                "clip_index": int(clip_index[0]), "frame_indices": idx[0], "path": path}

    def __getitem__(self, index: int) -> dict[str, Any] | SkippedItem:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} videos")
        index = index % len(self)
        errors = _decode_errors()
        current = index
        for attempt in range(self.max_retries + 1):
            generator = item_generator(self.seed, self.epoch, index, attempt)
            path = self.videos[current][0]
            if path in self.bad_files and self.on_error != "raise":
                reason = self.bad_files[path]
            else:
                try:
                    return self.load(current, generator)
                except errors as e:
                    reason = f"{type(e).__name__}: {e}"
                    if self.on_error == "raise":
                        self.bad_files[path] = reason
                        if isinstance(e, FileFormatError | MissingFileError):
                            raise
                        raise FileFormatError(f"{path}: {reason}") from e
            if self.on_error == "skip" or len(self) == 1:
                self._report(path, reason, "skipped")
                return SkippedItem(index, path, reason)
            self._report(path, reason, "replaced by another video")
            offset = int(torch.randint(1, len(self), (1,), generator=generator))
            current = (current + offset) % len(self)
        return SkippedItem(index, self.videos[current][0],
                           f"no readable video after {self.max_retries} retries")


def collate_clips(batch: Sequence[dict[str, Any] | SkippedItem]) -> dict[str, Any]:
    """Collate dataset items, dropping :class:`SkippedItem` placeholders.

    Returns ``default_collate`` of the kept items plus ``"skipped"`` (list of
    ``(index, path, reason)`` of the dropped ones) and ``"batch_size"`` (number kept, maybe 0,
    in which case no other key is present). Use as ``DataLoader(..., collate_fn=collate_clips)``.
    """
    kept = [b for b in batch if not isinstance(b, SkippedItem)]
    skipped = [tuple(b) for b in batch if isinstance(b, SkippedItem)]
    out: dict[str, Any] = default_collate(kept) if kept else {}
    out["skipped"] = skipped
    out["batch_size"] = len(kept)
    return out
