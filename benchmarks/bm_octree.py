"""Benchmark: octree memory against the dense grid, and build speed against a recursive builder.

Part 1, per resolution R (a sphere shell 1.5 voxels thick, and a solid ball): octree cells,
bytes stored (one byte per cell), dense bytes (bool, 1 byte per voxel, and bit-packed R³/8),
and times for ``Octree.from_dense`` and ``to_dense``.

Part 2: ``Octree.from_points`` on points sampled on a sphere at depths where the dense grid
would not fit in memory (depth 10 = 1024³ = 1 GiB as bool).

Part 3: ``from_dense`` (vectorised, level by level) vs an obvious recursive builder (one Python
call per cell) on the same grid; ratio measured in this run.

    python benchmarks/bm_octree.py [--max-res 256]
"""

from __future__ import annotations

import argparse
import time

import torch

from spacetime.shapes.structures.octree import Octree

__all__: list[str] = []


def sphere_grid(r: int, shell: bool) -> torch.Tensor:
    ax = (torch.arange(r) + 0.5) / r * 2 - 1
    z, y, x = torch.meshgrid(ax, ax, ax, indexing="ij")
    rad = (x**2 + y**2 + z**2).sqrt()
    if shell:
        return (rad < 0.8) & (rad > 0.8 - 1.5 * 2 / r)
    return rad < 0.8


def recursive_cells(grid: torch.Tensor) -> int:
    """The obvious builder: recurse into every non-uniform cell (counts cells)."""
    def rec(z, y, x, s):
        block = grid[z:z + s, y:y + s, x:x + s]
        if s == 1 or bool(block.all()) or not bool(block.any()):
            return 1
        h = s // 2
        return 1 + sum(rec(z + a, y + b, x + c, h) for a in (0, h) for b in (0, h) for c in (0, h))

    return rec(0, 0, 0, grid.shape[0])


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-res", type=int, default=256)
    args = ap.parse_args()
    print("Part 1: memory vs dense")
    print(f"{'shape':<7} {'R':>4} {'cells':>9} {'octree B':>10} {'dense B':>11} "
          f"{'dense/oct':>9} {'bits/oct':>8} {'build s':>8} {'to_dense s':>10}")
    r = 64
    while r <= args.max_res:
        for shell in (True, False):
            g = sphere_grid(r, shell)
            tree, t_build = timed(lambda g=g: Octree.from_dense(g))
            back, t_dense = timed(tree.to_dense)
            if not torch.equal(back[0], g):
                raise SystemExit("round trip failed")
            ob, db = tree.memory_bytes(), tree.dense_memory_bytes()
            print(f"{'shell' if shell else 'ball':<7} {r:>4} {tree.num_cells():>9} {ob:>10} "
                  f"{db:>11} {db / ob:>9.1f} {db / 8 / ob:>8.2f} {t_build:>8.3f} {t_dense:>10.3f}")
        r *= 2
    print("\nPart 2: from_points (never dense)")
    print(f"{'depth':>5} {'points':>8} {'cells':>9} {'octree B':>10} {'dense B':>14} {'s':>7}")
    g = torch.Generator().manual_seed(0)
    pts = torch.nn.functional.normalize(torch.randn(200_000, 3, generator=g), dim=1)
    for depth in (6, 8, 10):
        tree, t = timed(lambda d=depth: Octree.from_points(pts, d))
        print(f"{depth:>5} {pts.shape[0]:>8} {tree.num_cells():>9} {tree.memory_bytes():>10} "
              f"{tree.dense_memory_bytes():>14} {t:>7.3f}")
    print("\nPart 3: vectorised vs recursive build (same grid, same cell count)")
    print(f"{'R':>4} {'ours s':>8} {'recursive s':>11} {'recursive/ours':>14}")
    for r in (32, 64):
        grid = sphere_grid(r, True)
        tree, t_ours = timed(lambda grid=grid: Octree.from_dense(grid))
        cells, t_rec = timed(lambda grid=grid: recursive_cells(grid))
        if cells != tree.num_cells():
            raise SystemExit(f"cell counts differ: {cells} vs {tree.num_cells()}")
        print(f"{r:>4} {t_ours:>8.4f} {t_rec:>11.4f} {t_rec / t_ours:>14.1f}")


if __name__ == "__main__":
    main()
