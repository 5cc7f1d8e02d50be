"""Primitive meshes (ico-sphere, box, cylinder, torus) and batched midpoint subdivision.

All primitives are closed, with faces wound counter-clockwise seen from outside (outward normals),
centred at the origin. ``ico_sphere`` is the initial shape of Pixel2Mesh-style mesh deformation
(Wang et al., "Pixel2Mesh", ECCV 2018) and of Mesh R-CNN's sphere-init baseline;
``subdivide_meshes`` is the graph-unpooling step of Pixel2Mesh (each triangle split into four by
its edge midpoints).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import torch

from spacetime.checks import check_int, check_positive
from spacetime.errors import InputError
from spacetime.shapes.convert._common import edges_from_faces, mesh_lists, new_meshes

__all__ = [
    "ico_sphere",
    "box_mesh",
    "cylinder_mesh",
    "torus_mesh",
    "subdivide_meshes",
    "subdivide_faces",
]


def subdivide_faces(
    verts: torch.Tensor, faces: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Midpoint-subdivide one mesh: ``(V, 3), (F, 3) -> (V + E, 3), (4F, 3)``.

    New vertex ``V + e`` is the midpoint of unique edge ``e``; face ``(a, b, c)`` with edge
    midpoints ``(m_bc, m_ca, m_ab)`` becomes ``(a, m_ab, m_ca), (b, m_bc, m_ab), (c, m_ca, m_bc),
    (m_bc, m_ca, m_ab)``, keeping the winding. Differentiable w.r.t. ``verts``.
    """
    edges, face_edges = edges_from_faces(faces)
    mids = 0.5 * (verts[edges[:, 0]] + verts[edges[:, 1]])
    new_verts = torch.cat([verts, mids], dim=0)
    nv = verts.shape[0]
    a, b, c = faces[:, 0], faces[:, 1], faces[:, 2]
    m_bc, m_ca, m_ab = (face_edges[:, 0] + nv, face_edges[:, 1] + nv, face_edges[:, 2] + nv)
    new_faces = torch.cat(
        [
            torch.stack([a, m_ab, m_ca], 1),
            torch.stack([b, m_bc, m_ab], 1),
            torch.stack([c, m_ca, m_bc], 1),
            torch.stack([m_bc, m_ca, m_ab], 1),
        ],
        dim=0,
    )
    return new_verts, new_faces


def subdivide_meshes(meshes: Any, *, levels: int = 1):
    """Midpoint-subdivide every mesh of a batch ``levels`` times (faces × 4 per level).

    Args:
        meshes: a ``Meshes`` batch.
        levels: number of subdivision rounds (>= 0).

    Returns:
        a new ``Meshes``; original vertices keep their indices, new vertices (edge midpoints,
        not re-projected) follow. Differentiable w.r.t. the input vertices.
    """
    check_int(levels, "levels", min_value=0)
    verts_list, faces_list = mesh_lists(meshes)
    out_v, out_f = [], []
    for v, f in zip(verts_list, faces_list):
        for _ in range(levels):
            v, f = subdivide_faces(v, f)
        out_v.append(v)
        out_f.append(f)
    return new_meshes(out_v, out_f)


def _icosahedron() -> tuple[torch.Tensor, torch.Tensor]:
    phi = (1.0 + math.sqrt(5.0)) / 2.0
    verts = torch.tensor(
        [
            [-1, phi, 0], [1, phi, 0], [-1, -phi, 0], [1, -phi, 0],
            [0, -1, phi], [0, 1, phi], [0, -1, -phi], [0, 1, -phi],
            [phi, 0, -1], [phi, 0, 1], [-phi, 0, -1], [-phi, 0, 1],
        ],
        dtype=torch.float64,
        device="cpu",  # the cache holds CPU tensors whatever the default device
    )
    faces = torch.tensor(
        [
            [0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11],
            [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8],
            [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9],
            [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1],
        ],
        dtype=torch.int64,
        device="cpu",
    )
    return verts / verts.norm(dim=1, keepdim=True), faces


@lru_cache(maxsize=8)
def _ico_sphere_cpu(level: int) -> tuple[torch.Tensor, torch.Tensor]:
    if level == 0:
        return _icosahedron()
    v, f = _ico_sphere_cpu(level - 1)
    v, f = subdivide_faces(v, f)
    return v / v.norm(dim=1, keepdim=True), f


