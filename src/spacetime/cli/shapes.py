"""`spacetime` subcommands for shapes: ``convert``, ``compare`` and ``show``.

``spacetime convert IN OUT`` turns any representation into any other
(:func:`spacetime.shapes.convert.route.convert_file`: what IN holds is read from its extension
and content, what OUT gets is ``--to`` or else guessed from OUT's extension — a depth map
written as ``.ply``, ``.xyz`` or ``.npy`` becomes points — and the conversion follows the
shortest route of the conversion graph).

``spacetime compare PRED GT`` prints Mesh R-CNN's metrics (Chamfer-L2, normal consistency,
F1@t) as a table or ``--json``; ``--html map.html`` also writes the Chamfer / F1@t error map
(both surfaces side by side, each sampled point coloured by its distance to the other surface,
the threshold t marked). ``spacetime show FILE -o picture.png`` draws a mesh, point cloud, voxel
grid, SDF grid, depth or normal map, or a ``.flo`` / KITTI flow file; ``spacetime show FILE...
-o view.html`` writes one self-contained interactive page (three.js, works offline) with all
the files in one scene or side by side (``--layout grid``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from spacetime.cli._args import add_device

__all__ = ["register"]

def _cmd_convert(args: argparse.Namespace) -> int:
    from spacetime.shapes.convert.route import ConvertOptions, convert_file

    opts = ConvertOptions(resolution=args.resolution, num_samples=args.num_samples,
                          level=args.level, mode=args.mode, method=args.method,
                          intrinsics=None if args.intrinsics is None else tuple(args.intrinsics),
                          seed=args.seed, progress=not args.quiet, device=args.device)
    src, dst, route = convert_file(args.input, args.output, to=args.to, options=opts)
    if not args.quiet:
        print(f"{args.input} ({src}) → {args.output} ({dst}) via {' → '.join(route)}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from spacetime.engine.device import resolve_device
    from spacetime.shapes.io import load_mesh
    from spacetime.shapes.metrics import compare_meshes

    device = resolve_device(args.device)
    pred, gt = load_mesh(args.pred), load_mesh(args.gt)
    scale: Any = args.scale
    try:
        scale = float(scale)
    except ValueError:
        pass
    metrics = compare_meshes(pred.to(device), gt.to(device), num_samples=args.num_samples,
                             scale=scale, thresholds=args.thresholds, seed=args.seed)
    values = {k: float(v.reshape(-1)[0]) for k, v in metrics.items()}
    html = None
    if args.html:
        from spacetime.viz import view_error_map

        t = args.threshold if args.threshold is not None else (
            args.thresholds[0] if args.thresholds else None)
        fig = view_error_map(pred, gt, threshold=t, num_samples=args.num_samples, scale=scale,
                             seed=args.seed,
                             names=(f"prediction ({Path(args.pred).name})",
                                    f"ground truth ({Path(args.gt).name})"))
        html = fig.save(args.html)
    if args.json:
        print(json.dumps({"pred": str(args.pred), "gt": str(args.gt), "scale": args.scale,
                          "num_samples": args.num_samples, "metrics": values,
                          **({"html": str(html)} if html is not None else {})}, indent=2))
        return 0
    width = max(len(k) for k in values)
    print(f"pred: {args.pred}\ngt:   {args.gt}\nscale: {args.scale}, "
          f"samples: {args.num_samples}")
    print(f"{'metric':<{width}}  value")
    print(f"{'-' * width}  ---------")
    for k, v in values.items():
        print(f"{k:<{width}}  {v:.4f}")
    if html is not None:
        print(f"wrote {html}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from spacetime.errors import InputError

    files = list(args.file)
    if Path(args.output).suffix.lower() in (".html", ".htm"):
        from spacetime.viz import view

        kw: dict[str, Any] = {"shading": args.shading, "max_faces": args.max_faces,
                              "max_points": args.max_points, "point_size": args.point_size}
        if args.color_by is not None:
            kw["color_by"] = args.color_by
        if args.intrinsics is not None:
            kw["K"] = list(args.intrinsics)
        if args.rgb is not None:
            from spacetime.shapes.io import read_rgb_image

            kw["image"] = read_rgb_image(args.rgb)
        fig = view(*files, layout=args.layout, title=args.title, kind=args.kind,
                   frame=args.frame, wireframe=args.wireframe, depth_scale=args.depth_scale,
                   **kw)
        out = fig.save(args.output)
        if not args.quiet:
            print(f"wrote {out}")
            for note in fig.notes:
                print(f"  note: {note}")
        return 0
    from spacetime.viz.shapes import show

    if len(files) != 1:
        raise InputError(f"FILE: a PNG shows one file, got {len(files)}; write several to an "
                         "interactive page with -o view.html")
    color_by = {None: "depth", "auto": "depth", "rgb": "features"}.get(args.color_by,
                                                                       args.color_by)
    if color_by not in ("depth", "normals", "features"):
        raise InputError(f"--color-by: a PNG colours points by depth, normals or features, got "
                         f"{args.color_by!r}")
    out = show(files[0], args.output, kind=args.kind, title=args.title, size=args.size,
               color_by=color_by, azimuth=args.azimuth, elevation=args.elevation,
               depth_scale=args.depth_scale, device=args.device)
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
    add_device(p, "where the conversion runs")
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
    add_device(c, "where the metrics are computed (the --html map is built on the CPU)")
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")
    c.add_argument("--html", default=None, metavar="OUT.html",
                   help="also write the Chamfer / F1@t error map as an interactive page")
    c.add_argument("--threshold", type=float, default=None, metavar="T",
                   help="the t marked on the error map (default: the first --thresholds value, "
                   "else 0.3; 0.01 for --scale pixel2mesh)")
    c.set_defaults(func=_cmd_compare)

    s = subparsers.add_parser(
        "show",
        help="draw meshes, point clouds, voxels, SDF grids, depth / normal maps or flow to a "
        "PNG, or to an interactive HTML page",
        description="Draw FILE (any format spacetime reads; .flo / KITTI PNG flow too). With -o "
        "*.png: a picture of one file. With -o *.html: one self-contained interactive page "
        "(three.js, works offline, opens by double-click) with every FILE in one scene "
        "(--layout scene) or side by side (--layout grid), cameras linked.",
    )
    s.add_argument("file", metavar="FILE", nargs="+")
    s.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="a .png picture or a .html interactive page")
    s.add_argument("--kind", choices=("mesh", "points", "voxels", "sdf", "octree", "depth",
                                      "normals", "flow"), default=None,
                   help="how to read the files (default: from extension and content)")
    s.add_argument("--title", default=None)
    s.add_argument("--size", type=int, default=512, help="PNG: pixels per panel side")
    s.add_argument("--color-by", default=None,
                   choices=("auto", "depth", "normals", "features", "rgb", "height", "uniform"),
                   help="points: PNG depth (default) / normals / features; HTML auto (default: "
                   "RGB features, else normals, else height; depth maps: the --rgb image, else "
                   "depth)")
    s.add_argument("--azimuth", type=float, default=35.0, help="PNG viewing direction")
    s.add_argument("--elevation", type=float, default=25.0, help="PNG viewing direction")
    s.add_argument("--depth-scale", type=float, default=1000.0,
                   help="16-bit depth PNG units per metre; default 1000 (mm)")
    add_device(s, "where the PNG rasteriser runs (interactive pages are built on the CPU and "
               "drawn by the browser)")
    h = s.add_argument_group("interactive page (-o *.html)")
    h.add_argument("--layout", choices=("scene", "grid"), default="scene",
                   help="several files: one scene (default) or one panel each, side by side")
    h.add_argument("--frame", choices=("auto", "y-up", "opencv"), default="auto",
                   help="y-up object frame, or the OpenCV camera frame (default: camera frame "
                   "when a depth map is shown)")
    h.add_argument("--intrinsics", type=float, nargs=4, metavar=("FX", "FY", "CX", "CY"),
                   default=None, help="depth maps: pinhole intrinsics in pixels (default "
                   "fx = fy = max(H, W), principal point at the centre, said on the page)")
    h.add_argument("--rgb", default=None, metavar="IMAGE",
                   help="depth maps: colour the back-projected points with this image")
    h.add_argument("--shading", choices=("smooth", "flat"), default=None,
                   help="meshes (default smooth; voxels are always flat)")
    h.add_argument("--wireframe", action="store_true", help="start with the wireframe on")
    h.add_argument("--point-size", type=float, default=None, help="points, in pixels")
    h.add_argument("--max-faces", type=int, default=None,
                   help="decimate meshes above this many faces (default 200000)")
    h.add_argument("--max-points", type=int, default=None,
                   help="subsample clouds above this many points (default 1000000)")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=_cmd_show)
