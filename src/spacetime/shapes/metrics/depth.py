"""Depth-map and normal-map metrics over valid pixels (Eigen et al. 2014; Eigen & Fergus 2015).

Depth metrics, over the ``n`` valid pixels of each image, with ``p`` = prediction, ``g`` = GT
(both > 0, same units) and ``d = log p - log g`` (natural log):

===============  ==============================================================
key              definition
===============  ==============================================================
``AbsRel``       ``mean(|p - g| / g)``
``SqRel``        ``mean((p - g)² / g)``
``RMSE``         ``sqrt(mean((p - g)²))``
``RMSE_log``     ``sqrt(mean(d²))``
``delta<1.25``   fraction with ``max(p/g, g/p) < 1.25`` (also ``1.25^2``, ``1.25^3``)
``SILog``        ``sqrt(mean(d²) - mean(d)²)``: Eigen et al.'s scale-invariant error with
                 λ = 1, square-rooted (the "RMSE (log, scale-invariant)" of their tables);
                 KITTI's "SILog" is 100 × this with λ = 1 too.
===============  ==============================================================

Normal-map metrics (Eigen & Fergus 2015): the angle between unit predicted and GT normals, in
degrees: ``mean``, ``median``, and the fractions (in ``[0, 1]``) of valid pixels with an angle
below 11.25°, 22.5° and 30°.

All values are per image, ``(N,)``; an image without valid pixels gives ``nan``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from spacetime.checks import check_tensor
from spacetime.errors import InputError

__all__ = ["depth_metrics", "normal_metrics", "DEPTH_METRIC_KEYS", "NORMAL_METRIC_KEYS"]

DEPTH_METRIC_KEYS = (
    "AbsRel",
    "SqRel",
    "RMSE",
    "RMSE_log",
    "delta<1.25",
    "delta<1.25^2",
    "delta<1.25^3",
    "SILog",
)
NORMAL_METRIC_KEYS = ("mean", "median", "within_11.25", "within_22.5", "within_30")


def _as_nhw(x: torch.Tensor, name: str) -> torch.Tensor:
    if name == "valid":
        check_tensor(x, name)
    else:
        check_tensor(x, name, dtype="float")
    if x.ndim == 4 and x.shape[1] == 1:
        return x[:, 0]
    if x.ndim == 2:
        return x[None]
    if x.ndim != 3:
        raise InputError(
            f"{name}: expected shape (N, H, W), (N, 1, H, W) or (H, W), got {tuple(x.shape)}"
        )
    return x


def _masked_mean(v: torch.Tensor, m: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    s = torch.where(m, v, torch.zeros_like(v)).flatten(1).sum(1)
    return torch.where(n > 0, s / n.clamp(min=1), torch.full_like(s, float("nan")))


def depth_metrics(
    pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Standard monocular-depth metrics (see module docstring for exact definitions).

    Args:
        pred: ``(N, H, W)``, ``(N, 1, H, W)`` or ``(H, W)`` predicted depth (> 0 where valid).
        gt: ground-truth depth, same shape.
        valid: bool mask, same shape; default ``gt > 0`` and finite. Pixels where ``gt <= 0``
            are always excluded.

    Returns:
        dict key → ``(N,)`` tensor, keys :data:`DEPTH_METRIC_KEYS`.

    Raises:
        InputError: shape mismatch, or a valid pixel with a non-positive / non-finite prediction.
    """
    p, g = _as_nhw(pred, "pred"), _as_nhw(gt, "gt")
    if p.shape != g.shape:
        raise InputError(
            f"gt: expected shape {tuple(p.shape)} (same as pred), got {tuple(g.shape)}"
        )
    m = torch.isfinite(g) & (g > 0)
    if valid is not None:
        v = _as_nhw(valid, "valid")
        if v.shape != g.shape:
            raise InputError(f"valid: expected shape {tuple(g.shape)}, got {tuple(v.shape)}")
        m = m & v.bool()
    bad = m & ~(torch.isfinite(p) & (p > 0))
    if bool(bad.any()):
        raise InputError(
            f"pred: expected finite depths > 0 at valid pixels, got {int(bad.sum())} that are not"
        )
    p64, g64 = p.double(), g.double()
    one = torch.ones_like(g64)
    ps, gs = torch.where(m, p64, one), torch.where(m, g64, one)
    n = m.flatten(1).sum(1).double()
    diff = ps - gs
    d = ps.log() - gs.log()
    ratio = torch.maximum(ps / gs, gs / ps)
    mean_d = _masked_mean(d, m, n)
    out = {
        "AbsRel": _masked_mean(diff.abs() / gs, m, n),
        "SqRel": _masked_mean(diff * diff / gs, m, n),
        "RMSE": _masked_mean(diff * diff, m, n).sqrt(),
        "RMSE_log": _masked_mean(d * d, m, n).sqrt(),
        "delta<1.25": _masked_mean((ratio < 1.25).double(), m, n),
        "delta<1.25^2": _masked_mean((ratio < 1.25**2).double(), m, n),
        "delta<1.25^3": _masked_mean((ratio < 1.25**3).double(), m, n),
        "SILog": (_masked_mean(d * d, m, n) - mean_d * mean_d).clamp(min=0).sqrt(),
    }
    return {k: v.to(p.dtype) for k, v in out.items()}


def normal_metrics(
    pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Angular error between predicted and GT normal maps, in degrees.

    Args:
        pred: ``(N, 3, H, W)`` predicted normals (any length; normalised inside).
        gt: ``(N, 3, H, W)`` GT normals.
        valid: ``(N, H, W)`` bool mask; default: GT normal finite and non-zero.

    Returns:
        dict with ``"mean"``, ``"median"`` (degrees) and ``"within_11.25"``, ``"within_22.5"``,
        ``"within_30"`` (fractions in ``[0, 1]``), each ``(N,)``.
    """
    sizes = check_tensor(pred, "pred", ("N", 3, "H", "W"), dtype="float")
    check_tensor(gt, "gt", ("N", 3, "H", "W"), dtype="float", sizes=sizes)
    m = torch.isfinite(gt).all(1) & (gt.abs().sum(1) > 0)
    if valid is not None:
        check_tensor(valid, "valid", ("N", "H", "W"), sizes=sizes)
        m = m & valid.bool()
    bad = m & ~torch.isfinite(pred).all(1)
    if bool(bad.any()):
        raise InputError(f"pred: expected finite normals at valid pixels, got {int(bad.sum())} bad")
    pz = torch.where(m[:, None], pred, torch.zeros_like(pred)).double()
    gz = torch.where(m[:, None], gt, torch.zeros_like(gt)).double()
    cos = (F.normalize(pz, dim=1) * F.normalize(gz, dim=1)).sum(1).clamp(-1, 1)
    ang = torch.rad2deg(torch.acos(cos))
    n = m.flatten(1).sum(1).double()
    medians = []
    for i in range(ang.shape[0]):
        a = ang[i][m[i]]
        medians.append(a.quantile(0.5) if a.numel() else ang.new_tensor(float("nan")))
    out = {
        "mean": _masked_mean(ang, m, n),
        "median": torch.stack(medians) if medians else ang.new_zeros(0),
        "within_11.25": _masked_mean((ang < 11.25).double(), m, n),
        "within_22.5": _masked_mean((ang < 22.5).double(), m, n),
        "within_30": _masked_mean((ang < 30.0).double(), m, n),
    }
    return {k: v.to(pred.dtype) for k, v in out.items()}
