"""Load and save ``Pointclouds``: PLY (with normals and colours), XYZ text and NPY / NPZ.

Text and NPY columns: ``x y z`` [``nx ny nz`` [``r g b``]] (3, 6 or 9 columns; colours in
[0, 1]). A cloud's 3-channel ``features`` are written as colours.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spacetime.errors import InputError
from spacetime.fileio import atomic_write, load_npy_bytes, load_npz_bytes
from spacetime.limits import check_limit
from spacetime.shapes.io._common import (
    check_writable_geometry,
    cloud_parts,
    fail,
    format_rows,
    read_bytes,
    read_text,
    suffix,
)
from spacetime.shapes.io.ply import read_ply, write_ply

__all__ = ["load_pointcloud", "save_pointcloud", "POINTCLOUD_EXTENSIONS"]

POINTCLOUD_EXTENSIONS = (".ply", ".xyz", ".txt", ".pts", ".npy", ".npz")


def _columns(path, arr: np.ndarray) -> dict:
    if arr.ndim != 2 or arr.shape[1] not in (3, 6, 9):
        raise fail(path, f"expected a (P, 3), (P, 6) or (P, 9) array, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise fail(path, f"expected numbers, got dtype {arr.dtype}")
    check_limit(arr.shape[0], "number of points", "MAX_POINTS", path)
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise fail(path, "contains NaN or inf")
    out = {"verts": arr[:, :3]}
    if arr.shape[1] >= 6:
        out["normals"] = arr[:, 3:6]
    if arr.shape[1] == 9:
        out["colors"] = arr[:, 6:9]
    return out


def _load_npy(path: Path) -> np.ndarray:
    return load_npy_bytes(read_bytes(path), path)


def load_pointcloud(
    path: str | os.PathLike,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
):
    """Read ``.ply``, ``.xyz``/``.txt``/``.pts``, ``.npy`` or ``.npz`` (keys ``points``,
    optional ``normals``, ``colors``) into a ``Pointclouds`` (N = 1; colours become
    ``features``). A PLY mesh gives its vertices."""
    from spacetime.shapes.structures import Pointclouds

    path = Path(path)
    ext = suffix(path)
    if ext == ".ply":
        d = read_ply(path)
    elif ext in (".xyz", ".txt", ".pts"):
        text = read_text(path)
        rows = [ln.split() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
        check_limit(len(rows), "number of points", "MAX_POINTS", path)
        if not rows:
            d = {"verts": np.zeros((0, 3), np.float32)}
        else:
            k = len(rows[0])
            if any(len(r) != k for r in rows):
                bad = next(i for i, r in enumerate(rows) if len(r) != k)
                raise fail(path, f"row {bad + 1} has {len(rows[bad])} values, expected {k} "
                                 "(truncated file?)")
            try:
                arr = np.asarray(rows, dtype=np.float64)
            except ValueError:
                raise fail(path, "expected numbers in every column") from None
            d = _columns(path, arr)
    elif ext == ".npy":
        d = _columns(path, _load_npy(path))
    elif ext == ".npz":
        z = load_npz_bytes(read_bytes(path), path)
        if "points" not in z:
            raise fail(path, f"expected a 'points' array, found {sorted(z)}")
        d = _columns(path, z["points"])
        for key in ("normals", "colors"):
            if key in z:
                extra = z[key]
                if extra.dtype.kind not in "biuf" or extra.shape != d["verts"].shape:
                    raise fail(path, f"'{key}': expected a numeric {d['verts'].shape} array, "
                                     f"got {extra.dtype} {extra.shape}")
                extra = extra.astype(np.float32)
                if not np.isfinite(extra).all():
                    raise fail(path, f"'{key}' contains NaN or inf")
                d[key] = extra
    else:
        raise fail(path, f"unknown point cloud extension {ext!r} "
                         f"(expected one of {POINTCLOUD_EXTENSIONS})")
    pts = torch.as_tensor(d["verts"], dtype=dtype, device=device)
    kw: dict[str, Any] = {}
    if "normals" in d:
        kw["normals"] = [torch.as_tensor(d["normals"], dtype=dtype, device=device)]
    if "colors" in d:
        kw["features"] = [torch.as_tensor(d["colors"], dtype=dtype, device=device)]
    try:
        return Pointclouds([pts], **kw)
    except InputError as exc:
        raise fail(path, f"invalid point data ({exc})") from None


def save_pointcloud(clouds: Any, path: str | os.PathLike, *, binary: bool = True) -> None:
    """Write a ``Pointclouds`` (a batch is concatenated) or a ``(P, 3)`` tensor atomically as
    ``.ply``, ``.xyz``/``.txt``/``.pts``, ``.npy`` or ``.npz``."""
    path = Path(path)
    ext = suffix(path)
    pts, normals, colors = cloud_parts(clouds)
    check_writable_geometry(pts, None, normals=normals, colors=colors)
    if ext == ".ply":
        write_ply(path, pts, None, normals=normals, colors=colors, binary=binary)
        return
    cols = [pts.numpy().astype(np.float32)]
    if normals is not None:
        cols.append(normals.numpy().astype(np.float32))
    if colors is not None:
        if normals is None:
            cols.append(np.zeros_like(cols[0]))
        cols.append(colors.numpy().astype(np.float32))
    arr = np.concatenate(cols, 1)
    if ext in (".xyz", ".txt", ".pts"):
        row = " ".join(["%.9g"] * arr.shape[1]) + "\n"
        with atomic_write(path, "w") as fh:
            fh.write(format_rows(row, arr.astype(np.float64)))
    elif ext == ".npy":
        with atomic_write(path, "wb") as fh:
            np.save(fh, arr)
    elif ext == ".npz":
        data = {"points": cols[0]}
        if normals is not None:
            data["normals"] = normals.numpy().astype(np.float32)
        if colors is not None:
            data["colors"] = colors.numpy().astype(np.float32)
        with atomic_write(path, "wb") as fh:
            np.savez(fh, **data)
    else:
        raise InputError(f"path: expected one of {POINTCLOUD_EXTENSIONS}, got {ext!r}")
