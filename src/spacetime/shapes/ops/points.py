"""Point-cloud operations: normal estimation, farthest point sampling, ball query.

- :func:`estimate_normals`: PCA normals of raw clouds (Hoppe et al., "Surface reconstruction from
  unorganized points", SIGGRAPH 1992): the normal of a point is the eigenvector of the smallest
  eigenvalue of the covariance of its ``k`` nearest neighbours (the point itself included, as in
  Open3D), oriented toward a viewpoint, away from the centroid, or consistently by propagation
  along a minimum spanning tree of the kNN graph (Hoppe's method; Open3D's
  ``orient_normals_consistent_tangent_plane``).
- :func:`farthest_point_sampling`: iterative farthest point sampling (PointNet++, Qi et al. 2017).
- :func:`ball_query`: the first ``K`` points of ``p2`` (in index order) within ``radius`` of each
  point of ``p1`` (PointNet++ grouping; PyTorch3D's ``ball_query`` semantics).

Inputs are ``(P, 3)`` / ``(N, P, 3)`` float tensors (with optional ``lengths`` ``(N,)``: rows at
or beyond ``lengths[n]`` are padding and never read) or
:class:`~spacetime.shapes.structures.Pointclouds`; outputs are padded ``(N, P, ...)`` tensors
(``(P, ...)`` for a ``(P, 3)`` input) on the input's device. Squared distances are computed as
``((dx² + dy²) + dz²)`` in the input dtype on every path, so the CPU kernels (numba) and the torch
path (any device) return identical indices.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from spacetime._numba import kernel
from spacetime.checks import check_in, check_int, check_positive
from spacetime.errors import InputError
from spacetime.shapes.metrics.knn import _pairwise_sq, _sq_dist, as_padded, knn_points

__all__ = [
    "estimate_normals",
    "farthest_point_sampling",
    "FPS",
    "ball_query",
    "BallQuery",
]


def _batch(
    points: Any, lengths: torch.Tensor | None, name: str
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """``(padded (N, P, 3), lengths (N,), was_single)``; checks shape, dtype and finiteness."""
    single = isinstance(points, torch.Tensor) and points.dim() == 2
    if single:
        if lengths is not None:
            raise InputError(f"{name}_lengths: must be None for a single (P, 3) cloud")
        points = points[None]
    pts, lens = as_padded(points, lengths, name, {"D": 3})
    return pts, lens, single


def _device(device: torch.device | str | None, pts: torch.Tensor) -> torch.Tensor:
    return pts if device is None else pts.to(torch.device(device))


# --------------------------------------------------------------------------------------------
# normals


def estimate_normals(
    points: Any,
    k: int = 30,
    orient: str = "none",
    *,
    viewpoint: Any = (0.0, 0.0, 0.0),
    lengths: torch.Tensor | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Unit normals of raw point clouds by PCA over the ``k`` nearest neighbours.

    For every point, the ``k`` nearest neighbours (exact, :func:`~spacetime.shapes.metrics.
    knn_points`: KD-tree on CPU, brute force on CUDA; the point itself is one of them) give the
    covariance ``C = 1/k sum (q - mean)(q - mean)ᵀ``; the normal is the eigenvector of its
    smallest eigenvalue (``torch.linalg.eigh``, batched). Its sign is then chosen by ``orient``:

    - ``"none"``: whatever the eigen solver returns (only the line is defined);
    - ``"viewpoint"``: ``n · (viewpoint - p) >= 0`` (Open3D's
      ``orient_normals_towards_camera_location``);
    - ``"outward"``: ``n · (p - centroid) >= 0``, the centroid of each cloud (right for convex,
      star-shaped objects);
    - ``"mst"``: Hoppe et al. 1992 consistent orientation: a minimum spanning tree of the
      symmetric kNN graph weighted by ``1 - |n_i · n_j|`` (scipy), traversed breadth first from the
      point of largest ``z`` of each connected component (its normal is turned to ``+z``), each
      normal flipped to agree with its parent's. Runs on the CPU (scipy / numpy) whatever the
      device, then the signs are applied on the device.

    Args:
        points: ``(P, 3)`` or ``(N, P, 3)`` float32/float64 tensor, or a Pointclouds.
        k: neighbours per point, ``3 <= k <= `` the size of every non-empty cloud.
        orient: ``"none"``, ``"viewpoint"``, ``"outward"`` or ``"mst"``.
        viewpoint: ``(3,)`` or ``(N, 3)`` camera location(s) for ``orient="viewpoint"``.
        lengths: ``(N,)`` valid points of each padded cloud (default: all).
        device: where to compute (default: the points' device); the result stays there.

    Returns:
        ``(N, P, 3)`` unit normals (``(P, 3)`` for a ``(P, 3)`` input), zeros at padding rows; an
        empty cloud gives an empty / all-padding output. Degenerate neighbourhoods (all ``k``
        neighbours at one position) give an arbitrary unit vector. Not differentiable (the
        neighbour search is not); use float64 for nearly isotropic neighbourhoods.

    Raises:
        InputError: ``k < 3``, ``k`` larger than a non-empty cloud, NaN/inf among valid points,
            unknown ``orient``, bad ``viewpoint`` shape.

    Example:
        >>> n = estimate_normals(torch.randn(500, 3), k=10, orient="outward")
        >>> n.shape
        torch.Size([500, 3])
    """
    k = check_int(k, "k", min_value=3)
    check_in(orient, "orient", ("none", "viewpoint", "outward", "mst"))
    pts, lens, single = _batch(points, lengths, "points")
    pts = _device(device, pts)
    lens = lens.to(pts.device)
    n, p, _ = pts.shape
    nonempty = [int(v) for v in lens.tolist() if v > 0]
    if nonempty and min(nonempty) < k:
        raise InputError(
            f"k: expected at most the number of points of every non-empty cloud "
            f"({min(nonempty)}), got {k}"
        )
    normals = pts.new_zeros((n, p, 3))
    if not nonempty:
        return normals[0] if single else normals
    with torch.no_grad():
        x = pts.detach()
        nb = knn_points(x, x, lens, lens, K=k, return_nn=True).knn  # (N, P, k, 3)
        assert nb is not None
        centred = nb - nb.mean(dim=2, keepdim=True)
        cov = centred.transpose(-1, -2) @ centred / k  # (N, P, 3, 3)
        rows = torch.arange(p, device=x.device)[None, :] < lens[:, None]
        # padding rows: identity covariance so eigh stays well defined (overwritten below)
        eye = torch.eye(3, dtype=x.dtype, device=x.device)
        cov = torch.where(rows[:, :, None, None], cov, eye)
        _, vecs = torch.linalg.eigh(cov)
        normals = vecs[..., :, 0]
        normals = normals / normals.norm(dim=-1, keepdim=True).clamp_min(1e-30)
        if orient == "viewpoint":
            vp = torch.as_tensor(viewpoint, dtype=x.dtype, device=x.device)
            if vp.shape == (3,):
                vp = vp.expand(n, 3)
            if vp.shape != (n, 3):
                raise InputError(
                    f"viewpoint: expected shape (3,) or ({n}, 3), got {tuple(vp.shape)}"
                )
            sign = ((vp[:, None, :] - x) * normals).sum(-1)
            normals = torch.where((sign < 0)[..., None], -normals, normals)
        elif orient == "outward":
            w = rows.to(x.dtype)[..., None]
            centroid = (x * w).sum(1, keepdim=True) / w.sum(1, keepdim=True).clamp_min(1)
            sign = ((x - centroid) * normals).sum(-1)
            normals = torch.where((sign < 0)[..., None], -normals, normals)
        elif orient == "mst":
            flips = torch.zeros((n, p), dtype=torch.bool)
            idx_all = knn_points(x, x, lens, lens, K=k).idx.cpu().numpy()
            nrm = normals.cpu().double().numpy()
            xyz = x.cpu().double().numpy()
            for b, m in enumerate(lens.tolist()):
                if m:
                    flips[b, :m] = torch.from_numpy(
                        _mst_flips(xyz[b, :m], nrm[b, :m], idx_all[b, :m])
                    )
            flips = flips.to(x.device)
            normals = torch.where(flips[..., None], -normals, normals)
        normals = torch.where(rows[..., None], normals, torch.zeros_like(normals))
    return normals[0] if single else normals


