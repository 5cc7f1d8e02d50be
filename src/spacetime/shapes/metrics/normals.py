"""Normal consistency between point sets with normals (Mesh R-CNN, Gkioxari et al. 2019).

For nearest-neighbour pairs ``Λ_{X,Y} = {(x, argmin_y ||x - y||)}`` (found on positions) and unit
normals ``u``::

    NC(X, Y)    = 1/2 (mean_{(x,y)∈Λ_{X,Y}} u_x·u_y + mean_{(y,x)∈Λ_{Y,X}} u_y·u_x)
    AbsNC(X, Y) = the same with |u_x·u_y|     (Mesh R-CNN's "absolute normal consistency")

Normals are normalised to unit length inside (so they may be given unnormalised). Both values lie
in ``[-1, 1]`` (``[0, 1]`` for AbsNC); an empty cloud on either side gives ``nan``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from spacetime.checks import check_tensor
from spacetime.errors import InputError
from spacetime.shapes.metrics.knn import NNBoth, knn_gather, nn_both_ways

__all__ = ["NormalConsistency", "normal_consistency", "normal_consistency_from_nn"]


class NormalConsistency(NamedTuple):
    """``signed`` and ``absolute`` normal consistency, each ``(N,)``."""

    signed: torch.Tensor
    absolute: torch.Tensor


def _normals(pc: Any, normals: torch.Tensor | None, name: str) -> torch.Tensor:
    if normals is None and hasattr(pc, "normals_padded"):
        normals = pc.normals_padded()
    if normals is None:
        raise InputError(f"{name}_normals: required (or pass a Pointclouds that has normals)")
    return normals


def _pair_cos(
    nx: torch.Tensor, ny: torch.Tensor, idx: torch.Tensor, lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-cloud mean cosine (signed, absolute) between ``nx`` rows and ``ny[idx]``."""
    near = knn_gather(ny, idx[..., None])[:, :, 0]  # (N, P, 3)
    cos = (F.normalize(nx, dim=-1, eps=1e-12) * F.normalize(near, dim=-1, eps=1e-12)).sum(-1)
    rows = (torch.arange(nx.shape[1], device=nx.device)[None, :] < lengths[:, None]) & (idx >= 0)
    cos = torch.where(rows, cos, torch.zeros_like(cos))
    denom = lengths.to(cos.dtype)
    nan = torch.full_like(denom, float("nan"))
    signed = torch.where(lengths > 0, cos.sum(1) / denom.clamp(min=1), nan)
    absolute = torch.where(lengths > 0, cos.abs().sum(1) / denom.clamp(min=1), nan)
    return signed, absolute


def normal_consistency_from_nn(
    nn: NNBoth, x_normals: torch.Tensor, y_normals: torch.Tensor
) -> NormalConsistency:
    """Normal consistency from a bidirectional nearest-neighbour pass."""
    sx, ax = _pair_cos(x_normals, y_normals, nn.idx_xy, nn.x_lengths)
    sy, ay = _pair_cos(y_normals, x_normals, nn.idx_yx, nn.y_lengths)
    empty = (nn.x_lengths == 0) | (nn.y_lengths == 0)
    nan = torch.full_like(sx, float("nan"))
    return NormalConsistency(
        torch.where(empty, nan, 0.5 * (sx + sy)), torch.where(empty, nan, 0.5 * (ax + ay))
    )


def normal_consistency(
    x: Any,
    y: Any,
    x_normals: torch.Tensor | None = None,
    y_normals: torch.Tensor | None = None,
    *,
    x_lengths: torch.Tensor | None = None,
    y_lengths: torch.Tensor | None = None,
    backend: str = "auto",
) -> NormalConsistency:
    """Signed and absolute normal consistency between two batches of oriented point clouds.

    Args:
        x: ``(N, P1, 3)`` points or a Pointclouds (its normals are used if ``x_normals`` is None).
        y: ``(N, P2, 3)`` points or a Pointclouds.
        x_normals: ``(N, P1, 3)`` normals of ``x`` (any length, normalised inside).
        y_normals: ``(N, P2, 3)`` normals of ``y``.
        x_lengths, y_lengths: ``(N,)`` valid points per cloud (default: all).
        backend: nearest-neighbour backend, see :func:`~spacetime.shapes.metrics.knn_points`.

    Returns:
        :class:`NormalConsistency` ``(signed (N,), absolute (N,))``, differentiable w.r.t. normals.
    """
    xn = _normals(x, x_normals, "x")
    yn = _normals(y, y_normals, "y")
    nn, xp, yp = nn_both_ways(x, y, x_lengths, y_lengths, backend)
    check_tensor(xn, "x_normals", tuple(xp.shape), dtype="float", finite=True)
    check_tensor(yn, "y_normals", tuple(yp.shape), dtype="float", finite=True)
    return normal_consistency_from_nn(nn, xn, yn)
