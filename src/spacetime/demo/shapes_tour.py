"""Demo part 1: one shape through every 3D representation of the lecture.

A mug (a genus-1 shape: its handle makes a hole) is defined as a CSG signed distance function and
converted, with spacetime's own functions, into every representation the lecture lists:

implicit SDF → (marching cubes) → triangle mesh → (surface sampling) → point cloud,
mesh → (solid voxelisation) → voxel grid → (cubify) → cube mesh, voxels → octree (memory vs
dense) → nested shape layers (Matryoshka), mesh → (rendering with K) → depth map + normal map →
(back-projection) → point cloud again. Each reconstruction is then compared with the reference
mesh by Mesh R-CNN's metrics (Chamfer-L2, normal consistency, F1@t).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from spacetime.demo._report import Report, contact_sheet, format_table

__all__ = ["make_mug", "run_shapes_tour"]


def _rot_x(deg: float) -> torch.Tensor:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def make_mug():
    """A mug as a CSG SDF, upright along +y, fitting in [-0.8, 0.8]³ (units: arbitrary)."""
    from spacetime.shapes import Cylinder, Difference, Rotate, Torus, Translate, Union

    outer = Cylinder(0.42, 0.9)
    body = Difference(outer, Translate(Cylinder(0.35, 0.9), (0.0, 0.0, 0.12)))
    ring = Translate(Rotate(Torus(0.22, 0.055), _rot_x(90.0)), (0.46, 0.0, 0.0))
    handle = Difference(ring, outer)  # keep the handle out of the cup's wall and cavity
    return Rotate(Union(body, handle), _rot_x(-90.0))


def _depth_image(depth: torch.Tensor) -> np.ndarray:
    import matplotlib

    d = depth.detach().cpu().numpy().astype(np.float64)
    valid = d > 0
    img = np.ones(d.shape + (3,))
    if valid.any():
        lo, hi = d[valid].min(), d[valid].max()
        cmap = matplotlib.colormaps["viridis"]
        img[valid] = cmap((d[valid] - lo) / max(hi - lo, 1e-9))[:, :3]
    return (img * 255).astype(np.uint8)


def _normal_image(normals: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    n = normals.detach().cpu().permute(1, 2, 0).numpy()
    img = np.where(mask.cpu().numpy()[..., None], (n + 1) / 2, 1.0)
    return (img.clip(0, 1) * 255).astype(np.uint8)


def run_shapes_tour(out_dir: str | Path, *, seed: int = 0, quick: bool = False) -> dict:
    """Run the 3D tour; write pictures and ``README.md`` under ``out_dir``; return figures."""
    from spacetime.shapes import (
        CameraExtrinsics,
        CameraIntrinsics,
        Octree,
        ShapeLayers,
        compare_meshes,
        cubify,
        depth_to_normals,
        depth_to_points,
        ico_sphere,
        marching_cubes,
        mesh_distance,
        sample_grid,
        sample_points_from_meshes,
        save_mesh,
        save_pointcloud,
        voxelize_mesh,
    )
    from spacetime.shapes.metrics import normal_metrics
    from spacetime.shapes.render import camera_for_bounds, render_depth_normals
    from spacetime.viz.shapes import shape_image

    torch.manual_seed(seed)
    out = Path(out_dir)
    report = Report(out, "spacetime demo — one shape, every representation")
    figures: dict = {}
    res_gt = 64 if quick else 96
    px = 192 if quick else 256
    bounds = (-0.8, 0.8)
    gen = torch.Generator().manual_seed(seed)
    timings: dict[str, float] = {}

    def timed(name, fn, *args, **kw):
        t0 = time.perf_counter()
        value = fn(*args, **kw)
        timings[name] = time.perf_counter() - t0
        return value

    mug = make_mug()
    sdf = timed("implicit → SDF grid", sample_grid, mug, res_gt, bounds)
    gt = timed("SDF grid → mesh (marching cubes)", marching_cubes, sdf, 0.0, inside="low")
    v, f = gt.verts_list()[0], gt.faces_list()[0]
    n_edges = int(gt.num_edges_per_mesh()[0])
    euler = v.shape[0] - n_edges + f.shape[0]
    pts, nrm = timed(
        "mesh → points (area-weighted)",
        sample_points_from_meshes, gt, 5000, return_normals=True, generator=gen,
    )
    from spacetime.shapes import Pointclouds

    cloud = Pointclouds([pts[0]], normals=[nrm[0]])
    vox = timed("mesh → voxels 32³ (solid)", voxelize_mesh, gt, 32, mode="solid", bounds=bounds)
    cubes = timed("voxels → mesh (cubify)", cubify, vox)
    coarse = marching_cubes(sample_grid(mug, 24, bounds), 0.0, inside="low")
    dense_occ = (sdf.grid < 0)
    octree = timed("dense → octree", Octree.from_dense, dense_occ, origin=sdf.origin,
                   voxel_size=sdf.voxel_size)
    assert_same = torch.equal(octree.to_dense().bool(), dense_occ)
    layer_grid = dense_occ[:, ::2, ::2, ::2] if res_gt > 64 else dense_occ
    layers = timed("voxels → nested shape layers", ShapeLayers.decompose, layer_grid, 4)
    layers_exact = torch.equal(layers.compose().bool(), layer_grid)

    # ---------------------------------------------------------------- depth and normals
    K, R, t = camera_for_bounds(gt.get_bounding_boxes()[0], px, px, azimuth_deg=30,
                                elevation_deg=35)
    raster = timed("mesh → depth + normals (render)", render_depth_normals, gt, K[None], R[None],
                   t[None], px, px)
    intr = CameraIntrinsics.from_K(K)
    back = depth_to_points(raster.depth, intr)
    ext = CameraExtrinsics(R, t)
    world = ext.camera_to_world(back.points_list()[0][None])[0]
    est_normals, est_valid = depth_to_normals(raster.depth, intr)
    nm = normal_metrics(est_normals, raster.normals, valid=est_valid & raster.mask)
    to_surface = mesh_distance(gt, world[None].double().to(gt.dtype))[0]

    # ---------------------------------------------------------------- metrics table
    sphere = ico_sphere(3)
    bb = gt.get_bounding_boxes()[0]
    centre, half = bb.mean(1), (bb[:, 1] - bb[:, 0]) / 2
    sphere = sphere.update_packed(sphere.verts_packed() * half + centre)
    candidates = {
        "marching cubes 24³": coarse,
        "cubify(voxels 32³)": cubes,
        "ico-sphere (level 3) fitted to the box": sphere,
    }
    rows = []
    samples = 2000 if quick else 10000
    for name, pred in candidates.items():
        m = compare_meshes(pred, gt, num_samples=samples, scale="gt-10", seed=seed)
        row = {k: float(v[0]) for k, v in m.items()}
        figures[name] = row
        rows.append([name, row["Chamfer-L2"], row["AbsNormalConsistency"], row["F1@0.1"],
                     row["F1@0.3"], row["F1@0.5"]])

    # ---------------------------------------------------------------- pictures
    pics = [
        (shape_image(sdf, px), f"implicit: SDF grid {res_gt}³"),
        (shape_image(gt, px), f"mesh: {v.shape[0]} verts, {f.shape[0]} faces"),
        (shape_image(cloud, px, color_by="normals"), "point cloud: 5000 points + normals"),
        (shape_image(vox, px), f"voxels 32³: {int(vox.num_occupied()[0])} occupied"),
        (shape_image(octree, px), f"octree: {octree.num_cells()} cells"),
        (shape_image(layers, px), f"nested layers: {int(layers.num_layers()[0])}"),
        (_depth_image(raster.depth[0]), "depth map (rendered with K)"),
        (_normal_image(raster.normals[0], raster.mask[0]), "normal map (camera frame)"),
        (shape_image(Pointclouds([world]), px), "depth → points (back-projected, world)"),
        (shape_image(coarse, px), "marching cubes 24³"),
        (shape_image(sphere, px), "ico-sphere (genus 0)"),
    ]
    sheet = contact_sheet([p for p, _ in pics], [c for _, c in pics], out / "representations.png")
    save_mesh(gt, out / "mug.obj")
    save_mesh(cubes, out / "mug_cubified.ply")
    save_pointcloud(cloud, out / "mug_points.ply")

    # ---------------------------------------------------------------- report
    report.section(
        "Representations",
        format_table(
            ["step", "seconds"], [[k, round(s, 4)] for k, s in timings.items()]
        ),
    )
    report.image(sheet.name, "the mug in every representation")
    report.view(_views_3d(gt, cloud, vox, octree, res_gt), "the mesh, the point cloud (coloured "
                "by normals), the voxels and the octree cells (coloured by level); drag to turn, "
                "cameras linked")
    report.add(
        f"Mesh from marching cubes: {v.shape[0]} vertices, {f.shape[0]} faces, Euler "
        f"characteristic V−E+F = {euler} (2 − 2·genus: 0 means one closed surface with one "
        "hole, the handle; a deformed sphere has 2 and cannot make that hole)."
    )
    report.add(
        f"Octree at {res_gt}³: {octree.memory_bytes() / 1024:.1f} KiB vs dense "
        f"{octree.dense_memory_bytes() / 1024:.1f} KiB "
        f"({octree.dense_memory_bytes() / max(octree.memory_bytes(), 1):.1f}× smaller); "
        f"round trip exact: {assert_same}."
    )
    report.add(
        f"Nested shape layers at {layer_grid.shape[-1]}³: {int(layers.num_layers()[0])} layer(s) "
        f"(added, subtracted, added, …) reproduce the grid exactly: {layers_exact}."
    )
    from spacetime.viz import Figure

    report.view(
        Figure("depth map → points, in the camera frame", height=380)
        .panel("back-projected with K, coloured by the normal map; the camera as a frustum",
               frame="opencv")
        .add_depth(raster.depth[0], K, image=_normal_image(raster.normals[0], raster.mask[0])),
        "the rendered depth map back-projected with K (camera frame), the camera drawn as a "
        "frustum with the normal map on it")
    report.add(
        f"Depth → points: {int(back.num_points_per_cloud()[0])} points, "
        f"exact distance to the mesh: mean {float(to_surface.mean()):.1e}, max "
        f"{float(to_surface.max()):.1e} (mug height 0.9). "
        f"Normals from depth vs rendered normals: mean angular error "
        f"{float(nm['mean'][0]):.2f}°, {100 * float(nm['within_11.25'][0]):.1f}% within 11.25°."
    )
    report.section(
        "Comparing reconstructions with the reference mesh (Mesh R-CNN protocol, gt-10 scale)",
        format_table(["prediction", "Chamfer-L2", "AbsNormal", "F1@0.1", "F1@0.3", "F1@0.5"],
                     rows),
    )
    figures.update(
        timings=timings,
        euler=euler,
        octree_bytes=octree.memory_bytes(),
        dense_bytes=octree.dense_memory_bytes(),
        layers=int(layers.num_layers()[0]),
        depth_points_to_mesh_max=float(to_surface.max()),
        normal_metrics={k: float(v) for k, v in nm.items()},
    )
    from spacetime.viz import view_error_map

    report.view(view_error_map(cubes, gt, threshold=0.3, num_samples=samples, seed=seed,
                               names=("cubify(voxels 32³)", "reference mesh"),
                               shading=("flat", "smooth")),
                "the Chamfer / F1@0.3 error map of cubify(voxels 32³) against the reference "
                "mesh: each sampled point coloured by its distance to the other surface, blue "
                "within t = 0.3 (gt-10 units), yellow to red beyond")
    report.figures = figures
    report.save()
    return figures


def _views_3d(mesh, cloud, vox, octree, res: int):
    """The mug's representations side by side, cameras linked."""
    from spacetime.viz import Figure

    return (Figure("the mug in 3D", cols=2, height=320)
            .panel(f"mesh: {int(mesh.faces_list()[0].shape[0])} faces").add_mesh(mesh)
            .panel(f"point cloud: {int(cloud.points_list()[0].shape[0])} points")
            .add_points(cloud, color_by="normals")
            .panel(f"voxels {vox.resolution[0]}³ (solid)").add_voxels(vox)
            .panel(f"octree of the {res}³ grid: {octree.num_cells()} cells").add_octree(octree))