def _mst_flips(xyz: np.ndarray, nrm: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Hoppe's propagation for one cloud: ``(P,)`` bool, True where the normal must flip."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import (
        breadth_first_order,
        connected_components,
        minimum_spanning_tree,
    )

    m, k = idx.shape
    src = np.repeat(np.arange(m), k)
    dst = idx.reshape(-1)
    keep = (dst >= 0) & (dst != src)
    src, dst = src[keep], dst[keep]
    a, b = np.minimum(src, dst), np.maximum(src, dst)
    pairs = np.unique(a * m + b)  # each undirected edge once
    a, b = pairs // m, pairs % m
    # 1 - |cos| plus a small constant: scipy treats a weight of exactly 0 as "no edge"
    w = 1.0 - np.abs((nrm[a] * nrm[b]).sum(-1)) + 1e-6
    graph = coo_matrix((w, (a, b)), shape=(m, m)).tocsr()
    tree = minimum_spanning_tree(graph)
    tree = tree + tree.T
    n_comp, labels = connected_components(tree, directed=False)
    sign = np.zeros(m, dtype=np.float64)
    for c in range(n_comp):
        members = np.flatnonzero(labels == c)
        root = int(members[np.argmax(xyz[members, 2])])
        sign[root] = 1.0 if nrm[root, 2] >= 0 else -1.0
        order, pred = breadth_first_order(tree, root, directed=False, return_predecessors=True)
        for node in order[1:]:
            parent = pred[node]
            dot = float(nrm[node] @ nrm[parent]) * sign[parent]
            sign[node] = 1.0 if dot >= 0 else -1.0
    return sign < 0


