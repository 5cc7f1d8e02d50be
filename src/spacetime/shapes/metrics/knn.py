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

- ``"tree"`` (default on CPU): our KD-tree (:mod:`spacetime.shapes.metrics._kdtree`, compiled
  with numba) built on the data cloud; queries are visited in a spatially coherent order (the
  query cloud's own tree order when both directions are asked for, as by Chamfer / F1, else a
  Morton order for large clouds) and each starts from its predecessor's neighbours. Builds and
  query chunks run on ``torch.get_num_threads()`` threads. float32 inputs use a float32 tree,
  float64 inputs a float64 tree, other dtypes a float32 tree. Measured 1.37-1.50x (10k points)
  and 3.7x (1M points) faster than pykdtree for Chamfer + F1 (``benchmarks/bm_chamfer.py``).
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
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import numpy as np
import torch

from spacetime.checks import check_finite, check_in, check_int, check_tensor
from spacetime.errors import InputError

__all__ = ["KNN", "knn_points", "knn_gather", "morton_order"]

_BRUTE_CHUNK = {"cuda": 2**24, "cpu": 2**22}  # max query×data distances held at once (brute)
_SORT_MIN = 4096  # Morton-sort one-way query clouds from this size (1M one-way: 428 → 305 ms)
_CHUNK_MIN = 4096  # queries per thread task at least (smaller jobs run in the calling thread)
_GROUP_POINTS = 1 << 22  # points whose trees are alive at once (~100 MiB of tree arrays)
_POOL: Any = None


def _pool(workers: int):
    """A pool of ``workers`` threads for the tree's build and query tasks (the numba kernels
    release the GIL); made again after a fork (a pool inherited by a DataLoader worker has no
    threads) or when ``torch.set_num_threads`` changed the thread count."""
    global _POOL
    import os

    key = (os.getpid(), workers)
    if _POOL is None or _POOL[0] != key:
        from concurrent.futures import ThreadPoolExecutor

        if _POOL is not None and _POOL[0][0] == os.getpid():
            _POOL[1].shutdown(wait=False)  # the thread count changed: let its threads end
        _POOL = (key, ThreadPoolExecutor(max_workers=workers, thread_name_prefix="spacetime-knn"))
    return _POOL[1]


def _parallel(tasks: list[Any], threads: int) -> list[Any]:
    """Run the callables on ``threads`` threads (the calling one included), each thread taking
    the next task when done; returns their results in order."""
    if threads <= 1 or len(tasks) <= 1:
        return [t() for t in tasks]
    import threading

    out: list[Any] = [None] * len(tasks)
    lock = threading.Lock()
    nxt = [0]

    def loop() -> None:
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(tasks):
                return
            out[i] = tasks[i]()

    workers = min(threads, len(tasks)) - 1
    pool = _pool(threads - 1)
    futures = [pool.submit(loop) for _ in range(workers)]
    try:
        loop()
    finally:  # never leave tasks running on arrays the caller is about to drop or reuse
        for f in futures:
            f.result()
    return out


def _threads() -> int:
    """Threads for the tree backend: torch's intra-op thread count (``torch.set_num_threads``)."""
    return max(1, torch.get_num_threads())


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

    Coordinates are quantised to ``2**bits`` cells (``1 <= bits <= 10``) along the longest
    bounding-box edge; points with more than 3 dimensions use their first three coordinates,
    points with fewer are returned unsorted. Stable (ties keep their input order); a linear-time
    radix sort (numba), e.g. 1M points in about 20 ms instead of 90 ms for ``np.argsort``.
    """
    bits = check_int(bits, "bits", min_value=1)
    if bits > 10:
        raise InputError(f"bits: expected an int in [1, 10], got {bits}")
    if points.ndim != 2 or points.shape[0] == 0 or points.shape[1] < 3:
        return np.arange(points.shape[0])
    from spacetime.shapes.metrics._kdtree import morton_perm

    pts = np.asarray(points)
    if pts.dtype not in (np.float32, np.float64):
        pts = pts.astype(np.float64)
    return morton_perm(np.ascontiguousarray(pts[:, :3]), bits)


def _np_points(x: torch.Tensor) -> np.ndarray:
    dt = torch.float64 if x.dtype == torch.float64 else torch.float32
    return np.ascontiguousarray(x.detach().to(device="cpu", dtype=dt).numpy())


class _Job(NamedTuple):
    """One direction of one batch element: the kNN of ``queries`` in ``tree``; query row ``t``
    fills row ``order[t]`` of the output views ``(P, K)`` (numpy views of the torch outputs)."""

    tree: Any  # _kdtree.KDTree of the data cloud
    queries: np.ndarray  # (M, D) query points, in the order they are visited
    order: np.ndarray  # (M,) int64 output row of each query row
    k: int
    out_d: np.ndarray  # (P, K) squared distances
    out_i: np.ndarray  # (P, K) int64 indices


def _run_jobs(jobs: list[_Job], threads: int) -> None:
    """Answer every job, split into chunks of at least ``_CHUNK_MIN`` queries over ``threads``
    threads (a job gets about ``threads / len(jobs)`` chunks)."""
    tasks = []
    for job in jobs:
        m = job.queries.shape[0]
        pieces = max(1, min(-(-threads // len(jobs)), m // _CHUNK_MIN))
        bounds = [m * i // pieces for i in range(pieces + 1)]
        for q0, q1 in zip(bounds[:-1], bounds[1:]):
            tasks.append(
                partial(job.tree.query, job.queries, job.order, job.k, job.out_d, job.out_i, q0, q1)
            )
    _parallel(tasks, threads)


def _tree(pts: np.ndarray) -> Any:
    from spacetime.shapes.metrics._kdtree import KDTree

    return KDTree(pts)


def _order(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A query cloud without a tree: ``(points in visiting order, original row of each)``,
    Morton order from ``_SORT_MIN`` points on (consecutive queries then share neighbours)."""
    if pts.shape[0] < _SORT_MIN:
        return pts, np.arange(pts.shape[0])
    order = morton_order(pts)
    return np.ascontiguousarray(pts[order]), order


