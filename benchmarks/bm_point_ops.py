"""Benchmark: point-cloud ops of ``spacetime.shapes.ops`` on the CPU (float32 clouds).

1. ``estimate_normals`` (k nearest neighbours + batched 3×3 ``eigh``) vs scipy cKDTree + numpy
   ``eigh`` (the naive reference) and Open3D's ``estimate_normals(KDTreeSearchParamKNN(k))``.
2. ``farthest_point_sampling`` numba path vs its torch path (one vectorised step per sample, the
   path used on CUDA) and Open3D's ``farthest_point_down_sample``.
3. ``ball_query`` numba path vs its torch path (chunked brute force, the CUDA path) and scipy
   cKDTree ``query_ball_point`` (every point in the ball, then the first K by index).

Variants of one case run interleaved (the order rotates each repetition); the median is reported
with the ratio to ours. Open3D is not a dependency of spacetime: it is used when importable, e.g.
with a separate venv holding open3d put behind the project's site-packages on ``PYTHONPATH``.

Run: ``python benchmarks/bm_point_ops.py [--points 100000] [--reps 5] [--device cpu|cuda]``
(torch threads = all cores unless ``BM_THREADS`` is set). ``--device cuda`` times the three ops
on the GPU (the torch paths; synchronised) against ours on the CPU instead, and checks that the
FPS and ball-query indices equal the CPU ones (``make test-gpu`` runs it; untested so far: no GPU
was lent).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from spacetime.shapes.ops import (  # noqa: E402
    ball_query,
    estimate_normals,
    farthest_point_sampling,
)

try:  # optional peer, never a dependency
    import open3d as o3d  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the machine
    o3d = None


def surface(n: int, seed: int = 0) -> torch.Tensor:
    """``n`` points on a wavy sheet (a surface, as normals assume), float32."""
    g = np.random.default_rng(seed)
    xy = g.uniform(-1, 1, size=(n, 2))
    z = 0.2 * np.sin(3 * xy[:, 0]) * np.cos(2 * xy[:, 1])
    return torch.from_numpy(np.concatenate([xy, z[:, None]], 1).astype(np.float32))


def normals_scipy(x: np.ndarray, k: int) -> np.ndarray:
    from scipy.spatial import cKDTree

    _, idx = cKDTree(x).query(x, k=k, workers=-1)
    nb = x[idx]
    c = nb - nb.mean(1, keepdims=True)
    cov = np.einsum("pki,pkj->pij", c, c) / k
    return np.linalg.eigh(cov)[1][:, :, 0]


def normals_open3d(x: np.ndarray, k: int) -> np.ndarray:
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(x.astype(np.float64)))
    pcd.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(knn=k))
    return np.asarray(pcd.normals)


def fps_open3d(x: np.ndarray, s: int) -> np.ndarray:
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(x.astype(np.float64)))
    return np.asarray(pcd.farthest_point_down_sample(s).points)


def ball_scipy(q: np.ndarray, x: np.ndarray, r: float, k: int) -> np.ndarray:
    from scipy.spatial import cKDTree

    lists = cKDTree(x).query_ball_point(q, r, workers=-1, return_sorted=True)
    out = np.full((len(q), k), -1, dtype=np.int64)
    for i, row in enumerate(lists):
        row = row[:k]
        out[i, : len(row)] = row
    return out


def run(cases: dict, reps: int) -> dict[str, float]:
    """Interleaved timing (the order rotates each repetition), median seconds per variant."""
    names = list(cases)
    for fn in cases.values():  # warm-up (numba compilation, allocator)
        fn()
    times: dict[str, list[float]] = {k: [] for k in names}
    for r in range(reps):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            cases[name]()
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def table(title: str, med: dict[str, float], ours: str) -> None:
    print(f"\n{title}")
    print(f"{'variant':58s} {'ms':>10s} {'vs ours':>10s}")
    for name, t in med.items():
        print(f"{name:58s} {t * 1e3:10.1f} {t / med[ours]:9.2f}x")


def synced(fn, device: torch.device):
    """``fn`` followed by a CUDA synchronise, so that timings cover the kernels."""
    def call():
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return out
    return call


def main_device(args: argparse.Namespace) -> None:
    """The ops on ``args.device`` (torch paths) vs ours on the CPU; same indices checked."""
    dev = torch.device(args.device)
    x = surface(args.points)
    xd = x.to(dev)
    s, radius, kb = args.samples, 0.1, 32
    print(f"{args.points} points, device {dev}, CPU torch threads {torch.get_num_threads()}")
    ours_n = f"spacetime estimate_normals k={args.k} (CPU)"
    table(f"normals, {args.points} points, k={args.k}", run({
        ours_n: lambda: estimate_normals(x, k=args.k),
        f"spacetime estimate_normals on {dev}": synced(lambda: estimate_normals(xd, k=args.k),
                                                       dev),
    }, args.reps), ours_n)
    ours_f = f"spacetime farthest_point_sampling {s} (CPU, numba)"
    table(f"FPS, {s} of {args.points}", run({
        ours_f: lambda: farthest_point_sampling(x, s),
        f"spacetime farthest_point_sampling on {dev}": synced(
            lambda: farthest_point_sampling(xd, s), dev),
    }, args.reps), ours_f)
    same = torch.equal(farthest_point_sampling(x, s).idx,
                       farthest_point_sampling(xd, s).idx.cpu())
    print(f"FPS: CPU and {dev} indices identical: {same}")
    q = x[farthest_point_sampling(x, s).idx]
    qd = q.to(dev)
    ours_b = f"spacetime ball_query r={radius} K={kb} (CPU, numba)"
    table(f"ball query, {s} × {args.points}", run({
        ours_b: lambda: ball_query(q, x, radius, kb),
        f"spacetime ball_query on {dev}": synced(lambda: ball_query(qd, xd, radius, kb), dev),
    }, args.reps), ours_b)
    same = torch.equal(ball_query(q, x, radius, kb).idx, ball_query(qd, xd, radius, kb).idx.cpu())
    print(f"ball query: CPU and {dev} indices identical: {same}")
    if not same:
        sys.exit(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--k", type=int, default=30)
    ap.add_argument("--samples", type=int, default=1024)
    ap.add_argument("--device", default="cpu", help="cpu (vs peers) or cuda (vs our CPU path)")
    args = ap.parse_args()
    if "BM_THREADS" in os.environ:
        torch.set_num_threads(int(os.environ["BM_THREADS"]))
    if args.device != "cpu":
        main_device(args)
        return
    x = surface(args.points)
    xn = x.numpy()
    print(
        f"{args.points} points, torch threads {torch.get_num_threads()}, "
        f"open3d {'absent' if o3d is None else o3d.__version__}"
    )

    ours_n = f"spacetime estimate_normals k={args.k}"
    cases = {ours_n: lambda: estimate_normals(x, k=args.k)}
    cases["scipy cKDTree(workers=-1) + numpy eigh (reference)"] = lambda: normals_scipy(xn, args.k)
    if o3d is not None:
        cases["Open3D estimate_normals KNN"] = lambda: normals_open3d(xn, args.k)
    n_ours = estimate_normals(x, k=args.k).double().numpy()
    n_ref = normals_scipy(xn.astype(np.float64), args.k)
    print(f"normals: min |cos| vs the scipy reference {np.abs((n_ours * n_ref).sum(1)).min():.4f}")
    table(f"normals, {args.points} points, k={args.k}", run(cases, args.reps), ours_n)

    s = args.samples
    ours_f = f"spacetime farthest_point_sampling {s} (numba)"
    cases = {
        ours_f: lambda: farthest_point_sampling(x, s),
        "spacetime farthest_point_sampling (torch path)": lambda: farthest_point_sampling(
            x, s, backend="torch"
        ),
    }
    if o3d is not None:
        cases["Open3D farthest_point_down_sample"] = lambda: fps_open3d(xn, s)
    same = torch.equal(
        farthest_point_sampling(x, s).idx, farthest_point_sampling(x, s, backend="torch").idx
    )
    print(f"\nFPS: numba and torch indices identical: {same}")
    table(f"FPS, {s} of {args.points}", run(cases, args.reps), ours_f)

    q = x[farthest_point_sampling(x, s).idx]
    qn = q.numpy()
    radius, kb = 0.1, 32
    ours_b = f"spacetime ball_query r={radius} K={kb} (numba)"
    cases = {
        ours_b: lambda: ball_query(q, x, radius, kb),
        "spacetime ball_query (torch path, brute force)": lambda: ball_query(
            q, x, radius, kb, backend="torch"
        ),
        "scipy cKDTree query_ball_point + first K": lambda: ball_scipy(qn, xn, radius, kb),
    }
    same = torch.equal(
        ball_query(q, x, radius, kb).idx, ball_query(q, x, radius, kb, backend="torch").idx
    )
    print(f"\nball query: numba and torch indices identical: {same}")
    table(f"ball query, {s} × {args.points}", run(cases, args.reps), ours_b)


if __name__ == "__main__":
    main()