# --------------------------------------------------------------------------------------------
# farthest point sampling


class FPS(NamedTuple):
    """Result of :func:`farthest_point_sampling`.

    Attributes:
        points: ``(N, S, 3)`` sampled points (zeros where ``idx == -1``).
        idx: ``(N, S)`` int64 indices into each cloud; -1 past a cloud's own size.
    """

    points: torch.Tensor
    idx: torch.Tensor


@kernel()
def _fps_kernel(x, m, s, start, out):  # pragma: no cover - compiled
    """FPS over the first ``m`` rows of ``x`` (P, 3): ``out[:min(s, m)]`` ← indices."""
    dist = np.empty(m, dtype=x.dtype)
    for i in range(m):
        dist[i] = np.inf
    last = start
    count = min(s, m)
    for t in range(count):
        out[t] = last
        if t + 1 == count:
            break
        best = -1.0
        arg = 0
        for i in range(m):
            dx = x[i, 0] - x[last, 0]
            dy = x[i, 1] - x[last, 1]
            dz = x[i, 2] - x[last, 2]
            d = (dx * dx + dy * dy) + dz * dz
            if d < dist[i]:
                dist[i] = d
            if dist[i] > best:
                best = dist[i]
                arg = i
        last = arg


def _fps_torch(x: torch.Tensor, lens: torch.Tensor, s: int, start: torch.Tensor) -> torch.Tensor:
    """Torch FPS, all clouds at once (any device); ``(N, s)`` indices, -1 past each size."""
    n, p, _ = x.shape
    rows = torch.arange(p, device=x.device)[None, :] < lens[:, None]
    dist = torch.full((n, p), float("inf"), dtype=x.dtype, device=x.device)
    dist = dist.masked_fill(~rows, -1.0)  # padding is never chosen
    idx = torch.full((n, s), -1, dtype=torch.int64, device=x.device)
    last = start.clone()
    ar = torch.arange(n, device=x.device)
    cols = [x[..., c].contiguous() for c in range(3)]  # (N, P) each: contiguous steps
    for t in range(s):
        idx[:, t] = last
        if t + 1 == s:
            break
        d = None
        for c in cols:  # ((dx² + dy²) + dz²), the numba kernel's order
            diff = c - c[ar, last][:, None]
            d = diff * diff if d is None else d + diff * diff
        dist = torch.minimum(dist, d)  # padding stays at -1: never chosen
        last = dist.argmax(dim=1)  # first maximum on every device
    slot = torch.arange(s, device=x.device)[None, :]
    return idx.masked_fill(slot >= lens[:, None], -1)


