"""One call per representation: interactive :class:`~spacetime.viz.interactive.Figure` s.

Each ``view_*`` function returns a figure that displays inline in Jupyter and saves to one
self-contained HTML file (``fig.save("view.html")``); :func:`view` takes any mix of objects and
files (what ``spacetime show FILE... -o view.html`` draws) in one scene or side by side, and
:func:`view_error_map` draws the Chamfer / F1@t error map of ``spacetime compare --html``.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spacetime.checks import check_in, check_int, check_positive
from spacetime.errors import InputError
from spacetime.viz.interactive import _PALETTE, Figure

__all__ = [
    "view",
    "view_mesh",
    "view_points",
    "view_voxels",
    "view_octree",
    "view_sdf",
    "view_depth",
    "view_flow",
    "view_flow_pair",
    "view_error_map",
    "load_viewable",
    "error_colors",
]

_LAYOUTS = ("scene", "grid")
_KINDS = ("mesh", "points", "voxels", "sdf", "octree", "depth", "normals", "flow")


def view_mesh(meshes: Any, *, title: str | None = None, wireframe: bool = False,
              **kw: Any) -> Figure:
    """A figure of one mesh (``Meshes`` item ``index``); keywords as
    :meth:`Figure.add_mesh` (``colors``, ``shading="flat"``, ``max_faces``, ...)."""
    return Figure(title, wireframe=wireframe).add_mesh(meshes, **kw)


def view_points(points: Any, *, title: str | None = None, **kw: Any) -> Figure:
    """A figure of one point cloud (``Pointclouds`` or ``(P, 3)``), coloured by RGB, normals or
    a scalar; keywords as :meth:`Figure.add_points`."""
    return Figure(title).add_points(points, **kw)


def view_voxels(voxels: Any, *, title: str | None = None, **kw: Any) -> Figure:
    """A figure of a voxel grid as cubes (an SDF grid as its iso-surface); keywords as
    :meth:`Figure.add_voxels`."""
    return Figure(title).add_voxels(voxels, **kw)


def view_sdf(grid: Any, level: float = 0.0, *, title: str | None = None, **kw: Any) -> Figure:
    """A figure of the ``level`` iso-surface of a signed distance ``VoxelGrid``."""
    return Figure(title).add_sdf(grid, level, **kw)


def view_octree(octree: Any, *, title: str | None = None, **kw: Any) -> Figure:
    """A figure of an ``Octree``'s occupied leaf cells as cubes coloured by level."""
    return Figure(title).add_octree(octree, **kw)


def view_depth(depth: Any, K: Any = None, *, image: Any = None, title: str | None = None,
               **kw: Any) -> Figure:
    """A figure of a depth map ``(H, W)`` back-projected with ``K`` (3, 3) into a point cloud
    in the camera frame, coloured by ``image`` or depth, with the camera's frustum."""
    return Figure(title).panel(None, frame="opencv").add_depth(depth, K, image=image, **kw)


def view_flow(flow: Any, *, title: str | None = None, max_flow: float | None = None) -> Figure:
    """A figure of a ``(2, H, W)`` flow field (pixels) as a picture with its colour wheel."""
    return Figure().add_flow(flow, title=title, max_flow=max_flow)


def view_flow_pair(frame1: Any, frame2: Any, flow: Any, *, gt: Any = None,
                   title: str | None = None) -> Figure:
    """The two frames, the estimated flow ``(2, H, W)`` (pixels) and, with ``gt``, the true
    flow and the per-pixel end-point error ``‖F − F_gt‖`` (pixels, the colours of
    :func:`error_colors` with t = 3 px; pixels where ``gt`` is not finite are grey),
    side by side: what ``spacetime flow pair ... --html`` writes. Both flows share one colour
    scale (the larger maximum magnitude), so their colours compare."""
    from spacetime.video.flow import flow_metrics

    fl = torch.as_tensor(flow).detach().cpu().float()
    if fl.ndim != 3 or fl.shape[0] != 2:
        raise InputError(f"flow: expected (2, H, W), got shape {tuple(fl.shape)}")
    fig = Figure(title=title)
    fig.add_image(frame1, title="frame t")
    fig.add_image(frame2, title="frame t+1")
    if gt is None:
        return fig.add_flow(fl, title="estimated flow")
    g = torch.as_tensor(gt).detach().cpu().float()
    if tuple(g.shape) != tuple(fl.shape):
        raise InputError(f"gt: expected shape {tuple(fl.shape)} (as flow), got {tuple(g.shape)}")
    valid = torch.isfinite(g).all(0)
    g0 = torch.where(valid, g, torch.zeros_like(g))
    bound = float(max(fl.norm(dim=0).max(), g0.norm(dim=0).max(), 1e-6))
    fig.add_flow(fl, title="estimated flow", max_flow=bound)
    fig.add_flow(g0, title="true flow", max_flow=bound)
    epe = torch.where(valid, (fl - g0).norm(dim=0), torch.zeros(()))
    m = flow_metrics(fl, g)
    img = error_colors(epe.flatten().numpy(), 3.0).reshape(*epe.shape, 3)
    img[~valid.numpy()] = 128
    return fig.add_image(img, title="end-point error", legend=_error_legend(3.0, "px"), notes=[
        f"EPE {m['epe']:.3f} px (mean), Fl-all {m['fl_all']:.2f} %, AE {m['ae']:.2f}°; blue: "
        "below 3 px (KITTI's outlier threshold); grey: no ground truth"])


