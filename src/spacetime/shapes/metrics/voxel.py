"""Intersection over union of voxel grids (Choy et al. 2016, Mesh R-CNN's voxel IoU)."""

from __future__ import annotations

from typing import Any

import torch

from spacetime.checks import check_tensor
from spacetime.errors import InputError

__all__ = ["voxel_iou"]


def _grid(v: Any, name: str) -> torch.Tensor:
    g = getattr(v, "grid", v)
    if callable(g) and not isinstance(g, torch.Tensor):
        g = g()
    check_tensor(g, name, ("N", "D", "H", "W"))
    return g


def voxel_iou(pred: Any, gt: Any, thresh: float = 0.5) -> torch.Tensor:
    """Per-grid IoU of occupied voxels, ``|A ∩ B| / |A ∪ B|``.

    Args:
        pred: ``(N, D, H, W)`` occupancy probabilities / 0-1 values / bools, or a VoxelGrid.
        gt: ``(N, D, H, W)`` the same, on the same grid.
        thresh: a voxel of a float grid is occupied when its value is ``>= thresh`` (as
            ``VoxelGrid.occupied``); bool grids are used as they are.

    Returns:
        ``(N,)`` float IoU in ``[0, 1]``; ``1.0`` where both grids are empty (empty union: the
        two shapes agree).
    """
    p, g = _grid(pred, "pred"), _grid(gt, "gt")
    if p.shape != g.shape:
        raise InputError(
            f"gt: expected shape {tuple(p.shape)} (same as pred), got {tuple(g.shape)}"
        )
    for t, name in ((p, "pred"), (g, "gt")):
        if t.is_floating_point() and t.numel() and bool(torch.isnan(t).any()):
            raise InputError(f"{name}: expected no NaN values, got NaN")
    pb = p if p.dtype == torch.bool else p >= thresh
    gb = g if g.dtype == torch.bool else g >= thresh
    inter = (pb & gb).flatten(1).sum(1).double()
    union = (pb | gb).flatten(1).sum(1).double()
    iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
    return iou.float()
