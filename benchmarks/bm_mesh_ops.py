"""Benchmark: the mesh ops of Pixel2Mesh / Mesh R-CNN and Pixel2Mesh training speed (CPU).

1. ``GraphConv`` forward + backward (``index_add`` over the edge list) vs the same layer through
   a dense per-mesh adjacency ``(N, V, V)`` batched matmul and through a Python loop over edges,
   on batches of ico-spheres (levels 2–4, 128 → 128 channels).
2. ``vert_align`` forward + backward (one ``grid_sample``) vs a per-vertex Python loop doing the
   same bilinear lookup (forward only), on 3-level feature pyramids of a 64×64 image.
3. Pixel2Mesh training steps/s at the default size (64×64 images, level-2 sphere → 2562
   vertices after 3 stages, width 128, batch 8) on SyntheticShapes, through the engine's step.

Run: ``python benchmarks/bm_mesh_ops.py`` (one torch thread unless ``BM_THREADS`` is set).
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from spacetime.shapes import ico_sphere  # noqa: E402
from spacetime.shapes.ops import GraphConv, vert_align  # noqa: E402


def timeit(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _spheres(level: int, n: int, depth: float = 2.4):
    return ico_sphere(level).scale_verts(0.4).offset_verts(torch.tensor([0, 0, depth])).extend(n)


def graph_conv_dense(conv: GraphConv, feats: torch.Tensor, meshes) -> torch.Tensor:
    """Reference: per-mesh dense adjacency, ``f W0ᵀ + b + A f W1ᵀ`` with ``bmm``."""
    n, v = len(meshes), int(meshes.num_verts_per_mesh()[0])
    e = meshes.edges_packed()
    mesh = e[:, 0] // v
    A = feats.new_zeros(n, v, v)
    A[mesh, e[:, 0] % v, e[:, 1] % v] = 1
    A[mesh, e[:, 1] % v, e[:, 0] % v] = 1
    f = feats.view(n, v, -1)
    out = conv.w0(f) + torch.bmm(A, conv.w1(f))
    return out.reshape(n * v, -1)


def graph_conv_loop(conv: GraphConv, feats: torch.Tensor, meshes) -> torch.Tensor:
    """Reference: Python loop over the undirected edges."""
    h = conv.w1(feats)
    rows = [torch.zeros_like(h[0]) for _ in range(feats.shape[0])]
    for i, j in meshes.edges_packed().tolist():
        rows[i] = rows[i] + h[j]
        rows[j] = rows[j] + h[i]
    return conv.w0(feats) + torch.stack(rows)


def vert_align_loop(maps, verts, K, image_size):
    """Reference: per-vertex bilinear lookup (zeros outside), forward only."""
    h_img, w_img = image_size
    out = []
    fx, fy, cx, cy = (float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]))
    for b, vb in enumerate(verts):
        for x, y, z in vb.tolist():
            u, v = fx * x / z + cx, fy * y / z + cy
            row = []
            for m in maps:
                c, h, w = m.shape[1:]
                fu, fv = (u + 0.5) * w / w_img - 0.5, (v + 0.5) * h / h_img - 0.5
                u0, v0 = math.floor(fu), math.floor(fv)
                a, bb = fu - u0, fv - v0
                acc = m.new_zeros(c)
                for dv, wv in ((0, 1 - bb), (1, bb)):
                    for du, wu in ((0, 1 - a), (1, a)):
                        if 0 <= u0 + du < w and 0 <= v0 + dv < h:
                            acc = acc + wu * wv * m[b, :, v0 + dv, u0 + du]
                row.append(acc)
            out.append(torch.cat(row))
    return torch.stack(out)


def bench_graph_conv() -> None:
    print("\n## GraphConv 128 -> 128, forward + backward, batch of 4 ico-spheres (best of 3, ms)")
    print(f"{'level':>5} {'verts':>7} {'edges':>7} {'ours':>8} {'dense A':>9} {'ratio':>6} "
          f"{'edge loop':>10} {'ratio':>7} {'max|diff|':>10}")
    torch.manual_seed(0)
    conv = GraphConv(128, 128, init="default")
    for level in (2, 3, 4):
        m = _spheres(level, 4)
        nv, ne = m.verts_packed().shape[0], m.edges_packed().shape[0]
        x = torch.randn(nv, 128, requires_grad=True)

        def run(fn, x=x, m=m):
            def go():
                y = fn(conv, x, m) if fn is not None else conv(x, m)
                y.square().sum().backward()
            return go

        t_ours = timeit(run(None))
        t_dense = timeit(run(graph_conv_dense))
        with torch.no_grad():
            diff = (conv(x, m) - graph_conv_dense(conv, x, m)).abs().max().item()
        t_loop = timeit(run(graph_conv_loop), repeat=1) if level <= 3 else float("nan")
        print(f"{level:>5} {nv:>7} {ne:>7} {t_ours * 1e3:8.2f} {t_dense * 1e3:9.2f} "
              f"{t_dense / t_ours:6.1f} {t_loop * 1e3:10.1f} {t_loop / t_ours:7.0f} {diff:10.2e}")


def bench_vert_align() -> None:
    print("\n## vert_align, 64x64 image, pyramid 16²x32 + 8²x64 + 4²x128 (best of 3, ms)")
    print(f"{'level':>5} {'verts':>7} {'fwd':>8} {'fwd+bwd':>8} {'loop fwd':>9} {'ratio':>6} "
          f"{'max|diff|':>10}")
    torch.manual_seed(0)
    n = 4
    maps = [torch.randn(n, c, s, s, requires_grad=True) for c, s in ((32, 16), (64, 8), (128, 4))]
    K = torch.tensor([[64.0, 0, 31.5], [0, 64.0, 31.5], [0, 0, 1]])
    for level in (2, 3, 4):
        m = _spheres(level, n)
        v = m.verts_packed().clone().requires_grad_(True)
        nv = [int(c) for c in m.num_verts_per_mesh()]

        def fwd(v=v, nv=nv):
            with torch.no_grad():
                vert_align(maps, v, K, (64, 64), num_verts=nv)

        def fwd_bwd(v=v, nv=nv):
            vert_align(maps, v, K, (64, 64), num_verts=nv).square().sum().backward()

        t_f, t_fb = timeit(fwd), timeit(fwd_bwd)
        with torch.no_grad():
            t0 = time.perf_counter()
            ref = vert_align_loop(maps, m.verts_list(), K, (64, 64))
            t_loop = time.perf_counter() - t0
            diff = (ref - vert_align(maps, v, K, (64, 64), num_verts=nv)).abs().max().item()
        print(f"{level:>5} {sum(nv):>7} {t_f * 1e3:8.2f} {t_fb * 1e3:8.2f} {t_loop * 1e3:9.0f} "
              f"{t_loop / t_f:6.0f} {diff:10.2e}")


def bench_training(steps: int = 5) -> None:
    from spacetime.shapes.datasets import SyntheticShapes, collate_3d
    from spacetime.shapes.models import Pixel2MeshStep, pixel2mesh

    print("\n## Pixel2Mesh training on CPU (default size: 64x64, 162 -> 642 -> 2562 vertices, "
          "width 128, batch 8, 2000 samples per stage)")
    with tempfile.TemporaryDirectory() as root:
        data = SyntheticShapes(root, "train", categories=["chair", "mug"],
                               num_objects_per_category=2, views_per_object=2, image_size=64,
                               num_points=2048, mesh_resolution=32, progress=False,
                               returns=("image", "K", "R", "t", "points"))
        batch = collate_3d([data[i] for i in range(8)])
    torch.manual_seed(0)
    model = pixel2mesh()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    step = Pixel2MeshStep()

    def one():
        loss, _ = step(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()

    one()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    dt = (time.perf_counter() - t0) / steps
    params = sum(p.numel() for p in model.parameters())
    print(f"{params:,} parameters: {1 / dt:.2f} steps/s ({dt * 1e3:.0f} ms/step, "
          f"{8 / dt:.1f} images/s)")
    with torch.no_grad():
        t0 = time.perf_counter()
        model.eval()(batch["image"], batch["K"])
        print(f"inference: {(time.perf_counter() - t0) * 1e3:.0f} ms per batch of 8")


def main() -> None:
    torch.set_num_threads(int(os.environ.get("BM_THREADS", "1")))
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()} (BM_THREADS)")
    bench_graph_conv()
    bench_vert_align()
    bench_training()


if __name__ == "__main__":
    main()
