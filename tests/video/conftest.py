"""Fixtures for the video I/O, clip and dataset tests: tiny mp4 writers with readable frame ids.

Each generated frame carries its index in two flat grey blocks (``low = t % 16``,
``high = t // 16``, step 14 grey levels), large enough to survive H.264 compression, so a test can
check exactly which native frames a reader returned.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest
import torch

from spacetime.video.io import write_video

STEP = 14


def make_frames(num_frames: int, height: int = 32, width: int = 32, seed: int = 0) -> torch.Tensor:
    """``(T, 3, H, W)`` uint8 random frames with id blocks at the top left (needs H, W >= 32)."""
    g = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (num_frames, 3, height, width), generator=g, dtype=torch.uint8)
    for t in range(num_frames):
        frames[t, :, 0:16, 0:16] = 16 + STEP * (t % 16)
        frames[t, :, 16:32, 0:16] = 16 + STEP * (t // 16)
    return frames


def frame_ids(video: torch.Tensor) -> list[int]:
    """Decode the frame ids of a ``(T, 3, H, W)`` uint8 clip written by :func:`make_frames`."""
    v = video.float()
    low = ((v[:, :, 4:12, 4:12].mean((1, 2, 3)) - 16) / STEP).round()
    high = ((v[:, :, 20:28, 4:12].mean((1, 2, 3)) - 16) / STEP).round()
    return (low + 16 * high).long().tolist()


@pytest.fixture
def video_factory(tmp_path: Path) -> Callable[..., Path]:
    """``make(name="v.mp4", num_frames=8, fps=8, height=32, width=32, seed=0, **kw) -> path``."""

    def make(
        name: str = "v.mp4",
        num_frames: int = 8,
        fps: int | Fraction = 8,
        height: int = 32,
        width: int = 32,
        seed: int = 0,
        **kwargs,
    ) -> Path:
        path = tmp_path / name
        write_video(path, make_frames(num_frames, height, width, seed), fps, **kwargs)
        return path

    return make


@pytest.fixture
def decode_ids() -> Callable[[torch.Tensor], list[int]]:
    return frame_ids
