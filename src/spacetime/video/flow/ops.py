"""Differentiable flow operations: backward warping and flow metrics.

Convention (see :mod:`spacetime.video.flow`): a flow ``F = (dx, dy)`` of shape ``(N, 2, H, W)``
in pixels satisfies ``I_{t+1}(x + dx, y + dy) = I_t(x, y)``. Pixel ``(x, y)`` is the *centre* of
column ``x`` / row ``y`` (integer coordinates, ``x`` in ``[0, W - 1]``), which is what
``grid_sample(..., align_corners=True)`` uses once pixel coordinates are mapped to [-1, 1] with
``2 x / (W - 1) - 1``.

Metrics (all means over valid pixels; ``valid`` is an optional ``(N, H, W)`` / ``(H, W)`` mask and
ground-truth pixels that are NaN count as invalid):

- :func:`end_point_error` (EPE): ``||F - F_gt||_2`` per pixel.
- :func:`outlier_rate` (KITTI Fl-all): share of pixels with EPE > 3 px **and** EPE > 5 % of
  ``||F_gt||`` (Menze & Geiger, CVPR 2015). Returned as a fraction in [0, 1].
- :func:`angular_error` (Barron et al., IJCV 1994): the angle in degrees between the space-time
  vectors ``(u, v, 1)`` and ``(u_gt, v_gt, 1)``.
- :func:`photometric_error`: mean absolute difference between ``frame1`` and
  ``warp(frame2, flow)`` over in-frame pixels.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from spacetime.checks import check_finite, check_in, check_shape, check_tensor
from spacetime.errors import InputError
from spacetime.video.flow._common import as_flow_batch, as_image_batch

__all__ = [
    "pixel_grid",
    "warp",
    "end_point_error",
    "outlier_rate",
    "angular_error",
    "photometric_error",
    "flow_metrics",
]


def pixel_grid(n: int, h: int, w: int, device: Any = None, dtype: Any = None) -> torch.Tensor:
    """Pixel-centre coordinates ``(n, 2, h, w)``: channel 0 is x (column), channel 1 is y (row)."""
    ys = torch.arange(h, device=device, dtype=dtype)
    xs = torch.arange(w, device=device, dtype=dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy]).unsqueeze(0).expand(n, 2, h, w)


def warp(
    image: torch.Tensor,
    flow: torch.Tensor,
    *,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Backward-warp ``image`` by ``flow``: ``out(x) = image(x + flow(x))`` (bilinear).

    With the package convention ``I_{t+1}(x + F(x)) = I_t(x)``, ``warp(frame2, flow)``
    reconstructs ``frame1``. Differentiable w.r.t. both the image and the flow.

    Args:
        image: ``(N, C, H, W)`` or ``(C, H, W)`` float image.
        flow: ``(N, 2, H, W)`` or ``(2, H, W)`` flow in pixels, same ``H, W`` (and ``N``).
        mode: ``"bilinear"`` or ``"nearest"`` (``grid_sample`` modes).
        padding_mode: ``"zeros"`` | ``"border"`` | ``"reflection"`` for samples outside the frame.

    Returns:
        ``(warped, in_frame)``: the warped image (same shape as ``image``) and a bool mask
        ``(N, H, W)`` (or ``(H, W)``) that is False where ``x + flow(x)`` falls outside
        ``[0, W - 1] x [0, H - 1]`` (pixel centres, ``align_corners=True``). A NaN flow
        pixel is reported as out of frame (its warped value is not meaningful).
    """
    img, batched = as_image_batch(image, "image")
    fl, _ = as_flow_batch(flow, "flow")
    check_in(mode, "mode", ("bilinear", "nearest"))
    check_in(padding_mode, "padding_mode", ("zeros", "border", "reflection"))
    if fl.shape[-2:] != img.shape[-2:]:
        raise InputError(
            f"flow: expected spatial size {tuple(img.shape[-2:])} like image, "
            f"got {tuple(fl.shape[-2:])}"
        )
    if fl.shape[0] != img.shape[0]:
        if fl.shape[0] == 1:
            fl = fl.expand(img.shape[0], -1, -1, -1)
        elif img.shape[0] == 1:
            img = img.expand(fl.shape[0], -1, -1, -1)
        else:
            raise InputError(f"flow: expected batch size {img.shape[0]}, got {fl.shape[0]}")
    if fl.device != img.device:
        raise InputError(f"flow: expected device {img.device} (same as image), got {fl.device}")
    n, _, h, w = img.shape
    if img.numel() == 0 or h == 0 or w == 0:  # nothing to sample: empty result, empty mask
        out, inside = img.clone(), torch.zeros(n, h, w, dtype=torch.bool, device=img.device)
        return (out, inside) if batched else (out[0], inside[0])
    fl = fl.to(img.dtype)
    pos = pixel_grid(n, h, w, img.device, img.dtype) + fl
    gx = 2.0 * pos[:, 0] / max(w - 1, 1) - 1.0
    gy = 2.0 * pos[:, 1] / max(h - 1, 1) - 1.0
    grid = torch.stack([gx, gy], dim=-1)
    out = F.grid_sample(img, grid, mode=mode, padding_mode=padding_mode, align_corners=True)
    px, py = pos[:, 0].detach(), pos[:, 1].detach()
    inside = (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)
    if not batched:
        return out[0], inside[0]
    return out, inside


