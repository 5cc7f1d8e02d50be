"""Private helpers shared by the conversion modules: unpacking and building structures.

Every function here is the one place where a conversion touches the attributes of ``Meshes``,
``Pointclouds``, ``VoxelGrid`` and ``CameraIntrinsics``; the rest of ``convert`` works on plain
tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from spacetime.checks import check_tensor
from spacetime.errors import InputError

__all__: list[str] = []


def mesh_lists(meshes: Any, name: str = "meshes") -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Return ``([(V_n, 3)], [(F_n, 3)])`` from a ``Meshes``."""
    if not (hasattr(meshes, "verts_list") and hasattr(meshes, "faces_list")):
        raise InputError(f"{name}: expected a Meshes, got {type(meshes).__name__}")
    return list(meshes.verts_list()), list(meshes.faces_list())


def new_meshes(verts: Sequence[torch.Tensor], faces: Sequence[torch.Tensor]):
    """Build a ``Meshes`` from lists of ``(V_n, 3)`` verts and ``(F_n, 3)`` int64 faces."""
    from spacetime.shapes.structures import Meshes

    return Meshes(list(verts), [f.to(torch.int64) for f in faces])


def new_pointclouds(points: Sequence[torch.Tensor], features: Sequence[torch.Tensor] | None = None):
    """Build a ``Pointclouds`` from lists of ``(P_n, 3)`` points and optional ``(P_n, C)``."""
    from spacetime.shapes.structures import Pointclouds

    if features is None:
        return Pointclouds(list(points))
    return Pointclouds(list(points), features=list(features))


def points_lists(points: Any, name: str = "points") -> tuple[list[torch.Tensor], str]:
    """Accept ``(N, P, 3)``, a list of ``(P_n, 3)`` or a ``Pointclouds``.

    Returns the list and the input kind (``"padded"``, ``"list"`` or ``"pointclouds"``) so that
    results can be returned in the matching layout.
    """
    if hasattr(points, "points_list"):
        return list(points.points_list()), "pointclouds"
    if isinstance(points, torch.Tensor):
        check_tensor(points, name, ("N", "P", 3), dtype="float")
        return list(points.unbind(0)), "padded"
    if isinstance(points, (list, tuple)):
        for i, p in enumerate(points):
            check_tensor(p, f"{name}[{i}]", ("P", 3), dtype="float")
        return list(points), "list"
    raise InputError(
        f"{name}: expected a (N, P, 3) tensor, a list of (P_n, 3) tensors or a Pointclouds, "
        f"got {type(points).__name__}"
    )


def grid_parts(
    voxels: Any,
    name: str = "voxels",
    *,
    origin: Any = None,
    voxel_size: Any = None,
    default_origin: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return ``grid (N, D, H, W)``, ``origin (N, 3)``, ``voxel_size (N,)``.

    ``voxels`` is a ``VoxelGrid`` (its origin and voxel size win unless overridden) or a tensor
    ``(N, D, H, W)`` (defaults: origin ``default_origin``, voxel size 1).
    """
    if hasattr(voxels, "index_to_world"):
        grid = voxels.grid
        vg_origin, vg_size = voxels.origin, voxels.voxel_size
        origin = vg_origin if origin is None else origin
        voxel_size = vg_size if voxel_size is None else voxel_size
    elif isinstance(voxels, torch.Tensor):
        grid = voxels
    else:
        raise InputError(
            f"{name}: expected a (N, D, H, W) tensor or a VoxelGrid, got {type(voxels).__name__}"
        )
    check_tensor(grid, name, ("N", "D", "H", "W"))
    n = grid.shape[0]
    fdtype = grid.dtype if grid.is_floating_point() else torch.float32
    origin = default_origin if origin is None else origin
    voxel_size = 1.0 if voxel_size is None else voxel_size
    origin_t = torch.as_tensor(origin, dtype=fdtype, device=grid.device)
    if origin_t.ndim == 0:
        origin_t = origin_t.expand(3)
    if origin_t.ndim == 1:
        check_tensor(origin_t, "origin", (3,))
        origin_t = origin_t.expand(n, 3)
    check_tensor(origin_t, "origin", (n, 3))
    size_t = torch.as_tensor(voxel_size, dtype=fdtype, device=grid.device)
    if size_t.ndim == 0:
        size_t = size_t.expand(n)
    check_tensor(size_t, "voxel_size", (n,))
    if size_t.numel() and not bool((size_t > 0).all()):
        raise InputError(f"voxel_size: expected values > 0, got {size_t.tolist()}")
    return grid, origin_t, size_t


def new_voxelgrid(grid: torch.Tensor, origin: torch.Tensor, voxel_size: torch.Tensor):
    """Build a ``VoxelGrid`` from ``(N, D, H, W)``, ``(N, 3)`` and ``(N,)``."""
    from spacetime.shapes.structures import VoxelGrid

    return VoxelGrid(grid, origin=origin, voxel_size=voxel_size)


def intrinsics_K(K: Any, n: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``(N, 3, 3)`` intrinsic matrices from a ``CameraIntrinsics`` or a ``(N|1, 3, 3)`` tensor."""
    mat = K.K if hasattr(K, "K") else K
    if not isinstance(mat, torch.Tensor):
        raise InputError(
            f"K: expected a CameraIntrinsics or a (N, 3, 3) tensor, got {type(K).__name__}"
        )
    if mat.ndim == 2:
        mat = mat[None]
    check_tensor(mat, "K", ("N", 3, 3), finite=True)
    if mat.shape[0] == 1 and n != 1:
        mat = mat.expand(n, 3, 3)
    if mat.shape[0] != n:
        raise InputError(f"K: expected {n} cameras (one per depth map), got {mat.shape[0]}")
    return mat.to(device=device, dtype=dtype)


def edges_from_faces(faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unique undirected edges ``(E, 2)`` (i < j) of ``(F, 3)`` faces and ``(F, 3)`` face→edge.

    Edge k of face f joins corners ``(k + 1) % 3`` and ``(k + 2) % 3`` (the edge opposite
    corner k).
    """
    f = faces.to(torch.int64)
    e = torch.stack([f[:, [1, 2]], f[:, [2, 0]], f[:, [0, 1]]], dim=1).reshape(-1, 2)
    e, _ = e.sort(dim=1)
    if e.shape[0] == 0:
        return e.reshape(0, 2), torch.zeros((0, 3), dtype=torch.int64, device=faces.device)
    uniq, inv = torch.unique(e, dim=0, return_inverse=True)
    return uniq, inv.reshape(-1, 3)
