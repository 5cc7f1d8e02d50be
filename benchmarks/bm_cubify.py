"""Benchmark: cubify (voxels → cube mesh) time and memory.

Compares spacetime's sparse ``cubify`` (work and memory ∝ occupied voxels) with

- ``dense``: a PyTorch3D-style reference that builds face masks and corner indices for every
  voxel of the grid (memory ∝ N·D·H·W), and
- ``loop``: a naive Python loop over occupied voxels (32³ only).

PyTorch3D is not installed here; its CPU figures are quoted from the issue as reported peer
figures, not measured: ≈19 ms at 32³ and ≈170 ms at 64³ (random grids), out of memory above
~500³ (a 12 × N × D × H × W face mask).

Memory: peak RSS of a fresh subprocess during one cubify call (peak counter reset via
``/proc/self/clear_refs`` after building the input), minus the RSS before the call.
Run: ``python benchmarks/bm_cubify.py`` (a few minutes; one torch thread unless ``BM_THREADS``
is set).
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from spacetime.shapes.convert.cubify import cubify, cubify_indices  # noqa: E402


def make_grid(kind: str, res: int, seed: int = 0) -> torch.Tensor:
    """``(1, res, res, res)`` bool grid: random p=0.5, solid, or a 1-voxel sphere shell."""
    if kind == "random":
        g = torch.Generator().manual_seed(seed)
        return torch.rand(1, res, res, res, generator=g) < 0.5
    if kind == "solid":
        return torch.ones(1, res, res, res, dtype=torch.bool)
    if kind == "shell":
        c = torch.arange(res, dtype=torch.float32) + 0.5 - res / 2
        r = (c[:, None, None] ** 2 + c[None, :, None] ** 2 + c[None, None, :] ** 2).sqrt()
        return ((r - 0.4 * res).abs() < 0.5)[None]
    raise ValueError(kind)


def cubify_dense(occ: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """PyTorch3D-style reference: dense per-direction face masks over the whole grid, faces
    indexing a dense ``(D+1)(H+1)(W+1)`` corner lattice, unused corners removed at the end."""
    n, d, h, w = occ.shape
    pad = torch.nn.functional.pad(occ.float(), (1, 1, 1, 1, 1, 1))[:, None]
    verts_all, faces_all = [], []
    corner_id = torch.arange(n * (d + 1) * (h + 1) * (w + 1)).reshape(n, d + 1, h + 1, w + 1)
    from spacetime.shapes.convert.cubify import _QUADS

    zz, yy, xx = torch.meshgrid(torch.arange(d), torch.arange(h), torch.arange(w), indexing="ij")
    for a in range(3):
        for k, s in enumerate((1, -1)):
            shift = [0, 0, 0]
            shift[a] = s
            sx, sy, sz = shift
            nb = pad[:, 0, 1 + sz : 1 + sz + d, 1 + sy : 1 + sy + h, 1 + sx : 1 + sx + w] > 0
            mask = occ & ~nb  # (N, D, H, W): a dense mask per direction
            q = _QUADS[2 * a + k]
            ids = []
            for cx, cy, cz in q.tolist():
                ids.append(corner_id[:, zz + cz, yy + cy, xx + cx])  # dense (N, D, H, W)
            ids = torch.stack(ids, -1)[mask]  # (K, 4)
            faces_all.append(torch.cat([ids[:, [0, 1, 2]], ids[:, [0, 2, 3]]]))
    faces = torch.cat(faces_all)
    used, inv = torch.unique(faces, return_inverse=True)
    zc = (used // ((h + 1) * (w + 1))) % (d + 1)
    yc = (used // (w + 1)) % (h + 1)
    xc = used % (w + 1)
    verts_all = torch.stack([xc, yc, zc], 1).float()
    return verts_all, inv


def cubify_loop(occ: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Naive Python loop over occupied voxels with a dict for vertex merging."""
    from spacetime.shapes.convert.cubify import _QUADS

    quads = _QUADS.tolist()
    _, d, h, w = occ.shape
    o = occ[0]
    vid: dict[tuple[int, int, int], int] = {}
    faces = []
    for z, y, x in o.nonzero().tolist():
        for face, (a, s) in enumerate((a, s) for a in range(3) for s in (1, -1)):
            p = [x, y, z]
            p[a] += s
            if 0 <= p[0] < w and 0 <= p[1] < h and 0 <= p[2] < d and o[p[2], p[1], p[0]]:
                continue
            ids = [vid.setdefault((x + cx, y + cy, z + cz), len(vid))
                   for cx, cy, cz in quads[face]]
            faces += [[ids[0], ids[1], ids[2]], [ids[0], ids[2], ids[3]]]
    verts = torch.tensor(list(vid), dtype=torch.float32).reshape(-1, 3)
    return verts, torch.tensor(faces, dtype=torch.int64).reshape(-1, 3)


