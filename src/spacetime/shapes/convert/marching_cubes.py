"""Implicit field on a grid → mesh by marching cubes (Lewiner et al., "Efficient
implementation of marching cubes' cases with topological guarantees", JGT 2003, via
``skimage.measure.marching_cubes``).

Lewiner's tables resolve the ambiguous cube configurations consistently, so the surface is
closed wherever it does not leave the grid (PyTorch3D's CPU marching cubes uses the original
Lorensen tables and float-keyed edge hashing and leaves holes at high resolution). Not
differentiable.

Conventions: grid ``(N, D, H, W)`` indexed ``[n, z, y, x]``; sample ``(d, h, w)`` is the value at
the voxel centre ``origin + voxel_size · (w + ½, h + ½, d + ½)`` (same as ``VoxelGrid`` and
``sample_grid``). skimage returns vertices in ``(d, h, w)`` index order; they are converted to
world xyz here. Faces are wound counter-clockwise seen from outside, where "inside" is where
the field is below ``level`` (``inside="low"``: SDFs, negative inside) or above it
(``inside="high"``: occupancies / probabilities).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from spacetime.checks import check_in
from spacetime.errors import InputError
from spacetime.shapes.convert._common import grid_parts, new_meshes

__all__ = ["marching_cubes"]


def _one_grid(
    vol: np.ndarray, level: float, inside: str, close_boundary: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``(V, 3)`` in xyz index units (voxel-centre = integer) and faces ``(F, 3)``."""
    from skimage.measure import marching_cubes as sk_mc

    offset = 0.0
    if close_boundary:
        lo, hi = float(np.nanmin(vol)) if vol.size else level, (
            float(np.nanmax(vol)) if vol.size else level
        )
        outside = max(hi, level) + 1.0 if inside == "low" else min(lo, level) - 1.0
        vol = np.pad(vol, 1, mode="constant", constant_values=outside)
        offset = 1.0
    if vol.size == 0 or min(vol.shape) < 2:
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    vmin, vmax = float(vol.min()), float(vol.max())
    if not (vmin < level < vmax):
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    verts, faces, _, _ = sk_mc(vol, level=level, method="lewiner", allow_degenerate=True)
    verts = verts[:, ::-1] - offset  # (d, h, w) -> (x, y, z)
    faces = faces.astype(np.int64)
    # skimage's default gradient_direction="descent" orients faces for "low inside" in
    # (d, h, w) index space; swapping axes d <-> w is a reflection, which flips the winding.
    # Net (checked by the signed-volume tests): reverse for inside="low", keep for "high".
    if inside == "low":
        faces = faces[:, ::-1]
    return np.ascontiguousarray(verts), np.ascontiguousarray(faces)


def _merge_duplicates(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices at identical positions and drop faces that become degenerate."""
    if len(verts) == 0:
        return verts, faces
    uniq, inv = np.unique(verts, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    f = inv[faces]
    ok = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
    f = f[ok]
    used = np.zeros(len(uniq), dtype=bool)
    used[f.reshape(-1)] = True
    remap = np.cumsum(used) - 1
    return uniq[used], remap[f]


def marching_cubes(
    grid: Any,
    level: float | None = None,
    *,
    inside: str | None = None,
    close_boundary: bool = False,
    voxel_size: float | torch.Tensor | None = None,
    origin: Any = None,
):
    """Extract the ``level`` iso-surface of every grid of a batch.

    Args:
        grid: ``(N, D, H, W)`` float tensor or ``VoxelGrid`` of field values at voxel centres,
            or a list of ``(D_n, H_n, W_n)`` tensors / ``VoxelGrid`` s of different sizes.
        level: iso-value; default 0.0 for ``inside="low"`` (SDF) and 0.5 for ``inside="high"``
            (occupancy).
        inside: ``"low"`` (values below ``level`` are inside, e.g. an SDF) or ``"high"``
            (values above are inside, e.g. occupancy). Default: ``"high"`` if ``level`` is given
            and in ``(0, 1)`` and all values are in ``[0, 1]``; else ``"low"``.
        close_boundary: pad the grid with an outside value so surfaces cut by the grid boundary
            are closed (caps on the boundary, half a voxel outside the outer centres).
        voxel_size, origin: override the ``VoxelGrid``'s (defaults for a tensor: 1 and 0).

    Returns:
        ``Meshes`` of N meshes in world coordinates, faces wound counter-clockwise seen from
        outside. A grid with no crossing of ``level`` (empty, constant, all inside) gives an
        empty mesh. Vertices at exactly the same position are merged and the resulting
        zero-area faces dropped, so a closed surface is closed topologically as well.
    """
    if isinstance(grid, (list, tuple)):
        if len(grid) == 0:
            raise InputError("grid: expected a non-empty list of grids, got an empty list")
        parts = [
            marching_cubes(
                g[None] if isinstance(g, torch.Tensor) and g.ndim == 3 else g,
                level,
                inside=inside,
                close_boundary=close_boundary,
                voxel_size=voxel_size,
                origin=origin,
            )
            for g in grid
        ]
        verts = [v for m in parts for v in m.verts_list()]
        faces = [f for m in parts for f in m.faces_list()]
        return new_meshes(verts, faces)
    values, origin_t, size_t = grid_parts(grid, "grid", origin=origin, voxel_size=voxel_size)
    if not values.is_floating_point():
        values = values.to(torch.float32)
    if inside is None:
        is_prob = bool(values.numel()) and bool(((values >= 0) & (values <= 1)).all())
        inside = "high" if (level is not None and 0 < level < 1 and is_prob) else "low"
    check_in(inside, "inside", ("low", "high"))
    if level is None:
        level = 0.0 if inside == "low" else 0.5
    level = float(level)
    if not np.isfinite(level):
        raise InputError(f"level: expected a finite value, got {level!r}")
    if values.numel() and bool(torch.isnan(values).any()):
        raise InputError("grid: expected no NaN values, got NaN entries")
    verts_list, faces_list = [], []
    dtype = values.dtype
    for n in range(values.shape[0]):
        vol = values[n].detach().cpu().double().numpy()
        v, f = _one_grid(vol, level, inside, close_boundary)
        v, f = _merge_duplicates(v, f)
        vt = torch.as_tensor(v, dtype=torch.float64, device=values.device)
        world = origin_t[n].double() + size_t[n].double() * (vt + 0.5)
        verts_list.append(world.to(dtype))
        faces_list.append(torch.as_tensor(f, dtype=torch.int64, device=values.device))
    return new_meshes(verts_list, faces_list)
