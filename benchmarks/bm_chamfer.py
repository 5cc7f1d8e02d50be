"""Benchmark: Chamfer-L2 + F1@t on CPU, spacetime vs the peers installed here.

Two clouds sampled on the same surface (a sphere and a slightly bumpy sphere, radius ~1), float32,
thresholds (0.01, 0.02, 0.05). Every variant computes the same numbers (mean-form squared Chamfer,
unsquared F1 with strict ``<``) and the results are checked against ours (the peers' float64
Chamfer and F1 rounded to float32, ours being float32 for float32 input):

- ``spacetime``: :func:`spacetime.shapes.metrics.chamfer_and_f1` (tree backend: our numba
  KD-tree, one query pass per direction for both metrics, both directions concurrently);
- ``pykdtree``: a plain pykdtree call per direction (float32 trees, squared distances);
- ``scipy cKDTree (workers=-1 / 1)``: scipy's KD-tree (float64), all cores / one core;
- ``torch cdist``: brute force with ``torch.cdist`` in row chunks (PyTorch3D's CPU kNN is
  brute force too and PyTorch3D is not installable here, so this is the stand-in);
- ``spacetime brute``: our chunked brute-force backend (the CUDA path) run on the CPU.

Tree-based variants run interleaved (the order rotates each repetition); brute-force variants run
afterwards in their own block (at most 5 repetitions; their thread pool would otherwise tax the
next variant); the median is reported, with the ratio to ours. Brute-force variants only run up
to 20k points. Peak memory of the 1M-point case is measured in a fresh subprocess with
``resource.getrusage`` (peak RSS of the whole process, including the Python + torch runtime).

    python benchmarks/bm_chamfer.py [--sizes 10000 1000000] [--reps 5] [--threads N]
                                    [--device cpu|cuda]

``--device cuda`` times ``chamfer_and_f1`` on the GPU (the brute-force backend in row chunks,
the CUDA path) against our CPU tree backend on the same clouds, interleaved, with
``torch.cuda.synchronize`` around each GPU call, and checks that both give the same Chamfer and
F1 (float32); the CPU-only peers are not run then.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

from spacetime.shapes.metrics import chamfer_and_f1, knn_points

__all__: list[str] = []

THRESHOLDS = (0.01, 0.02, 0.05)


def make_clouds(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two ``(1, n, 3)`` float32 samplings of nearly the same closed surface."""
    g = torch.Generator().manual_seed(seed)
    a = torch.nn.functional.normalize(torch.randn(n, 3, generator=g, dtype=torch.float64), dim=1)
    b = torch.nn.functional.normalize(torch.randn(n, 3, generator=g, dtype=torch.float64), dim=1)
    b = b * (1 + 0.02 * torch.sin(5 * b[:, :1]) * torch.cos(3 * b[:, 1:2]))
    return a.float()[None], b.float()[None]


def _from_sq(dx: np.ndarray, dy: np.ndarray) -> tuple[float, list[float]]:
    """Chamfer (mean form) and F1 per threshold from squared NN distances (float64 sums)."""
    cham = float(dx.astype(np.float64).mean() + dy.astype(np.float64).mean())
    ex, ey = np.sqrt(dx), np.sqrt(dy)
    f1 = []
    for t in THRESHOLDS:
        p, r = float((ex < t).mean()), float((ey < t).mean())
        f1.append(2 * p * r / (p + r) if p + r > 0 else 0.0)
    return cham, f1


