"""Batch reduction shared by the losses."""

from __future__ import annotations

import torch

from spacetime.checks import check_in

__all__ = ["reduce_batch"]


def reduce_batch(values: torch.Tensor, reduction: str) -> torch.Tensor:
    """``(N,)`` per-element losses → scalar (``"mean"``, ``"sum"``) or ``(N,)`` (``"none"``).

    The mean of an empty batch is 0 (not nan), so a loss over no elements is harmless.
    """
    check_in(reduction, "reduction", ("mean", "sum", "none"))
    if reduction == "none":
        return values
    if reduction == "sum" or values.numel() == 0:
        return values.sum()
    return values.mean()
