"""Clip samplers: which native frames of a video make up each training or test clip.

Vocabulary (after PyTorchVideo and MMAction2, with exact arithmetic)::

    native frames  0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23
    clip_len T=4, frame_step s=3 (30 fps video sampled at fps=10):
    clip 0         x     x     x     x                                   start 0
    clip 1                           x     x     x     x                 start 9
    span = (T-1)*s + 1 = 10 native frames; positions P = N - span + 1 = 15 (starts 0..14)

- ``clip_len`` (T): frames per clip (default 16, the lecture's and C3D's clip length).
- ``fps`` / ``frame_step``: the clip's frame rate, or the step between its frames in native frames.
  The step is the exact Fraction ``native_fps / fps`` (30 fps -> 5 fps: step 6; 25 fps -> 10 fps:
  step 5/2, frames ``start + floor(k * 5/2)`` = +0, +2, +5, +7 ...). Default: step 1 (native fps).
- ``num_clips`` (k): clips per video. Starts are integer native frame indices in ``[0, P - 1]``.
- Short videos (``span > N``, no valid start): ``short_video="loop"`` (default, as MMAction2)
  wraps indices around, ``start + floor(k*s) mod N``; ``"repeat_last"`` repeats the last frame,
  ``min(floor(k*s), N - 1)``. Every clip of a short video starts at frame 0.
- When ``k > P`` the evenly spaced / per-segment starts repeat (clips may coincide); every clip
  still has its own ``clip_index``.

No sampler ever returns an index outside ``[0, N - 1]``. Each sampler returns the list of
:class:`ClipInfo` for one video; times are exact Fractions of seconds, native frame ``i`` being
shown at ``i / native_fps`` (see :mod:`spacetime.video.io`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from fractions import Fraction
from typing import NamedTuple

import torch

from spacetime.checks import check_in, check_int
from spacetime.errors import InputError
from spacetime.video.io import to_fraction

__all__ = [
    "ClipInfo",
    "ClipSampler",
    "UniformClipSampler",
    "RandomClipSampler",
    "ConstantClipsPerVideoSampler",
    "clips_to_indices",
]


class ClipInfo(NamedTuple):
    """One clip of a video.

    Attributes:
        clip_start_sec: time of the clip's first frame, seconds (exact Fraction).
        clip_end_sec: ``clip_start_sec + clip_len / clip_fps`` (may pass the end of a short,
            looped video).
        clip_index: index of the clip among the video's clips, ``0 .. k-1``.
        aug_index: augmentation index (always 0 here; kept for PyTorchVideo compatibility).
        is_last_clip: True for the video's last clip.
        frame_indices: the ``clip_len`` native frame indices, each in ``[0, N - 1]``.
    """

    clip_start_sec: Fraction
    clip_end_sec: Fraction
    clip_index: int
    aug_index: int
    is_last_clip: bool
    frame_indices: tuple[int, ...]


class ClipSampler(ABC):
    """Base of the samplers: clip geometry (``clip_len``, step, padding); subclasses pick starts.

    Call ``sampler(num_frames, video_fps, generator=None)`` to get the video's clips.
    """

    def __init__(
        self,
        clip_len: int = 16,
        *,
        fps: Fraction | float | None = None,
        frame_step: Fraction | float | None = None,
        short_video: str = "loop",
    ) -> None:
        self.clip_len = check_int(clip_len, "clip_len", min_value=1)
        if fps is not None and frame_step is not None:
            raise InputError("fps: give either fps or frame_step, not both")
        self.fps = None if fps is None else to_fraction(fps, "fps")
        self.frame_step = None if frame_step is None else to_fraction(frame_step, "frame_step")
        for value, name in ((self.fps, "fps"), (self.frame_step, "frame_step")):
            if value is not None and value <= 0:
                raise InputError(f"{name}: expected a value > 0, got {value}")
        check_in(short_video, "short_video", ("loop", "repeat_last"))
        self.short_video = short_video

    def step(self, video_fps: Fraction | float) -> Fraction:
        """Step between a clip's frames in native frames (exact): ``video_fps / fps``."""
        if self.frame_step is not None:
            return self.frame_step
        if self.fps is None:
            return Fraction(1)
        native = to_fraction(video_fps, "video_fps")
        if native <= 0:
            raise InputError(f"video_fps: expected a value > 0, got {native}")
        return native / self.fps

    def span(self, video_fps: Fraction | float) -> int:
        """Native frames covered by one clip, first to last inclusive: ``floor((T-1)*s) + 1``."""
        return math.floor((self.clip_len - 1) * self.step(video_fps)) + 1

    def num_positions(self, num_frames: int, video_fps: Fraction | float) -> int:
        """Number of valid start frames ``P = N - span + 1`` (0 for a short video)."""
        return max(0, num_frames - self.span(video_fps) + 1)

    def clip(
        self, start: int, clip_index: int, num_clips: int, num_frames: int,
        video_fps: Fraction | float,
    ) -> ClipInfo:
        """The clip starting at native frame ``start`` (short videos padded by policy)."""
        native = to_fraction(video_fps, "video_fps")
        s = self.step(native)
        offsets = [math.floor(k * s) for k in range(self.clip_len)]
        if start + offsets[-1] < num_frames:
            idx = tuple(start + o for o in offsets)
        elif self.short_video == "loop":
            idx = tuple((start + o) % num_frames for o in offsets)
        else:
            idx = tuple(min(start + o, num_frames - 1) for o in offsets)
        t0 = Fraction(start) / native
        return ClipInfo(t0, t0 + self.clip_len * s / native, clip_index, 0,
                        clip_index == num_clips - 1, idx)

    @abstractmethod
    def starts(
        self, num_positions: int, generator: torch.Generator | None
    ) -> list[int]:
        """Start frames, each in ``[0, num_positions - 1]`` (``num_positions >= 1``)."""

    def __call__(
        self,
        num_frames: int,
        video_fps: Fraction | float,
        generator: torch.Generator | None = None,
    ) -> list[ClipInfo]:
        """Clips of a video of ``num_frames`` frames at ``video_fps``; ``generator`` seeds draws."""
        check_int(num_frames, "num_frames", min_value=1)
        positions = max(1, self.num_positions(num_frames, video_fps))
        starts = self.starts(positions, generator)
        k = len(starts)
        return [self.clip(a, j, k, num_frames, video_fps) for j, a in enumerate(starts)]

    def __repr__(self) -> str:
        rate = f"fps={self.fps}" if self.fps is not None else f"frame_step={self.frame_step or 1}"
        return (f"{type(self).__name__}(clip_len={self.clip_len}, {rate}, "
                f"num_clips={getattr(self, 'num_clips', 1)}, short_video={self.short_video!r})")