# ---------------------------------------------------------------------------------- files
def load_viewable(
    path: str | os.PathLike, *, kind: str | None = None, depth_scale: float = 1000.0
) -> tuple[Any, str]:
    """Read a file for :func:`view`: ``(object, kind)`` with kind one of ``mesh``, ``points``,
    ``voxels``, ``octree``, ``depth``, ``normals``, ``flow``. Flow: ``.flo`` or a KITTI 16-bit
    PNG; everything else through :func:`spacetime.shapes.io.load`."""
    from spacetime.viz.flow import FLOW_SUFFIXES, is_kitti_flow_png

    p = Path(path)
    if kind is not None:
        check_in(kind, "kind", _KINDS)
    if kind == "flow" or (kind is None and (p.suffix.lower() in FLOW_SUFFIXES
                                            or is_kitti_flow_png(p))):
        from spacetime.video.flow import read_flow

        return read_flow(p), "flow"
    from spacetime.shapes.io import detect_kind, load

    k = detect_kind(p) if kind in (None, "sdf", "octree") else kind
    kw = {"scale": depth_scale} if k == "depth" else {}
    obj = load(p, kind=k, **kw)
    if kind == "octree":
        from spacetime.shapes.structures import Octree

        g = obj.grid > 0.5
        return Octree.from_dense(g, origin=obj.origin, voxel_size=obj.voxel_size), "octree"
    return obj, ("sdf" if kind == "sdf" else k)


def _kind_of(obj: Any) -> str:
    """What :func:`view` draws an object as (tensors as :meth:`Figure.add` guesses)."""
    if hasattr(obj, "faces_list"):
        return "mesh"
    if hasattr(obj, "points_list"):
        return "points"
    if hasattr(obj, "leaves") and hasattr(obj, "to_voxelgrid"):
        return "octree"
    if hasattr(obj, "voxel_size") or (hasattr(obj, "compose") and hasattr(obj, "depths")):
        return "voxels"
    if isinstance(obj, (torch.Tensor, np.ndarray)):
        shape = tuple(obj.shape)
        if len(shape) == 2:
            return "points" if shape[-1] == 3 else "depth"
        if len(shape) == 3 and shape[0] in (2, 3):
            return "flow" if shape[0] == 2 else "normals"
        raise InputError(f"objs: cannot tell what a tensor of shape {shape} holds; pass kind=")
    raise InputError(f"objs: cannot draw a {type(obj).__name__}")


def _accepted(method: Any, kw: dict[str, Any]) -> dict[str, Any]:
    names = inspect.signature(method).parameters
    return {k: v for k, v in kw.items() if k in names and v is not None}


