"""Shared input checks for :mod:`spacetime.video.flow` (flows and frames)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from spacetime.checks import check_tensor
from spacetime.errors import InputError

__all__ = ["as_flow_batch", "as_image_batch", "frame_to_tensor", "frames_to_batch"]


def as_flow_batch(flow: Any, name: str = "flow") -> tuple[torch.Tensor, bool]:
    """Return ``(flow as (N, 2, H, W) float tensor, was_batched)``; accepts ``(2, H, W)`` too."""
    if isinstance(flow, np.ndarray):
        flow = torch.from_numpy(flow)
    if not isinstance(flow, torch.Tensor):
        raise InputError(f"{name}: expected a torch.Tensor, got {type(flow).__name__}")
    if flow.ndim == 3:
        check_tensor(flow, name, (2, "H", "W"), dtype="float")
        return flow.unsqueeze(0), False
    check_tensor(flow, name, ("N", 2, "H", "W"), dtype="float")
    return flow, True


def as_image_batch(image: Any, name: str = "image") -> tuple[torch.Tensor, bool]:
    """Return ``(image as (N, C, H, W) float tensor, was_batched)``; accepts ``(C, H, W)``."""
    if not isinstance(image, torch.Tensor):
        raise InputError(f"{name}: expected a torch.Tensor, got {type(image).__name__}")
    if image.ndim == 3:
        check_tensor(image, name, ("C", "H", "W"), dtype="float")
        return image.unsqueeze(0), False
    check_tensor(image, name, ("N", "C", "H", "W"), dtype="float")
    return image, True


def frame_to_tensor(frame: Any, name: str = "frame") -> torch.Tensor:
    """Convert one frame to a float32 ``(C, H, W)`` tensor in [0, 1], C in {1, 3}.

    Accepted: numpy ``(H, W, 3)`` / ``(H, W)`` (uint8 in [0, 255] or float in [0, 1]) and tensors
    ``(3, H, W)`` / ``(1, H, W)`` / ``(H, W)`` (uint8, or float in [0, 1]). Channels are RGB.
    Float values outside [0, 1] (e.g. a float image still in [0, 255]) or NaN raise
    :class:`~spacetime.errors.InputError` instead of giving silent garbage.
    """
    if isinstance(frame, np.ndarray):
        if frame.ndim == 3 and frame.shape[2] in (1, 3):
            t = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)
        elif frame.ndim == 2:
            t = torch.from_numpy(np.ascontiguousarray(frame))[None]
        else:
            raise InputError(
                f"{name}: expected a numpy array of shape (H, W, 3) or (H, W), got {frame.shape}"
            )
    elif isinstance(frame, torch.Tensor):
        if frame.ndim == 2:
            t = frame[None]
        elif frame.ndim == 3 and frame.shape[0] in (1, 3):
            t = frame
        else:
            raise InputError(
                f"{name}: expected a tensor of shape (3, H, W), (1, H, W) or (H, W), "
                f"got {tuple(frame.shape)}"
            )
    else:
        raise InputError(
            f"{name}: expected a numpy array or torch.Tensor, got {type(frame).__name__}"
        )
    if t.dtype == torch.uint8:
        return t.float() / 255.0
    if not t.is_floating_point():
        raise InputError(f"{name}: expected uint8 or a floating dtype in [0, 1], got {t.dtype}")
    t = t.float()
    if t.numel() and not bool(torch.isfinite(t).all()):
        raise InputError(f"{name}: expected finite values, got NaN/inf")
    if t.numel() and (float(t.min()) < 0.0 or float(t.max()) > 1.0):
        raise InputError(
            f"{name}: float frames must be in [0, 1], got range "
            f"[{float(t.min()):.4g}, {float(t.max()):.4g}] (convert 0-255 floats to uint8 or /255)"
        )
    return t


def frames_to_batch(frame1: Any, frame2: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Check a frame pair and return two float ``(1, C, H, W)`` tensors (or batches).

    Both frames must have the same size and the same number of channels (grayscale and colour
    are not mixed silently). 4-D tensors ``(N, C, H, W)`` pass as batches.
    """
    if isinstance(frame1, torch.Tensor) and frame1.ndim == 4:
        if not isinstance(frame2, torch.Tensor) or frame2.ndim != 4:
            raise InputError("frame2: expected an (N, C, H, W) batch like frame1")
        a = torch.stack([frame_to_tensor(f, "frame1") for f in frame1]) if len(frame1) else None
        b = torch.stack([frame_to_tensor(f, "frame2") for f in frame2]) if len(frame2) else None
        if a is None or b is None:
            raise InputError("frame1: expected a non-empty batch")
    else:
        a = frame_to_tensor(frame1, "frame1")[None]
        b = frame_to_tensor(frame2, "frame2")[None]
    if a.shape[1] != b.shape[1]:
        raise InputError(
            f"frame2: expected {a.shape[1]} channel(s) like frame1 (grayscale and colour frames "
            f"cannot be mixed), got {b.shape[1]}"
        )
    if a.shape != b.shape:
        raise InputError(
            f"frame2: expected the same size as frame1 {tuple(a.shape[-2:])}, "
            f"got {tuple(b.shape[-2:])}"
            + (f" (batch {a.shape[0]} vs {b.shape[0]})" if a.shape[0] != b.shape[0] else "")
        )
    if a.shape[-1] < 1 or a.shape[-2] < 1:
        raise InputError(f"frame1: expected a non-empty image, got size {tuple(a.shape[-2:])}")
    return a, b
