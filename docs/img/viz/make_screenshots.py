"""Screenshots of the interactive views for docs/viz.md, taken in headless Chromium.

Run from the repository root (needs ``apt-get install chromium`` and ``pip install playwright``):
``python docs/img/viz/make_screenshots.py`` → ``docs/img/viz/*.png``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def figures():
    """``{name: Figure}`` of the mug of the demo in every representation."""
    from spacetime.demo.shapes_tour import make_mug
    from spacetime.shapes import (
        Octree,
        Pointclouds,
        cubify,
        marching_cubes,
        sample_grid,
        sample_points_from_meshes,
        voxelize_mesh,
    )
    from spacetime.shapes.render import camera_for_bounds, render_depth_normals
    from spacetime.viz import Figure, view_error_map, view_mesh

    sdf = sample_grid(make_mug(), 80, (-0.8, 0.8))
    mug = marching_cubes(sdf, 0.0, inside="low")
    pts, nrm = sample_points_from_meshes(mug, 20000, return_normals=True,
                                         generator=torch.Generator().manual_seed(0))
    vox = voxelize_mesh(mug, 32, mode="solid", bounds=(-0.8, 0.8))
    tree = Octree.from_dense(sdf.grid < 0, origin=sdf.origin, voxel_size=sdf.voxel_size)
    K, R, t = camera_for_bounds(mug.get_bounding_boxes()[0], 240, 320, azimuth_deg=30,
                                elevation_deg=35)
    r = render_depth_normals(mug, K[None], R[None], t[None], 240, 320)
    normal_rgb = torch.where(r.mask[0][None], (r.normals[0] + 1) / 2, torch.ones(3, 240, 320))
    return {
        "viz_representations.png": (
            Figure("the mug of the demo in four representations", cols=2, height=300)
            .panel(f"mesh ({int(mug.faces_list()[0].shape[0])} faces)").add_mesh(mug)
            .panel("point cloud (20,000 points, coloured by normals)")
            .add_points(Pointclouds([pts[0]], normals=[nrm[0]]), color_by="normals")
            .panel("voxels 32³").add_voxels(vox)
            .panel(f"octree of the 80³ grid ({tree.num_cells()} cells)").add_octree(tree)),
        "viz_wireframe.png": view_mesh(
            marching_cubes(sample_grid(make_mug(), 36, (-0.8, 0.8)), 0.0, inside="low"),
            title="a coarser mesh of the mug (36³ grid), flat shading, wireframe on (key W)",
            wireframe=True, shading="flat"),
        "viz_depth.png": (
            Figure("a depth map back-projected with K, the camera drawn as a frustum",
                   height=420)
            .panel("camera frame (OpenCV), points coloured by the normal map", frame="opencv")
            .add_depth(r.depth[0], K, image=normal_rgb)),
        "viz_error_map.png": view_error_map(cubify(vox), mug, threshold=0.3,
                                            names=("cubify(voxels 32³)", "mug mesh"),
                                            shading=("flat", "smooth")),
    }


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        for name, fig in figures().items():
            path = fig.save(Path(tmp) / name.replace(".png", ".html"))
            page.goto(path.as_uri())
            page.wait_for_function("window.spacetimeViewer && window.spacetimeViewer.ready")
            page.evaluate("new Promise(r => requestAnimationFrame(() => "
                          "requestAnimationFrame(r)))")
            page.locator("div.st-figure").screenshot(path=str(HERE / name))
            print(f"wrote {HERE / name}")
        browser.close()


if __name__ == "__main__":
    main()