def view(
    *objs: Any,
    layout: str = "scene",
    titles: Sequence[str | None] | None = None,
    title: str | None = None,
    kind: str | None = None,
    frame: str = "auto",
    cols: int | None = None,
    height: int = 420,
    link_cameras: bool = True,
    wireframe: bool = False,
    depth_scale: float = 1000.0,
    **kw: Any,
) -> Figure:
    """Draw objects or files in one figure: all in one 3D scene (``layout="scene"``) or one
    panel each, side by side (``"grid"``), cameras linked.

    Args:
        objs: ``Meshes``, ``Pointclouds``, ``VoxelGrid``, ``Octree``, ``ShapeLayers``, tensors
            (see :meth:`Figure.add`) or file paths (meshes, point clouds, voxel / SDF grids,
            depth and normal maps, ``.flo`` / KITTI flow). Flow fields and normal maps are
            pictures: they always get a panel of their own.
        titles: one title per object (default: the file names).
        kind: force how files / tensors are read (``mesh``, ``points``, ``voxels``, ``sdf``,
            ``octree``, ``depth``, ``normals``, ``flow``).
        frame: ``"y-up"``, ``"opencv"`` or ``"auto"`` (a scene is in the camera frame when
            it holds a depth map, else y-up; in a grid, each depth map's panel is).
        kw: passed to the ``add_*`` method that takes them: ``K`` and ``image`` (depth maps),
            ``shading``, ``color_by``, ``point_size``, ``max_faces``, ``max_points``,
            ``max_cubes``, ``color``.
    """
    if not objs:
        raise InputError("objs: expected at least one object or file, got none")
    check_in(layout, "layout", _LAYOUTS)
    check_in(frame, "frame", ("auto", "y-up", "opencv"))
    check_positive(depth_scale, "depth_scale")
    if titles is not None and len(titles) != len(objs):
        raise InputError(f"titles: expected {len(objs)} titles (one per object), got "
                         f"{len(titles)}")
    known = {n for m in (Figure.add_mesh, Figure.add_points, Figure.add_voxels,
                         Figure.add_octree, Figure.add_depth)
             for n in inspect.signature(m).parameters} - {
                 "self", "index", "meshes", "points", "voxels", "octree", "depth"}
    unknown = sorted(set(kw) - known)
    if unknown:
        raise InputError(f"kw: expected options of the add_* methods ({', '.join(sorted(known))}"
                         f"), got {unknown}")
    items: list[tuple[Any, str, str | None]] = []
    for i, o in enumerate(objs):
        name = titles[i] if titles is not None else None
        if isinstance(o, (str, os.PathLike)):
            obj, k = load_viewable(o, kind=kind, depth_scale=depth_scale)
            items.append((obj, k, name or Path(o).name))
        else:
            items.append((o, kind or _kind_of(o), name))
    pictures = {"flow", "normals"}
    fr = frame if frame != "auto" else (
        "opencv" if any(k == "depth" for _, k, _ in items) else "y-up")
    fig = Figure(title, cols=cols, height=height, link_cameras=link_cameras,
                 wireframe=wireframe)
    scene_started = False
    legend: list[dict[str, str]] = []
    n3d = sum(1 for _, k, _ in items if k not in pictures)
    methods = {"mesh": fig.add_mesh, "points": fig.add_points, "voxels": fig.add_voxels,
               "sdf": fig.add_sdf, "octree": fig.add_octree, "depth": fig.add_depth}
    for i, (obj, k, name) in enumerate(items):
        if k in pictures:
            fig.add(obj, kind=k, title=name)
            continue
        if layout == "grid":
            fig.panel(name, frame=frame if frame != "auto" else (
                "opencv" if k == "depth" else "y-up"))
        elif not scene_started:
            fig.panel(name if n3d == 1 else None, frame=fr)
            scene_started = True
        opts = dict(kw)
        if name is not None:
            opts.setdefault("name", name)
        if layout == "scene" and n3d > 1:
            opts.setdefault("color", _PALETTE[i % len(_PALETTE)])
            if k == "points" and opts.get("color_by") in (None, "auto") and not (
                    hasattr(obj, "features_list") and obj.features_list() is not None):
                opts["color_by"] = "uniform"  # one colour per object, as the legend says
        accepted = fig.add_voxels if k == "sdf" else methods[k]
        methods[k](obj, **_accepted(accepted, opts))
        if layout == "scene" and n3d > 1:
            legend.append({"label": name or f"object {i + 1}", "color": "#" + "".join(
                f"{int(round(255 * c)):02x}" for c in opts["color"])})
    if legend:
        fig.legend({"type": "categories", "title": "objects (uniform colours)", "items": legend})
    return fig


# ---------------------------------------------------------------------------------- errors
_ERROR_STOPS = ((0.0, (0.19, 0.21, 0.58)), (0.333, (0.45, 0.68, 0.82)),
                (0.3334, (1.0, 0.88, 0.56)), (0.667, (0.96, 0.43, 0.26)),
                (1.0, (0.65, 0.0, 0.15)))


def error_colors(dist: Any, threshold: float) -> np.ndarray:
    """Colours ``(P, 3)`` uint8 of distances for an F1@t error map: blues below ``threshold``
    (dark = 0), yellow to dark red from ``threshold`` to ``3 × threshold`` and above."""
    check_positive(threshold, "threshold")
    d = np.asarray(dist.detach().cpu() if isinstance(dist, torch.Tensor) else dist,
                   dtype=np.float64).reshape(-1)
    x = np.clip(np.nan_to_num(d, nan=0.0) / (3.0 * threshold), 0.0, 1.0)
    pos = [s[0] for s in _ERROR_STOPS]
    rgb = np.stack([np.interp(x, pos, [s[1][c] for s in _ERROR_STOPS]) for c in range(3)], 1)
    return (rgb * 255.0 + 0.5).astype(np.uint8)


