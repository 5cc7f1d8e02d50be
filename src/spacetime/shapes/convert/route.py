"""Any 3D representation to any other: the conversion graph behind ``spacetime convert``.

::

    depth ──> points <── mesh ──> sdf
                │  ↖      ↕  ↖    ↕
                └──> voxels <─────┘

(mesh → points: surface sampling; mesh → voxels: voxelisation; mesh → sdf: signed distances at
voxel centres; points → voxels: voxelisation; voxels → mesh: cubify (or marching cubes with
``method="marching-cubes"``); voxels → points: occupied voxel centres; voxels → sdf: signed
Euclidean distance transform; sdf → mesh: marching cubes at ``level``; sdf → voxels:
``sdf < level``; depth → points: back-projection with ``intrinsics``.)

:func:`conversion_route` finds the shortest chain, :func:`convert_representation` walks it on
an object and :func:`convert_file` reads, converts and writes files, the target kind being
``to`` or guessed from the output's extension (:func:`target_kind`).
"""

from __future__ import annotations

import math
import os
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spacetime.errors import InputError

__all__ = [
    "KINDS_BY_EXTENSION",
    "ConvertOptions",
    "conversion_route",
    "target_kind",
    "convert_representation",
    "convert_file",
]


@dataclass
class ConvertOptions:
    """Options of the conversion steps.

    Attributes:
        resolution: voxels along the longest side (mesh/points → voxels, mesh → sdf).
        num_samples: points sampled on a mesh surface.
        level: iso-level: SDF (default 0) or occupancy threshold (default 0.5).
        mode: mesh → voxels: ``surface`` shell or filled ``solid``.
        method: voxels → mesh: ``cubify`` or ``marching-cubes``.
        intrinsics: depth → points: ``(fx, fy, cx, cy)`` in pixels.
        seed: surface sampling seed.
        progress: progress bars on a terminal.
        device: where the conversion runs: ``"auto"`` (CUDA when available, else the CPU),
            ``"cpu"``, ``"cuda"``, ``"cuda:N"``. Files are read and written on the CPU; the
            surface samples of a seed differ between CPU and CUDA (different generators).
    """

    resolution: int = 64
    num_samples: int = 10000
    level: float | None = None
    mode: str = "solid"
    method: str = "cubify"
    intrinsics: tuple[float, float, float, float] | None = None
    seed: int = 0
    progress: bool = True
    device: str = "auto"


#: the representation an output extension means by default
KINDS_BY_EXTENSION = {
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
        raise InputError(f"to: cannot convert {src} to {dst}")
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


def _step(kind: str, nxt: str, obj: Any, args: ConvertOptions) -> Any:
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
                      disable=None if args.progress else True, file=sys.stderr):
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
            raise InputError("intrinsics: depth → points needs the camera: (fx, fy, cx, cy) "
                             "in pixels")
        fx, fy, cx, cy = args.intrinsics
        return convert.depth_to_points(obj[None], CameraIntrinsics(fx, fy, cx, cy))
    raise AssertionError(f"no conversion step {kind} → {nxt}")  # pragma: no cover


def target_kind(src: str, output: str | os.PathLike, to: str | None = None) -> str:
    """The representation to write: ``to``, else what ``output``'s extension holds for a
    ``src`` input (``.ply``: a mesh from meshes, voxels and SDF grids, points from points and
    depth maps; ``.npy`` from a depth map: points; ``.png`` from depth / normals: the same)."""
    if to is not None:
        return to
    ext = Path(output).suffix.lower()
    if ext == ".ply":
        return "points" if src in ("points", "depth") else "mesh"
    if ext == ".npz" and src == "sdf":
        return "sdf"
    if ext == ".png" and src in ("depth", "normals"):
        return src
    dst = KINDS_BY_EXTENSION.get(ext)
    if dst is None:
        raise InputError(f"output: cannot tell the target from extension {ext!r}; pass to=")
    return dst


def convert_representation(obj: Any, src: str, dst: str,
                           options: ConvertOptions | None = None) -> tuple[Any, list[str]]:
    """Convert ``obj`` (of kind ``src``) to ``dst`` along :func:`conversion_route`; returns the
    result and the route taken."""
    from tqdm import tqdm

    opts = options or ConvertOptions()
    route = conversion_route(src, dst)
    steps = list(zip(route[:-1], route[1:]))
    quiet = None if (opts.progress and steps) else True  # None: tqdm shows on a terminal
    for kind, nxt in tqdm(steps, desc="convert", unit="step", disable=quiet, file=sys.stderr):
        obj = _step(kind, nxt, obj, opts)
    return obj, route


def convert_file(input: str | os.PathLike, output: str | os.PathLike, *, to: str | None = None,
                 options: ConvertOptions | None = None) -> tuple[str, str, list[str]]:
    """Read ``input`` (kind from its extension and content), convert, write ``output``
    (atomically). Returns ``(source kind, target kind, route)``."""
    from spacetime.engine.device import resolve_device
    from spacetime.shapes.io import detect_kind, load, save

    opts = options or ConvertOptions()
    device = resolve_device(opts.device)
    src = detect_kind(input)
    obj = load(input, kind=src)
    if src == "voxels" and _is_sdf(obj):
        src = "sdf"
    dst = target_kind(src, output, to)
    ext = Path(output).suffix.lower()
    if dst == "sdf" and ext != ".npz":
        raise InputError(f"output: an SDF grid is written as .npz, got {ext!r}")
    obj, route = convert_representation(_to_device(obj, device), src, dst, opts)
    save(_to_device(obj, "cpu"), output)
    return src, dst, route


def _to_device(obj: Any, device: str) -> Any:
    """``obj.to(device)`` for tensors and the shape structures (they all have ``to``)."""
    to = getattr(obj, "to", None)
    return obj if to is None else to(device)
