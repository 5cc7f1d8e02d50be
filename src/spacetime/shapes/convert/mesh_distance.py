"""Mesh → distance, signed distance and occupancy at query points.

- :func:`mesh_distance`: exact unsigned (Euclidean, not squared unless asked) distance from each
  query point to the closest point of the mesh surface (closest point on a triangle after
  Ericson, "Real-Time Collision Detection", 2005, §5.1.5). Triangles are culled with a
  two-level bounding-sphere hierarchy (Morton-ordered groups of 32) written with plain tensor
  ops, so it runs on any device without a compiled tree; memory is bounded by ``chunk_size``
  (point × group pairs per step). Worst case ``O(P · F)``, typically far less.
- :func:`winding_number`: generalized winding number (Jacobson, Kavan & Sorkine-Hornung,
  "Robust Inside-Outside Segmentation using Generalized Winding Numbers", SIGGRAPH 2013): the
  sum of signed solid angles of all triangles seen from the point (Van Oosterom & Strackee,
  1983), divided by 4π. 1 inside a closed outward-wound mesh, 0 outside, and close to these
  values for meshes with small holes or self-intersections.
- :func:`mesh_sdf`: unsigned distance with the sign of ``0.5 - winding number`` (negative inside).
- :func:`mesh_occupancy`: ``winding_number > 0.5``.

Query points are ``(N, P, 3)`` (one set per mesh), a list of ``(P_n, 3)`` or a ``Pointclouds``;
results are ``(N, P)`` for a padded tensor input and a list of ``(P_n,)`` otherwise.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from spacetime.checks import check_int
from spacetime.errors import InputError
from spacetime.shapes.convert._common import mesh_lists, points_lists

__all__ = [
    "closest_points_on_triangles",
    "mesh_distance",
    "winding_number",
    "mesh_sdf",
    "mesh_occupancy",
]

_DEFAULT_CHUNK = 1 << 16  # pairs per step: small enough to stay in cache


def _dot(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x * y).sum(-1)


def _safe(d: torch.Tensor) -> torch.Tensor:
    return torch.where(d == 0, torch.ones_like(d), d)


def closest_points_on_triangles(
    p: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor
) -> torch.Tensor:
    """Closest point to ``p`` on triangle ``(a, b, c)``, all broadcastable ``(..., 3)``.

    Voronoi-region method of Ericson (2005, §5.1.5), vectorised with ``torch.where``;
    differentiable (safe denominators, so no NaN gradients for degenerate triangles).
    """
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = _dot(ab, ap), _dot(ac, ap)
    bp = p - b
    d3, d4 = _dot(ab, bp), _dot(ac, bp)
    cp = p - c
    d5, d6 = _dot(ab, cp), _dot(ac, cp)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    denom = _safe(va + vb + vc)
    v = vb / denom
    w = vc / denom
    out = a + ab * v[..., None] + ac * w[..., None]
    # Edge BC.
    e1, e2 = d4 - d3, d5 - d6
    cond = (va <= 0) & (e1 >= 0) & (e2 >= 0)
    wbc = e1 / _safe(e1 + e2)
    out = torch.where(cond[..., None], b + (c - b) * wbc[..., None], out)
    # Edge AC.
    cond = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
    wac = d2 / _safe(d2 - d6)
    out = torch.where(cond[..., None], a + ac * wac[..., None], out)
    # Vertex C.
    cond = (d6 >= 0) & (d5 <= d6)
    out = torch.where(cond[..., None], c.expand_as(out), out)
    # Edge AB.
    cond = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
    vab = d1 / _safe(d1 - d3)
    out = torch.where(cond[..., None], a + ab * vab[..., None], out)
    # Vertex B.
    cond = (d3 >= 0) & (d4 <= d3)
    out = torch.where(cond[..., None], b.expand_as(out), out)
    # Vertex A.
    cond = (d1 <= 0) & (d2 <= 0)
    out = torch.where(cond[..., None], a.expand_as(out), out)
    return out


def _chunk_rows(num_faces: int, chunk_size: int) -> int:
    return max(1, chunk_size // max(1, num_faces))


def _morton_order(x: torch.Tensor) -> torch.Tensor:
    """Permutation sorting points ``(F, 3)`` along a Z-order (Morton) curve, 10 bits per axis."""
    lo, hi = x.min(0).values, x.max(0).values
    q = ((x - lo) / (hi - lo).clamp_min(1e-30) * 1023).long().clamp(0, 1023)
    code = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
    for bit in range(10):
        for axis in range(3):
            code |= ((q[:, axis] >> bit) & 1) << (3 * bit + axis)
    return torch.argsort(code)


_GROUP = 32  # triangles per bounding-sphere group


def _nearest_faces(points: torch.Tensor, tri: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """Index ``(P,)`` of the closest triangle of ``tri (F, 3, 3)`` to each point (no autograd).

    Two-level bounding-sphere culling, fully vectorised (no tree, works on any device):
    triangles are sorted along a Morton curve and grouped by 32. With ``c, r`` a sphere
    bounding a triangle or group, ``|p - c| - r <= d(p, ·) <= |p - c| + r``; groups and then
    triangles whose lower bound exceeds the point's best upper bound are skipped, and only the
    survivors get the exact closest-point test. Computed in float64 around the mesh centroid.
    """
    with torch.no_grad():
        t64 = tri.detach().to(torch.float64)
        centre = t64.reshape(-1, 3).mean(0)
        t64 = t64 - centre
        p64 = points.detach().to(torch.float64) - centre
        num_f = t64.shape[0]
        cent = t64.mean(1)
        perm = _morton_order(cent)
        t64, cent = t64[perm], cent[perm]
        rad = (t64 - cent[:, None]).norm(dim=-1).amax(1)  # (F,)
        num_g = (num_f + _GROUP - 1) // _GROUP
        pad = num_g * _GROUP - num_f
        members = torch.cat([torch.arange(num_f, device=p64.device),
                             torch.full((pad,), num_f - 1, device=p64.device)])
        members = members.reshape(num_g, _GROUP)
        gv = t64[members].reshape(num_g, -1, 3)  # (G, 3·GROUP, 3)
        gc = 0.5 * (gv.amin(1) + gv.amax(1))
        grad = (gv - gc[:, None]).norm(dim=-1).amax(1)
        scale = float(t64.abs().max()) + (float(p64.abs().max()) if p64.numel() else 0.0)
        slack = 1e-9 * max(scale, 1e-30)
        rows = _chunk_rows(num_g, chunk_size)
        best = []
        for s0 in range(0, p64.shape[0], rows):
            p = p64[s0 : s0 + rows]
            dg = torch.cdist(p, gc)  # (rows, G)
            ub = (dg + grad).amin(dim=1)
            row, grp = ((dg - grad) <= (ub + slack)[:, None]).nonzero(as_tuple=True)
            row = row.repeat_interleave(_GROUP)
            face = members[grp].reshape(-1)
            dc = (p[row] - cent[face]).norm(dim=-1)
            ub2 = torch.full((p.shape[0],), float("inf"), dtype=dc.dtype, device=dc.device)
            ub2 = ub2.scatter_reduce(0, row, dc + rad[face], reduce="amin")
            keep = (dc - rad[face]) <= ub2[row] + slack
            row, face = row[keep], face[keep]
            q = closest_points_on_triangles(p[row], t64[face, 0], t64[face, 1], t64[face, 2])
            d2 = ((q - p[row]) ** 2).sum(-1)
            dmin = torch.full((p.shape[0],), float("inf"), dtype=d2.dtype, device=d2.device)
            dmin = dmin.scatter_reduce(0, row, d2, reduce="amin")
            is_min = d2 == dmin[row]
            idx = torch.zeros(p.shape[0], dtype=torch.long, device=p.device)
            idx[row[is_min]] = face[is_min]
            best.append(perm[idx])
    if not best:
        return torch.zeros(0, dtype=torch.long, device=points.device)
    return torch.cat(best)


def _one_mesh_distance(
    verts: torch.Tensor, faces: torch.Tensor, points: torch.Tensor, chunk_size: int, index: int
) -> torch.Tensor:
    """Squared distances ``(P,)`` from ``points (P, 3)`` to one mesh."""
    if faces.shape[0] == 0:
        raise InputError(f"meshes: expected meshes with faces, got meshes[{index}] with no faces")
    tri = verts[faces]  # (F, 3, 3)
    fidx = _nearest_faces(points, tri, chunk_size)
    if fidx.numel() == 0:
        return points.new_zeros((0,))
    # Recompute on the winning triangle only: exact, and differentiable in verts and points.
    a, b, c = tri[fidx, 0], tri[fidx, 1], tri[fidx, 2]
    q = closest_points_on_triangles(points, a, b, c)
    return ((q - points) ** 2).sum(-1)


def _one_mesh_winding(
    verts: torch.Tensor, faces: torch.Tensor, points: torch.Tensor, chunk_size: int
) -> torch.Tensor:
    """Winding numbers ``(P,)``: component arrays ``(rows, F)``, no ``(..., 3)`` reductions."""
    tri = verts[faces]
    rows = _chunk_rows(faces.shape[0], chunk_size)
    ax, ay, az = (tri[None, :, 0, k] for k in range(3))
    bx, by, bz = (tri[None, :, 1, k] for k in range(3))
    cx, cy, cz = (tri[None, :, 2, k] for k in range(3))
    out = []
    for s in range(0, points.shape[0], rows):
        p = points[s : s + rows]
        px, py, pz = p[:, 0:1], p[:, 1:2], p[:, 2:3]
        x1, y1, z1 = ax - px, ay - py, az - pz
        x2, y2, z2 = bx - px, by - py, bz - pz
        x3, y3, z3 = cx - px, cy - py, cz - pz
        la = (x1 * x1 + y1 * y1 + z1 * z1).sqrt()
        lb = (x2 * x2 + y2 * y2 + z2 * z2).sqrt()
        lc = (x3 * x3 + y3 * y3 + z3 * z3).sqrt()
        det = x1 * (y2 * z3 - z2 * y3) - y1 * (x2 * z3 - z2 * x3) + z1 * (x2 * y3 - y2 * x3)
        ab = x1 * x2 + y1 * y2 + z1 * z2
        bc = x2 * x3 + y2 * y3 + z2 * z3
        ca = x3 * x1 + y3 * y1 + z3 * z1
        den = la * lb * lc + ab * lc + bc * la + ca * lb
        out.append(torch.atan2(det, den).sum(dim=1) * (1.0 / (2.0 * math.pi)))
    if not out:
        return points.new_zeros((0,))
    return torch.cat(out)


def _one_mesh_winding_fast(
    verts: torch.Tensor, faces: torch.Tensor, points: torch.Tensor, chunk_size: int,
    beta: float = 2.0,
) -> torch.Tensor:
    """Approximate winding numbers ``(P,)`` (Barill et al., "Fast Winding Numbers for Soups
    and Clouds", SIGGRAPH 2018, first order): groups of 32 Morton-ordered triangles farther
    than ``beta`` × their radius contribute their dipole term ``Σ(a_t n_t) · (c - p) / |c - p|³``
    / 4π; nearer groups are summed exactly."""
    tri = verts[faces]
    num_f = tri.shape[0]
    if num_f == 0 or points.shape[0] == 0:
        return points.new_zeros((points.shape[0],))
    cent = tri.mean(1)
    perm = _morton_order(cent.detach())
    tri, cent = tri[perm], cent[perm]
    num_g = (num_f + _GROUP - 1) // _GROUP
    pad = num_g * _GROUP - num_f
    if pad:  # degenerate padding triangles have zero solid angle and zero area
        tri = torch.cat([tri, tri[-1:, :1].expand(pad, 3, 3)], dim=0)
        cent = torch.cat([cent, tri[-1:, 0].expand(pad, 3)], dim=0)
    area_vec = 0.5 * torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1)
    area = area_vec.norm(dim=-1).reshape(num_g, _GROUP)
    weights = area / area.sum(1, keepdim=True).clamp_min(torch.finfo(area.dtype).tiny)
    weights = torch.where(area.sum(1, keepdim=True) > 0, weights, 1.0 / _GROUP)
    gc = (weights[..., None] * cent.reshape(num_g, _GROUP, 3)).sum(1)  # (G, 3)
    gn = area_vec.reshape(num_g, _GROUP, 3).sum(1)  # (G, 3)
    grad = (tri.reshape(num_g, -1, 3) - gc[:, None]).norm(dim=-1).amax(1)
    rows = _chunk_rows(num_g, chunk_size)
    out = []
    for s0 in range(0, points.shape[0], rows):
        p = points[s0 : s0 + rows]
        d = gc[None] - p[:, None]  # (rows, G, 3)
        dist = d.norm(dim=-1)
        far = dist > beta * grad
        dip = (d * gn[None]).sum(-1) / dist.clamp_min(torch.finfo(dist.dtype).tiny) ** 3
        w = torch.where(far, dip, torch.zeros_like(dip)).sum(1) * (1.0 / (4.0 * math.pi))
        row, grp = (~far).nonzero(as_tuple=True)
        if row.numel():
            row_t = row.repeat_interleave(_GROUP)
            tid = (grp[:, None] * _GROUP + torch.arange(_GROUP, device=p.device)).reshape(-1)
            t = tri[tid]
            a, b, c = t[:, 0] - p[row_t], t[:, 1] - p[row_t], t[:, 2] - p[row_t]
            la, lb, lc = a.norm(dim=-1), b.norm(dim=-1), c.norm(dim=-1)
            det = _dot(a, torch.cross(b, c, dim=-1))
            den = la * lb * lc + _dot(a, b) * lc + _dot(b, c) * la + _dot(c, a) * lb
            ang = torch.atan2(det, den) * (1.0 / (2.0 * math.pi))
            w = w.index_add(0, row_t, ang)
        out.append(w)
    return torch.cat(out)


def _apply(meshes: Any, points: Any, fn) -> torch.Tensor | list[torch.Tensor]:
    verts_list, faces_list = mesh_lists(meshes)
    plist, kind = points_lists(points)
    if len(plist) != len(verts_list):
        raise InputError(
            f"points: expected {len(verts_list)} point sets (one per mesh), got {len(plist)}"
        )
    res = []
    for i, (v, f, p) in enumerate(zip(verts_list, faces_list, plist)):
        if p.device != v.device:
            raise InputError(f"points: expected device {v.device} (as meshes), got {p.device}")
        res.append(fn(v, f, p.to(v.dtype), i))
    if kind == "padded":
        return torch.stack(res)
    return res


def mesh_distance(
    meshes: Any,
    points: Any,
    *,
    squared: bool = False,
    chunk_size: int = _DEFAULT_CHUNK,
) -> torch.Tensor | list[torch.Tensor]:
    """Exact distance from query points to the surface of each mesh.

    Args:
        meshes: ``Meshes`` with N meshes (each with at least one face).
        points: ``(N, P, 3)``, list of ``(P_n, 3)`` or ``Pointclouds``; set n is measured against
            mesh n.
        squared: return squared distances.
        chunk_size: point × triangle-group pairs per step (memory bound).

    Returns:
        ``(N, P)`` distances (list of ``(P_n,)`` for list / Pointclouds input), in world units,
        differentiable w.r.t. points and vertices.
    """
    check_int(chunk_size, "chunk_size", min_value=1)

    def fn(v, f, p, i):
        d2 = _one_mesh_distance(v, f, p, chunk_size, i)
        return d2 if squared else d2.clamp_min(0).sqrt()

    return _apply(meshes, points, fn)


def _winding(approximate: bool):
    return _one_mesh_winding_fast if approximate else _one_mesh_winding


def winding_number(
    meshes: Any, points: Any, *, approximate: bool = False, chunk_size: int = _DEFAULT_CHUNK
) -> torch.Tensor | list[torch.Tensor]:
    """Generalized winding number of each mesh at the query points (Jacobson et al. 2013).

    ≈1 inside, ≈0 outside a closed mesh with outward (counter-clockwise from outside)
    winding; -1 inside an inward-wound mesh. Undefined exactly on the surface.
    ``approximate=True`` replaces far groups of 32 triangles by their dipole term (Barill et
    al. 2018, β = 2): 5-20x faster on meshes of 10⁴+ faces, absolute errors up to ~0.05, exact
    contributions near it. Same argument layout as :func:`mesh_distance`.
    """
    check_int(chunk_size, "chunk_size", min_value=1)
    fn = _winding(approximate)
    return _apply(meshes, points, lambda v, f, p, i: fn(v, f, p, chunk_size))


def mesh_sdf(
    meshes: Any, points: Any, *, approximate: bool = False, chunk_size: int = _DEFAULT_CHUNK
) -> torch.Tensor | list[torch.Tensor]:
    """Signed distance: ``-distance`` where the winding number is ``> 0.5`` (inside),
    ``+distance`` elsewhere (``approximate``: see :func:`winding_number`). Same argument
    layout as :func:`mesh_distance`."""
    check_int(chunk_size, "chunk_size", min_value=1)
    wfn = _winding(approximate)

    def fn(v, f, p, i):
        d = _one_mesh_distance(v, f, p, chunk_size, i).clamp_min(0).sqrt()
        with torch.no_grad():
            inside = wfn(v.detach(), f, p.detach(), chunk_size) > 0.5
        return torch.where(inside, -d, d)

    return _apply(meshes, points, fn)


def mesh_occupancy(
    meshes: Any, points: Any, *, approximate: bool = False, chunk_size: int = _DEFAULT_CHUNK
) -> torch.Tensor | list[torch.Tensor]:
    """Boolean occupancy ``winding_number > 0.5`` at the query points (True inside)."""
    wn = winding_number(meshes, points, approximate=approximate, chunk_size=chunk_size)
    if isinstance(wn, list):
        return [w > 0.5 for w in wn]
    return wn > 0.5
