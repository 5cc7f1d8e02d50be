"""Benchmark: spacetime's mesh readers/writers vs trimesh's on one mesh, per format.

For each format, times ``save_mesh`` / ``load_mesh`` (ours) against ``Trimesh.export`` /
``trimesh.load(..., process=False)`` (trimesh), median over ``--iters`` runs, interleaved, on an
icosphere of ``--level`` subdivisions (level 6: 40,962 vertices, 81,920 faces), and checks that
both readers return the same vertices.

    python benchmarks/bm_shapes_io.py [--level 6] [--iters 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import trimesh

from spacetime.shapes.convert import ico_sphere
from spacetime.shapes.io import load_mesh, save_mesh, to_trimesh

__all__: list[str] = []


def _time(fn, iters: int) -> float:
    out = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--level", type=int, default=6)
    ap.add_argument("--iters", type=int, default=3)
    args = ap.parse_args()
    mesh = ico_sphere(args.level)
    tm = to_trimesh(mesh)
    nv, nf = mesh.verts_packed().shape[0], mesh.faces_packed().shape[0]
    print(f"icosphere level {args.level}: {nv} vertices, {nf} faces; median of {args.iters}")
    print(f"{'format':<8} {'op':<6} {'ours (s)':>9} {'trimesh (s)':>12} {'trimesh/ours':>13}")
    with tempfile.TemporaryDirectory() as d:
        for ext in (".obj", ".ply", ".off", ".stl"):
            ours_p, theirs_p = Path(d) / f"a{ext}", Path(d) / f"b{ext}"
            w_ours = _time(lambda p=ours_p: save_mesh(mesh, p), args.iters)
            w_theirs = _time(lambda p=theirs_p, e=ext: tm.export(str(p), file_type=e[1:]),
                             args.iters)
            r_ours = _time(lambda p=ours_p: load_mesh(p), args.iters)
            r_theirs = _time(lambda p=ours_p: trimesh.load(str(p), process=False), args.iters)
            a = load_mesh(ours_p).verts_packed().numpy()
            b = np.asarray(trimesh.load(str(ours_p), process=False).vertices, np.float32)
            same = a.shape == b.shape and np.allclose(a, b) if ext != ".stl" else a.shape[0] == nv
            print(f"{ext:<8} {'write':<6} {w_ours:9.4f} {w_theirs:12.4f} {w_theirs / w_ours:13.2f}")
            print(f"{ext:<8} {'read':<6} {r_ours:9.4f} {r_theirs:12.4f} {r_theirs / r_ours:13.2f}"
                  f"   same vertices: {same}")


if __name__ == "__main__":
    main()
