"""One ``load`` / ``save`` pair that dispatches on the file extension (and, where an extension
is shared, on the file's content)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from spacetime.checks import check_in
from spacetime.errors import InputError
from spacetime.fileio import load_npy_bytes, load_npz_bytes
from spacetime.shapes.io._common import fail, read_bytes, suffix
from spacetime.shapes.io.images import load_depth, load_normals, save_depth, save_normals
from spacetime.shapes.io.meshes import load_mesh, save_mesh
from spacetime.shapes.io.ply import _parse_header
from spacetime.shapes.io.pointclouds import load_pointcloud, save_pointcloud
from spacetime.shapes.io.voxels import load_voxels, save_voxels

__all__ = ["load", "save", "detect_kind", "KINDS"]

KINDS = ("mesh", "points", "voxels", "depth", "normals")


def detect_kind(path: str | os.PathLike) -> str:
    """What a file holds: ``"mesh"``, ``"points"``, ``"voxels"``, ``"depth"`` or
    ``"normals"``, from its extension and, for ``.ply``/``.npy``/``.npz``/``.png``, its
    header or array shape."""
    path = Path(path)
    ext = suffix(path)
    if ext in (".obj", ".off", ".stl", ".glb", ".gltf"):
        return "mesh"
    if ext in (".xyz", ".txt", ".pts"):
        return "points"
    if ext == ".binvox":
        return "voxels"
    if ext == ".ply":
        _, elements, _ = _parse_header(path, read_bytes(path))
        faces = [c for name, c, _ in elements if name == "face"]
        return "mesh" if faces and faces[0] > 0 else "points"
    if ext == ".npz":
        keys = set(load_npz_bytes(read_bytes(path), path))
        if "grid" in keys:
            return "voxels"
        if "points" in keys:
            return "points"
        raise fail(path, f"unknown .npz content (keys {sorted(keys)})")
    if ext == ".npy":
        arr = load_npy_bytes(read_bytes(path), path)
        if arr.ndim == 3 and 3 in (arr.shape[0], arr.shape[-1]):
            return "normals"
        if arr.ndim == 2 and arr.shape[1] in (3, 6, 9) and arr.shape[0] > arr.shape[1] * 4:
            return "points"
        if arr.ndim == 2:
            return "depth"
        raise fail(path, f"cannot tell what a .npy array of shape {arr.shape} holds")
    if ext == ".png":
        from spacetime.shapes.io.images import _imread

        img = _imread(path)
        return "depth" if img.ndim == 2 else "normals"
    raise fail(path, f"unknown file extension {ext!r}")


def load(path: str | os.PathLike, *, kind: str | None = None, **kwargs: Any) -> Any:
    """Load any supported file: a ``Meshes``, ``Pointclouds``, ``VoxelGrid``, a depth map
    ``(H, W)`` or a normal map ``(3, H, W)``; ``kind`` overrides :func:`detect_kind`."""
    kind = detect_kind(path) if kind is None else kind
    check_in(kind, "kind", KINDS)
    fn = {"mesh": load_mesh, "points": load_pointcloud, "voxels": load_voxels,
          "depth": load_depth, "normals": load_normals}[kind]
    return fn(path, **kwargs)


def save(obj: Any, path: str | os.PathLike, **kwargs: Any) -> None:
    """Save by object type: ``Meshes`` → mesh file, ``Pointclouds`` → point cloud file,
    ``VoxelGrid``/``Octree`` → voxel file, tensor ``(H, W)`` → depth map, ``(3, H, W)`` →
    normal map."""
    if hasattr(obj, "faces_list"):
        return save_mesh(obj, path, **kwargs)
    if hasattr(obj, "points_list"):
        return save_pointcloud(obj, path, **kwargs)
    if hasattr(obj, "grid") or hasattr(obj, "to_voxelgrid"):
        return save_voxels(obj, path, **kwargs)
    if isinstance(obj, torch.Tensor):
        if obj.ndim == 3 and obj.shape[0] == 3:
            return save_normals(obj, path, **kwargs)
        if obj.ndim == 2 or (obj.ndim == 3 and obj.shape[0] == 1):
            return save_depth(obj, path, **kwargs)
    raise InputError(
        f"obj: expected Meshes, Pointclouds, VoxelGrid, Octree or a depth/normal map tensor, "
        f"got {type(obj).__name__}"
    )