def _build_all(tasks: list[Any], clouds: list[np.ndarray], threads: int) -> list[Any]:
    """Run the build tasks, in parallel when there are points enough to pay for threads."""
    big = sum(c.shape[0] for c in clouds) >= 2 * _CHUNK_MIN
    return _parallel(tasks, threads if big else 1)


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
    """Tree backend; x→y with ``kx`` neighbours and, if ``ky`` is given, y→x as well.

    With both directions, each cloud gets a tree and is queried in its tree's (spatially
    coherent) order; one direction only Morton-sorts large query clouds. Distances use the
    padding convention of :class:`KNN` (0 padded rows, inf missing slots).
    """
    n = x.shape[0]
    ddt = torch.float64 if x.dtype == torch.float64 else torch.float32

    def alloc(p: int, k: int, lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        # host buffers the numba kernels fill (CPU whatever the default device)
        idx = torch.full((n, p, k), -1, dtype=torch.int64, device="cpu")
        d = torch.zeros((n, p, k), dtype=ddt, device="cpu")
        for b, nb in enumerate(lengths):
            d[b, :nb] = float("inf")
        return idx, d

    lxs, lys = lx.tolist(), ly.tolist()
    outx = alloc(x.shape[1], kx, lxs)
    outy = alloc(y.shape[1], ky, lys) if ky is not None else None
    threads = _threads()
    live = [b for b in range(n) if lxs[b] and lys[b]]
    # batch elements in groups of at most _GROUP_POINTS points, so that the trees alive at once
    # stay bounded; per group, every tree (and Morton order) in one parallel pass, then every
    # query chunk
    groups: list[list[int]] = [[]]
    size = 0
    for b in live:
        if groups[-1] and size + lxs[b] + lys[b] > _GROUP_POINTS:
            groups.append([])
            size = 0
        groups[-1].append(b)
        size += lxs[b] + lys[b]
    for group in groups:
        _tree_group(x, y, lxs, lys, kx, ky, group, outx, outy, threads)
    dev = x.device
    fx = _Found(outx[0].to(dev), outx[1].to(dev))
    fy = None if outy is None else _Found(outy[0].to(dev), outy[1].to(dev))
    return fx, fy


def _tree_group(
    x: torch.Tensor,
    y: torch.Tensor,
    lxs: list[int],
    lys: list[int],
    kx: int,
    ky: int | None,
    group: list[int],
    outx: tuple[torch.Tensor, torch.Tensor],
    outy: tuple[torch.Tensor, torch.Tensor] | None,
    threads: int,
) -> None:
    """Trees and queries of the batch elements in ``group`` (all non-empty), into the outputs."""
    if not group:
        return
    clouds: list[np.ndarray] = []
    for b in group:
        px, py = _np_points(x[b, : lxs[b]]), _np_points(y[b, : lys[b]])
        clouds += [px, py] if outy is not None else [py, px]
    if outy is not None:
        built = _build_all([partial(_tree, c) for c in clouds], clouds, threads)
    else:
        built = _build_all(
            [partial(_tree if i % 2 == 0 else _order, c) for i, c in enumerate(clouds)],
            clouds,
            threads,
        )
    jobs: list[_Job] = []
    for j, b in enumerate(group):
        nx, ny = lxs[b], lys[b]
        vx = (outx[1][b].numpy(), outx[0][b].numpy())
        if outy is not None and ky is not None:
            tx, ty = built[2 * j], built[2 * j + 1]
            vy = (outy[1][b].numpy(), outy[0][b].numpy())
            jobs.append(_Job(ty, tx.points, tx.perm, min(kx, ny), *vx))
            jobs.append(_Job(tx, ty.points, ty.perm, min(ky, nx), *vy))
        else:
            ty, (qx, order) = built[2 * j], built[2 * j + 1]
            jobs.append(_Job(ty, qx, order, min(kx, ny), *vx))
    _run_jobs(jobs, threads)


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
