"""Exact K-nearest neighbours between ragged batches of points, differentiable, bounded memory.

Conventions used by every function of :mod:`spacetime.shapes.metrics`:

- Distances returned by :func:`knn_points` are **squared** Euclidean distances ``||p - q||²``.
- Inputs are padded tensors ``(N, P, D)`` with optional ``lengths`` ``(N,)`` (rows at or beyond
  ``lengths[n]`` are padding and are ignored, whatever their values), or
  :class:`~spacetime.shapes.structures.Pointclouds`.
- Padding in the outputs (see :class:`KNN`): a query row that is padding gets ``idx = -1``,
  ``dists = 0`` and ``knn = 0`` (PyTorch3D's convention); a neighbour slot ``k >= lengths2[n]``
  (the other cloud has fewer than ``K`` points, e.g. it is empty) gets ``idx = -1``,
  ``dists = inf`` and ``knn = 0``.

Backends. Neighbour *indices* are found without autograd by one of two exact means:

- ``"tree"`` (default on CPU): a KD-tree (`pykdtree`_, OpenMP-parallel) built on the data cloud,
  queried with the query points sorted along a Morton (Z-order) curve so that consecutive queries
  visit the same tree leaves (about 3x faster than unsorted queries on 1M points). float32 inputs
  use a float32 tree, float64 inputs a float64 tree, other dtypes a float32 tree.
- ``"brute"`` (default on CUDA, and the reference): chunked brute force in torch; a chunk holds at
  most ``2**24`` (CUDA) / ``2**22`` (CPU) query×data distances, so memory stays bounded for any
  size.

Both backends compute squared distances with the same sum order ``((dx² + dy²) + dz²)`` in the
same precision, so they return identical neighbours. **Ties** (several data points at exactly the
same distance) are broken arbitrarily: the index returned may differ between backends and
devices, the distance never does. When gradients are needed the final ``dists`` are recomputed
with autograd in the input dtype from the gathered points, so they are exact, identical across
backends and differentiable w.r.t. both point sets (the gradient of ``min`` is the gradient at
the argmin); without gradients, float32 / float64 inputs reuse the tree's distances, which are
bit-identical to that recomputation (same formula, same precision; tested).

.. _pykdtree: https://github.com/storpipfugl/pykdtree
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from spacetime.checks import check_finite, check_in, check_int, check_tensor
from spacetime.errors import InputError

__all__ = ["KNN", "knn_points", "knn_gather", "morton_order"]

_BRUTE_CHUNK = {"cuda": 2**24, "cpu": 2**22}  # max query×data distances held at once (brute)
_SORT_MIN = 32768  # Morton-sort clouds at least this large (measured: no gain below)
_PAIR_THREADS_MIN = 4096  # run the two directions of a pair concurrently from this size on
_POOL: Any = None


def _pool():
    """A 2-thread pool for the two query directions: pykdtree releases the GIL while it builds
    and queries, so x→y and y→x overlap (measured 10k × 10k: 5.5 → 4.7 ms on 2 cores)."""
    global _POOL
    import os

    # a pool inherited through fork (e.g. by a DataLoader worker) has no threads: make a new one
    if _POOL is None or _POOL[0] != os.getpid():
        from concurrent.futures import ThreadPoolExecutor

        _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=2, thread_name_prefix="spacetime-knn"))
    return _POOL[1]


class KNN(NamedTuple):
    """Result of :func:`knn_points`.

    Attributes:
        dists: ``(N, P1, K)`` **squared** distances, ascending in ``K``; 0 for padded query rows,
            inf for missing neighbours.
        idx: ``(N, P1, K)`` int64 indices into ``p2[n]``; -1 for padding / missing neighbours.
        knn: ``(N, P1, K, D)`` the neighbours' coordinates, or None unless ``return_nn=True``.
    """

    dists: torch.Tensor
    idx: torch.Tensor
    knn: torch.Tensor | None


def _is_pointclouds(x: Any) -> bool:
    return hasattr(x, "points_padded") and hasattr(x, "num_points_per_cloud")


def as_padded(
    x: Any,
    lengths: torch.Tensor | None,
    name: str,
    sizes: dict[str, int] | None = None,
    pname: str = "P",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalise a ``(N, P, D)`` tensor + lengths, or a Pointclouds, to ``(padded, lengths)``.

    Checks shapes, dtypes, lengths range and that the valid points are finite.
    """
    if _is_pointclouds(x):
        if lengths is not None:
            raise InputError(f"{name}_lengths: must be None when {name} is a Pointclouds")
        pts = x.points_padded()
        lengths = x.num_points_per_cloud().to(device=pts.device, dtype=torch.int64)
    else:
        pts = x
    sizes = check_tensor(pts, name, ("N", pname, "D"), dtype="float", sizes=sizes)
    n, p = pts.shape[0], pts.shape[1]
    if lengths is None:
        lengths = torch.full((n,), p, dtype=torch.int64, device=pts.device)
    else:
        check_tensor(lengths, f"{name}_lengths", ("N",), dtype="int", sizes=sizes)
        lengths = lengths.to(device=pts.device, dtype=torch.int64)
        if n and (int(lengths.min()) < 0 or int(lengths.max()) > p):
            raise InputError(f"{name}_lengths: expected values in [0, {p}], got {lengths.tolist()}")
    if pts.numel():
        _check_valid_finite(pts, lengths, name)
    return pts, lengths


