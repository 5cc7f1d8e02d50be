"""Voxels → mesh by cubes (the conversion Mesh R-CNN uses to turn voxel predictions into meshes).

``cubify`` replaces every occupied voxel by an axis-aligned cube, keeps only the cube faces that
separate an occupied voxel from an empty one (or from the outside of the grid), and merges
coincident corners, so the result is a closed surface with consistent outward winding.

Differences from PyTorch3D's ``cubify`` (Gkioxari et al., "Mesh R-CNN", ICCV 2019):

- memory is linear in the number of occupied voxels: the only grid-sized allocation is one
  boolean occupancy mask (PyTorch3D builds ``12 × N × D × H × W`` face masks and runs out of
  memory above ~500³);
- cubes stay cubes for non-cubic grids (PyTorch3D stretches each axis to ``[-1, 1]``);
- world coordinates come from the grid's origin and voxel size.

Coordinate convention (shared with :class:`spacetime.shapes.structures.VoxelGrid`): a grid is
indexed ``[n, d, h, w]`` with ``d`` along z, ``h`` along y, ``w`` along x. Voxel ``(d, h, w)``
spans ``origin + voxel_size * ([w, w+1] × [h, h+1] × [d, d+1])`` in world xyz, so its centre is
at ``origin + voxel_size * (w + 0.5, h + 0.5, d + 0.5)``. A plain tensor input uses voxel units
(origin 0, voxel size 1) unless ``origin`` / ``voxel_size`` are given.
"""

from __future__ import annotations

from typing import Any

import torch

from spacetime.errors import InputError
from spacetime.shapes.convert._common import grid_parts, new_meshes

__all__ = ["cubify"]


def _quad_table() -> torch.Tensor:
    """``(6, 4, 3)`` corner offsets (xyz) of the six cube faces, counter-clockwise from outside.

    Order of faces: ``+x, -x, +y, -y, +z, -z``. For axis ``a`` the two in-plane axes
    ``b = a + 1``, ``c = a + 2`` (mod 3) satisfy ``e_b × e_c = e_a``, so the corner cycle
    ``(0,0), (1,0), (1,1), (0,1)`` in ``(b, c)`` faces ``+e_a``; the ``-`` faces reverse it.
    """
    quads = []
    for a in range(3):
        b, c = (a + 1) % 3, (a + 2) % 3
        for sign in (1, -1):
            cyc = [(0, 0), (1, 0), (1, 1), (0, 1)]
            if sign < 0:
                cyc = cyc[::-1]
            quad = []
            for ub, uc in cyc:
                p = [0, 0, 0]
                p[a] = 1 if sign > 0 else 0
                p[b], p[c] = ub, uc
                quad.append(p)
            quads.append(quad)
    return torch.tensor(quads, dtype=torch.int64)


_QUADS = _quad_table()