def nn_sq_dists(fn_name: str, x: torch.Tensor, y: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-point squared NN distances of one variant (for the identical-results check)."""
    a, b = x[0].numpy(), y[0].numpy()
    if fn_name.startswith("spacetime"):
        be = "brute" if "brute" in fn_name else "tree"
        dx = knn_points(x, y, backend=be).dists[0, :, 0].numpy()
        dy = knn_points(y, x, backend=be).dists[0, :, 0].numpy()
    elif fn_name == "pykdtree":
        from pykdtree.kdtree import KDTree

        dx = KDTree(b).query(a, k=1, sqr_dists=True)[0]
        dy = KDTree(a).query(b, k=1, sqr_dists=True)[0]
    elif fn_name.startswith("scipy"):
        from scipy.spatial import cKDTree

        dx = cKDTree(b).query(a, k=1, workers=-1)[0] ** 2
        dy = cKDTree(a).query(b, k=1, workers=-1)[0] ** 2
    else:
        return np.zeros(0), np.zeros(0)
    return dx, dy


def run_spacetime(x: torch.Tensor, y: torch.Tensor, backend: str = "tree"):
    out = chamfer_and_f1(x, y, THRESHOLDS, backend=backend)
    return float(out.chamfer[0]), out.f1[0].tolist()


def run_pykdtree(x: torch.Tensor, y: torch.Tensor):
    from pykdtree.kdtree import KDTree

    a, b = x[0].numpy(), y[0].numpy()
    dx, _ = KDTree(b).query(a, k=1, sqr_dists=True)
    dy, _ = KDTree(a).query(b, k=1, sqr_dists=True)
    return _from_sq(dx, dy)


def run_ckdtree(x: torch.Tensor, y: torch.Tensor, workers: int):
    from scipy.spatial import cKDTree

    a, b = x[0].numpy(), y[0].numpy()
    dx, _ = cKDTree(b).query(a, k=1, workers=workers)
    dy, _ = cKDTree(a).query(b, k=1, workers=workers)
    return _from_sq(dx * dx, dy * dy)


def run_cdist(x: torch.Tensor, y: torch.Tensor, chunk: int = 2048):
    a, b = x[0], y[0]
    dx = torch.cat(
        [torch.cdist(a[i : i + chunk], b).min(1).values for i in range(0, len(a), chunk)]
    )
    dy = torch.cat(
        [torch.cdist(b[i : i + chunk], a).min(1).values for i in range(0, len(b), chunk)]
    )
    return _from_sq((dx * dx).numpy(), (dy * dy).numpy())


def variants(n: int) -> dict:
    v = {
        "spacetime": run_spacetime,
        "pykdtree": run_pykdtree,
        "scipy cKDTree (workers=-1)": lambda x, y: run_ckdtree(x, y, -1),
        "scipy cKDTree (workers=1)": lambda x, y: run_ckdtree(x, y, 1),
    }
    if n <= 20_000:
        v["torch cdist (brute force)"] = run_cdist
        v["spacetime brute (CUDA path)"] = lambda x, y: run_spacetime(x, y, "brute")
    return v


def bench(n: int, reps: int) -> None:
    x, y = make_clouds(n)
    fns = variants(n)
    names = list(fns)
    times: dict[str, list[float]] = {k: [] for k in names}
    results = {}
    for k in names:  # warm-up (imports, allocator) and results
        results[k] = fns[k](x, y)
    # Tree-based variants rotate among themselves; the brute-force (torch) ones run after, in a
    # block: their torch thread pool keeps spinning for a while after each call and would tax
    # whichever tree variant happens to run next.
    tree = [k for k in names if "brute" not in k]
    brute = [k for k in names if "brute" in k]
    for group in (tree, brute):
        if not group:
            continue
        for r in range(reps if group is tree else max(1, min(reps, 5))):
            order = group[r % len(group) :] + group[: r % len(group)]
            for k in order:
                t0 = time.perf_counter()
                fns[k](x, y)
                times[k].append(time.perf_counter() - t0)
    ref_c, ref_f = results["spacetime"]
    ref_dx, ref_dy = nn_sq_dists("spacetime", x, y)
    base = statistics.median(times["spacetime"])
    print(f"\n{n:,} x {n:,} points, chamfer + F1@{THRESHOLDS}, median of {reps}")
    print(
        f"{'variant':30s} {'time (s)':>9s} {'vs ours':>8s} {'chamfer f32 rel.diff':>20s} "
        f"{'F1 f32 max diff':>15s} {'NN dists':>22s}"
    )
    for k in names:
        c, f = results[k]
        t = statistics.median(times[k])
        # every peer sums in float64; ours returns float32 for float32 input: compare at float32
        rel = abs(float(np.float32(c)) - ref_c) / max(abs(ref_c), 1e-30)
        fdiff = max(abs(float(np.float32(a)) - b) for a, b in zip(f, ref_f))
        dx, dy = nn_sq_dists(k, x, y)
        if dx.size == 0:
            nn = "not checked"
        elif np.array_equal(dx, ref_dx) and np.array_equal(dy, ref_dy):
            nn = "identical"
        else:
            dd = max(np.abs(dx - ref_dx).max(), np.abs(dy - ref_dy).max())
            nn = f"max abs diff {dd:.1e}"
        print(f"{k:30s} {t:9.4f} {t / base:7.2f}x {rel:20.2e} {fdiff:15.1e} {nn:>22s}")
    print(f"chamfer = {ref_c:.6g}, F1 = {[round(v, 6) for v in ref_f]}")


def bench_device(n: int, reps: int, device: torch.device) -> None:
    """``chamfer_and_f1`` on ``device`` vs our CPU tree backend: times and agreement."""
    x, y = make_clouds(n)
    xd, yd = x.to(device), y.to(device)

    def on_device():
        out = chamfer_and_f1(xd, yd, THRESHOLDS)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return float(out.chamfer[0]), out.f1[0].tolist()

    fns = {f"spacetime on {device}": on_device, "spacetime CPU tree": lambda: run_spacetime(x, y)}
    results = {k: f() for k, f in fns.items()}  # warm-up (kernels, numba) and results
    times: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for r in range(reps):
        for k in names[r % 2:] + names[: r % 2]:
            t0 = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - t0)
    (cd, fd), (cc, fc) = results[names[0]], results[names[1]]
    base = statistics.median(times[names[1]])
    print(f"\n{n:,} x {n:,} points on {device}, chamfer + F1@{THRESHOLDS}, median of {reps}")
    for k in names:
        t = statistics.median(times[k])
        print(f"{k:30s} {t:9.4f} s {t / base:7.2f}x of the CPU tree")
    rel = abs(cd - cc) / max(abs(cc), 1e-30)
    print(f"chamfer rel. diff {rel:.2e}, F1 max diff {max(abs(a - b) for a, b in zip(fd, fc)):.1e}")


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def peak_memory_child(n: int, which: str) -> None:
    """Run one variant once in this fresh process; report peak RSS (VmHWM, Linux)."""
    x, y = make_clouds(n)
    before = _status_kib("VmRSS")
    try:  # reset the high-water mark to the current RSS (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    t0 = time.perf_counter()
    if which == "spacetime":
        run_spacetime(x, y)
    else:
        run_pykdtree(x, y)
    dt = time.perf_counter() - t0
    peak = _status_kib("VmHWM")
    print(
        f"{which:12s} peak RSS {peak / 2**20:.3f} GiB (inputs + Python/torch runtime before the "
        f"call: {before / 2**20:.3f} GiB, so +{(peak - before) / 2**20:.3f} GiB), "
        f"first-call time {dt:.3f} s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    ap.add_argument("--mem-child", nargs=2, metavar=("N", "WHICH"), help=argparse.SUPPRESS)
    ap.add_argument("--device", default="cpu", help="cpu (vs peers) or cuda (vs our CPU tree)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.mem_child:
        peak_memory_child(int(args.mem_child[0]), args.mem_child[1])
        return
    if args.device != "cpu":
        device = torch.device(args.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            sys.exit("bm_chamfer.py --device cuda: no CUDA device")
        for n in args.sizes:
            bench_device(n, args.reps, device)
        return
    cores = len(os.sched_getaffinity(0))
    print(f"torch threads {torch.get_num_threads()}, CPU cores {cores}, load {os.getloadavg()}")
    for n in args.sizes:
        bench(n, args.reps if n <= 100_000 else max(1, math.ceil(args.reps / 2)))
    big = max(args.sizes)
    print(f"\npeak memory, {big:,} x {big:,} points (fresh process each):")
    for which in ("spacetime", "pykdtree"):
        subprocess.run([sys.executable, __file__, "--mem-child", str(big), which], check=True)


if __name__ == "__main__":
    main()