def _check_valid_finite(pts: torch.Tensor, lengths: torch.Tensor, name: str) -> None:
    """Raise unless the valid rows of ``pts`` are finite (padding rows are not read)."""
    if pts.device.type == "cpu" and pts.dtype in (torch.float32, torch.float64):
        # numpy on CPU: a torch reduction here would wake torch's OpenMP pool, whose spinning
        # threads then slow down the KD-tree's own OpenMP queries that follow
        arr = pts.detach().numpy()
        for b, n in enumerate(lengths.tolist()):
            if n and not np.isfinite(arr[b, :n]).all():
                check_finite(pts[b, :n], name)
        return
    mask = torch.arange(pts.shape[1], device=pts.device)[None, :] < lengths[:, None]
    check_finite(pts[mask], name)


def morton_order(points: np.ndarray, bits: int = 10) -> np.ndarray:
    """Permutation that sorts ``(P, 3)`` points along a Morton (Z-order) curve.

    Coordinates are quantised to ``2**bits`` cells along the longest bounding-box edge; points
    with other dimensions than 3 use their first three coordinates (or are returned unsorted).
    """
    if points.ndim != 2 or points.shape[0] == 0 or points.shape[1] < 3:
        return np.arange(points.shape[0])
    p = points[:, :3]
    lo = p.min(0)
    ext = float((p.max(0) - lo).max())
    scale = (2**bits - 1) / ext if ext > 0 else 0.0
    q = ((p - lo) * scale).astype(np.uint32)

    def spread(v: np.ndarray) -> np.ndarray:
        v = (v | (v << 16)) & 0x030000FF
        v = (v | (v << 8)) & 0x0300F00F
        v = (v | (v << 4)) & 0x030C30C3
        return (v | (v << 2)) & 0x09249249

    code = spread(q[:, 0]) | (spread(q[:, 1]) << 1) | (spread(q[:, 2]) << 2)
    return np.argsort(code)


def _np_points(x: torch.Tensor) -> np.ndarray:
    dt = torch.float64 if x.dtype == torch.float64 else torch.float32
    return np.ascontiguousarray(x.detach().to(device="cpu", dtype=dt).numpy())


_OMP_PID: int | None = None  # the process that started pykdtree's OpenMP runtime


def _omp_unsafe() -> bool:
    """True in a process forked after pykdtree's (GNU) OpenMP runtime started in a parent:
    libgomp is not fork-safe and the next parallel query can hang there, so such processes
    (e.g. DataLoader workers) use scipy's cKDTree instead (same neighbours; distances are then
    recomputed exactly from the gathered points)."""
    global _OMP_PID
    import os

    if _OMP_PID is None:
        _OMP_PID = os.getpid()
    return _OMP_PID != os.getpid()


class _ScipyTree:
    """cKDTree with pykdtree's ``query(pts, k, sqr_dists=True)`` signature (one thread)."""

    def __init__(self, pts: np.ndarray):
        from scipy.spatial import cKDTree

        self._tree = cKDTree(pts)

    def query(self, pts: np.ndarray, k: int = 1, sqr_dists: bool = True):
        d, idx = self._tree.query(pts, k=k, workers=1)
        return (d * d if sqr_dists else d), idx


