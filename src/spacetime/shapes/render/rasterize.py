"""A small vectorised CPU/GPU z-buffer rasteriser for depth maps, normal maps and pictures.

Camera convention (OpenCV, the one of :mod:`spacetime.shapes.structures.cameras`): world points
map to the camera frame by ``X_cam = R X_world + t`` (x right, y down, z forward); a camera point
projects to pixel ``(u, v) = (fx X / Z + cx, fy Y / Z + cy)`` and pixel ``(col u, row v)`` has its
centre at integer ``(u, v)``. A pixel is covered by a triangle when its centre lies inside the
projected triangle (edges included); depth is the camera-frame ``Z`` (not the ray length),
interpolated perspective-correctly (``1 / Z`` is linear in screen space), and the nearest
triangle wins (z-buffer by ``scatter_reduce(..., "amin")``, ties to the lower face index).
Triangles with a vertex at ``Z <= znear`` are dropped (no near-plane clipping). Depth and
normals are differentiable with respect to the vertices where the pixel coverage does not change
(gradients do not flow through silhouettes; use a soft rasteriser for that).

Algorithm: per face, the pixel bounding box of its projection; all (face, pixel) candidates of a
chunk of faces are enumerated at once, tested with barycentric coordinates, and reduced into the
z-buffer. Work is proportional to the covered bounding-box area; memory is bounded by
``max_candidates`` per chunk.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from spacetime.checks import check_in, check_int, check_tensor
from spacetime.errors import InputError

__all__ = ["RasterOutput", "rasterize_meshes", "render_depth_normals", "splat_points"]


class RasterOutput(NamedTuple):
    """Per-pixel results of :func:`render_depth_normals` for N images of ``H × W`` pixels.

    Attributes:
        depth: ``(N, H, W)`` camera-frame Z of the visible surface, 0 where ``mask`` is False.
        normals: ``(N, 3, H, W)`` unit normals (camera frame by default), 0 off the mask.
        mask: ``(N, H, W)`` bool, True where a triangle covers the pixel centre.
        pix_to_face: ``(N, H, W)`` int64 index of the visible face in ``faces_packed()``, -1
            off the mask.
        bary: ``(N, H, W, 3)`` perspective-correct barycentric coordinates in the visible face.
    """

    depth: torch.Tensor
    normals: torch.Tensor
    mask: torch.Tensor
    pix_to_face: torch.Tensor
    bary: torch.Tensor


def _camera_mats(K: Any, R: Any, t: Any, n: int, device, dtype):
    if hasattr(K, "K"):
        K = K.K
    if hasattr(R, "R") and t is None:
        R, t = R.R, R.t
    for name, val in (("K", K), ("R", R), ("t", t)):
        if not isinstance(val, torch.Tensor):
            raise InputError(f"{name}: expected a tensor (or a camera object), got "
                             f"{type(val).__name__}")
    K = K[None] if K.ndim == 2 else K
    R = R[None] if R.ndim == 2 else R
    t = t[None] if t.ndim == 1 else t
    check_tensor(K, "K", ("*", 3, 3), dtype="float", finite=True)
    check_tensor(R, "R", ("*", 3, 3), dtype="float", finite=True)
    check_tensor(t, "t", ("*", 3), dtype="float", finite=True)
    out = []
    for name, val in (("K", K), ("R", R), ("t", t)):
        if val.shape[0] not in (1, n):
            raise InputError(f"{name}: expected a batch of 1 or {n}, got {val.shape[0]}")
        out.append(val.to(device=device, dtype=dtype).expand(n, *val.shape[1:]))
    return out


def _rasterize_one(
    verts_cam: torch.Tensor,
    faces: torch.Tensor,
    K: torch.Tensor,
    H: int,
    W: int,
    znear: float,
    max_candidates: int,
):
    """One mesh in camera coordinates → (zbuf (H*W,), face (H*W,), bary (H*W, 3))."""
    device, dtype = verts_cam.device, verts_cam.dtype
    zbuf = torch.full((H * W,), float("inf"), device=device, dtype=dtype)
    face_of = torch.full((H * W,), -1, device=device, dtype=torch.int64)
    bary = torch.zeros(H * W, 3, device=device, dtype=dtype)
    if faces.shape[0] == 0:
        return zbuf, face_of, bary
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    z = verts_cam[:, 2]
    zs = z.clamp_min(znear)
    uv = torch.stack([fx * verts_cam[:, 0] / zs + cx, fy * verts_cam[:, 1] / zs + cy], -1)
    tri = uv[faces]  # (F, 3, 2)
    tz = z[faces]  # (F, 3)
    ok = (tz > znear).all(1) & torch.isfinite(tri).all(2).all(1)
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    ok &= area.abs() > 1e-12
    lo = tri.amin(1).ceil()
    hi = tri.amax(1).floor()
    lo = torch.stack([lo[:, 0].clamp(0, W - 1), lo[:, 1].clamp(0, H - 1)], -1)
    hi_c = torch.stack([hi[:, 0].clamp(-1, W - 1), hi[:, 1].clamp(-1, H - 1)], -1)
    ok &= (hi_c >= lo).all(1) & (hi[:, 0] >= 0) & (hi[:, 1] >= 0)
    ok &= (tri.amin(1)[:, 0] <= W - 1) & (tri.amin(1)[:, 1] <= H - 1)
    fidx = torch.nonzero(ok).flatten()
    if fidx.numel() == 0:
        return zbuf, face_of, bary
    lo_i = lo[fidx].to(torch.int64)
    hi_i = hi_c[fidx].to(torch.int64)
    bw = hi_i[:, 0] - lo_i[:, 0] + 1
    bh = hi_i[:, 1] - lo_i[:, 1] + 1
    counts = bw * bh
    # chunks of faces whose candidate count fits the budget
    csum = torch.cumsum(counts, 0)
    bounds = [0]
    while bounds[-1] < fidx.numel():
        start_total = csum[bounds[-1] - 1] if bounds[-1] > 0 else csum.new_zeros(())
        end = int(torch.searchsorted(csum, start_total + max_candidates, right=True))
        bounds.append(max(end, bounds[-1] + 1))
    chunks = list(zip(bounds[:-1], bounds[1:]))

    def candidates(s: int, e: int):
        cnt = counts[s:e]
        local_face = torch.repeat_interleave(torch.arange(e - s, device=device), cnt)
        first = torch.cumsum(cnt, 0) - cnt
        k = torch.arange(int(cnt.sum()), device=device) - first[local_face]
        f = fidx[s:e][local_face]
        px = lo_i[s:e, 0][local_face] + k % bw[s:e][local_face]
        py = lo_i[s:e, 1][local_face] + k // bw[s:e][local_face]
        p = torch.stack([px, py], -1).to(dtype)
        ta, tb, tc = a[f], b[f], c[f]
        ar = area[f]
        w0 = ((tb[:, 0] - p[:, 0]) * (tc[:, 1] - p[:, 1])
              - (tb[:, 1] - p[:, 1]) * (tc[:, 0] - p[:, 0])) / ar
        w1 = ((tc[:, 0] - p[:, 0]) * (ta[:, 1] - p[:, 1])
              - (tc[:, 1] - p[:, 1]) * (ta[:, 0] - p[:, 0])) / ar
        w2 = ((ta[:, 0] - p[:, 0]) * (tb[:, 1] - p[:, 1])
              - (ta[:, 1] - p[:, 1]) * (tb[:, 0] - p[:, 0])) / ar
        w = torch.stack([w0, w1, w2], -1)
        inside = (w >= -1e-6).all(1)
        w, f, px, py = w[inside], f[inside], px[inside], py[inside]
        inv_z = (w / tz[f]).sum(1)
        zz = 1.0 / inv_z
        pw = w / tz[f] * zz[:, None]  # perspective-correct barycentrics
        return py * W + px, f, zz, pw

    cache = []
    for s, e in chunks:
        pix, f, zz, pw = candidates(s, e)
        zbuf.scatter_reduce_(0, pix, zz, reduce="amin", include_self=True)
        if len(chunks) == 1:
            cache.append((pix, f, zz, pw))
    best_face = torch.full((H * W,), faces.shape[0], device=device, dtype=torch.int64)
    sel = []
    for i, (s, e) in enumerate(chunks):
        pix, f, zz, pw = cache[i] if cache else candidates(s, e)
        win = zz == zbuf[pix]
        pix, f, pw = pix[win], f[win], pw[win]
        best_face.scatter_reduce_(0, pix, f, reduce="amin", include_self=True)
        sel.append((pix, f, pw))
    for pix, f, pw in sel:
        win = f == best_face[pix]
        face_of[pix[win]] = f[win]
        bary[pix[win]] = pw[win]
    return zbuf, face_of, bary


def rasterize_meshes(
    meshes: Any,
    K: Any,
    R: Any,
    t: Any = None,
    H: int = 256,
    W: int = 256,
    *,
    znear: float = 1e-4,
    max_candidates: int = 4_000_000,
):
    """Rasterise a ``Meshes`` batch; returns ``(zbuf (N, H, W) with inf off the mask,
    pix_to_face (N, H, W) packed face index or -1, bary (N, H, W, 3))``.

    ``K`` ``(N, 3, 3)``/``(3, 3)`` or a ``CameraIntrinsics``; ``R`` ``(N, 3, 3)``, ``t``
    ``(N, 3)`` world→camera, or a ``CameraExtrinsics`` as ``R`` with ``t=None``.
    """
    if not (hasattr(meshes, "verts_list") and hasattr(meshes, "faces_list")):
        raise InputError(f"meshes: expected a Meshes, got {type(meshes).__name__}")
    check_int(H, "H", min_value=1)
    check_int(W, "W", min_value=1)
    n = len(meshes)
    verts_l, faces_l = meshes.verts_list(), meshes.faces_list()
    device, dtype = verts_l[0].device, verts_l[0].dtype
    K, R, t = _camera_mats(K, R, t, n, device, dtype)
    first = meshes.mesh_to_faces_packed_first_idx()
    zbufs, p2f, barys = [], [], []
    for i in range(n):
        vc = verts_l[i] @ R[i].T + t[i]
        zb, fo, ba = _rasterize_one(vc, faces_l[i], K[i], H, W, znear, max_candidates)
        fo = torch.where(fo >= 0, fo + first[i], fo)
        zbufs.append(zb.view(H, W))
        p2f.append(fo.view(H, W))
        barys.append(ba.view(H, W, 3))
    return torch.stack(zbufs), torch.stack(p2f), torch.stack(barys)


def render_depth_normals(
    meshes: Any,
    K: Any,
    R: Any,
    t: Any = None,
    H: int = 256,
    W: int = 256,
    *,
    normals: str = "smooth",
    frame: str = "camera",
    znear: float = 1e-4,
) -> RasterOutput:
    """Depth map, normal map and mask of a ``Meshes`` batch seen by N pinhole cameras.

    Args:
        meshes: N meshes (world coordinates).
        K: intrinsics ``(N, 3, 3)`` / ``(3, 3)`` or a ``CameraIntrinsics``.
        R, t: world→camera ``X_cam = R X_world + t``, ``(N, 3, 3)`` and ``(N, 3)``, or a
            ``CameraExtrinsics`` passed as ``R`` (``t=None``).
        H, W: image size in pixels.
        normals: ``"smooth"`` (interpolated vertex normals) or ``"flat"`` (face normals).
        frame: ``"camera"`` (OpenCV camera axes) or ``"world"`` for the normal map.

    Returns:
        :class:`RasterOutput` (depth in the units of the vertices; see the module docstring for
        the pixel and depth conventions).
    """
    check_in(normals, "normals", ("smooth", "flat"))
    check_in(frame, "frame", ("camera", "world"))
    zbuf, p2f, bary = rasterize_meshes(meshes, K, R, t, H, W, znear=znear)
    mask = p2f >= 0
    depth = torch.where(mask, zbuf, torch.zeros_like(zbuf))
    n = len(meshes)
    faces = meshes.faces_packed()
    safe = p2f.clamp_min(0)
    if normals == "flat":
        nrm = meshes.faces_normals_packed()[safe]  # (N, H, W, 3)
    else:
        vn = meshes.verts_normals_packed()
        corner = vn[faces[safe]]  # (N, H, W, 3, 3)
        nrm = torch.nn.functional.normalize((bary[..., None] * corner).sum(-2), dim=-1)
    if frame == "camera":
        Rm = _camera_mats(K, R, t, n, zbuf.device, zbuf.dtype)[1]
        nrm = torch.einsum("nij,nhwj->nhwi", Rm, nrm)
    nrm = torch.where(mask[..., None], nrm, torch.zeros_like(nrm))
    return RasterOutput(depth, nrm.permute(0, 3, 1, 2).contiguous(), mask, p2f, bary)


def splat_points(
    points: torch.Tensor,
    K: torch.Tensor,
    R: torch.Tensor,
    t: torch.Tensor,
    H: int,
    W: int,
    *,
    radius: int = 1,
    znear: float = 1e-4,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Z-buffered square splats of ``(P, 3)`` world points, ``(2 radius + 1)`` pixels wide.

    ``K`` ``(3, 3)``, ``R`` ``(3, 3)``, ``t`` ``(3,)``. Returns ``depth (H, W)`` (inf where
    empty) and ``index (H, W)`` of the visible point (-1 where empty).
    """
    check_tensor(points, "points", ("P", 3), dtype="float")
    check_int(radius, "radius", min_value=0)
    pc = points @ R.T.to(points) + t.to(points)
    z = pc[:, 2]
    keep = torch.nonzero(z > znear).flatten()
    pc, z = pc[keep], z[keep]
    u = torch.round(K[0, 0] * pc[:, 0] / z + K[0, 2]).to(torch.int64)
    v = torch.round(K[1, 1] * pc[:, 1] / z + K[1, 2]).to(torch.int64)
    r = torch.arange(-radius, radius + 1, device=points.device)
    du, dv = torch.meshgrid(r, r, indexing="xy")
    uu = (u[:, None] + du.reshape(1, -1)).reshape(-1)
    vv = (v[:, None] + dv.reshape(1, -1)).reshape(-1)
    zz = z[:, None].expand(-1, r.numel() ** 2).reshape(-1)
    idx = keep[:, None].expand(-1, r.numel() ** 2).reshape(-1)
    inb = (uu >= 0) & (uu < W) & (vv >= 0) & (vv < H)
    pix = vv[inb] * W + uu[inb]
    zz, idx = zz[inb], idx[inb]
    depth = torch.full((H * W,), float("inf"), dtype=points.dtype, device=points.device)
    depth.scatter_reduce_(0, pix, zz, reduce="amin", include_self=True)
    win = zz == depth[pix]
    index = torch.full((H * W,), points.shape[0], dtype=torch.int64, device=points.device)
    index.scatter_reduce_(0, pix[win], idx[win], reduce="amin", include_self=True)
    index[index == points.shape[0]] = -1
    return depth.view(H, W), index.view(H, W)