class UniformClipSampler(ClipSampler):
    """``num_clips`` evenly spaced clips covering the video: the test-time sampler.

    Starts ``round(j * (P - 1) / (k - 1))`` for ``j = 0 .. k-1`` (first clip at the start, last
    clip ending at the last frame); one clip is centred, ``(P - 1) // 2``. Deterministic.
    """

    def __init__(self, clip_len: int = 16, num_clips: int = 10, **kwargs) -> None:
        super().__init__(clip_len, **kwargs)
        self.num_clips = check_int(num_clips, "num_clips", min_value=1)

    def starts(self, num_positions: int, generator: torch.Generator | None) -> list[int]:
        k, last = self.num_clips, num_positions - 1
        if k == 1:
            return [last // 2]
        return [(2 * j * last + (k - 1)) // (2 * (k - 1)) for j in range(k)]  # round half up


class RandomClipSampler(ClipSampler):
    """``num_clips`` clips at independent uniformly random starts: the training sampler.

    Draws use ``generator`` (a seeded ``torch.Generator`` makes them reproducible); without one,
    torch's global generator (seeded per DataLoader worker by PyTorch).
    """

    def __init__(self, clip_len: int = 16, num_clips: int = 1, **kwargs) -> None:
        super().__init__(clip_len, **kwargs)
        self.num_clips = check_int(num_clips, "num_clips", min_value=1)

    def starts(self, num_positions: int, generator: torch.Generator | None) -> list[int]:
        draws = torch.randint(0, num_positions, (self.num_clips,), generator=generator)
        return [int(v) for v in draws]


class ConstantClipsPerVideoSampler(ClipSampler):
    """``clips_per_video`` clips, one per equal segment of the start positions (TSN style).

    Segment ``j`` holds starts ``[floor(j*P/k), floor((j+1)*P/k))``; with ``random=True`` the
    clip starts at a uniformly random position of its segment (training), else at the segment's
    middle (evaluation). Every video yields the same number of clips.
    """

    def __init__(
        self, clip_len: int = 16, clips_per_video: int = 4, *, random: bool = False, **kwargs
    ) -> None:
        super().__init__(clip_len, **kwargs)
        self.num_clips = check_int(clips_per_video, "clips_per_video", min_value=1)
        self.random = bool(random)

    def starts(self, num_positions: int, generator: torch.Generator | None) -> list[int]:
        k, p = self.num_clips, num_positions
        out = []
        for j in range(k):
            lo, hi = (j * p) // k, ((j + 1) * p) // k
            if hi <= lo:  # more clips than positions: empty segment
                out.append(min(lo, p - 1))
            elif self.random:
                out.append(lo + int(torch.randint(0, hi - lo, (1,), generator=generator)))
            else:
                out.append((lo + hi - 1) // 2)
        return out


def clips_to_indices(clips: list[ClipInfo]) -> torch.Tensor:
    """``(K, T)`` int64 tensor of the native frame indices of ``K`` clips."""
    if not clips:
        raise InputError("clips: expected at least one ClipInfo, got none")
    return torch.tensor([c.frame_indices for c in clips], dtype=torch.long)
