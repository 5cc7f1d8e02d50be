"""`spacetime` subcommands for shapes: ``convert``, ``compare`` and ``show``.

``spacetime convert IN OUT`` turns any representation into any other. What IN holds is read
from its extension and content (:func:`spacetime.shapes.io.detect_kind`); what OUT gets is
``--to`` or else guessed from OUT's extension. The conversion follows the shortest route in::

    depth ──> points <── mesh ──> sdf
                │  ↖      ↕  ↖    ↕
                └──> voxels <─────┘

(mesh → points: surface sampling; mesh → voxels: voxelisation; mesh → sdf: signed distances at
voxel centres; points → voxels: voxelisation; voxels → mesh: cubify (or marching cubes with
``--method marching-cubes``); voxels → points: occupied voxel centres; voxels → sdf: signed
Euclidean distance transform; sdf → mesh: marching cubes at ``--level``; sdf → voxels:
``sdf < level``; depth → points: back-projection with ``--intrinsics fx fy cx cy``).

``spacetime compare PRED GT`` prints Mesh R-CNN's metrics (Chamfer-L2, normal consistency,
F1@t) as a table or ``--json``. ``spacetime show FILE -o picture.png`` draws a mesh, point
cloud, voxel grid, SDF grid, depth or normal map.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import deque
from pathlib import Path
from typing import Any

__all__ = ["register", "conversion_route"]

_TARGET_BY_EXT = {
    ".obj": "mesh", ".off": "mesh", ".stl": "mesh", ".glb": "mesh",
    ".xyz": "points", ".pts": "points", ".txt": "points", ".npy": "points",
    ".binvox": "voxels", ".npz": "voxels",
}
_EDGES = {
    "mesh": ("points", "voxels", "sdf"),
    "points": ("voxels",),
    "voxels": ("mesh", "points", "sdf"),
    "sdf": ("mesh", "voxels"),
    "depth": ("points",),
    "normals": (),
}


def conversion_route(src: str, dst: str) -> list[str]:
    """Shortest chain of kinds from ``src`` to ``dst`` (e.g. ``["points", "voxels", "mesh"]``)."""
    from spacetime.errors import InputError

    if src == dst:
        return [src]
    prev: dict[str, str | None] = {src: None}
    queue = deque([src])
    while queue:
        k = queue.popleft()
        for nxt in _EDGES.get(k, ()):
            if nxt not in prev:
                prev[nxt] = k
                queue.append(nxt)
    if dst not in prev:
        raise InputError(f"--to: cannot convert {src} to {dst}")
    route = [dst]
    while route[-1] != src:
        route.append(prev[route[-1]])  # type: ignore[arg-type]
    return route[::-1]


# ---------------------------------------------------------------------- conversion steps
def _is_sdf(vox: Any) -> bool:
    g = vox.grid
    return bool(g.numel()) and (float(g.min()) < 0 or float(g.max()) > 1)


def _grid_around(lo, hi, resolution: int, pad_voxels: float = 2.0):
    """Origin and voxel size of a cubic-voxel grid of ``resolution`` along the longest side
    covering [lo, hi] with a margin."""
    ext = float((hi - lo).max())
    ext = ext if ext > 0 else 1.0
    vs = ext / max(resolution - 2 * pad_voxels, 1)
    dims = [max(1, math.ceil(float(e) / vs + 2 * pad_voxels)) for e in (hi - lo).tolist()]
    centre = (lo + hi) / 2
    size = lo.new_tensor([dims[0], dims[1], dims[2]]) * vs
    return centre - size / 2, vs, (dims[2], dims[1], dims[0])


def _step(kind: str, nxt: str, obj: Any, args: argparse.Namespace) -> Any:
    import torch

    from spacetime.shapes import convert
    from spacetime.shapes.structures import Pointclouds, VoxelGrid

    res = args.resolution
    if kind == "mesh" and nxt == "points":
        gen = torch.Generator(device=obj.device).manual_seed(args.seed)
        pts, nrm = convert.sample_points_from_meshes(
            obj, args.num_samples, return_normals=True, generator=gen
        )
        return Pointclouds(pts, normals=nrm)
    if kind == "mesh" and nxt == "voxels":
        return convert.voxelize_mesh(obj, res, mode=args.mode)
    if kind == "mesh" and nxt == "sdf":
        from tqdm import tqdm

        bb = obj.get_bounding_boxes()[0]
        origin, vs, dims = _grid_around(bb[:, 0], bb[:, 1], res)
        empty = VoxelGrid(torch.zeros(1, *dims, dtype=bb.dtype), origin=origin, voxel_size=vs)
        centres = empty.centers(0).reshape(-1, 3)
        chunk = 1 << 15
        vals = []
        for s in tqdm(range(0, centres.shape[0], chunk), desc="mesh → sdf", unit="chunk",
                      disable=True if args.quiet else None, file=sys.stderr):
            vals.append(convert.mesh_sdf(obj, [centres[s:s + chunk]])[0].detach())
        return VoxelGrid(torch.cat(vals).reshape(1, *dims), origin=origin, voxel_size=vs)
    if kind == "points" and nxt == "voxels":
        return convert.voxelize_points(obj, res)
    if kind == "voxels" and nxt == "mesh":
        if args.method == "marching-cubes":
            level = 0.5 if args.level is None else args.level
            return convert.marching_cubes(obj, level, inside="high", close_boundary=True)
        return convert.cubify(obj, 0.5 if args.level is None else args.level)
    if kind == "voxels" and nxt == "points":
        occ = obj.grid[0] > (0.5 if args.level is None else args.level)
        return Pointclouds([obj.centers(0)[occ]])
    if kind == "voxels" and nxt == "sdf":
        import numpy as np
        from scipy.ndimage import distance_transform_edt

        occ = (obj.grid[0] > 0.5).cpu().numpy()
        pad = np.pad(occ, 1)  # outside the grid is empty
        outside = distance_transform_edt(~pad)[1:-1, 1:-1, 1:-1]
        inside = distance_transform_edt(pad)[1:-1, 1:-1, 1:-1]
        # distances between voxel centres; the surface lies half a voxel from both sides
        sdf = np.where(occ, -(inside - 0.5), outside - 0.5) * float(obj.voxel_size[0])
        return VoxelGrid(torch.as_tensor(sdf, dtype=obj.grid.dtype)[None], origin=obj.origin,
                         voxel_size=obj.voxel_size)
    if kind == "sdf" and nxt == "mesh":
        level = 0.0 if args.level is None else args.level
        return convert.marching_cubes(obj, level, inside="low", close_boundary=True)
    if kind == "sdf" and nxt == "voxels":
        level = 0.0 if args.level is None else args.level
        return VoxelGrid((obj.grid < level).to(obj.grid.dtype), origin=obj.origin,
                         voxel_size=obj.voxel_size)
    if kind == "depth" and nxt == "points":
        from spacetime.errors import InputError
        from spacetime.shapes.structures import CameraIntrinsics

        if args.intrinsics is None:
            raise InputError("--intrinsics: depth → points needs the camera: --intrinsics FX FY "
                             "CX CY (pixels)")
        fx, fy, cx, cy = args.intrinsics
        return convert.depth_to_points(obj[None], CameraIntrinsics(fx, fy, cx, cy))
    raise AssertionError(f"no conversion step {kind} → {nxt}")  # pragma: no cover


def _cmd_convert(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from spacetime.errors import InputError
    from spacetime.shapes.io import detect_kind, load, save

    src = detect_kind(args.input)
    obj = load(args.input, kind=src)
    if src == "voxels" and _is_sdf(obj):
        src = "sdf"
    out_ext = Path(args.output).suffix.lower()
    dst = args.to
    if dst is None:
        if out_ext == ".ply":
            dst = src if src in ("mesh", "points") else "mesh"
        elif out_ext in (".npz",) and src == "sdf":
            dst = "sdf"
        elif out_ext in (".png",) and src in ("depth", "normals"):
            dst = src
        else:
            dst = _TARGET_BY_EXT.get(out_ext)
        if dst is None:
            raise InputError(f"OUT: cannot tell the target from extension {out_ext!r}; use --to")
    if dst == "sdf" and out_ext != ".npz":
        raise InputError(f"OUT: an SDF grid is written as .npz, got {out_ext!r}")
    route = conversion_route(src, dst)
    steps = list(zip(route[:-1], route[1:]))
    quiet = True if (args.quiet or not steps) else None  # None: tqdm shows on a terminal
    for kind, nxt in tqdm(steps, desc="convert", unit="step", disable=quiet, file=sys.stderr):
        obj = _step(kind, nxt, obj, args)
    save(obj, args.output)
    if not args.quiet:
        print(f"{args.input} ({src}) → {args.output} ({dst}) via {' → '.join(route)}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from spacetime.shapes.io import load_mesh
    from spacetime.shapes.metrics import compare_meshes

    pred, gt = load_mesh(args.pred), load_mesh(args.gt)
    scale: Any = args.scale
    try:
        scale = float(scale)
    except ValueError:
        pass
    metrics = compare_meshes(pred, gt, num_samples=args.num_samples, scale=scale,
                             thresholds=args.thresholds, seed=args.seed)
    values = {k: float(v.reshape(-1)[0]) for k, v in metrics.items()}
    if args.json:
        print(json.dumps({"pred": str(args.pred), "gt": str(args.gt), "scale": args.scale,
                          "num_samples": args.num_samples, "metrics": values}, indent=2))
        return 0
    width = max(len(k) for k in values)
    print(f"pred: {args.pred}\ngt:   {args.gt}\nscale: {args.scale}, "
          f"samples: {args.num_samples}")
    print(f"{'metric':<{width}}  value")
    print(f"{'-' * width}  ---------")
    for k, v in values.items():
        print(f"{k:<{width}}  {v:.4f}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from spacetime.viz.shapes import show

    out = show(args.file, args.output, kind=args.kind, title=args.title, size=args.size,
               color_by=args.color_by, azimuth=args.azimuth, elevation=args.elevation,
               depth_scale=args.depth_scale)
    if not args.quiet:
        print(f"wrote {out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``convert``, ``compare`` and ``show`` to `subparsers`."""
    p = subparsers.add_parser(
        "convert",
        help="convert between meshes, point clouds, voxel grids, SDF grids and depth maps",
        description=(
            "Convert IN to OUT. Formats come from the extensions (.obj .ply .off .stl .glb; "
            ".ply .xyz .npy for points; .binvox .npz for voxels; .npz for SDF grids; .png .npy "
            "for depth). The representation of OUT is --to, else guessed from its extension."
        ),
    )
    p.add_argument("input", metavar="IN")
    p.add_argument("output", metavar="OUT")
    p.add_argument("--to", choices=("mesh", "points", "voxels", "sdf"), default=None)
    p.add_argument("--resolution", type=int, default=64,
                   help="voxels along the longest side (voxels, sdf); default 64")
    p.add_argument("--num-samples", type=int, default=10000,
                   help="points sampled on a mesh surface; default 10000")
    p.add_argument("--level", type=float, default=None,
                   help="iso-level: SDF (default 0) or occupancy threshold (default 0.5)")
    p.add_argument("--mode", choices=("surface", "solid"), default="solid",
                   help="mesh → voxels: surface shell or filled solid; default solid")
    p.add_argument("--method", choices=("cubify", "marching-cubes"), default="cubify",
                   help="voxels → mesh; default cubify")
    p.add_argument("--intrinsics", type=float, nargs=4, metavar=("FX", "FY", "CX", "CY"),
                   default=None, help="depth → points: pinhole intrinsics in pixels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_convert)

    c = subparsers.add_parser(
        "compare",
        help="Mesh R-CNN shape metrics between a predicted and a ground-truth mesh",
        description="Chamfer-L2, normal consistency and F1@t between PRED and GT meshes.",
    )
    c.add_argument("pred", metavar="PRED")
    c.add_argument("gt", metavar="GT")
    c.add_argument("--num-samples", type=int, default=10000)
    c.add_argument("--scale", default="gt-10",
                   help="gt-10 (Mesh R-CNN), pixel2mesh, none, or a number; default gt-10")
    c.add_argument("--thresholds", type=float, nargs="+", default=None,
                   help="F1 thresholds; default depends on --scale")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")
    c.set_defaults(func=_cmd_compare)

    s = subparsers.add_parser(
        "show",
        help="draw a mesh, point cloud, voxel grid, depth or normal map to a PNG",
        description="Write a picture of FILE (any format spacetime reads) to -o PNG.",
    )
    s.add_argument("file", metavar="FILE")
    s.add_argument("-o", "--output", required=True, metavar="PNG")
    s.add_argument("--kind", choices=("mesh", "points", "voxels", "depth", "normals"),
                   default=None)
    s.add_argument("--title", default=None)
    s.add_argument("--size", type=int, default=512)
    s.add_argument("--color-by", choices=("depth", "normals", "features"), default="depth")
    s.add_argument("--azimuth", type=float, default=35.0)
    s.add_argument("--elevation", type=float, default=25.0)
    s.add_argument("--depth-scale", type=float, default=1000.0,
                   help="16-bit depth PNG units per metre; default 1000 (mm)")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=_cmd_show)
