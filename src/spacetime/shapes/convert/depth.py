"""Depth maps ↔ point clouds, and depth → surface normals.

Conventions (see ``CameraIntrinsics``): camera frame OpenCV (x right, y down, z forward); depth
is the z coordinate of the surface point (not the distance along the ray); pixel ``(u, v)``
(column u, row v) has its centre at ``(u, v)``, so pixel ``[v, u]`` back-projects to
``(X, Y, Z) = ((u - cx) / fx · Z, (v - cy) / fy · Z, Z)``. A depth value ``<= 0``, NaN or inf
marks an invalid pixel (no measurement).
"""

from __future__ import annotations

from typing import Any

import torch

from spacetime.checks import check_int, check_tensor
from spacetime.errors import InputError
from spacetime.shapes.convert._common import intrinsics_K, new_pointclouds, points_lists

__all__ = [
    "depth_to_points",
    "depth_to_points_dense",
    "points_to_depth",
    "depth_to_normals",
]


def _depth_nhw(depth: Any) -> torch.Tensor:
    check_tensor(depth, "depth", ("*", "H", "W"), dtype="float")
    if depth.ndim == 4:
        if depth.shape[1] != 1:
            raise InputError(
                f"depth: expected shape (N, H, W) or (N, 1, H, W), got {tuple(depth.shape)}"
            )
        return depth[:, 0]
    if depth.ndim != 3:
        raise InputError(
            f"depth: expected shape (N, H, W) or (N, 1, H, W), got {tuple(depth.shape)}"
        )
    return depth


def _mask_nhw(mask: Any, shape: torch.Size) -> torch.Tensor | None:
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise InputError(f"mask: expected a torch.Tensor, got {type(mask).__name__}")
    if mask.ndim == 4 and mask.shape[1] == 1:
        mask = mask[:, 0]
    if tuple(mask.shape) != tuple(shape):
        raise InputError(f"mask: expected shape {tuple(shape)}, got {tuple(mask.shape)}")
    return mask.bool()


