"""Interactive views: HTML size and browser load time, spacetime (three.js) vs plotly.

For a 100k-face mesh and a 1M-point cloud (RGB colour per point: the normals), write one
self-contained, offline HTML page with each library and open it in headless Chromium
(playwright driving Debian's /usr/bin/chromium, WebGL by SwiftShader on the CPU). Reported:
file size, Python time to write the page, and the load time from navigation start until the
first frame is drawn (spacetime: ``window.spacetimeViewer.readyMs``; plotly: a
``requestAnimationFrame`` after ``Plotly.newPlot`` resolved and its WebGL canvas exists), median
of ``--reps`` loads in a fresh page each.

Needs ``pip install playwright plotly`` and ``apt-get install chromium``.
Run: ``python benchmarks/bm_viz_html.py [--reps 3] [--points 1000000] [--faces 100000]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from spacetime.shapes import Pointclouds, sample_points_from_meshes, torus_mesh
from spacetime.viz import Figure

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--disable-quic"]

PLOTLY_READY = """
(function () {
  var gd = document.querySelector('.js-plotly-plot');
  var t = setInterval(function () {
    if (gd && gd._fullLayout && gd.querySelector('canvas')) {
      clearInterval(t);
      requestAnimationFrame(function () { window.__ready = performance.now(); });
    }
  }, 5);
})();
"""


def _data(faces: int, points: int):
    major = max(8, int(round((faces / 2 * 4) ** 0.5)))
    minor = max(4, int(round(faces / 2 / major)))
    mesh = torus_mesh(1.0, 0.3, major_sections=major, minor_sections=minor)
    g = torch.Generator().manual_seed(0)
    pts, nrm = sample_points_from_meshes(mesh, points, return_normals=True, generator=g)
    return mesh, Pointclouds([pts[0]], normals=[nrm[0]])


def _plotly_mesh(mesh, path: Path) -> None:
    import plotly.graph_objects as go

    v, f = mesh.verts_list()[0].numpy(), mesh.faces_list()[0].numpy()
    fig = go.Figure(go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2],
                              color="#94b8e0", flatshading=False))
    fig.update_layout(scene_aspectmode="data")
    fig.write_html(path, include_plotlyjs=True, post_script=PLOTLY_READY)


def _plotly_points(cloud, path: Path) -> None:
    import plotly.graph_objects as go

    p = cloud.points_list()[0].numpy()
    c = ((cloud.normals_list()[0].numpy() + 1) / 2 * 255).astype(np.uint8)
    colors = [f"rgb({r},{g},{b})" for r, g, b in c]
    fig = go.Figure(go.Scatter3d(x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="markers",
                                 marker={"size": 1, "color": colors}))
    fig.update_layout(scene_aspectmode="data")
    fig.write_html(path, include_plotlyjs=True, post_script=PLOTLY_READY)


def _load_ms(browser, path: Path, expr: str, reps: int) -> float:
    times = []
    for _ in range(reps):
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        errors: list[str] = []
        page.on("pageerror", lambda e, sink=errors: sink.append(str(e)))
        page.goto(path.as_uri(), timeout=300_000)
        page.wait_for_function(expr, timeout=300_000, polling=20)
        times.append(float(page.evaluate(expr)))
        if errors:
            raise RuntimeError(f"{path.name}: {errors}")
        page.close()
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--faces", type=int, default=100_000)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--no-plotly", action="store_true")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    mesh, cloud = _data(a.faces, a.points)
    nf, npts = int(mesh.faces_list()[0].shape[0]), int(cloud.points_list()[0].shape[0])
    ours = "window.spacetimeViewer && window.spacetimeViewer.ready && " \
           "window.spacetimeViewer.readyMs"
    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        cases = [
            (f"mesh {nf:,} faces", "spacetime (three.js)",
             lambda p: Figure().add_mesh(mesh).save(p), ours),
            (f"points {npts:,} (RGB)", "spacetime (three.js)",
             lambda p: Figure().add_points(cloud, color_by="normals").save(p), ours),
        ]
        if not a.no_plotly:
            cases += [
                (f"mesh {nf:,} faces", "plotly (offline bundle)",
                 lambda p: _plotly_mesh(mesh, p), "window.__ready"),
                (f"points {npts:,} (RGB)", "plotly (offline bundle)",
                 lambda p: _plotly_points(cloud, p), "window.__ready"),
            ]
        for i, (what, lib, write, expr) in enumerate(cases):
            path = Path(tmp) / f"case{i}.html"
            t0 = time.perf_counter()
            write(path)
            t_write = time.perf_counter() - t0
            load = _load_ms(browser, path, expr, a.reps)
            rows.append((what, lib, path.stat().st_size / 2**20, t_write, load))
            print(f"{what:<24} {lib:<24} {rows[-1][2]:8.2f} MiB  write {t_write:6.2f} s  "
                  f"load {load:8.0f} ms", flush=True)
        browser.close()
    print("\n| input | library | HTML size (MiB) | write (s) | load to first frame (ms) |")
    print("|---|---|---:|---:|---:|")
    for what, lib, size, tw, load in rows:
        print(f"| {what} | {lib} | {size:.2f} | {tw:.2f} | {load:.0f} |")


if __name__ == "__main__":
    main()