def farthest_point_sampling(
    points: Any,
    num_samples: int,
    *,
    lengths: torch.Tensor | None = None,
    start_index: int = 0,
    random_start: bool = False,
    seed: int = 0,
    backend: str = "auto",
) -> FPS:
    """Iterative farthest point sampling (PointNet++, Qi et al. 2017), ragged-aware.

    Starting from ``start_index`` (or, with ``random_start``, an index drawn per cloud from a
    CPU generator seeded with ``seed``: the same on every device), each next sample is the point
    whose squared distance to the samples so far is largest (the first such index on ties).
    Deterministic: the same indices on every backend and device.

    Backends: ``"torch"`` (any device; one vectorised step per sample over the whole batch) and
    ``"numba"`` (CPU only; one compiled O(S·P) loop per cloud, measured faster on the CPU in
    ``benchmarks/bm_point_ops.py``). ``"auto"``: numba for CPU float32/float64, torch otherwise.

    Args:
        points: ``(P, 3)`` / ``(N, P, 3)`` float tensor or a Pointclouds.
        num_samples: ``S >= 1`` samples per cloud; a cloud with fewer points gives all of them
            then ``-1``.
        lengths: ``(N,)`` valid points of each padded cloud.
        start_index: first sample of every cloud (``0 <= start_index < `` each non-empty size).
        random_start: draw the first sample per cloud instead.
        seed: seed of that draw.
        backend: ``"auto"``, ``"torch"`` or ``"numba"``.

    Returns:
        :class:`FPS` ``(points (N, S, 3), idx (N, S))`` (no batch dim for a ``(P, 3)`` input).
        ``points`` is gathered with autograd (differentiable w.r.t. the input points).
    """
    s = check_int(num_samples, "num_samples", min_value=1)
    start_index = check_int(start_index, "start_index", min_value=0)
    check_in(backend, "backend", ("auto", "torch", "numba"))
    pts, lens, single = _batch(points, lengths, "points")
    n, p, _ = pts.shape
    lens_l = lens.tolist()
    if random_start:
        g = torch.Generator().manual_seed(int(seed))
        start = torch.tensor([int(torch.randint(max(m, 1), (1,), generator=g)) for m in lens_l])
    else:
        bad = [m for m in lens_l if 0 < m <= start_index]
        if bad:
            raise InputError(
                f"start_index: expected < the size of every non-empty cloud ({min(bad)}), "
                f"got {start_index}"
            )
        start = torch.full((n,), start_index, dtype=torch.int64)
    cpu_fast = pts.device.type == "cpu" and pts.dtype in (torch.float32, torch.float64)
    if backend == "numba" and not cpu_fast:
        raise InputError(
            f"backend: 'numba' needs float32/float64 points on the CPU, got {pts.dtype} on "
            f"{pts.device}"
        )
    use_numba = backend == "numba" or (backend == "auto" and cpu_fast)
    with torch.no_grad():
        if use_numba:
            idx = torch.full((n, s), -1, dtype=torch.int64)
            arr = pts.detach().numpy()
            out = idx.numpy()
            for b, m in enumerate(lens_l):
                if m:
                    _fps_kernel(np.ascontiguousarray(arr[b]), m, s, int(start[b]), out[b])
        else:
            idx = _fps_torch(pts.detach(), lens, s, start.to(pts.device))
    sampled = _gather(pts, idx)
    if single:
        return FPS(sampled[0], idx[0])
    return FPS(sampled, idx)


