"""Two-stream inputs: one RGB frame and a stack of ``L`` optical flows per clip.

:class:`FlowClips` wraps any video dataset of this package (items with ``video`` = uint8 or
float-in-[0, 1] frames ``(T, 3, H, W)``) and yields, per clip::

    {"rgb": float (3, H, W) in [0, 1] (optionally normalised), "flow": float (2L, H, W) px,
     "label": int, "video_index": int, "clip_index": int, "frame_index": int, "path": str}

Flow stacking (Simonyan & Zisserman 2014): the flows from frame ``tau + k`` to ``tau + k + 1``,
``k = 0 .. L-1``, are interleaved as ``[dx_0, dy_0, dx_1, dy_1, ...]`` at the same pixels::

    frames   tau    tau+1   tau+2  ...  tau+L-1   tau+L
               \\   /  \\   /               \\    /
    flows      F_0     F_1      ...         F_{L-1}          each (2, H, W) = (dx, dy)
    stack    [dx_0, dy_0, dx_1, dy_1, ..., dx_{L-1}, dy_{L-1}]  -> (2L, H, W)
    rgb      frame tau + L // 2 (the middle of the window)

The flow is raw (pixels, :mod:`spacetime.video.flow` convention); the temporal stream subtracts
each field's mean (:class:`~spacetime.video.models.TemporalStream`).

Two flow sources:

- **on the fly** (``flow_dir=None``): the flows of the window are estimated from the clip's
  frames with :func:`~spacetime.video.flow.estimate_flow_batch` (``method``, default ``"dis"``);
  the base clip needs at least ``L + 1`` frames. ``memory_cache=True`` keeps the flows of every
  consecutive pair of each video's clip in memory after the first epoch (only valid when the base
  dataset returns the same clip for an index every time, e.g. :class:`SyntheticMotion` or a
  dataset with a deterministic sampler and no random transform); with DataLoader workers each
  worker process keeps its own copy (use ``persistent_workers=True`` to keep it across epochs).
- **cached** (``flow_dir=DIR``): flows precomputed by
  :func:`~spacetime.video.flow.compute_dataset_flow` into ``DIR/<name>/`` are read with
  :func:`~spacetime.video.flow.load_cached_flow`; ``name`` is ``video_name(item)``, by default
  the stem of ``item["path"]`` (what ``compute_dataset_flow`` uses; :func:`flow_cache_sources`
  gives matching sources for any dataset). The RGB frame is a frame of the base clip and the
  ``L`` cached pairs start at its native index minus ``L // 2`` (clamped to the video), so the
  base clip can be short (its native ``frame_indices`` are used). Geometric transforms of the
  base dataset (crops, resizes) are *not* applied to cached flow: cache at the training size
  (``compute_dataset_flow(..., size=...)``) or transform both streams' inputs yourself.

Clips: with ``clips_per_video=None`` (training) each item is one clip at a random window
(seeded by ``(seed, epoch, index)`` when ``seed`` is an int); with ``clips_per_video=K``
(test-time averaging) the dataset has ``K`` items per video at evenly spaced windows, item
``i`` being clip ``i % K`` of video ``i // K`` and carrying its ``video_index``. A base dataset in
multi-clip mode (items ``video`` ``(K, T, 3, H, W)``, e.g. a ``UniformClipSampler(L + 1, K)``
file dataset) needs the same ``K``; clip ``k`` then uses the middle window of base clip ``k``.
Either way :func:`~spacetime.engine.collect_clip_scores` and
:func:`~spacetime.video.models.evaluate_two_stream` average the clip probabilities per video.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from spacetime.checks import check_in, check_int, check_tensor
from spacetime.errors import InputError
from spacetime.video.datasets.base import SkippedItem, item_generator

__all__ = ["FlowClips", "stack_flows", "flow_cache_sources"]


def stack_flows(flows: torch.Tensor) -> torch.Tensor:
    """Interleave ``L`` flows ``(..., L, 2, H, W)`` into a stack ``(..., 2L, H, W)``.

    Channel ``2k`` is ``dx`` and ``2k + 1`` is ``dy`` of flow ``k`` (Simonyan & Zisserman).
    """
    if not isinstance(flows, torch.Tensor) or flows.dim() < 4 or flows.shape[-3] != 2:
        shape = tuple(flows.shape) if isinstance(flows, torch.Tensor) else type(flows).__name__
        raise InputError(f"flows: expected shape (..., L, 2, H, W), got {shape}")
    if not flows.is_floating_point():
        raise InputError(f"flows: expected a floating-point tensor, got {flows.dtype}")
    return flows.flatten(-4, -3)


def flow_cache_sources(dataset: Any) -> dict[str, Any]:
    """``{name: source}`` for :func:`~spacetime.video.flow.compute_dataset_flow`.

    Names match what :class:`FlowClips` looks up (the stem of each item's ``path``): in-memory
    datasets with a ``videos`` tensor ``(N, T, 3, H, W)`` (e.g. :class:`SyntheticMotion`, whose
    paths are ``synthetic://split/i``) give ``{str(i): frames}``; file datasets with ``videos``
    ``[(path, label), ...]`` (:class:`LabeledVideoDataset` and its subclasses) give
    ``{stem: path}``.
    """
    videos = getattr(dataset, "videos", None)
    if isinstance(videos, torch.Tensor):
        return {str(i): videos[i] for i in range(videos.shape[0])}
    if isinstance(videos, (list, tuple)):
        paths = [Path(v[0] if isinstance(v, (list, tuple)) else v) for v in videos]
        return {p.stem: p for p in paths}
    raise InputError(
        f"dataset: expected a dataset with a videos tensor or a list of (path, label), got "
        f"{type(dataset).__name__}"
    )


def _default_name(item: dict[str, Any]) -> str:
    return Path(str(item["path"])).stem


def _even(k: int, n: int, lo: int, hi: int) -> int:
    """The ``k``-th of ``n`` evenly spaced integers in ``[lo, hi]`` (the middle when n == 1)."""
    if n == 1:
        return (lo + hi) // 2
    return lo + round(k * (hi - lo) / (n - 1))


class FlowClips(Dataset):
    """RGB frame + stacked flow per clip of a video dataset (see the module docstring).

    Args:
        dataset: base dataset with items ``{"video": (T, 3, H, W), "label", ...}`` (uint8 or
            float in [0, 1]; no normalisation or layout change).
        num_flows: ``L``, flows per stack (``2L`` channels; the paper's default 10).
        method: flow estimator for the on-the-fly mode (a
            :data:`~spacetime.video.flow.FLOW_METHODS` name).
        flow_kwargs: estimator options (e.g. ``{"device": "cuda"}`` for Horn–Schunck / RAFT).
        flow_dir: root of a :func:`~spacetime.video.flow.compute_dataset_flow` cache (None = on
            the fly).
        video_name: ``item -> cache folder name`` (default: stem of ``item["path"]``).
        clips_per_video: None (one random window per item, training) or ``K`` evenly spaced
            windows per video (evaluation).
        memory_cache: keep on-the-fly flows per video in memory (see module docstring).
        mean, std: optional per-channel RGB normalisation ``(rgb - mean) / std``.
        seed: None (torch's global RNG) or an int for reproducible window draws.
    """

    def __init__(
        self,
        dataset: Any,
        *,
        num_flows: int = 10,
        method: str = "dis",
        flow_kwargs: dict[str, Any] | None = None,
        flow_dir: str | os.PathLike | None = None,
        video_name: Callable[[dict[str, Any]], str] | None = None,
        clips_per_video: int | None = None,
        memory_cache: bool = False,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        seed: int | None = None,
    ) -> None:
        from spacetime.video.flow.estimate import FLOW_METHODS

        self.dataset = dataset
        self.num_flows = check_int(num_flows, "num_flows", min_value=1)
        check_in(method, "method", FLOW_METHODS)
        self.method = method
        self.flow_kwargs = dict(flow_kwargs or {})
        self.flow_dir = None if flow_dir is None else Path(flow_dir)
        if self.flow_dir is not None and not self.flow_dir.is_dir():
            from spacetime.errors import MissingFileError

            raise MissingFileError(f"flow_dir: no flow cache directory at {str(flow_dir)!r}")
        self.video_name = video_name or _default_name
        if clips_per_video is not None:
            check_int(clips_per_video, "clips_per_video", min_value=1)
        self.clips_per_video = clips_per_video
        self.memory_cache = bool(memory_cache)
        self._flow_memory: dict[Any, torch.Tensor] = {}
        self._last: tuple[int, Any] | None = None
        self.mean = None if mean is None else torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = None if std is None else torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
        for name, v in (("mean", self.mean), ("std", self.std)):
            if v is not None and v.numel() != 3:
                raise InputError(f"{name}: expected 3 values (R, G, B), got {v.numel()}")
        if self.std is not None and not bool((self.std > 0).all()):
            raise InputError(f"std: expected values > 0, got {self.std.flatten().tolist()}")
        self.seed = seed
        self.epoch = 0

    # -- bookkeeping ---------------------------------------------------------------------------
    @property
    def class_names(self) -> list[str]:
        return list(getattr(self.dataset, "class_names", []))

    def __len__(self) -> int:
        return len(self.dataset) * (self.clips_per_video or 1)

    def set_epoch(self, epoch: int) -> None:
        """Vary the random windows (and the base dataset's draws) per epoch."""
        self.epoch = check_int(epoch, "epoch", min_value=0)
        if callable(getattr(self.dataset, "set_epoch", None)):
            self.dataset.set_epoch(epoch)
        self._last = None

    def __repr__(self) -> str:
        src = f"flow_dir={str(self.flow_dir)!r}" if self.flow_dir else f"method={self.method!r}"
        return (f"FlowClips({len(self)} clips, L={self.num_flows}, {src}, "
                f"clips_per_video={self.clips_per_video})")

    # -- loading -------------------------------------------------------------------------------
    def _base_item(self, vid: int) -> Any:
        if self._last is not None and self._last[0] == vid:
            return self._last[1]
        item = self.dataset[vid]
        self._last = (vid, item)
        return item

    def _frames(
        self, item: dict[str, Any], k: int | None
    ) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """The clip ``(T, 3, H, W)``, its native frame indices ``(T,)`` and whether it is one
        of the base item's ``K`` clips (multi-clip base datasets)."""
        video = item["video"]
        fi = item.get("frame_indices")
        if isinstance(video, torch.Tensor) and video.dim() == 5:
            check_tensor(video, "video", ("K", "T", 3, "H", "W"))
            if k is None or video.shape[0] != self.clips_per_video:
                raise InputError(
                    f"clips_per_video: the base dataset gives {video.shape[0]} clips per video "
                    f"(video {tuple(video.shape)}); use clips_per_video={video.shape[0]}"
                )
            video = video[k]
            fi = None if fi is None else torch.as_tensor(fi)[k]
            sub = True
        else:
            check_tensor(video, "video", ("T", 3, "H", "W"))
            sub = False
        T = int(video.shape[0])
        fi = torch.arange(T) if fi is None else torch.as_tensor(fi).flatten()
        return video, fi, sub

    def _rgb(self, frame: torch.Tensor) -> torch.Tensor:
        rgb = frame.float() / 255.0 if frame.dtype == torch.uint8 else frame.float()
        if self.mean is not None:
            rgb = rgb - self.mean
        if self.std is not None:
            rgb = rgb / self.std
        return rgb

    def _pick(self, k: int | None, n: int, lo: int, hi: int, g: torch.Generator | None) -> int:
        """Random in ``[lo, hi]`` (training, ``k`` None) or the ``k``-th of ``n`` even picks."""
        if k is None:
            return lo + int(torch.randint(hi - lo + 1, (1,), generator=g))
        return _even(k, n, lo, hi)

    def _flow_on_the_fly(self, key: Any, frames: torch.Tensor, s: int) -> torch.Tensor:
        from spacetime.video.flow.estimate import estimate_flow_batch

        L = self.num_flows
        if self.memory_cache:
            if key not in self._flow_memory:
                self._flow_memory[key] = estimate_flow_batch(
                    frames[:-1], frames[1:], self.method, **self.flow_kwargs).cpu()
            return self._flow_memory[key][s : s + L]
        return estimate_flow_batch(frames[s : s + L], frames[s + 1 : s + L + 1], self.method,
                                   **self.flow_kwargs).cpu()

    def __getitem__(self, index: int) -> dict[str, Any] | SkippedItem:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} clips")
        index = index % len(self)
        K = self.clips_per_video
        vid, k = (index // K, index % K) if K else (index, None)
        item = self._base_item(vid)
        if isinstance(item, SkippedItem):
            return item
        frames, fi, sub = self._frames(item, k)
        T = int(frames.shape[0])
        L = self.num_flows
        g = item_generator(self.seed, self.epoch, index) if k is None else None
        n = 1 if sub else (K or 1)  # a base clip of a multi-clip item is one window (middle)
        if self.flow_dir is None:
            if T < L + 1:
                raise InputError(
                    f"video: on-the-fly flow stacks of L={L} need clips of at least {L + 1} "
                    f"frames, got {T} (item {vid}); use a longer clip or a smaller num_flows"
                )
            s = self._pick(k, n, 0, T - L - 1, g)
            p = s + L // 2
            flow = self._flow_on_the_fly((vid, k) if sub else vid, frames, s)
            start = int(fi[s])
        else:
            from spacetime.video.flow.cache import cached_flow_info, load_cached_flow

            d = self.flow_dir / self.video_name(item)
            n_pairs = int(cached_flow_info(d)["num_pairs"])
            if n_pairs < L:
                raise InputError(
                    f"flow_dir: {d} holds {n_pairs} flows, fewer than num_flows={L}"
                )
            p = self._pick(k, n, 0, T - 1, g)
            start = min(max(int(fi[p]) - L // 2, 0), n_pairs - L)
            flow = load_cached_flow(d, list(range(start, start + L)))
            if tuple(flow.shape[-2:]) != tuple(frames.shape[-2:]):
                raise InputError(
                    f"flow_dir: cached flow of {d} is {tuple(flow.shape[-2:])} (H, W) but the "
                    f"frames are {tuple(frames.shape[-2:])}; cache at the training size"
                )
        return {
            "rgb": self._rgb(frames[p]),
            "flow": stack_flows(flow.float()),
            "label": int(item["label"]),
            "video_index": int(item.get("video_index", vid)),
            "clip_index": 0 if k is None else k,
            "frame_index": int(fi[p]),
            "flow_start": start,
            "path": str(item.get("path", "")),
        }
