"""Dense per-pixel losses: L2 and scale-invariant depth (Eigen et al. 2014), surface normals.

Inputs are ``(N, H, W)`` or ``(N, 1, H, W)`` depth maps / ``(N, 3, H, W)`` normal maps with an
optional bool ``valid`` mask ``(N, H, W)`` (or ``(N, 1, H, W)``). Each loss is a per-image mean over
valid pixels (an image with no valid pixel gives 0), then reduced over the batch with
``reduction`` = ``"mean"`` | ``"sum"`` | ``"none"``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from spacetime.checks import check_tensor
from spacetime.errors import InputError
from spacetime.shapes.losses._reduce import reduce_batch

__all__ = ["depth_l2_loss", "scale_invariant_depth_loss", "surface_normal_loss"]


def _maps(
    pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    check_tensor(pred, "pred", dtype="float")
    check_tensor(gt, "gt", dtype="float")

    def nhw(x: torch.Tensor, name: str) -> torch.Tensor:
        if x.ndim == 4 and x.shape[1] == 1:
            return x[:, 0]
        if x.ndim != 3:
            raise InputError(
                f"{name}: expected shape (N, H, W) or (N, 1, H, W), got {tuple(x.shape)}"
            )
        return x

    p, g = nhw(pred, "pred"), nhw(gt, "gt")
    if p.shape != g.shape:
        raise InputError(
            f"gt: expected shape {tuple(p.shape)} (same as pred), got {tuple(g.shape)}"
        )
    if valid is None:
        m = torch.isfinite(g)
    else:
        check_tensor(valid, "valid")
        m = nhw(valid, "valid")
        if m.shape != g.shape:
            raise InputError(f"valid: expected shape {tuple(g.shape)}, got {tuple(m.shape)}")
        m = m.bool()
    return p, g, m


def _mean(v: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    v = torch.where(m, v, torch.zeros_like(v))
    return v.flatten(1).sum(1) / m.flatten(1).sum(1).clamp(min=1).to(v.dtype)


def depth_l2_loss(
    pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None = None, reduction: str = "mean"
) -> torch.Tensor:
    """Per-pixel squared error ``mean_valid (p - g)²`` (default valid: finite GT)."""
    p, g, m = _maps(pred, gt, valid)
    gz = torch.where(m, g, torch.zeros_like(g))
    return reduce_batch(_mean((p - gz) ** 2, m), reduction)


def scale_invariant_depth_loss(
    pred: torch.Tensor,
    gt: torch.Tensor,
    valid: torch.Tensor | None = None,
    *,
    lam: float = 0.5,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> torch.Tensor:
    """Eigen et al. 2014, eq. 4: ``(1/n) Σ d² - (λ/n²) (Σ d)²`` with ``d = log p - log g``.

    ``λ = 0.5`` is the paper's training value (``λ = 1`` is fully scale invariant; ``λ = 0`` is
    the log-L2 loss). No square root. Predictions are clamped to ``>= eps`` before the log;
    the default valid mask is ``g > 0`` and finite.
    """
    p, g, m = _maps(pred, gt, valid)
    m = m & (g > 0) & torch.isfinite(g)
    gs = torch.where(m, g, torch.ones_like(g))
    d = torch.log(p.clamp(min=eps)) - torch.log(gs)
    d = torch.where(m, d, torch.zeros_like(d))
    n = m.flatten(1).sum(1).clamp(min=1).to(d.dtype)
    s1 = (d * d).flatten(1).sum(1) / n
    s2 = d.flatten(1).sum(1) / n
    return reduce_batch(s1 - lam * s2 * s2, reduction)


def surface_normal_loss(
    pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None = None, reduction: str = "mean"
) -> torch.Tensor:
    """The lecture's normal loss: ``-mean_valid (x·y) / (|x| |y|)`` over pixels, in ``[-1, 1]``.

    ``pred`` and ``gt`` are ``(N, 3, H, W)``; both are normalised to unit length inside (backprop
    goes through the normalisation). Default valid: GT finite and non-zero.
    """
    sizes = check_tensor(pred, "pred", ("N", 3, "H", "W"), dtype="float")
    check_tensor(gt, "gt", ("N", 3, "H", "W"), dtype="float", sizes=sizes)
    m = torch.isfinite(gt).all(1) & (gt.abs().sum(1) > 0)
    if valid is not None:
        check_tensor(valid, "valid", ("N", "H", "W"), sizes=sizes)
        m = m & valid.bool()
    gz = torch.where(m[:, None], gt, torch.zeros_like(gt))
    cos = (F.normalize(pred, dim=1, eps=1e-12) * F.normalize(gz, dim=1, eps=1e-12)).sum(1)
    return reduce_batch(-_mean(cos, m), reduction)