def _gather(y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``y (N, P, D)`` at ``idx (N, ...)`` → ``(N, ..., D)``, zeros where ``idx == -1``."""
    n, d = y.shape[0], y.shape[-1]
    if y.shape[1] == 0:
        return y.new_zeros((*idx.shape, d))
    flat = idx.clamp(min=0).reshape(n, -1)
    out = torch.gather(y, 1, flat[..., None].expand(-1, -1, d)).reshape(*idx.shape, d)
    return torch.where((idx >= 0)[..., None], out, torch.zeros_like(out))


# --------------------------------------------------------------------------------------------
# ball query


class BallQuery(NamedTuple):
    """Result of :func:`ball_query`.

    Attributes:
        dists: ``(N, P1, K)`` **squared** distances (0 where ``idx == -1``), differentiable.
        idx: ``(N, P1, K)`` int64 indices into ``p2[n]``, in increasing order; -1 padding.
        knn: ``(N, P1, K, 3)`` the grouped points (zeros where ``idx == -1``), or None.
    """

    dists: torch.Tensor
    idx: torch.Tensor
    knn: torch.Tensor | None


@kernel()
def _ball_kernel(x, mx, y, my, r2, out):  # pragma: no cover - compiled
    """First ``K`` rows of ``y[:my]`` with squared distance < r2 of each ``x[:mx]``."""
    kk = out.shape[1]
    for i in range(mx):
        c = 0
        for j in range(my):
            dx = x[i, 0] - y[j, 0]
            dy = x[i, 1] - y[j, 1]
            dz = x[i, 2] - y[j, 2]
            d = (dx * dx + dy * dy) + dz * dz
            if d < r2:
                out[i, c] = j
                c += 1
                if c == kk:
                    break


def _ball_torch(
    x: torch.Tensor, y: torch.Tensor, lx: torch.Tensor, ly: torch.Tensor, r2: float, k: int
) -> torch.Tensor:
    """Chunked brute force on any device: ``(N, P1, K)`` indices, -1 padding."""
    n, p1, _ = x.shape
    p2 = y.shape[1]
    idx = torch.full((n, p1, k), -1, dtype=torch.int64, device=x.device)
    if n == 0 or p1 == 0 or p2 == 0:
        return idx
    kk = min(k, p2)
    ymask = torch.arange(p2, device=x.device)[None, :] < ly[:, None]
    budget = 2**24 if x.device.type == "cuda" else 2**22
    chunk = max(1, budget // max(p2 * n, 1))
    ar = torch.arange(p2, device=x.device)
    thr = torch.tensor(r2, dtype=x.dtype)
    for s0 in range(0, p1, chunk):
        d = _pairwise_sq(x[:, s0 : s0 + chunk], y)
        inside = (d < thr.to(x.device)) & ymask[:, None, :]
        key = torch.where(inside, ar, p2)  # the first K inside = the K smallest keys
        top = key.topk(kk, dim=-1, largest=False, sorted=True).values
        idx[:, s0 : s0 + chunk, :kk] = torch.where(top < p2, top, -1)
    rows = torch.arange(p1, device=x.device)[None, :] < lx[:, None]
    return idx.masked_fill(~rows[..., None], -1)


def ball_query(
    p1: Any,
    p2: Any,
    radius: float,
    K: int = 32,
    *,
    lengths1: torch.Tensor | None = None,
    lengths2: torch.Tensor | None = None,
    return_nn: bool = True,
    backend: str = "auto",
) -> BallQuery:
    """For each point of ``p1``, the first ``K`` points of ``p2`` within ``radius``.

    PointNet++ grouping (Qi et al. 2017) with PyTorch3D's ``ball_query`` semantics: a point ``j``
    of ``p2[n]`` is inside when ``||p1[n, i] - p2[n, j]||² < radius²``; the first ``K`` inside, in
    increasing index order (not the nearest ones), fill the slots, the rest is padding (``idx``
    -1, ``dists`` 0, ``knn`` 0).

    Backends: ``"torch"`` (any device; chunked brute force, bounded memory) and ``"numba"`` (CPU;
    scans ``p2`` in order and stops at the ``K``-th point inside). ``"auto"``: numba for CPU
    float32/float64, torch otherwise. Both compare the same float ``((dx² + dy²) + dz²)``, so
    they return identical indices.

    Args:
        p1: ``(N, P1, 3)`` / ``(P1, 3)`` queries or a Pointclouds.
        p2: ``(N, P2, 3)`` / ``(P2, 3)`` data points or a Pointclouds.
        radius: ball radius (> 0), in the points' units.
        K: slots per query (>= 1).
        lengths1, lengths2: ``(N,)`` valid points of each padded cloud.
        return_nn: also gather the grouped points.
        backend: ``"auto"``, ``"torch"`` or ``"numba"``.

    Returns:
        :class:`BallQuery` ``(dists, idx, knn)``; ``dists`` are squared and differentiable
        w.r.t. both point sets (recomputed with autograd from the indices).
    """
    check_positive(float(radius), "radius")
    K = check_int(K, "K", min_value=1)
    check_in(backend, "backend", ("auto", "torch", "numba"))
    x, lx, single1 = _batch(p1, lengths1, "p1")
    y, ly, single2 = _batch(p2, lengths2, "p2")
    if single1 != single2:
        raise InputError("p2: expected the same batching as p1 (both (P, 3) or both (N, P, 3))")
    if x.shape[0] != y.shape[0]:
        raise InputError(f"p2: expected {x.shape[0]} clouds (as p1), got {y.shape[0]}")
    if x.device != y.device:
        raise InputError(f"p2: expected device {x.device} (same as p1), got {y.device}")
    if x.dtype != y.dtype:
        raise InputError(f"p2: expected dtype {x.dtype} (same as p1), got {y.dtype}")
    r2 = float(radius) ** 2
    cpu_fast = x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
    if backend == "numba" and not cpu_fast:
        raise InputError(
            f"backend: 'numba' needs float32/float64 points on the CPU, got {x.dtype} on {x.device}"
        )
    with torch.no_grad():
        if backend == "numba" or (backend == "auto" and cpu_fast):
            n = x.shape[0]
            idx = torch.full((n, x.shape[1], K), -1, dtype=torch.int64)
            xa, ya, out = x.detach().numpy(), y.detach().numpy(), idx.numpy()
            thr = np.array(r2, dtype=xa.dtype)[()]
            for b, (mx, my) in enumerate(zip(lx.tolist(), ly.tolist())):
                if mx and my:
                    _ball_kernel(
                        np.ascontiguousarray(xa[b]),
                        mx,
                        np.ascontiguousarray(ya[b]),
                        my,
                        thr,
                        out[b],
                    )
        else:
            idx = _ball_torch(x.detach(), y.detach(), lx, ly, r2, K)
    nn = _gather(y, idx)
    valid = idx >= 0
    if bool((lx < x.shape[1]).any()):  # zero padded query rows: their grads stay finite
        rows = torch.arange(x.shape[1], device=x.device)[None, :] < lx[:, None]
        x = torch.where(rows[..., None], x, torch.zeros_like(x))
    dists = torch.where(
        valid, _sq_dist(x[:, :, None, :], nn), torch.zeros((), dtype=x.dtype, device=x.device)
    )
    knn = nn if return_nn else None
    if single1:
        return BallQuery(dists[0], idx[0], None if knn is None else knn[0])
    return BallQuery(dists, idx, knn)