def _error_legend(threshold: float, units: str) -> dict[str, Any]:
    def css(c: Sequence[float]) -> str:
        return "#" + "".join(f"{int(round(255 * v)):02x}" for v in c)

    return {"type": "bar", "title": f"distance to the other surface ({units})",
            "min": "0", "max": f"≥ {3 * threshold:g}",
            "stops": [[p, css(c)] for p, c in _ERROR_STOPS],
            "marks": [{"pos": 1 / 3, "label": f"t = {threshold:g}"}]}


def view_error_map(
    pred: Any,
    gt: Any,
    *,
    threshold: float | None = None,
    num_samples: int = 10000,
    scale: str | float = "gt-10",
    seed: int = 0,
    index: int = 0,
    point_size: float | None = None,
    shading: tuple[str, str] = ("smooth", "smooth"),
    title: str | None = None,
    names: tuple[str, str] = ("prediction", "ground truth"),
) -> Figure:
    """The Chamfer / F1@t error map of two meshes: both surfaces side by side (cameras linked)
    with the points :func:`~spacetime.shapes.metrics.compare_meshes` samples on each, coloured
    by their distance to the other surface, and the threshold ``t`` marked on the colour bar.

    Blue points are within ``t`` (they count for precision on the prediction, recall on the
    ground truth), yellow to red ones are farther. Same sampling (``num_samples``, ``seed``)
    and ``scale`` protocol as ``compare_meshes``, so the shares in the notes are its
    ``Precision@t`` / ``Recall@t``.

    Args:
        pred, gt: ``Meshes`` (item ``index`` of each is drawn).
        threshold: ``t`` in the rescaled units (default 0.3, Mesh R-CNN's F1@0.3; 0.01 for
            ``scale="pixel2mesh"``).
        shading: of the two surfaces (``"flat"`` suits cube meshes).
        names: what the panels call the two meshes.
    """
    from spacetime.shapes.metrics import surface_errors

    check_int(index, "index", min_value=0)
    for m, nm in ((pred, "pred"), (gt, "gt")):
        if not hasattr(m, "faces_list"):
            raise InputError(f"{nm}: expected a Meshes, got {type(m).__name__}")
        if index >= len(m):
            raise InputError(f"index: expected < {len(m)} (meshes in {nm}), got {index}")
    t = float(threshold) if threshold is not None else (0.01 if scale == "pixel2mesh" else 0.3)
    check_positive(t, "threshold")
    p1, g1 = pred[index], gt[index]
    e = surface_errors(p1, g1, num_samples=num_samples, scale=scale, seed=seed)
    units = {"gt-10": "GT box scaled to 10", "pixel2mesh": "×0.57", "none": "mesh units"}.get(
        scale if isinstance(scale, str) else "", f"×{scale:g}" if not isinstance(scale, str)
        else str(scale))
    n_p, n_g = int(e.pred_lengths[0]), int(e.gt_lengths[0])
    d_pg, d_gp = e.pred_to_gt[0, :n_p].double(), e.gt_to_pred[0, :n_g].double()
    prec = float((d_pg < t).double().mean()) if n_p else 0.0
    rec = float((d_gp < t).double().mean()) if n_g else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0
    chamfer = float((d_pg ** 2).mean() + (d_gp ** 2).mean()) if n_p and n_g else float("inf")
    fig = Figure(title or f"Chamfer / F1@{t:g} error map: F1 = {100 * f1:.1f} %, "
                 f"Chamfer-L2 = {chamfer:.4g}", cols=2)
    legend = _error_legend(t, units)
    for label, mesh, pts, n, d, share, what, shade in (
        (names[0], p1, e.pred_points[0], n_p, d_pg, prec, "precision", shading[0]),
        (names[1], g1, e.gt_points[0], n_g, d_gp, rec, "recall", shading[1]),
    ):
        other = names[1] if label == names[0] else names[0]
        fig.panel(f"{label}: distance of each sample to the {other}")
        fig.add_mesh(mesh, color=(0.86, 0.86, 0.86), shading=shade, name=f"{label} surface")
        if n:
            fig.add_points(pts[:n], colors=error_colors(d, t), point_size=point_size,
                           name=f"{label} samples")
            fig.note(f"{what}@{t:g} = {100 * share:.1f} % of {n:,} samples within t; "
                     f"median distance {float(d.median()):.3g}, max {float(d.max()):.3g}")
        fig.legend(legend)
    return fig
