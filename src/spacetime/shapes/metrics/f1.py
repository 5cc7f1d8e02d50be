"""F-score at a distance threshold (Tatarchenko et al. 2019; Mesh R-CNN's F1@t).

Distances are **unsquared** Euclidean distances. For a predicted cloud ``X`` and a ground-truth
cloud ``Y`` and a threshold ``t``:

- ``Precision@t`` = fraction of predicted points whose nearest GT point is closer than ``t``;
- ``Recall@t`` = fraction of GT points whose nearest predicted point is closer than ``t``;
- ``F1@t = 2 P R / (P + R)``, and 0 when ``P + R = 0``.

"Closer than" is strict (``dist < t``), as in Mesh R-CNN's evaluation code. Values are fractions in
``[0, 1]`` (Mesh R-CNN's tables print them ×100). Empty clouds: if the prediction is empty,
precision and recall are 0 (unless GT is empty too); if GT is empty, the same; if both are empty
precision = recall = F1 = 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from spacetime.checks import check_in
from spacetime.errors import InputError
from spacetime.shapes.metrics.chamfer import reduce_chamfer
from spacetime.shapes.metrics.knn import NNBoth, nn_both_ways

__all__ = ["F1Score", "ChamferF1", "f1_score", "chamfer_and_f1", "f1_from_nn"]


class F1Score(NamedTuple):
    """Precision, recall and F1, each ``(N,)`` (scalar threshold) or ``(N, T)`` (sequence)."""

    precision: torch.Tensor
    recall: torch.Tensor
    f1: torch.Tensor


class ChamferF1(NamedTuple):
    """Result of :func:`chamfer_and_f1`: squared-L2 Chamfer ``(N,)`` and F-scores."""

    chamfer: torch.Tensor
    precision: torch.Tensor
    recall: torch.Tensor
    f1: torch.Tensor


def _thresholds(threshold: float | Sequence[float]) -> tuple[list[float], bool]:
    scalar = isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
    if isinstance(threshold, torch.Tensor):
        scalar = threshold.ndim == 0
        values = [float(v) for v in threshold.reshape(-1).tolist()]
    elif scalar:
        values = [float(threshold)]  # type: ignore[arg-type]
    else:
        try:
            if isinstance(threshold, (str, bytes)):
                raise TypeError(threshold)
            values = [float(v) for v in threshold]  # type: ignore[union-attr]
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"threshold: expected a float or a sequence of floats, got {threshold!r}"
            ) from exc
        if not values:
            raise InputError("threshold: expected at least one threshold, got an empty sequence")
    for v in values:
        if not math.isfinite(v) or v < 0:
            raise InputError(f"threshold: expected finite values >= 0, got {v!r}")
    return values, scalar


def _fraction_within(
    d2: torch.Tensor, n_self: torch.Tensor, n_other: torch.Tensor, ts: list[float]
) -> torch.Tensor:
    """``(N, T)`` float64 share of valid rows with ``sqrt(d2) < t`` (compared in ``d2``'s dtype);
    rows beyond ``n_self`` are padding."""
    d2 = d2.detach()
    if d2.device.type == "cpu" and d2.dtype in (torch.float32, torch.float64):
        # CPU fast path: per cloud, numpy sqrt + counts (a handful of small torch ops cost more
        # than the counting itself at 10k points)
        arr = d2.numpy()
        ns, nos = n_self.tolist(), n_other.tolist()
        out = np.empty((d2.shape[0], len(ts)), dtype=np.float64)
        for b in range(d2.shape[0]):
            if ns[b] == 0:
                out[b] = 1.0 if nos[b] == 0 else 0.0
                continue
            # numpy's sqrt is correctly rounded like torch's; the comparison is done in the
            # distances' dtype, the division in float64, as the tensor path below does
            dist = np.sqrt(arr[b, : ns[b]])
            dt = dist.dtype.type
            for j, t in enumerate(ts):
                out[b, j] = np.count_nonzero(dist < dt(t)) / ns[b]
        return torch.from_numpy(out)
    dist = d2.sqrt()  # padded rows: 0, but masked below
    rows = torch.arange(d2.shape[1], device=d2.device)[None, :] < n_self[:, None]
    t = torch.tensor(ts, dtype=dist.dtype, device=dist.device)
    hit = (dist[:, :, None] < t) & rows[:, :, None]  # (N, P, T)
    frac = hit.sum(1).to(torch.float64) / n_self.clamp(min=1).to(torch.float64)[:, None]
    both_empty = ((n_self == 0) & (n_other == 0))[:, None]
    return torch.where(both_empty, torch.ones_like(frac), frac)


def f1_from_nn(nn: NNBoth, threshold: float | Sequence[float]) -> F1Score:
    """F-scores from a bidirectional nearest-neighbour pass (``x`` = prediction, ``y`` = GT)."""
    ts, scalar = _thresholds(threshold)
    # fractions and F1 in float64, returned in the distances' dtype (correctly rounded)
    p = _fraction_within(nn.d_xy, nn.x_lengths, nn.y_lengths, ts)
    r = _fraction_within(nn.d_yx, nn.y_lengths, nn.x_lengths, ts)
    s = p + r
    f1 = torch.where(
        s > 0, 2 * p * r / torch.where(s > 0, s, torch.ones_like(s)), torch.zeros_like(s)
    )
    dt = nn.d_xy.dtype if nn.d_xy.is_floating_point() else torch.float32
    p, r, f1 = p.to(dt), r.to(dt), f1.to(dt)
    if scalar:
        return F1Score(p[:, 0], r[:, 0], f1[:, 0])
    return F1Score(p, r, f1)


def f1_score(
    pred: Any,
    gt: Any,
    threshold: float | Sequence[float],
    *,
    pred_lengths: torch.Tensor | None = None,
    gt_lengths: torch.Tensor | None = None,
    backend: str = "auto",
) -> F1Score:
    """Precision@t, Recall@t and F1@t on unsquared Euclidean distances (see module docstring).

    Args:
        pred: ``(N, P1, 3)`` predicted points, or a Pointclouds.
        gt: ``(N, P2, 3)`` ground-truth points, or a Pointclouds.
        threshold: a distance ``t >= 0`` (same units as the points), or a sequence of them.
        pred_lengths, gt_lengths: ``(N,)`` valid points per cloud (default: all).
        backend: nearest-neighbour backend, see :func:`~spacetime.shapes.metrics.knn_points`.

    Returns:
        :class:`F1Score` ``(precision, recall, f1)``: each ``(N,)`` for a scalar threshold,
        ``(N, T)`` for a sequence of ``T`` thresholds; fractions in ``[0, 1]``. Not differentiable.

    Example:
        >>> x = torch.rand(1, 50, 3)
        >>> f1_score(x, x, 0.01).f1
        tensor([1.])
    """
    _thresholds(threshold)
    with torch.no_grad():
        nn, _, _ = nn_both_ways(pred, gt, pred_lengths, gt_lengths, backend, ("pred", "gt"))
    return f1_from_nn(nn, threshold)


def chamfer_and_f1(
    x: Any,
    y: Any,
    thresholds: float | Sequence[float],
    *,
    x_lengths: torch.Tensor | None = None,
    y_lengths: torch.Tensor | None = None,
    reduction: str = "mean",
    backend: str = "auto",
) -> ChamferF1:
    """Chamfer distance (squared L2) and F-scores from ONE nearest-neighbour pass per direction.

    Same definitions as :func:`~spacetime.shapes.metrics.chamfer_distance` and :func:`f1_score`
    (``x`` is the prediction, ``y`` the ground truth), about twice as fast as calling both.

    Returns:
        :class:`ChamferF1` ``(chamfer (N,), precision, recall, f1)`` with F-score shapes as in
        :func:`f1_score`; ``chamfer`` is differentiable.
    """
    check_in(reduction, "reduction", ("mean", "sum"))
    _thresholds(thresholds)
    nn, _, _ = nn_both_ways(x, y, x_lengths, y_lengths, backend)
    p, r, f = f1_from_nn(nn, thresholds)
    return ChamferF1(reduce_chamfer(nn, reduction), p, r, f)
