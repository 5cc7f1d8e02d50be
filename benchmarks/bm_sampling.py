"""Benchmark: surface sampling and point-to-mesh distance.

1. ``sample_points_from_meshes``: 100k points from a 100k-face torus mesh, vs
   ``trimesh.sample.sample_surface`` (numpy) on the same mesh; plus a batch of 8 meshes.
2. ``mesh_distance`` (bounding-sphere culling in torch) vs ``trimesh.proximity.closest_point``
   (an r-tree of triangle boxes + exact closest points), and ``winding_number`` (exact and
   ``approximate=True``).

Run: ``python benchmarks/bm_sampling.py`` (one torch thread unless ``BM_THREADS`` is set;
the trimesh distance comparison needs the optional ``rtree`` package).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from spacetime.shapes.convert import (  # noqa: E402
    ico_sphere,
    mesh_distance,
    sample_points_from_meshes,
    torus_mesh,
    winding_number,
)
from spacetime.shapes.structures import Meshes  # noqa: E402


def timeit(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    import trimesh

    torch.set_num_threads(int(os.environ.get("BM_THREADS", "1")))
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()} (BM_THREADS)")
    m = torus_mesh(1.0, 0.3, major_sections=500, minor_sections=100)  # 100,000 faces
    v, f = m.verts_list()[0], m.faces_list()[0]
    tm = trimesh.Trimesh(v.numpy(), f.numpy(), process=False)
    print(f"\n## Sampling 100k points from a {f.shape[0]}-face mesh (best of 3)")
    print(f"{'method':>34} {'ms':>8} {'vs ours':>8}")
    g = torch.Generator().manual_seed(0)
    t_ours = timeit(lambda: sample_points_from_meshes(m, 100_000, generator=g))
    t_ours_n = timeit(
        lambda: sample_points_from_meshes(m, 100_000, return_normals=True, generator=g)
    )
    t_tm = timeit(lambda: trimesh.sample.sample_surface(tm, 100_000, seed=0))
    print(f"{'spacetime sample_points_from_meshes':>34} {t_ours * 1e3:8.1f} {1.0:8.2f}")
    print(f"{'  + normals':>34} {t_ours_n * 1e3:8.1f} {t_ours_n / t_ours:8.2f}")
    print(f"{'trimesh.sample.sample_surface':>34} {t_tm * 1e3:8.1f} {t_tm / t_ours:8.2f}")
    batch = Meshes([v] * 8, [f] * 8)
    t_b = timeit(lambda: sample_points_from_meshes(batch, 10_000, generator=g))
    t_tb = timeit(lambda: [trimesh.sample.sample_surface(tm, 10_000, seed=0) for _ in range(8)])
    print(f"{'batch 8 x 10k, spacetime':>34} {t_b * 1e3:8.1f}")
    print(f"{'batch 8 x 10k, trimesh loop':>34} {t_tb * 1e3:8.1f} {t_tb / t_b:8.2f}")

    if importlib.util.find_spec("rtree") is None:
        print("\n(trimesh.proximity needs the optional package rtree: distance comparison skipped)")
        return
    print("\n## Point-to-mesh distance (best of 3)")
    print(f"{'faces':>7} {'points':>7} {'ours ms':>9} {'trimesh ms':>10} {'tm/ours':>8} "
          f"{'max |diff|':>10} {'winding ms':>10} {'approx ms':>9} {'max |dw|':>8}")
    for level, npts in ((3, 2000), (5, 2000), (6, 2000)):
        s = ico_sphere(level, dtype=torch.float64)
        sv, sf = s.verts_list()[0], s.faces_list()[0]
        pts = torch.randn(1, npts, 3, generator=torch.Generator().manual_seed(1),
                          dtype=torch.float64)
        stm = trimesh.Trimesh(sv.numpy(), sf.numpy(), process=False)
        reps = 1 if level >= 6 else 3
        t_o = timeit(lambda s=s, pts=pts: mesh_distance(s, pts), reps)
        t_t = timeit(lambda stm=stm, pts=pts: trimesh.proximity.closest_point(stm, pts[0].numpy()),
                     reps)
        d_o = mesh_distance(s, pts)[0]
        d_t = torch.as_tensor(trimesh.proximity.closest_point(stm, pts[0].numpy())[1])
        t_w = timeit(lambda s=s, pts=pts: winding_number(s, pts), reps)
        t_a = timeit(lambda s=s, pts=pts: winding_number(s, pts, approximate=True), reps)
        dw = (winding_number(s, pts) - winding_number(s, pts, approximate=True)).abs().max()
        print(f"{sf.shape[0]:>7} {npts:>7} {t_o * 1e3:9.1f} {t_t * 1e3:10.1f} "
              f"{t_t / t_o:8.2f} {float((d_o - d_t).abs().max()):10.2e} {t_w * 1e3:10.1f} "
              f"{t_a * 1e3:9.1f} {float(dw):8.1e}")


if __name__ == "__main__":
    main()
