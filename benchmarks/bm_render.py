"""Benchmark: the vectorised z-buffer rasteriser vs an obvious per-face loop.

``render_depth_normals`` enumerates every (face, pixel-in-bounding-box) candidate of a chunk of
faces at once; the reference loops over faces in Python, testing each face's bounding box
pixels with the same barycentric test and updating the z-buffer. Both must give the same depth
map. Icospheres of increasing level, framed by ``camera_for_bounds``.

    python benchmarks/bm_render.py [--size 256] [--levels 2 3 4 5]
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from spacetime.shapes.convert import ico_sphere
from spacetime.shapes.render import camera_for_bounds, render_depth_normals

__all__: list[str] = []


def loop_zbuffer(verts, faces, K, R, t, H, W):
    """Per-face loop reference (same pixel-centre convention, no perspective-correct extras)."""
    vc = verts @ R.T + t
    u = K[0, 0] * vc[:, 0] / vc[:, 2] + K[0, 2]
    v = K[1, 1] * vc[:, 1] / vc[:, 2] + K[1, 2]
    zbuf = torch.full((H, W), math.inf)
    for f in faces.tolist():
        pu, pv, pz = u[f], v[f], vc[f, 2]
        u0, u1 = max(math.ceil(float(pu.min())), 0), min(math.floor(float(pu.max())), W - 1)
        v0, v1 = max(math.ceil(float(pv.min())), 0), min(math.floor(float(pv.max())), H - 1)
        if u0 > u1 or v0 > v1:
            continue
        yy, xx = torch.meshgrid(torch.arange(v0, v1 + 1.0), torch.arange(u0, u1 + 1.0),
                                indexing="ij")
        area = (pu[1] - pu[0]) * (pv[2] - pv[0]) - (pv[1] - pv[0]) * (pu[2] - pu[0])
        if abs(float(area)) < 1e-12:
            continue
        w0 = ((pu[1] - xx) * (pv[2] - yy) - (pv[1] - yy) * (pu[2] - xx)) / area
        w1 = ((pu[2] - xx) * (pv[0] - yy) - (pv[2] - yy) * (pu[0] - xx)) / area
        w2 = 1 - w0 - w1
        inside = (w0 >= -1e-6) & (w1 >= -1e-6) & (w2 >= -1e-6)
        z = 1 / (w0 / pz[0] + w1 / pz[1] + w2 / pz[2])
        z = torch.where(inside, z, torch.full_like(z, math.inf))
        zbuf[v0:v1 + 1, u0:u1 + 1] = torch.minimum(zbuf[v0:v1 + 1, u0:u1 + 1], z)
    return zbuf


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--levels", type=int, nargs="+", default=[2, 3, 4, 5])
    args = ap.parse_args()
    H = W = args.size
    print(f"{H}x{W} pixels, icospheres, median of 3 (loop: 1 run)")
    print(f"{'level':>5} {'faces':>7} {'ours s':>8} {'loop s':>8} {'loop/ours':>9} "
          f"{'max |dz|':>9}")
    for level in args.levels:
        m = ico_sphere(level)
        K, R, t = camera_for_bounds(m.get_bounding_boxes()[0], H, W)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            out = render_depth_normals(m, K, R, t, H, W)
            times.append(time.perf_counter() - t0)
        t_ours = sorted(times)[1]
        t0 = time.perf_counter()
        ref = loop_zbuffer(m.verts_packed(), m.faces_packed(), K, R, t, H, W)
        t_loop = time.perf_counter() - t0
        mask_ref = torch.isfinite(ref)
        mism = int((mask_ref != out.mask[0]).sum())
        dz = float((out.depth[0][mask_ref] - ref[mask_ref]).abs().max())
        print(f"{level:>5} {m.faces_packed().shape[0]:>7} {t_ours:>8.4f} {t_loop:>8.3f} "
              f"{t_loop / t_ours:>9.1f} {dz:>9.2e}" + (f"  mask differs: {mism}" if mism else ""))


if __name__ == "__main__":
    main()
