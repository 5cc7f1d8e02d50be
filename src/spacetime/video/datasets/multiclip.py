"""Test-time clip averaging for in-memory video datasets (the file datasets do it themselves
with a multi-clip sampler)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import Dataset

from spacetime.checks import check_int
from spacetime.video.clips import UniformClipSampler, clips_to_indices

__all__ = ["MultiClipVideos"]


class MultiClipVideos(Dataset):
    """``K`` evenly spaced clips of ``T`` frames from each item of an in-memory video dataset.

    Args:
        base: items ``{"video": uint8 (T_long, 3, H, W), "label": int, "video_index": int}``
            (e.g. :class:`~spacetime.video.datasets.SyntheticMotion` without a transform).
        clip_len: ``T``, frames per clip.
        num_clips: ``K``, clips per video (:class:`~spacetime.video.clips.UniformClipSampler`).
        transform: applied to each uint8 ``(T, 3, H, W)`` clip.

    Items: ``video`` ``(K, ...)`` (the transformed clips stacked), ``label``, ``video_index``,
    ``clip_index`` ``(K,)`` and ``frame_indices`` ``(K, T)``, like the file datasets in
    multi-clip mode, so :func:`~spacetime.engine.evaluate_classifier` averages the clips.
    """

    def __init__(self, base: Any, clip_len: int, num_clips: int,
                 transform: Callable | None = None) -> None:
        check_int(clip_len, "clip_len", min_value=1)
        check_int(num_clips, "num_clips", min_value=1)
        self.base, self.transform = base, transform
        self.sampler = UniformClipSampler(clip_len, num_clips)
        self.class_names = list(base.class_names)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.base[index]
        frames = item["video"]
        idx = clips_to_indices(self.sampler(int(frames.shape[0]), 1))  # (K, T)
        clips = [frames[i] for i in idx]
        if self.transform is not None:
            clips = [self.transform(c) for c in clips]
        return {"video": torch.stack(clips), "label": item["label"],
                "video_index": item["video_index"], "clip_index": torch.arange(idx.shape[0]),
                "frame_indices": idx}
