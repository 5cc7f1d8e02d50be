"""Pictures of 3D shapes: meshes (shaded), point clouds (splatted), voxel grids (cubified and
shaded; SDF grids through marching cubes), depth maps (colour map and colour bar), normal
maps (the lecture's colouring ``(n + 1) / 2`` as RGB) and optical flow files (Middlebury
colours with the colour wheel, :func:`spacetime.viz.flow.flow_picture`). One entry point:
:func:`show`.

Rendering uses the headless rasteriser of :mod:`spacetime.shapes.render` (no OpenGL, no
display); figures are assembled with matplotlib's Agg backend and written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spacetime.checks import check_in, check_int
from spacetime.errors import InputError
from spacetime.fileio import atomic_path
from spacetime.limits import check_image_size

__all__ = ["show", "shape_image", "depth_figure_array"]

_MAX_PANELS = 4


def _figure(n: int, size_px: int, extra_w: float = 0.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    inch = size_px / 100
    fig = Figure(figsize=(inch * n + extra_w, inch + 0.4), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _voxel_mesh(vox: Any):
    from spacetime.shapes.convert import cubify, marching_cubes

    g = vox.grid
    if g.numel() and (float(g.min()) < 0 or float(g.max()) > 1):  # a signed distance field
        return marching_cubes(vox, 0.0, inside="low", close_boundary=True), "sdf"
    return cubify(vox, 0.5), "voxels"


def shape_image(
    obj: Any,
    size: int = 512,
    *,
    index: int = 0,
    color_by: str = "depth",
    azimuth: float = 35.0,
    elevation: float = 25.0,
) -> np.ndarray:
    """One ``(size, size, 3)`` uint8 picture of item ``index`` of a ``Meshes``,
    ``Pointclouds``, ``(P, 3)`` points, ``VoxelGrid``, ``Octree`` or ``ShapeLayers``."""
    from spacetime.shapes.render import render_mesh_image, render_points_image

    cam = {"azimuth_deg": azimuth, "elevation_deg": elevation}
    if hasattr(obj, "compose") and hasattr(obj, "depths"):  # ShapeLayers
        from spacetime.shapes.structures import VoxelGrid

        obj = VoxelGrid(obj.compose().float())
    if hasattr(obj, "to_voxelgrid"):  # Octree
        obj = obj.to_voxelgrid()
    if hasattr(obj, "grid") and hasattr(obj, "voxel_size"):
        mesh, _ = _voxel_mesh(obj[index])
        if mesh.verts_list()[0].shape[0] == 0:
            return np.full((size, size, 3), 255, np.uint8)
        img = render_mesh_image(mesh, size, size, flat=True, **cam)
    elif hasattr(obj, "faces_list"):
        if obj.faces_list()[index].shape[0] == 0:
            return np.full((size, size, 3), 255, np.uint8)
        img = render_mesh_image(obj, size, size, index=index, **cam)
    elif hasattr(obj, "points_list") or isinstance(obj, torch.Tensor):
        img = render_points_image(obj, size, size, index=index, color_by=color_by, **cam)
    else:
        raise InputError(f"obj: cannot draw a {type(obj).__name__}")
    return (img.clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)


def depth_figure_array(depth: torch.Tensor) -> np.ndarray:
    """Depth ``(H, W)`` as a float array with invalid pixels (0, NaN, inf) set to NaN."""
    d = depth.detach().cpu().double().numpy()
    return np.where(np.isfinite(d) & (d > 0), d, np.nan)


def show(
    obj: Any,
    path: str | os.PathLike,
    *,
    kind: str | None = None,
    title: str | None = None,
    size: int = 512,
    color_by: str = "depth",
    azimuth: float = 35.0,
    elevation: float = 25.0,
    cmap: str = "viridis",
    depth_scale: float = 1000.0,
    device: str | None = None,
) -> Path:
    """Write a PNG picture of ``obj`` to ``path`` and return the path.

    Args:
        obj: a ``Meshes``, ``Pointclouds``, ``VoxelGrid``, ``Octree``, ``ShapeLayers``, a depth
            map ``(H, W)`` (or ``(N, H, W)``), a normal map ``(3, H, W)`` (or ``(N, 3, H, W)``),
            ``(P, 3)`` points, or a file path loaded with :func:`spacetime.shapes.io.load`.
        kind: force how a tensor or file is read: ``"mesh"``, ``"points"``, ``"voxels"``,
            ``"depth"``, ``"normals"``, ``"flow"`` (``.flo`` and KITTI 16-bit PNG files are
            recognised without it; a flow tensor is ``(2, H, W)`` in pixels).
        title: figure title (default: the kind and sizes).
        size: pixels per panel side (batches show up to 4 panels).
        color_by: point clouds: ``"depth"``, ``"normals"`` or ``"features"`` (RGB).
        azimuth, elevation: viewing direction in degrees around the object's bounding box
            (world +y is up).
        cmap: colour map of depth maps and depth-coloured points.
        depth_scale: for 16-bit depth PNGs given as ``obj`` path (default millimetres).
        device: where meshes, point clouds and voxels are rasterised: ``"auto"`` (CUDA when
            available), ``"cpu"``, ``"cuda[:N]"``; None (default) where ``obj`` is (files are
            read to the CPU). Depth, normal and flow maps are drawn by matplotlib.
    """
    check_int(size, "size", min_value=16)
    if device is not None:
        from spacetime.engine.device import resolve_device

        device = resolve_device(device)
    check_image_size(size, size, None, "size")
    if kind is not None:
        check_in(kind, "kind", ("mesh", "points", "voxels", "depth", "normals", "flow"))
    name = None
    if isinstance(obj, (str, os.PathLike)):
        from spacetime.viz.flow import FLOW_SUFFIXES, is_kitti_flow_png

        if kind == "flow" or (kind is None and (Path(obj).suffix.lower() in FLOW_SUFFIXES
                                                or is_kitti_flow_png(obj))):
            from spacetime.video.flow import read_flow

            name, obj, kind = Path(obj).name, read_flow(obj), "flow"
    if kind == "flow":
        from spacetime.viz.flow import flow_picture

        return flow_picture(obj, path, title=title if title is not None else name)
    if isinstance(obj, (str, os.PathLike)):
        from spacetime.shapes.io import detect_kind, load

        name = Path(obj).name
        kind = detect_kind(obj) if kind is None else kind
        kw = {"scale": depth_scale} if kind == "depth" else {}
        obj = load(obj, kind=kind, **kw)
    if isinstance(obj, torch.Tensor) and kind is None:
        if obj.ndim == 2 and obj.shape[-1] == 3 and obj.shape[0] > 64:
            kind = "points"
        elif obj.ndim == 2 or (obj.ndim == 3 and obj.shape[0] != 3):
            kind = "depth"
        elif obj.ndim in (3, 4) and obj.shape[-3] == 3:
            kind = "normals"
        else:
            raise InputError(f"obj: cannot tell what a tensor of shape {tuple(obj.shape)} holds; "
                             "pass kind=")
    if isinstance(obj, torch.Tensor) and kind == "voxels":
        from spacetime.shapes.structures import VoxelGrid

        obj = VoxelGrid(obj)
    is_map = isinstance(obj, torch.Tensor) and kind in ("depth", "normals")
    if device is not None and not is_map:  # maps are drawn by matplotlib
        to = getattr(obj, "to", None)
        obj = obj if to is None else to(device)
    fig = None
    if isinstance(obj, torch.Tensor) and kind in ("depth", "normals"):
        maps = obj if (obj.ndim == 3 and kind == "depth") or obj.ndim == 4 else obj[None]
        maps = maps[:_MAX_PANELS]
        n = maps.shape[0]
        h, w = maps.shape[-2:]
        px = max(size, 64)
        fig = _figure(n, int(px * max(w / h, 0.2)), extra_w=1.2 if kind == "depth" else 0)
        for i in range(n):
            ax = fig.add_subplot(1, n, i + 1)
            ax.set_axis_off()
            if kind == "depth":
                arr = depth_figure_array(maps[i])
                import matplotlib

                cm = matplotlib.colormaps[cmap].with_extremes(bad=(0.85, 0.85, 0.85))
                im = ax.imshow(np.ma.masked_invalid(arr), cmap=cm, interpolation="nearest")
                cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
                cb.set_label("depth")
            else:
                nm = maps[i].detach().cpu().float()
                valid = nm.abs().sum(0) > 0
                rgb = ((nm + 1) / 2).clamp(0, 1)
                rgb[:, ~valid] = 0
                ax.imshow(rgb.permute(1, 2, 0).numpy(), interpolation="nearest")
        default = f"{kind} map {h}×{w}"
    else:
        if isinstance(obj, torch.Tensor):
            obj = obj if obj.ndim == 2 else obj.reshape(-1, 3)
            n, what = 1, f"points ({obj.shape[0]})"
        else:
            n = min(len(obj), _MAX_PANELS) if hasattr(obj, "__len__") else 1
            what = type(obj).__name__
        fig = _figure(n, size)
        for i in range(n):
            ax = fig.add_subplot(1, n, i + 1)
            ax.set_axis_off()
            ax.imshow(shape_image(obj, size, index=i, color_by=color_by, azimuth=azimuth,
                                  elevation=elevation))
        default = what
    fig.suptitle(title if title is not None else (name or default))
    dest = Path(path)
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight", facecolor="white")
    return dest