def depth_to_points_dense(
    depth: torch.Tensor, K: Any, *, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Back-project every pixel.

    Args:
        depth: ``(N, H, W)`` or ``(N, 1, H, W)`` z-depth.
        K: ``CameraIntrinsics`` (1 or N cameras) or ``(N, 3, 3)`` / ``(3, 3)`` matrices.
        mask: optional ``(N, H, W)`` bool, False marks extra invalid pixels.

    Returns:
        points ``(N, H, W, 3)`` in the camera frame (zeros at invalid pixels) and valid
        ``(N, H, W)`` bool. Differentiable w.r.t. ``depth``.
    """
    d = _depth_nhw(depth)
    n, h, w = d.shape
    m = _mask_nhw(mask, d.shape)
    Km = intrinsics_K(K, n, d.device, d.dtype)
    valid = torch.isfinite(d) & (d > 0)
    if m is not None:
        valid = valid & m
    z = torch.where(valid, d, torch.zeros_like(d))
    v, u = torch.meshgrid(
        torch.arange(h, dtype=d.dtype, device=d.device),
        torch.arange(w, dtype=d.dtype, device=d.device),
        indexing="ij",
    )
    fx, fy = Km[:, 0, 0, None, None], Km[:, 1, 1, None, None]
    cx, cy = Km[:, 0, 2, None, None], Km[:, 1, 2, None, None]
    x = (u[None] - cx) / fx * z
    y = (v[None] - cy) / fy * z
    return torch.stack([x, y, z], dim=-1), valid


def depth_to_points(
    depth: torch.Tensor,
    K: Any,
    *,
    mask: torch.Tensor | None = None,
    rgb: torch.Tensor | None = None,
):
    """Back-project depth maps to a ragged batch of camera-frame point clouds.

    Args:
        depth: ``(N, H, W)`` or ``(N, 1, H, W)`` z-depth; ``<= 0`` / NaN / inf are dropped.
        K: ``CameraIntrinsics`` or ``(N, 3, 3)`` intrinsics.
        mask: optional ``(N, H, W)`` bool; False pixels are dropped too.
        rgb: optional colours ``(N, C, H, W)`` (channels first, e.g. C = 3), stored as
            ``features`` ``(P_n, C)`` of the valid pixels.

    Returns:
        ``Pointclouds`` of N clouds (row-major pixel order; cloud n has one point per valid
        pixel of map n, possibly none).
    """
    pts, valid = depth_to_points_dense(depth, K, mask=mask)
    n, h, w = valid.shape
    feats = None
    if rgb is not None:
        check_tensor(rgb, "rgb", (n, "C", h, w))
        colours = rgb.permute(0, 2, 3, 1)
        if not colours.is_floating_point():
            colours = colours.to(pts.dtype)
        feats = [colours[i][valid[i]] for i in range(n)]
    return new_pointclouds([pts[i][valid[i]] for i in range(n)], feats)


def points_to_depth(points: Any, K: Any, height: int, width: int) -> torch.Tensor:
    """Render camera-frame points into depth maps with a z-buffer.

    Each point ``Z > 0`` lands on the pixel nearest its projection ``(round(u), round(v))``
    (OpenCV pixel centres); the smallest Z per pixel wins (``scatter_reduce`` amin, no loop);
    pixels without points are 0.

    Args:
        points: ``(N, P, 3)``, list of ``(P_n, 3)`` or ``Pointclouds`` in the camera frame.
        K: ``CameraIntrinsics`` or ``(N, 3, 3)`` intrinsics.
        height, width: output size in pixels.

    Returns:
        ``(N, H, W)`` depth maps. Gradients flow to the winning points' Z.
    """
    check_int(height, "height", min_value=1)
    check_int(width, "width", min_value=1)
    plist, _ = points_lists(points)
    n = len(plist)
    dtype, device = plist[0].dtype, plist[0].device
    Km = intrinsics_K(K, n, device, dtype)
    lengths = torch.tensor([p.shape[0] for p in plist], device=device)
    packed = torch.cat(plist, 0) if plist else torch.zeros(0, 3, dtype=dtype, device=device)
    item = torch.repeat_interleave(torch.arange(n, device=device), lengths)
    if packed.numel() and not bool(torch.isfinite(packed).all()):
        raise InputError("points: expected finite values, got NaN/inf entries")
    z = packed[:, 2]
    zs = torch.where(z > 0, z, torch.ones_like(z))
    kk = Km[item]
    u = torch.round(kk[:, 0, 0] * packed[:, 0] / zs + kk[:, 0, 2])
    v = torch.round(kk[:, 1, 1] * packed[:, 1] / zs + kk[:, 1, 2])
    ok = (z > 0) & (u >= 0) & (u < width) & (v >= 0) & (v < height)
    flat = (item[ok] * height + v[ok].long()) * width + u[ok].long()
    inf = torch.full((n * height * width,), float("inf"), dtype=dtype, device=device)
    out = inf.scatter_reduce(0, flat, z[ok], reduce="amin", include_self=True)
    out = torch.where(torch.isinf(out), torch.zeros_like(out), out)
    return out.reshape(n, height, width)


def depth_to_normals(
    depth: torch.Tensor, K: Any, *, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Surface normals of depth maps, in the camera frame.

    Pixels are back-projected (:func:`depth_to_points_dense`); the tangent along u is the
    central difference ``P[u+1] - P[u-1]`` when both neighbours are valid, else the one-sided
    difference with the valid neighbour; the same along v. The normal is
    ``normalize(t_v × t_u)``, flipped if needed so that it points towards the camera
    (``n · P < 0``). A pixel is invalid (normal 0) when it, or both of its neighbours along
    u or along v, are invalid, or the tangents are parallel.

    Args:
        depth: ``(N, H, W)`` or ``(N, 1, H, W)``.
        K: ``CameraIntrinsics`` or ``(N, 3, 3)``.
        mask: optional ``(N, H, W)`` bool of extra invalid pixels.

    Returns:
        normals ``(N, 3, H, W)`` (unit length where valid) and valid ``(N, H, W)`` bool.
    """
    pts, valid = depth_to_points_dense(depth, K, mask=mask)

    def tangent(axis: int) -> tuple[torch.Tensor, torch.Tensor]:
        p = pts.movedim(axis, -2)  # (..., L, 3) along the differencing axis
        ok = valid.movedim(axis, -1)
        zero_p = torch.zeros_like(p[..., :1, :])
        false = torch.zeros_like(ok[..., :1])
        nxt = torch.cat([p[..., 1:, :], zero_p], -2)
        prv = torch.cat([zero_p, p[..., :-1, :]], -2)
        ok_n = torch.cat([ok[..., 1:], false], -1) & ok
        ok_p = torch.cat([false, ok[..., :-1]], -1) & ok
        central = nxt - prv
        fwd = nxt - p
        bwd = p - prv
        t = torch.where(
            (ok_n & ok_p)[..., None], central, torch.where(ok_n[..., None], fwd, bwd)
        )
        t_ok = ok_n | ok_p
        return t.movedim(-2, axis), t_ok.movedim(-1, axis)

    tu, ok_u = tangent(2)  # along width (u)
    tv, ok_v = tangent(1)  # along height (v)
    nrm = torch.cross(tv, tu, dim=-1)
    length = nrm.norm(dim=-1)
    scale = torch.maximum(tu.norm(dim=-1) * tv.norm(dim=-1), torch.full_like(length, 1e-30))
    good = valid & ok_u & ok_v & (length > 1e-12 * scale)
    nrm = nrm / torch.where(good, length, torch.ones_like(length))[..., None]
    flip = (nrm * pts).sum(-1) > 0
    nrm = torch.where(flip[..., None], -nrm, nrm)
    nrm = torch.where(good[..., None], nrm, torch.zeros_like(nrm))
    return nrm.permute(0, 3, 1, 2), good
