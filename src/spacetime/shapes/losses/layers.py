"""The shape-layer depth loss of Matryoshka networks (Richter & Roth, "Matryoshka Networks:
Predicting 3D Geometry via Nested Shape Layers", CVPR 2018).

A network predicts every depth map of ``L`` nested shape layers, normalised to ``[0, 1]`` (depth
in voxels divided by the grid side ``R``; the layout is that of
:mod:`spacetime.shapes.structures.layers`). The paper regresses the normalised depths with an
L1 or L2 loss. Rays without surface need care: :func:`~spacetime.shapes.structures.layers.
decompose_shape_layers` writes ``front = back = R`` for them, but *any* pair with
``front + back >= R`` keeps no voxel of the ray, so regressing such a ray to ``(1, 1)`` would
spend the network's effort on a value that changes nothing (and would push the sigmoid into
saturation). Here an empty ray only pays for how much it would open:
``empty_weight · max(0, 1 + 1/R − (f + b))`` per ray (the ``1/R`` margin — one voxel — makes the
ray decode empty after rounding to whole voxels).
"""

from __future__ import annotations

import math

import torch

from spacetime.checks import check_in, check_positive, check_tensor
from spacetime.errors import InputError
from spacetime.shapes.losses._reduce import reduce_batch

__all__ = ["shape_layer_loss"]


def shape_layer_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    kind: str = "l1",
    empty_weight: float = 0.5,
    reduction: str = "mean",
) -> torch.Tensor:
    """Masked L1 / L2 loss between predicted and true shape-layer depth maps.

    Args:
        pred: ``(N, L, 6, R, R)`` float, normalised depths in ``[0, 1]`` (depth in voxels / R),
            maps in the order ``-z, +z, -y, +y, -x, +x`` (front / back pairs per axis).
        target: ``(N, L, 6, R, R)`` integer depths in voxels ``[0, R]``, as
            :func:`~spacetime.shapes.structures.layers.decompose_shape_layers` returns them
            (an empty ray has ``front = back = R``; an empty layer is empty everywhere).
        kind: ``"l1"`` (``|p − t / R|``) or ``"l2"`` (``(p − t / R)²``) on the rays with
            surface; on empty rays the same penalty of the hinge
            ``max(0, 1 + 1/R − (p_front + p_back))``, times ``empty_weight`` per ray.
        empty_weight: the hinge of an empty ray relative to the two terms of a ray with surface
            (both maps together). Closing a ray wrongly costs the intersection of all three
            axes' extrusions its voxels, so a heavy hinge makes the network close uncertain
            rays: on 16 synthetic shapes (tiny model, 16³, 20 epochs) a weight of 2 gave voxel
            IoU 0.10, 0.5 gave 0.37 (the mean-shape baseline: 0.22).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` over the batch (``(N,)`` per-shape means
            over all ``L · 6 · R²`` map entries).

    Returns:
        The reduced loss (scalar, or ``(N,)`` with ``reduction="none"``).
    """
    check_in(kind, "kind", ("l1", "l2"))
    check_positive(empty_weight, "empty_weight")
    sizes = check_tensor(pred, "pred", ("N", "L", 6, "R", "R"), dtype="float", finite=True)
    check_tensor(target, "target", ("N", "L", 6, "R", "R"), dtype="int", sizes=sizes)
    r = pred.shape[-1]
    if target.numel() and (int(target.min()) < 0 or int(target.max()) > r):
        raise InputError(f"target: expected depths in [0, {r}], got range "
                         f"[{int(target.min())}, {int(target.max())}]")
    t = target.to(pred.dtype) / r
    front, back = pred[:, :, 0::2], pred[:, :, 1::2]  # (N, L, 3, R, R)
    tf, tb = t[:, :, 0::2], t[:, :, 1::2]
    empty = (target[:, :, 0::2] + target[:, :, 1::2]) >= r  # the ray keeps no voxel
    gap = torch.relu(1.0 + 1.0 / r - (front + back))
    if kind == "l1":
        full = (front - tf).abs() + (back - tb).abs()
    else:
        full = (front - tf).square() + (back - tb).square()
        gap = gap.square()
    per_entry = torch.where(empty, float(empty_weight) * gap, full)  # per ray (two maps)
    per_shape = per_entry.flatten(1).sum(1) / max(1, math.prod(pred.shape[1:]))
    return reduce_batch(per_shape, reduction)