class _SortedCloud:
    """A cloud's points in Morton order, with a lazily built KD-tree on them."""

    def __init__(self, pts: np.ndarray):
        self.order = morton_order(pts) if pts.shape[0] >= _SORT_MIN else None
        self.pts = pts if self.order is None else np.ascontiguousarray(pts[self.order])
        self._tree = None

    @property
    def tree(self):
        if self._tree is None:
            if _omp_unsafe():
                self._tree = _ScipyTree(self.pts)
            else:
                from pykdtree.kdtree import KDTree

                self._tree = KDTree(self.pts)
        return self._tree

    def query(self, other: _SortedCloud, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Squared distances and int64 indices (into this cloud's original order), both
        ``(P_other, k)`` in ``other``'s original order, of ``other``'s kNN in this cloud."""
        d, idx = self.tree.query(other.pts, k=k, sqr_dists=True)
        m = other.pts.shape[0]
        d = d.reshape(m, k)
        idx = idx.reshape(m, k).astype(np.int64, copy=False)
        if self.order is not None:
            idx = self.order[idx]
        if other.order is not None:
            inv = np.empty_like(other.order)
            inv[other.order] = np.arange(m)
            idx, d = idx[inv], d[inv]
        return d, idx


class _Found(NamedTuple):
    idx: torch.Tensor  # (N, P, k), -1 where absent
    dists: torch.Tensor | None  # (N, P, k) squared, from the tree (tree backend only)


def _tree_pairs(
    x: torch.Tensor,
    y: torch.Tensor,
    lx: torch.Tensor,
    ly: torch.Tensor,
    kx: int,
    ky: int | None,
) -> tuple[_Found, _Found | None]:
    """Tree backend; x→y with ``kx`` neighbours and, if ``ky`` is given, y→x sharing the sorts.

    Distances use the padding convention of :class:`KNN` (0 padded rows, inf missing slots).
    """
    n = x.shape[0]
    ddt = torch.float64 if x.dtype == torch.float64 else torch.float32

    def alloc(p: int, k: int, lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.full((n, p, k), -1, dtype=torch.int64)
        d = torch.zeros((n, p, k), dtype=ddt)
        for b, nb in enumerate(lengths):
            d[b, :nb] = float("inf")
        return idx, d

    lxs, lys = lx.tolist(), ly.tolist()
    ix, dx = alloc(x.shape[1], kx, lxs)
    iy, dy = alloc(y.shape[1], ky, lys) if ky is not None else (None, None)
    for b in range(n):
        nx, ny = lxs[b], lys[b]
        if nx == 0 or ny == 0:
            continue
        cx = _SortedCloud(_np_points(x[b, :nx]))
        cy = _SortedCloud(_np_points(y[b, :ny]))
        k = min(kx, ny)
        both = iy is not None and dy is not None and ky is not None
        back = None
        if both and min(nx, ny) >= _PAIR_THREADS_MIN:
            back = _pool().submit(cx.query, cy, min(ky, nx))
        d, i = cy.query(cx, k)
        ix[b, :nx, :k], dx[b, :nx, :k] = torch.from_numpy(i), torch.from_numpy(d)
        if both:
            k = min(ky, nx)
            d, i = back.result() if back is not None else cx.query(cy, k)
            iy[b, :ny, :k], dy[b, :ny, :k] = torch.from_numpy(i), torch.from_numpy(d)
    dev = x.device
    if _omp_unsafe():  # cKDTree's float64 distances: recompute them exactly in x's dtype
        dx = dy = None
    fx = _Found(ix.to(dev), None if dx is None else dx.to(dev))
    fy = None if iy is None else _Found(iy.to(dev), None if dy is None else dy.to(dev))
    return fx, fy


def _sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``sum_d (a_d - b_d)²`` over the last dim, summed in a fixed order (d = 0, 1, ...)."""
    diff = a - b
    sq = diff * diff
    out = sq[..., 0]
    for d in range(1, sq.shape[-1]):
        out = out + sq[..., d]
    return out


def _pairwise_sq(xc: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``(N, c, D)`` × ``(N, P2, D)`` → ``(N, c, P2)`` squared distances, same sum order."""
    diff = xc[:, :, None, 0] - y[:, None, :, 0]
    out = diff * diff
    for d in range(1, xc.shape[-1]):
        diff = xc[:, :, None, d] - y[:, None, :, d]
        out = out + diff * diff
    return out


def _brute_idx(
    x: torch.Tensor, y: torch.Tensor, lx: torch.Tensor, ly: torch.Tensor, k: int
) -> torch.Tensor:
    """Chunked brute force: ``(N, P1, k)`` indices, -1 where absent."""
    n, p1, _ = x.shape
    p2 = y.shape[1]
    idx = torch.full((n, p1, k), -1, dtype=torch.int64, device=x.device)
    if p1 == 0 or p2 == 0 or n == 0:
        return idx
    kk = min(k, p2)
    ymask = torch.arange(p2, device=x.device)[None, :] < ly[:, None]  # (N, P2)
    budget = _BRUTE_CHUNK.get(x.device.type, 2**22)
    chunk = max(1, budget // max(p2 * n, 1))
    slot = torch.arange(kk, device=x.device)
    for s in range(0, p1, chunk):
        xc = x[:, s : s + chunk]  # (N, c, D)
        d = _pairwise_sq(xc, y)  # (N, c, P2)
        d = d.masked_fill(~ymask[:, None, :], float("inf"))
        if kk == 1:
            ic = d.argmin(dim=-1, keepdim=True)
        else:
            ic = d.topk(kk, dim=-1, largest=False, sorted=True).indices
        ok = slot[None, None, :] < ly[:, None, None]
        idx[:, s : s + chunk, :kk] = torch.where(ok, ic, torch.full_like(ic, -1))
    rows = torch.arange(p1, device=x.device)[None, :] < lx[:, None]
    return idx.masked_fill(~rows[:, :, None], -1)


def _resolve_backend(backend: str, device: torch.device) -> str:
    check_in(backend, "backend", ("auto", "tree", "brute"))
    if backend == "auto":
        return "tree" if device.type == "cpu" else "brute"
    return backend


def find_nn(
    x: torch.Tensor,
    y: torch.Tensor,
    lx: torch.Tensor,
    ly: torch.Tensor,
    kx: int,
    ky: int | None = None,
    backend: str = "auto",
) -> tuple[_Found, _Found | None]:
    """Neighbours without autograd: x→y ``(N, P1, kx)`` and, if ``ky`` given, y→x."""
    backend = _resolve_backend(backend, x.device)
    with torch.no_grad():
        if backend == "tree":
            return _tree_pairs(x, y, lx, ly, kx, ky)
        fx = _Found(_brute_idx(x, y, lx, ly, kx), None)
        fy = None if ky is None else _Found(_brute_idx(y, x, ly, lx, ky), None)
        return fx, fy


def _dists(x: torch.Tensor, y: torch.Tensor, lx: torch.Tensor, found: _Found) -> torch.Tensor:
    """Final squared distances: the tree's when they are already exact and no grad is needed
    (same formula and dtype, bit-identical), else recomputed with autograd."""
    need_grad = torch.is_grad_enabled() and (x.requires_grad or y.requires_grad)
    if found.dists is not None and not need_grad and found.dists.dtype == x.dtype:
        return found.dists
    return gather_dists(x, y, lx, found.idx)[0]


def gather_dists(
    x: torch.Tensor, y: torch.Tensor, lx: torch.Tensor, idx: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Recompute squared distances with autograd from neighbour indices.

    Returns ``dists (N, P1, K)`` (0 for padded query rows, inf for missing neighbours) and
    ``knn (N, P1, K, D)`` (0 where absent).
    """
    n, p1, k = idx.shape
    p2, d = y.shape[1], x.shape[-1]
    if p2 == 0 or n == 0 or p1 == 0:
        knn = x.new_zeros((n, p1, k, d))
        dists = x.new_zeros((n, p1, k))
    else:
        flat = idx.clamp(min=0)
        if n > 1:
            flat = flat + (torch.arange(n, device=x.device) * p2)[:, None, None]
        knn = y.reshape(n * p2, d).index_select(0, flat.reshape(-1)).view(n, p1, k, d)
        if bool((lx < p1).any()):  # zero padded query rows so their (unused) grads stay finite
            rows = torch.arange(p1, device=x.device)[None, :] < lx[:, None]
            x = torch.where(rows[:, :, None], x, torch.zeros_like(x))
        dists = _sq_dist(x[:, :, None, :], knn)
    valid = idx >= 0
    if bool(valid.all()):
        return dists, knn
    knn = torch.where(valid[..., None], knn, torch.zeros_like(knn))
    rows = torch.arange(p1, device=x.device)[None, :] < lx[:, None]
    inf = torch.full((), float("inf"), dtype=dists.dtype, device=dists.device)
    fill = torch.where(rows[:, :, None], inf, torch.zeros_like(inf)).expand_as(dists)
    return torch.where(valid, dists, fill), knn


def knn_points(
    p1: Any,
    p2: Any,
    lengths1: torch.Tensor | None = None,
    lengths2: torch.Tensor | None = None,
    K: int = 1,
    return_nn: bool = False,
    *,
    backend: str = "auto",
) -> KNN:
    """Exact K nearest neighbours in ``p2`` of every point of ``p1``, per batch element.

    Args:
        p1: ``(N, P1, D)`` query points, or a Pointclouds.
        p2: ``(N, P2, D)`` data points, or a Pointclouds.
        lengths1: ``(N,)`` int number of valid points of each ``p1[n]`` (default: all).
        lengths2: ``(N,)`` int number of valid points of each ``p2[n]`` (default: all).
        K: number of neighbours (>= 1), sorted by ascending distance.
        return_nn: also return the neighbours' coordinates.
        backend: ``"auto"`` (KD-tree on CPU, brute force on CUDA), ``"tree"`` or ``"brute"``.

    Returns:
        :class:`KNN` ``(dists, idx, knn)``; ``dists`` are **squared** distances, differentiable
        w.r.t. ``p1`` and ``p2``. See the module docstring for padding values and ties.

    Raises:
        InputError: wrong shapes/dtypes, lengths out of range, NaN/inf among valid points.

    Example:
        >>> x, y = torch.rand(2, 100, 3), torch.rand(2, 80, 3)
        >>> knn_points(x, y, K=4).dists.shape
        torch.Size([2, 100, 4])
    """
    sizes: dict[str, int] = {}
    x, lx = as_padded(p1, lengths1, "p1", sizes, "P1")
    y, ly = as_padded(p2, lengths2, "p2", sizes, "P2")
    K = check_int(K, "K", min_value=1)
    if x.device != y.device:
        raise InputError(f"p2: expected device {x.device} (same as p1), got {y.device}")
    if x.dtype != y.dtype:
        raise InputError(f"p2: expected dtype {x.dtype} (same as p1), got {y.dtype}")
    found, _ = find_nn(x, y, lx, ly, K, None, backend)
    dists = _dists(x, y, lx, found)
    knn = knn_gather(y, found.idx) if return_nn else None
    return KNN(dists, found.idx, knn)


class NNBoth(NamedTuple):
    """Nearest neighbours (K = 1) in both directions, as used by Chamfer / F1 / normals."""

    d_xy: torch.Tensor  # (N, P1) squared distance of x[n, i] to its NN in y[n]
    idx_xy: torch.Tensor  # (N, P1) index into y[n]
    d_yx: torch.Tensor  # (N, P2)
    idx_yx: torch.Tensor  # (N, P2) index into x[n]
    x_lengths: torch.Tensor  # (N,)
    y_lengths: torch.Tensor  # (N,)


def nn_both_ways(
    x: Any,
    y: Any,
    x_lengths: torch.Tensor | None = None,
    y_lengths: torch.Tensor | None = None,
    backend: str = "auto",
    names: tuple[str, str] = ("x", "y"),
) -> tuple[NNBoth, torch.Tensor, torch.Tensor]:
    """One nearest-neighbour pass per direction (trees and Morton sorts shared).

    Returns ``(NNBoth, x_padded, y_padded)``; distances are squared and differentiable.
    """
    sizes: dict[str, int] = {}
    nx, ny = names
    xp, lx = as_padded(x, x_lengths, nx, sizes, "P1")
    yp, ly = as_padded(y, y_lengths, ny, sizes, "P2")
    if xp.device != yp.device:
        raise InputError(f"{ny}: expected device {xp.device} (same as {nx}), got {yp.device}")
    if xp.dtype != yp.dtype:
        raise InputError(f"{ny}: expected dtype {xp.dtype} (same as {nx}), got {yp.dtype}")
    fxy, fyx = find_nn(xp, yp, lx, ly, 1, 1, backend)
    assert fyx is not None
    dxy = _dists(xp, yp, lx, fxy)
    dyx = _dists(yp, xp, ly, fyx)
    nn = NNBoth(dxy[..., 0], fxy.idx[..., 0], dyx[..., 0], fyx.idx[..., 0], lx, ly)
    return nn, xp, yp


def knn_gather(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Gather ``(N, P2, C)`` features at ``(N, P1, K)`` indices → ``(N, P1, K, C)``; 0 where -1."""
    check_tensor(x, "x", ("N", "P2", "C"))
    check_tensor(idx, "idx", ("N", "P1", "K"), dtype="int", sizes={"N": x.shape[0]})
    n, p1, k = idx.shape
    if x.shape[1] == 0:
        return x.new_zeros((n, p1, k, x.shape[2]))
    safe = idx.clamp(min=0)
    out = x[torch.arange(n, device=x.device)[:, None, None], safe]
    return torch.where((idx >= 0)[..., None], out, torch.zeros_like(out))
