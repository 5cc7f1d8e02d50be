"""Load and save voxel grids: binvox (own run-length reader/writer) and NPZ.

binvox axis mapping. A binvox file stores ``dim a b c``, ``translate tx ty tz``, ``scale s``
and run-length pairs ``(value, count)`` of the voxels in the order *x slowest, then z, then y
fastest* (so the decoded array is indexed ``[x, z, y]`` with sizes ``(a, b, c)``, as read by
binvox-rw-py). spacetime grids are ``(D, H, W)`` indexed ``[z, y, x]``, hence

    ``grid[z, y, x] = binvox[x, z, y]``,  i.e. ``grid = binvox.permute(1, 2, 0)``,
    ``D = b``, ``H = c``, ``W = a``.

The binvox cube maps voxel index ``i`` to ``[i, i + 1) * s / max(a, b, c) + t``: we read it as
``origin = translate`` and ``voxel_size = scale / max(a, b, c)``, and write the inverse.
binvox holds occupancy only: float grids are thresholded at 0.5 when written. NPZ keeps
everything: ``grid`` ``(N, D, H, W)`` (any dtype), ``origin`` ``(N, 3)``, ``voxel_size`` ``(N,)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spacetime.checks import check_tensor
from spacetime.errors import InputError
from spacetime.fileio import atomic_write, load_npz_bytes
from spacetime.limits import check_limit
from spacetime.shapes.io._common import fail, read_bytes, suffix

__all__ = [
    "load_voxels",
    "save_voxels",
    "read_binvox",
    "write_binvox",
    "VOXEL_EXTENSIONS",
]

VOXEL_EXTENSIONS = (".binvox", ".npz")


def read_binvox(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, float]:
    """Decode a binvox file.

    Returns:
        ``grid`` ``(D, H, W)`` bool in spacetime's ``[z, y, x]`` layout, ``origin`` ``(3,)``
        (the binvox translate) and ``voxel_size`` (scale / max dim).
    """
    data = read_bytes(path)
    if not data.startswith(b"#binvox"):
        raise fail(path, "not a binvox file (missing '#binvox' magic)")
    pos = 0
    dims = translate = scale = None
    for _ in range(16):  # header lines
        nl = data.find(b"\n", pos)
        if nl < 0:
            raise fail(path, "truncated binvox header (no 'data' line)")
        line = data[pos:nl].decode("ascii", errors="replace").strip()
        pos = nl + 1
        parts = line.split()
        try:
            if parts and parts[0] == "dim":
                dims = tuple(int(p) for p in parts[1:4])
            elif parts and parts[0] == "translate":
                translate = np.asarray([float(p) for p in parts[1:4]], dtype=np.float64)
            elif parts and parts[0] == "scale":
                scale = float(parts[1])
            elif parts and parts[0] == "data":
                break
        except (ValueError, IndexError):
            raise fail(path, f"malformed binvox header line {line!r}") from None
    else:
        raise fail(path, "binvox header without a 'data' line")
    if dims is None or len(dims) != 3 or min(dims) <= 0:
        raise fail(path, f"binvox header has no valid 'dim' line (got {dims})")
    check_limit(dims[0] * dims[1] * dims[2], f"voxels (dim {dims[0]} {dims[1]} {dims[2]})",
                "MAX_VOXELS", path)
    translate = np.zeros(3) if translate is None or translate.shape != (3,) else translate
    scale = 1.0 if scale is None else scale
    if not scale > 0 or not np.isfinite(translate).all():
        raise fail(path, f"invalid binvox scale {scale} or translate {translate}")
    body = np.frombuffer(data, dtype=np.uint8, offset=pos)
    total = dims[0] * dims[1] * dims[2]
    if body.size % 2:
        raise fail(path, "truncated binvox data (odd number of run-length bytes)")
    values, counts = body[0::2], body[1::2].astype(np.int64)
    csum = np.cumsum(counts)
    if csum.size == 0 or csum[-1] < total:
        got = 0 if csum.size == 0 else int(csum[-1])
        raise fail(path, f"truncated binvox data: runs cover {got} of {total} voxels")
    end = int(np.searchsorted(csum, total)) + 1
    if csum[end - 1] != total:
        raise fail(path, "corrupt binvox data: runs overshoot the grid size")
    if (values[:end] > 1).any():
        raise fail(path, "corrupt binvox data: voxel values other than 0/1")
    flat = np.repeat(values[:end].astype(bool), counts[:end])
    xzy = flat.reshape(dims)
    grid = np.ascontiguousarray(xzy.transpose(1, 2, 0))
    return grid, translate, scale / max(dims)


def write_binvox(
    path: str | os.PathLike,
    grid: torch.Tensor,
    origin: Any = (0.0, 0.0, 0.0),
    voxel_size: float = 1.0,
) -> None:
    """Encode one ``(D, H, W)`` occupancy grid (``> 0.5`` is occupied) as binvox, atomically."""
    check_tensor(grid, "grid", ("D", "H", "W"))
    g = grid.detach().cpu()
    occ = (g if g.dtype == torch.bool else g > 0.5).numpy()
    xzy = np.ascontiguousarray(occ.transpose(2, 0, 1))  # [z, y, x] -> [x, z, y]
    flat = xzy.reshape(-1).astype(np.uint8)
    if flat.size:
        change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        starts = np.concatenate([[0], change])
        lengths = np.diff(np.concatenate([starts, [flat.size]]))
        vals = flat[starts]
        chunks = (lengths + 254) // 255
        rep_vals = np.repeat(vals, chunks)
        rep_counts = np.full(rep_vals.size, 255, dtype=np.int64)
        last = np.cumsum(chunks) - 1
        rep_counts[last] = lengths - 255 * (chunks - 1)
        pairs = np.stack([rep_vals, rep_counts.astype(np.uint8)], 1).reshape(-1)
    else:
        pairs = np.zeros(0, np.uint8)
    a, b, c = xzy.shape
    org = torch.as_tensor(origin, dtype=torch.float64).reshape(3).tolist()
    scale = float(voxel_size) * max(a, b, c)
    header = (
        f"#binvox 1\ndim {a} {b} {c}\ntranslate {org[0]:.9g} {org[1]:.9g} {org[2]:.9g}\n"
        f"scale {scale:.9g}\ndata\n"
    ).encode("ascii")
    with atomic_write(path, "wb") as fh:
        fh.write(header)
        fh.write(pairs.astype(np.uint8).tobytes())


def _as_voxelgrid(obj: Any):
    from spacetime.shapes.structures import VoxelGrid

    if hasattr(obj, "to_voxelgrid"):
        obj = obj.to_voxelgrid()
    if isinstance(obj, VoxelGrid):
        return obj
    if isinstance(obj, torch.Tensor):
        return VoxelGrid(obj)
    raise InputError(f"voxels: expected a VoxelGrid or a tensor, got {type(obj).__name__}")


def load_voxels(
    path: str | os.PathLike,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
):
    """Read ``.binvox`` (occupancy, N = 1) or ``.npz`` (``grid``, ``origin``, ``voxel_size``)
    into a ``VoxelGrid``. ``dtype`` defaults to float32 for binvox and to the stored floating
    dtype for NPZ (bool and integer grids become float32, as in ``VoxelGrid``)."""
    from spacetime.shapes.structures import VoxelGrid

    path = Path(path)
    ext = suffix(path)
    if ext == ".binvox":
        grid, origin, vs = read_binvox(path)
        dt = torch.float32 if dtype is None else dtype
        g = torch.as_tensor(grid, device=device).to(dt)[None]
        return VoxelGrid(g, origin=torch.as_tensor(origin, dtype=dt), voxel_size=vs)
    if ext == ".npz":
        z = load_npz_bytes(read_bytes(path), path)
        if "grid" not in z:
            raise fail(path, f"expected a 'grid' array, found {sorted(z)}")
        grid = z["grid"]
        origin = z.get("origin")
        vs = z.get("voxel_size", 1.0)
        if grid.ndim == 3:
            grid = grid[None]
        if grid.ndim != 4:
            raise fail(path, f"expected a (N, D, H, W) grid, got shape {grid.shape}")
        if grid.dtype.kind not in "biuf":
            raise fail(path, f"'grid': expected numbers or booleans, got dtype {grid.dtype}")
        check_limit(grid[0].size, f"voxels per grid {tuple(grid.shape[1:])}", "MAX_VOXELS",
                    path)
        for key, val in (("origin", origin), ("voxel_size", vs)):
            if val is None:
                continue
            val = np.asarray(val)
            if val.dtype.kind not in "biuf" or not np.isfinite(val).all():
                raise fail(path, f"'{key}': expected finite numbers, got {val.dtype} {val!r:.60}")
        if not np.issubdtype(grid.dtype, np.floating):
            grid = grid.astype(np.float32)
        g = torch.as_tensor(grid, device=device)
        g = g if dtype is None else g.to(dtype)
        try:
            return VoxelGrid(
                g,
                origin=None if origin is None else torch.as_tensor(origin, dtype=g.dtype),
                voxel_size=torch.as_tensor(vs, dtype=g.dtype),
            )
        except InputError as exc:
            raise fail(path, f"invalid voxel data ({exc})") from None
    raise fail(path, f"unknown voxel extension {ext!r} (expected one of {VOXEL_EXTENSIONS})")


def save_voxels(voxels: Any, path: str | os.PathLike) -> None:
    """Write a ``VoxelGrid`` (or a ``(N, D, H, W)`` / ``(D, H, W)`` tensor, or an ``Octree``)
    atomically: ``.binvox`` (N must be 1; occupancy ``> 0.5``) or ``.npz`` (lossless)."""
    vg = _as_voxelgrid(voxels)
    for name, t in (("origin", vg.origin), ("voxel_size", vg.voxel_size)):
        if not bool(torch.isfinite(t).all()):
            raise InputError(f"voxels: {name} must be finite, got {t.tolist()}")
    path = Path(path)
    ext = suffix(path)
    if ext == ".binvox":
        if len(vg) != 1:
            raise InputError(f"voxels: binvox holds one grid, got a batch of {len(vg)}")
        write_binvox(path, vg.grid[0], vg.origin[0], float(vg.voxel_size[0]))
    elif ext == ".npz":
        with atomic_write(path, "wb") as fh:
            np.savez(
                fh,
                grid=vg.grid.detach().cpu().numpy(),
                origin=vg.origin.detach().cpu().numpy(),
                voxel_size=vg.voxel_size.detach().cpu().numpy(),
            )
    else:
        raise InputError(f"path: expected one of {VOXEL_EXTENSIONS}, got {ext!r}")