def _prepare(
    flow: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    fl, _ = as_flow_batch(flow, "flow")
    g, _ = as_flow_batch(gt, "gt")
    if fl.shape != g.shape:
        raise InputError(f"gt: expected shape {tuple(fl.shape)} like flow, got {tuple(g.shape)}")
    if g.device != fl.device:
        raise InputError(f"gt: expected device {fl.device} (same as flow), got {g.device}")
    check_finite(fl, "flow")
    mask = torch.isfinite(g).all(dim=1)
    if valid is not None:
        check_tensor(valid, "valid")
        v = valid if valid.ndim == 3 else valid.unsqueeze(0)
        check_shape(v, "valid", (fl.shape[0], fl.shape[2], fl.shape[3]))
        mask = mask & (v.to(fl.device) > 0)
    g = torch.where(mask.unsqueeze(1), g, torch.zeros_like(g))
    return fl, g.to(fl.dtype), mask


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(values.dtype)
    return (values * m).sum() / m.sum()  # NaN when no valid pixel (documented)


def end_point_error(
    flow: torch.Tensor,
    gt: torch.Tensor,
    valid: torch.Tensor | None = None,
    *,
    reduction: str = "mean",
) -> torch.Tensor:
    """End-point error ``||flow - gt||_2`` in pixels.

    Args:
        flow: ``(N, 2, H, W)`` or ``(2, H, W)`` predicted flow (must be finite).
        gt: ground truth of the same shape; NaN pixels are treated as invalid.
        valid: optional mask ``(N, H, W)`` / ``(H, W)`` (bool or 0/1).
        reduction: ``"mean"`` (over valid pixels; NaN when none is valid) or ``"none"``
            (per-pixel map ``(N, H, W)``, zero at invalid pixels).

    Differentiable w.r.t. ``flow``; where the error is exactly zero the gradient is taken as
    zero (instead of the NaN of ``sqrt`` at 0).
    """
    check_in(reduction, "reduction", ("mean", "none"))
    fl, g, mask = _prepare(flow, gt, valid)
    diff = fl - g
    sq = (diff * diff).sum(dim=1)
    epe = torch.where(sq > 0, sq, torch.ones_like(sq)).sqrt() * (sq > 0).to(sq.dtype)
    if reduction == "none":
        return epe * mask.to(epe.dtype)
    return _masked_mean(epe, mask)


def outlier_rate(
    flow: torch.Tensor,
    gt: torch.Tensor,
    valid: torch.Tensor | None = None,
    *,
    abs_thresh: float = 3.0,
    rel_thresh: float = 0.05,
) -> torch.Tensor:
    """KITTI Fl-all: fraction of valid pixels with EPE > 3 px and EPE > 5 % of ``||gt||``."""
    fl, g, mask = _prepare(flow, gt, valid)
    epe = (fl - g).norm(dim=1)
    mag = g.norm(dim=1)
    out = (epe > abs_thresh) & (epe > rel_thresh * mag)
    return _masked_mean(out.to(fl.dtype), mask)


def angular_error(
    flow: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean angle (degrees) between ``(u, v, 1)`` and ``(u_gt, v_gt, 1)`` (Barron et al. 1994)."""
    fl, g, mask = _prepare(flow, gt, valid)
    num = (fl * g).sum(dim=1) + 1.0
    den = ((fl * fl).sum(dim=1) + 1.0).sqrt() * ((g * g).sum(dim=1) + 1.0).sqrt()
    cos = (num / den).clamp(-1.0 + 1e-7, 1.0 - 1e-7)
    return _masked_mean(torch.rad2deg(torch.acos(cos)), mask)


def photometric_error(
    frame1: torch.Tensor, frame2: torch.Tensor, flow: torch.Tensor
) -> torch.Tensor:
    """Mean ``|frame1 - warp(frame2, flow)|`` over in-frame pixels and channels.

    ``frame1``, ``frame2``: ``(N, C, H, W)`` or ``(C, H, W)`` float images.
    """
    f1, _ = as_image_batch(frame1, "frame1")
    f2, _ = as_image_batch(frame2, "frame2")
    if f1.shape != f2.shape:
        raise InputError(
            f"frame2: expected shape {tuple(f1.shape)} like frame1, got {tuple(f2.shape)}"
        )
    fl, _ = as_flow_batch(flow, "flow")
    warped, inside = warp(f2, fl)
    err = (warped - f1).abs().mean(dim=1)
    return _masked_mean(err, inside)


def flow_metrics(
    flow: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None = None
) -> dict[str, float]:
    """``{"epe", "fl_all" (percent), "ae" (degrees), "1px", "3px", "5px" (percent)}``."""
    with torch.no_grad():
        epe_map = end_point_error(flow, gt, valid, reduction="none")
        _, _, mask = _prepare(flow, gt, valid)
        n = mask.sum().clamp(min=1)
        out = {
            "epe": float(_masked_mean(epe_map, mask)),
            "fl_all": 100.0 * float(outlier_rate(flow, gt, valid)),
            "ae": float(angular_error(flow, gt, valid)),
        }
        for t in (1, 3, 5):
            out[f"{t}px"] = 100.0 * float(((epe_map < t) & mask).sum() / n)
    return out
