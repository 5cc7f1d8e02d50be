"""Chamfer distance between ragged batches of point clouds (squared L2 variant).

With squared nearest-neighbour distances ``d(a, B) = min_{b ∈ B} ||a - b||²``:

- ``reduction="mean"`` (**Chamfer-L2** of Mesh R-CNN, Gkioxari et al. 2019)::

      CD(X, Y) = 1/|X| Σ_{x∈X} d(x, Y) + 1/|Y| Σ_{y∈Y} d(y, X)      (no 0.5 factor)

- ``reduction="sum"`` (the lecture's form, Fan et al. 2017)::

      CD(X, Y) = Σ_{x∈X} d(x, Y) + Σ_{y∈Y} d(y, X)

Empty clouds in a ragged batch: if exactly one of ``X``, ``Y`` is empty the value is ``inf``
(a point has no counterpart); if both are empty it is ``0`` (the two sets are equal).
"""

from __future__ import annotations

from typing import Any

import torch

from spacetime.checks import check_in
from spacetime.shapes.metrics.knn import NNBoth, nn_both_ways

__all__ = ["chamfer_distance", "reduce_chamfer"]


def reduce_chamfer(nn: NNBoth, reduction: str = "mean") -> torch.Tensor:
    """``(N,)`` Chamfer distance from a bidirectional nearest-neighbour pass."""
    check_in(reduction, "reduction", ("mean", "sum"))
    # sums in float64 (padded rows hold 0; inf when the other cloud is empty), so that a float32
    # result is the correctly rounded value rather than carrying float32 summation error
    sx = nn.d_xy.sum(1, dtype=torch.float64)
    sy = nn.d_yx.sum(1, dtype=torch.float64)
    if reduction == "mean":
        sx = sx / nn.x_lengths.clamp(min=1).to(sx.dtype)
        sy = sy / nn.y_lengths.clamp(min=1).to(sy.dtype)
    return (sx + sy).to(nn.d_xy.dtype)


def chamfer_distance(
    x: Any,
    y: Any,
    *,
    x_lengths: torch.Tensor | None = None,
    y_lengths: torch.Tensor | None = None,
    reduction: str = "mean",
    backend: str = "auto",
) -> torch.Tensor:
    """Squared-L2 Chamfer distance, one value per batch element.

    Args:
        x: ``(N, P1, 3)`` points (any ``D`` works), or a Pointclouds.
        y: ``(N, P2, 3)`` points, or a Pointclouds.
        x_lengths: ``(N,)`` valid points per cloud of ``x`` (default: all ``P1``).
        y_lengths: ``(N,)`` valid points per cloud of ``y`` (default: all ``P2``).
        reduction: ``"mean"`` (Mesh R-CNN's Chamfer-L2: per-cloud mean of each direction, the two
            summed) or ``"sum"`` (the lecture's sum over points). See the module docstring.
        backend: nearest-neighbour backend, see :func:`~spacetime.shapes.metrics.knn_points`.

    Returns:
        ``(N,)`` tensor, differentiable w.r.t. ``x`` and ``y``; ``inf`` where exactly one cloud
        is empty, ``0`` where both are.

    Example:
        >>> x = torch.rand(2, 100, 3)
        >>> chamfer_distance(x, x)
        tensor([0., 0.])
    """
    check_in(reduction, "reduction", ("mean", "sum"))
    nn, _, _ = nn_both_ways(x, y, x_lengths, y_lengths, backend)
    return _keep_graph(reduce_chamfer(nn, reduction), x, y)


def _keep_graph(out: torch.Tensor, *inputs: Any) -> torch.Tensor:
    """Keep ``out`` in the autograd graph of its inputs when an empty cloud made it a constant
    (``inf`` / ``0``), so that ``backward`` gives zero gradients instead of an error."""
    if out.requires_grad or not torch.is_grad_enabled():
        return out
    for t in inputs:
        if hasattr(t, "points_padded"):
            t = t.points_padded()
        if isinstance(t, torch.Tensor) and t.requires_grad:
            out = out + t.reshape(-1)[:0].sum()
    return out