def timeit(fn, *args, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def memory_child(kind: str, res: int, impl: str) -> None:
    occ = make_grid(kind, res)
    occupied = int(occ.sum())  # before the reset: summing a 512^3 grid allocates int64
    gc.collect()
    try:  # reset the peak-RSS counter (Linux), so only the call itself is measured
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    base = _status_mib("VmRSS")
    t0 = time.perf_counter()
    if impl == "ours":
        m = cubify(occ)
        nf = int(m.num_faces_per_mesh()[0])
    else:
        _, f = cubify_dense(occ)
        nf = f.shape[0]
    dt = time.perf_counter() - t0
    peak = _status_mib("VmHWM") - base
    print(f"{occupied} {nf} {peak:.1f} {dt:.3f}")


def memory_run(kind: str, res: int, impl: str) -> tuple[int, int, float, float] | None:
    cmd = [sys.executable, __file__, "--child", kind, str(res), impl]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        return None
    occupied, faces, mib, secs = out.stdout.split()
    return int(occupied), int(faces), float(mib), float(secs)


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ.get("BM_THREADS", "1")))
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()} (BM_THREADS)")
    print("\n## Time (best of 3), one grid")
    print(f"{'grid':>14} {'occupied':>9} {'faces':>9} {'ours ms':>9} {'dense ms':>9} "
          f"{'dense/ours':>10} {'loop ms':>9} {'loop/ours':>9}")
    for kind in ("random", "solid", "shell"):
        for res in (32, 64, 128):
            occ = make_grid(kind, res)
            t_ours = timeit(cubify, occ)
            _, _, faces, _ = cubify_indices(occ)
            t_dense = timeit(cubify_dense, occ)
            loop = ""
            if res == 32:
                t_loop = timeit(cubify_loop, occ, repeat=1)
                loop = f"{t_loop * 1e3:9.1f} {t_loop / t_ours:9.1f}"
            print(f"{kind + f' {res}^3':>14} {int(occ.sum()):>9} {faces.shape[0]:>9} "
                  f"{t_ours * 1e3:9.1f} {t_dense * 1e3:9.1f} {t_dense / t_ours:10.2f} {loop}")
    print("\nPyTorch3D CPU cubify (reported in the issue, NOT measured here): "
          "≈19 ms at 32^3, ≈170 ms at 64^3 random.")
    print("\n## Peak memory above the input (fresh process per row)")
    print(f"{'grid':>14} {'impl':>6} {'occupied':>9} {'faces':>9} {'MiB':>8} "
          f"{'B/occupied':>10} {'s':>7}")
    cases = [("shell", 128), ("shell", 256), ("shell", 512), ("random", 128)]
    for kind, res in cases:
        for impl in ("ours", "dense"):
            if impl == "dense" and res > 256:
                continue
            r = memory_run(kind, res, impl)
            if r is None:
                print(f"{kind + f' {res}^3':>14} {impl:>6} failed (out of memory?)")
                continue
            occupied, faces, mib, secs = r
            per = mib * 2**20 / max(occupied, 1)
            print(f"{kind + f' {res}^3':>14} {impl:>6} {occupied:>9} {faces:>9} {mib:8.1f} "
                  f"{per:10.0f} {secs:7.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        torch.set_num_threads(int(os.environ.get("BM_THREADS", "1")))
        memory_child(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        main()
