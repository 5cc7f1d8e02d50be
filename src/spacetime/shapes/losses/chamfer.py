"""Point-cloud losses of Mesh R-CNN (Gkioxari et al. 2019, eq. 1), on points sampled from meshes.

For predicted points ``P`` and GT points ``Q`` with nearest-neighbour pairs ``Λ_{P,Q}``::

    L_cham(P, Q) = |P|⁻¹ Σ_{(p,q)∈Λ_{P,Q}} ||p - q||² + |Q|⁻¹ Σ_{(q,p)∈Λ_{Q,P}} ||q - p||²
    L_norm(P, Q) = -|P|⁻¹ Σ_{(p,q)∈Λ_{P,Q}} |u_p·u_q| - |Q|⁻¹ Σ_{(q,p)∈Λ_{Q,P}} |u_q·u_p|

``L_cham`` is the squared-L2 Chamfer distance (mean form, see
:func:`spacetime.shapes.metrics.chamfer_distance`); ``L_norm`` lies in ``[-2, 0]`` and uses unit
normals (normalised inside, with backprop through the normalisation).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from spacetime.checks import check_tensor
from spacetime.errors import InputError
from spacetime.shapes.losses._reduce import reduce_batch
from spacetime.shapes.metrics.chamfer import reduce_chamfer
from spacetime.shapes.metrics.knn import knn_gather, nn_both_ways

__all__ = ["ChamferNormalLoss", "chamfer_loss", "chamfer_normal_loss"]


class ChamferNormalLoss(NamedTuple):
    """``chamfer`` (L_cham) and ``normals`` (L_norm), each reduced over the batch."""

    chamfer: torch.Tensor
    normals: torch.Tensor


def chamfer_loss(
    x: Any,
    y: Any,
    *,
    x_lengths: torch.Tensor | None = None,
    y_lengths: torch.Tensor | None = None,
    point_reduction: str = "mean",
    reduction: str = "mean",
    backend: str = "auto",
) -> torch.Tensor:
    """Mesh R-CNN's ``L_cham`` (squared L2), reduced over the batch.

    Args:
        x: ``(N, P1, 3)`` predicted points (or a Pointclouds).
        y: ``(N, P2, 3)`` target points (or a Pointclouds).
        x_lengths, y_lengths: ``(N,)`` valid points per cloud.
        point_reduction: ``"mean"`` (Mesh R-CNN) or ``"sum"`` (the lecture) over points.
        reduction: over the batch: ``"mean"``, ``"sum"`` or ``"none"`` (returns ``(N,)``).
        backend: nearest-neighbour backend, see :func:`spacetime.shapes.metrics.knn_points`.

    Returns:
        scalar (or ``(N,)``) tensor; ``inf`` for a pair with exactly one empty cloud.
    """
    nn, _, _ = nn_both_ways(x, y, x_lengths, y_lengths, backend)
    return reduce_batch(reduce_chamfer(nn, point_reduction), reduction)


def _abs_cos_mean(
    nx: torch.Tensor, ny: torch.Tensor, idx: torch.Tensor, lengths: torch.Tensor
) -> torch.Tensor:
    near = knn_gather(ny, idx[..., None])[:, :, 0]
    cos = (F.normalize(nx, dim=-1, eps=1e-12) * F.normalize(near, dim=-1, eps=1e-12)).sum(-1)
    rows = (torch.arange(nx.shape[1], device=nx.device)[None, :] < lengths[:, None]) & (idx >= 0)
    cos = torch.where(rows, cos.abs(), torch.zeros_like(cos))
    return cos.sum(1) / lengths.clamp(min=1).to(cos.dtype)


def chamfer_normal_loss(
    x: Any,
    y: Any,
    x_normals: torch.Tensor | None = None,
    y_normals: torch.Tensor | None = None,
    *,
    x_lengths: torch.Tensor | None = None,
    y_lengths: torch.Tensor | None = None,
    point_reduction: str = "mean",
    reduction: str = "mean",
    backend: str = "auto",
) -> ChamferNormalLoss:
    """``L_cham`` and ``L_norm`` from one nearest-neighbour pass per direction.

    Args:
        x, y: ``(N, P1, 3)`` / ``(N, P2, 3)`` points or Pointclouds (with normals).
        x_normals, y_normals: ``(N, P1, 3)`` / ``(N, P2, 3)`` normals (any length); default: the
            Pointclouds' normals.
        point_reduction: for ``L_cham`` only (``L_norm`` always averages over points).
        reduction: over the batch, as in :func:`chamfer_loss`.

    Returns:
        :class:`ChamferNormalLoss` ``(chamfer, normals)``; an empty cloud contributes 0 to
        ``normals`` (and ``inf`` to ``chamfer``).
    """
    if x_normals is None and hasattr(x, "normals_padded"):
        x_normals = x.normals_padded()
    if y_normals is None and hasattr(y, "normals_padded"):
        y_normals = y.normals_padded()
    if x_normals is None or y_normals is None:
        raise InputError("x_normals, y_normals: required (or pass Pointclouds with normals)")
    nn, xp, yp = nn_both_ways(x, y, x_lengths, y_lengths, backend)
    check_tensor(x_normals, "x_normals", tuple(xp.shape), dtype="float", finite=True)
    check_tensor(y_normals, "y_normals", tuple(yp.shape), dtype="float", finite=True)
    ax = _abs_cos_mean(x_normals, y_normals, nn.idx_xy, nn.x_lengths)
    ay = _abs_cos_mean(y_normals, x_normals, nn.idx_yx, nn.y_lengths)
    cham = reduce_chamfer(nn, point_reduction)
    return ChamferNormalLoss(reduce_batch(cham, reduction), reduce_batch(-(ax + ay), reduction))
