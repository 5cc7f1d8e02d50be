"""Differentiable, batched Horn–Schunck optical flow in PyTorch (coarse-to-fine with warping).

Horn & Schunck, "Determining Optical Flow" (Artificial Intelligence, 1981): minimise
``sum (I_x u + I_y v + I_t)^2 + alpha^2 (|grad u|^2 + |grad v|^2)`` by Jacobi iterations

    u = u_avg - I_x (I_x u_avg + I_y v_avg + I_t) / (alpha^2 + I_x^2 + I_y^2)

(and the same for ``v``), made robust to large motion with an image pyramid and repeated
backward warping of ``frame2`` by the current flow (the linearisation is around the current
estimate, as in Brox et al. 2004).

Why our own instead of OpenCV: it runs on a whole batch ``(N, C, H, W)`` at once, on CPU or GPU
(``device=``), and every step is a torch op, so the output is differentiable w.r.t. the frames
(usable as a layer, or to back-propagate a photometric loss). OpenCV has no Horn–Schunck in its
main modules and its estimators are CPU-only, one pair at a time, and not differentiable.

Intensities are in [0, 1] (colour frames are converted to luma), so ``alpha`` is in those units.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from spacetime.checks import check_int, check_positive, check_tensor
from spacetime.errors import InputError
from spacetime.video.flow.ops import warp

__all__ = ["horn_schunck"]

_LUMA = (0.299, 0.587, 0.114)


def _to_gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    if x.shape[1] != 3:
        raise InputError(f"frames: expected 1 or 3 channels, got {x.shape[1]}")
    w = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def _gauss_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma <= 0:
        return x
    r = max(1, int(round(2.5 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = F.pad(x, (r, r, 0, 0), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    x = F.pad(x, (0, 0, r, r), mode="replicate")
    return F.conv2d(x, k.view(1, 1, -1, 1))


def _gradients(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Central differences (replicate border), ``(N, 1, H, W)`` each."""
    p = F.pad(img, (1, 1, 1, 1), mode="replicate")
    ix = 0.5 * (p[:, :, 1:-1, 2:] - p[:, :, 1:-1, :-2])
    iy = 0.5 * (p[:, :, 2:, 1:-1] - p[:, :, :-2, 1:-1])
    return ix, iy


def _local_avg(f: torch.Tensor) -> torch.Tensor:
    k = torch.tensor(
        [[1 / 12, 1 / 6, 1 / 12], [1 / 6, 0.0, 1 / 6], [1 / 12, 1 / 6, 1 / 12]],
        dtype=f.dtype,
        device=f.device,
    ).view(1, 1, 3, 3)
    c = f.shape[1]
    return F.conv2d(F.pad(f, (1, 1, 1, 1), mode="replicate"), k.expand(c, 1, 3, 3), groups=c)


def horn_schunck(
    frame1: torch.Tensor,
    frame2: torch.Tensor,
    *,
    alpha: float = 0.02,
    iterations: int = 60,
    warps: int = 3,
    levels: int | None = None,
    scale: float = 0.5,
    sigma: float = 1.0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Horn–Schunck flow from ``frame1`` to ``frame2``.

    Args:
        frame1, frame2: float ``(N, C, H, W)`` or ``(C, H, W)`` frames in [0, 1], C in {1, 3}.
        alpha: smoothness weight (intensity units; larger = smoother flow).
        iterations: Jacobi iterations per warp.
        warps: warps (re-linearisations) per pyramid level.
        levels: pyramid levels (default: until the short side is about 16 px, at most 6).
        scale: pyramid down-sampling factor.
        sigma: Gaussian pre-smoothing (pixels) of each level.
        device: run on this device (default: the frames' device).

    Returns:
        flow ``(N, 2, H, W)`` (or ``(2, H, W)``) in pixels, differentiable w.r.t. the frames.
    """
    single = frame1.ndim == 3
    if single:
        frame1, frame2 = frame1.unsqueeze(0), frame2.unsqueeze(0) if frame2.ndim == 3 else frame2
    sizes = check_tensor(frame1, "frame1", ("N", "C", "H", "W"), dtype="float", finite=True)
    check_tensor(frame2, "frame2", ("N", "C", "H", "W"), dtype="float", finite=True, sizes=sizes)
    check_positive(alpha, "alpha")
    check_int(iterations, "iterations", min_value=1)
    check_int(warps, "warps", min_value=1)
    if not 0.0 < scale < 1.0:
        raise InputError(f"scale: expected a value in (0, 1), got {scale!r}")
    if device is not None:
        frame1, frame2 = frame1.to(device), frame2.to(device)
    i1, i2 = _to_gray(frame1), _to_gray(frame2)
    n, _, h, w = i1.shape
    if levels is None:
        levels = 1
        while levels < 6 and min(h, w) * scale**levels >= 16:
            levels += 1
    check_int(levels, "levels", min_value=1)
    pyr1, pyr2 = [_gauss_blur(i1, sigma)], [_gauss_blur(i2, sigma)]
    for lv in range(1, levels):
        size = (max(1, round(h * scale**lv)), max(1, round(w * scale**lv)))
        pyr1.append(_gauss_blur(F.interpolate(i1, size=size, mode="area"), sigma))
        pyr2.append(_gauss_blur(F.interpolate(i2, size=size, mode="area"), sigma))
    a2 = alpha * alpha
    flow = torch.zeros(n, 2, *pyr1[-1].shape[-2:], dtype=i1.dtype, device=i1.device)
    for lv in range(levels - 1, -1, -1):
        p1, p2 = pyr1[lv], pyr2[lv]
        hh, ww = p1.shape[-2:]
        if flow.shape[-2:] != (hh, ww):
            sy, sx = hh / flow.shape[-2], ww / flow.shape[-1]
            flow = F.interpolate(flow, size=(hh, ww), mode="bilinear", align_corners=True)
            flow = torch.cat([flow[:, :1] * sx, flow[:, 1:] * sy], dim=1)
        for _ in range(warps):
            p2w, _ = warp(p2, flow, padding_mode="border")
            ix, iy = _gradients(0.5 * (p1 + p2w))
            it = p2w - p1
            den = a2 + ix * ix + iy * iy
            u0, v0 = flow[:, :1], flow[:, 1:]
            u, v = u0, v0
            for _ in range(iterations):
                avg = _local_avg(torch.cat([u, v], dim=1))
                ua, va = avg[:, :1], avg[:, 1:]
                t = (ix * (ua - u0) + iy * (va - v0) + it) / den
                u = ua - ix * t
                v = va - iy * t
            flow = torch.cat([u, v], dim=1)
    return flow[0] if single else flow