def ico_sphere(
    level: int = 0,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
):
    """Unit ico-sphere: level 0 is the icosahedron (12 verts, 20 faces); each level splits every
    face into four and re-projects the new vertices onto the unit sphere
    (``V = 10·4^level + 2``, ``F = 20·4^level``). Cached per level (CPU, float64).

    Returns:
        a ``Meshes`` with one mesh.
    """
    check_int(level, "level", min_value=0)
    v, f = _ico_sphere_cpu(level)
    # clone: the cached tensors must not be aliased by (and mutated through) the result
    v = v.to(device=device, dtype=dtype, copy=True)
    return new_meshes([v], [f.to(device=device, copy=True)])


def _from_trimesh(tm: Any, device: Any, dtype: torch.dtype):
    v = torch.as_tensor(tm.vertices, dtype=dtype, device=device)
    f = torch.as_tensor(tm.faces, dtype=torch.int64, device=device)
    return new_meshes([v], [f])


def box_mesh(
    size: float | tuple[float, float, float] = 1.0,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
):
    """Axis-aligned box centred at the origin with edge lengths ``size`` (x, y, z):
    8 verts, 12 faces, outward winding. Returns a ``Meshes`` with one mesh."""
    # built on the CPU in float64 (whatever the default device), then moved
    sz = torch.as_tensor(size, dtype=torch.float64, device="cpu").expand(3)
    for i in range(3):
        check_positive(float(sz[i]), "size")
    # The cube faces of cubify's table give outward winding for the unit cube.
    from spacetime.shapes.convert.cubify import cubify_indices

    corners, _, tris, _ = cubify_indices(torch.ones(1, 1, 1, 1, dtype=torch.bool, device="cpu"))
    v = (corners.to(torch.float64) - 0.5) * sz
    return new_meshes([v.to(device=device, dtype=dtype)], [tris.to(device=device)])


def cylinder_mesh(
    radius: float = 1.0,
    height: float = 2.0,
    *,
    sections: int = 32,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
):
    """Closed cylinder around the z axis, ``z ∈ [-height/2, height/2]``, ``sections`` sides
    (``trimesh.creation.cylinder``). Returns a ``Meshes`` with one mesh."""
    import trimesh

    check_positive(radius, "radius")
    check_positive(height, "height")
    check_int(sections, "sections", min_value=3)
    tm = trimesh.creation.cylinder(radius=radius, height=height, sections=sections)
    return _from_trimesh(tm, device, dtype)


def torus_mesh(
    major_radius: float = 1.0,
    minor_radius: float = 0.25,
    *,
    major_sections: int = 32,
    minor_sections: int = 16,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
):
    """Torus around the z axis: tube of radius ``minor_radius`` whose centre line is a circle of
    radius ``major_radius`` in the xy plane (genus 1, Euler characteristic 0). Returns a
    ``Meshes`` with one mesh."""
    check_positive(minor_radius, "minor_radius")
    check_int(major_sections, "major_sections", min_value=3)
    check_int(minor_sections, "minor_sections", min_value=3)
    if not major_radius > minor_radius:
        raise InputError(
            f"major_radius: expected a value > minor_radius ({minor_radius!r}), "
            f"got {major_radius!r}"
        )
    nu, nv = major_sections, minor_sections
    # built on the CPU in float64 (whatever the default device), then moved
    u = torch.arange(nu, dtype=torch.float64, device="cpu") * (2 * math.pi / nu)
    w = torch.arange(nv, dtype=torch.float64, device="cpu") * (2 * math.pi / nv)
    uu, ww = torch.meshgrid(u, w, indexing="ij")
    ring = major_radius + minor_radius * torch.cos(ww)
    verts = torch.stack(
        [ring * torch.cos(uu), ring * torch.sin(uu), minor_radius * torch.sin(ww)], dim=-1
    ).reshape(-1, 3)
    i = torch.arange(nu, device="cpu")[:, None].expand(nu, nv)
    j = torch.arange(nv, device="cpu")[None, :].expand(nu, nv)
    i1, j1 = (i + 1) % nu, (j + 1) % nv
    a, b, c, d = i * nv + j, i1 * nv + j, i1 * nv + j1, i * nv + j1
    faces = torch.cat(
        [torch.stack([a, b, c], -1).reshape(-1, 3), torch.stack([a, c, d], -1).reshape(-1, 3)]
    )
    return new_meshes([verts.to(device=device, dtype=dtype)], [faces.to(device=device)])

