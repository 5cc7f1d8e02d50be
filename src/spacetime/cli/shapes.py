"""`spacetime` subcommands for shapes: ``convert``, ``compare`` and ``show``.

``spacetime convert IN OUT`` turns any representation into any other
(:func:`spacetime.shapes.convert.route.convert_file`: what IN holds is read from its extension
and content, what OUT gets is ``--to`` or else guessed from OUT's extension — a depth map
written as ``.ply``, ``.xyz`` or ``.npy`` becomes points — and the conversion follows the
shortest route of the conversion graph).

``spacetime compare PRED GT`` prints Mesh R-CNN's metrics (Chamfer-L2, normal consistency,
F1@t) as a table or ``--json``. ``spacetime show FILE -o picture.png`` draws a mesh, point
cloud, voxel grid, SDF grid, depth or normal map.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register"]

def _cmd_convert(args: argparse.Namespace) -> int:
    from spacetime.shapes.convert.route import ConvertOptions, convert_file

    opts = ConvertOptions(resolution=args.resolution, num_samples=args.num_samples,
                          level=args.level, mode=args.mode, method=args.method,
                          intrinsics=None if args.intrinsics is None else tuple(args.intrinsics),
                          seed=args.seed, progress=not args.quiet)
    src, dst, route = convert_file(args.input, args.output, to=args.to, options=opts)
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