def cubify_indices(
    occ: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Integer core of :func:`cubify` on a boolean ``(N, D, H, W)`` occupancy grid.

    Works on linear indices: the only grid-sized tensor is ``occ`` itself; everything else is
    ``O(M)`` for M occupied voxels (neighbour look-ups are gathers at ``l ± stride``).

    Returns:
        corners ``(V, 3)`` int64 corner positions (xyz, voxel units) of all meshes, sorted by mesh;
        verts_mesh ``(V,)`` mesh index of each corner; faces ``(F, 3)`` int64 indices into
        ``corners`` (sorted by mesh); faces_mesh ``(F,)``.
    """
    n_batch, depth, height, width = occ.shape
    device = occ.device
    flat = occ.reshape(-1)
    lin = flat.nonzero().squeeze(1)  # (M,) sorted, so grouped by mesh
    x = lin % width
    rest = lin // width
    y = rest % height
    rest = rest // height
    z = rest % depth
    mesh = rest // depth
    coord = (x, y, z)
    sizes = (width, height, depth)
    strides = (1, width, width * height)
    cw, ch = width + 1, height + 1
    base_key = ((mesh * (depth + 1) + z) * ch + y) * cw + x  # key of the voxel's min corner
    quads = _QUADS.to(device)
    quad_keys = quads[..., 0] + cw * (quads[..., 1] + ch * quads[..., 2])  # (6, 4)
    # boundary test for the 6 face directions at once: face (dir, voxel) is kept when the
    # neighbour across it is empty or outside the grid
    keep = torch.empty(6, lin.numel(), dtype=torch.bool, device=device)
    for a in range(3):
        for k, sign in enumerate((1, -1)):
            inside = (coord[a] < sizes[a] - 1) if sign > 0 else (coord[a] > 0)
            nb_lin = torch.where(inside, lin + sign * strides[a], lin)
            keep[2 * a + k] = ~(flat.index_select(0, nb_lin) & inside)
    face_dir, face_vox = keep.nonzero(as_tuple=True)  # sorted by direction, then voxel
    # index_select: a plain gather, several times faster than advanced indexing on CPU
    keys = base_key.index_select(0, face_vox)[:, None] + quad_keys.index_select(0, face_dir)
    quad_mesh = mesh.index_select(0, face_vox)  # keys: (Q, 4), one row per boundary quad
    keys = keys.reshape(-1)
    num_corner_keys = n_batch * (depth + 1) * ch * cw
    if num_corner_keys <= max(4 * keys.numel(), 1 << 16):
        # Few corner positions relative to the output: mark them in a table (O(output) memory,
        # no sort) and number the marked ones in key order, as torch.unique would.
        used = torch.zeros(num_corner_keys, dtype=torch.bool, device=device)
        used[keys] = True
        uniq = used.nonzero().squeeze(1)
        number = torch.cumsum(used, 0, dtype=torch.int64) - 1
        inv = number.index_select(0, keys)
    else:
        if num_corner_keys < 2**31:
            keys = keys.to(torch.int32)  # sorting int32 is ~1.5x faster than int64
        uniq, inv = torch.unique(keys, sorted=True, return_inverse=True)
        uniq = uniq.to(torch.int64)
    inv = inv.reshape(-1, 4)
    split = torch.tensor([0, 1, 2, 0, 2, 3], device=device)  # two triangles per quad
    tris = inv.index_select(1, split).reshape(-1, 3)
    tri_mesh = quad_mesh.repeat_interleave(2)
    if n_batch > 1:
        order = torch.argsort(tri_mesh, stable=True)
        tris, tri_mesh = tris[order], tri_mesh[order]
    cx = uniq % cw
    rest = uniq // cw
    cy = rest % ch
    rest = rest // ch
    cz = rest % (depth + 1)
    verts_mesh = rest // (depth + 1)
    corners = torch.stack([cx, cy, cz], dim=1)
    return corners, verts_mesh, tris, tri_mesh


def cubify(
    voxels: Any,
    thresh: float = 0.5,
    *,
    voxel_size: float | torch.Tensor | None = None,
    origin: Any = None,
):
    """Convert a batch of voxel grids into cube meshes.

    Args:
        voxels: ``(N, D, H, W)`` occupancy / probability tensor (float or bool) or a ``VoxelGrid``.
            Indexed ``[n, z, y, x]``.
        thresh: a voxel is occupied when its value is ``> thresh`` (bool grids: when True).
        voxel_size: edge length of a voxel in world units, scalar or ``(N,)``; default the
            ``VoxelGrid``'s, or 1 for a tensor.
        origin: world position of the grid corner (voxel ``(0, 0, 0)``'s minimum corner), ``(3,)``
            or ``(N, 3)``; default the ``VoxelGrid``'s, or ``(0, 0, 0)`` for a tensor.

    Returns:
        ``Meshes`` with N meshes; mesh n has one cube per occupied voxel, internal faces removed,
        coincident corners merged and faces wound counter-clockwise seen from outside (normals
        point out of the occupied region). An empty grid gives an empty mesh. Vertex coordinates
        are ``origin + voxel_size * (x, y, z)`` for integer corner positions; dtype is the
        grid's floating dtype (float32 for bool / int grids).

    The surface is closed: every directed edge ``(a, b)`` is matched by exactly as many
    ``(b, a)``. Two voxels touching only along an edge give a non-manifold edge (four faces),
    which is still closed in this sense. Not differentiable (occupancy is thresholded).

    Example:
        >>> m = cubify(torch.ones(1, 2, 2, 2))  # one 2×2×2 block: 26 verts, 48 faces
    """
    grid, origin_t, size_t = grid_parts(voxels, "voxels", origin=origin, voxel_size=voxel_size)
    if grid.dtype == torch.bool:
        occ = grid
    else:
        if grid.is_floating_point() and bool(torch.isnan(grid).any()):
            raise InputError("voxels: expected no NaN values, got NaN occupancies")
        occ = grid > thresh
    n_batch = grid.shape[0]
    if n_batch == 0:
        raise InputError("voxels: expected at least one grid, got N=0")
    corners, verts_mesh, tris, tri_mesh = cubify_indices(occ)
    fdtype = origin_t.dtype
    verts_world = origin_t[verts_mesh] + size_t[verts_mesh, None] * corners.to(fdtype)
    nv = torch.bincount(verts_mesh, minlength=n_batch)
    nf = torch.bincount(tri_mesh, minlength=n_batch)
    first_v = torch.cumsum(nv, 0) - nv
    tris_local = tris - first_v[tri_mesh, None] if n_batch > 1 else tris
    verts_list = list(verts_world.split(nv.tolist()))
    faces_list = list(tris_local.split(nf.tolist()))
    return new_meshes(verts_list, faces_list)
