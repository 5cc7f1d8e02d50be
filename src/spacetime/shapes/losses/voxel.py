"""Voxel occupancy loss (binary cross-entropy with logits), as in 3D-R2N2 / Mesh R-CNN's voxel
branch."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from spacetime.checks import check_tensor
from spacetime.shapes.losses._reduce import reduce_batch

__all__ = ["voxel_bce_loss"]


def voxel_bce_loss(
    logits: torch.Tensor,
    target: Any,
    *,
    pos_weight: float | torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Per-grid mean of ``BCEWithLogits(logits, target)`` over voxels, reduced over the batch.

    Args:
        logits: ``(N, D, H, W)`` occupancy logits.
        target: ``(N, D, H, W)`` occupancies in ``[0, 1]`` (float or bool), or a VoxelGrid.
        pos_weight: weight of the positive (occupied) term, e.g. ``#empty / #occupied`` to
            balance sparse grids; a float or a tensor broadcastable to the grid.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (``(N,)``).
    """
    sizes = check_tensor(logits, "logits", ("N", "D", "H", "W"), dtype="float", finite=True)
    t = getattr(target, "grid", target)
    check_tensor(t, "target", ("N", "D", "H", "W"), sizes=sizes)
    t = t.to(logits.dtype)
    pw = None
    if pos_weight is not None:
        pw = torch.as_tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    loss = F.binary_cross_entropy_with_logits(logits, t, pos_weight=pw, reduction="none")
    return reduce_batch(loss.flatten(1).mean(1), reduction)
