"""Mesh regularisers: edge length (Mesh R-CNN), uniform Laplacian smoothing, normal consistency.

All take a :class:`~spacetime.shapes.structures.Meshes` batch, are differentiable w.r.t. the
vertices, compute one value per mesh (a mesh without edges / vertices / face pairs gives 0) and
reduce over the batch with ``reduction`` = ``"mean"`` | ``"sum"`` | ``"none"``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from spacetime.checks import check_positive
from spacetime.shapes.losses._reduce import reduce_batch

__all__ = ["mesh_edge_loss", "mesh_laplacian_smoothing", "mesh_normal_consistency"]


def _per_mesh_mean(values: torch.Tensor, owner: torch.Tensor, n: int) -> torch.Tensor:
    """Mean of ``values`` grouped by ``owner`` (``(M,)`` mesh index) → ``(n,)``; 0 for no rows."""
    sums = values.new_zeros(n).index_add(0, owner, values)
    counts = torch.bincount(owner, minlength=n).to(values.dtype)
    return sums / counts.clamp(min=1)


def mesh_edge_loss(
    meshes: Any, target_length: float = 0.0, reduction: str = "mean"
) -> torch.Tensor:
    """Mesh R-CNN's ``L_edge(V, E) = 1/|E| Σ_{(v,v')∈E} ||v - v'||²`` per mesh.

    Over the unique undirected edges (``Meshes.edges_packed()``). With ``target_length`` ``ℓ > 0``
    the term is ``(||v - v'|| - ℓ)²`` instead (PyTorch3D's variant).
    """
    check_positive(target_length, "target_length", strict=False)
    verts = meshes.verts_packed()
    edges = meshes.edges_packed()
    n = len(meshes)
    if edges.shape[0] == 0:
        return reduce_batch(verts.new_zeros(n) + 0.0 * verts.sum(), reduction)
    diff = verts[edges[:, 0]] - verts[edges[:, 1]]
    sq = (diff * diff).sum(1)
    if target_length > 0:
        sq = (sq.clamp(min=1e-30).sqrt() - target_length) ** 2
    return reduce_batch(_per_mesh_mean(sq, meshes.edges_packed_to_mesh_idx(), n), reduction)


def mesh_laplacian_smoothing(meshes: Any, reduction: str = "mean") -> torch.Tensor:
    """Uniform Laplacian smoothing: per mesh, ``mean_i ||δ_i||₂`` (unsquared, as PyTorch3D).

    ``δ_i = (1/|N(i)|) Σ_{j∈N(i)} v_j - v_i`` with ``N(i)`` the vertices sharing an edge with ``i``
    (uniform weights; isolated vertices have ``δ_i = 0``). The mean is over all vertices.
    """
    verts = meshes.verts_packed()
    n = len(meshes)
    nv = verts.shape[0]
    if nv == 0:
        return reduce_batch(verts.new_zeros(n), reduction)
    e = meshes.edges_packed()
    src = torch.cat([e[:, 0], e[:, 1]])
    dst = torch.cat([e[:, 1], e[:, 0]])
    deg = torch.bincount(src, minlength=nv).to(verts.dtype)
    nb_sum = verts.new_zeros(verts.shape).index_add(0, src, verts[dst])
    has = (deg > 0)[:, None]
    delta = torch.where(has, nb_sum / deg.clamp(min=1)[:, None] - verts, torch.zeros_like(verts))
    # ||δ|| with a zero (sub)gradient at δ = 0
    sq = (delta * delta).sum(1)
    safe = torch.where(sq > 0, sq, torch.ones_like(sq))
    norm = torch.where(sq > 0, safe.sqrt(), torch.zeros_like(sq))
    return reduce_batch(_per_mesh_mean(norm, meshes.verts_packed_to_mesh_idx(), n), reduction)


def mesh_normal_consistency(meshes: Any, reduction: str = "mean") -> torch.Tensor:
    """Per mesh, ``mean over pairs of faces sharing an edge of 1 - cos(n_f, n_g)``.

    ``n_f`` are unit face normals by the right-hand rule on the face winding, so a mesh must be
    consistently wound for the value to mean "flatness" (0 for a plane, 2 for a folded-over
    pair). A non-manifold edge with ``k`` faces contributes all ``k(k-1)/2`` pairs.
    """
    verts = meshes.verts_packed()
    faces = meshes.faces_packed()
    n = len(meshes)
    if faces.shape[0] == 0:
        return reduce_batch(verts.new_zeros(n) + 0.0 * verts.sum(), reduction)
    v0, v1, v2 = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    normals = F.normalize(torch.cross(v1 - v0, v2 - v0, dim=1), dim=1, eps=1e-12)
    f2e = meshes.faces_packed_to_edges_packed()  # (F, 3)
    edge_of = f2e.reshape(-1)
    face_of = torch.arange(faces.shape[0], device=faces.device).repeat_interleave(3)
    order = torch.argsort(edge_of, stable=True)
    edge_s, face_s = edge_of[order], face_of[order]
    fa, fb = [], []
    counts = torch.bincount(edge_s)
    max_k = int(counts.max()) if counts.numel() else 0
    for k in range(1, max_k):
        same = edge_s[k:] == edge_s[:-k]
        fa.append(face_s[:-k][same])
        fb.append(face_s[k:][same])
    if not fa or sum(int(a.numel()) for a in fa) == 0:
        return reduce_batch(verts.new_zeros(n) + 0.0 * verts.sum(), reduction)
    a, b = torch.cat(fa), torch.cat(fb)
    loss = 1.0 - (normals[a] * normals[b]).sum(1)
    owner = meshes.faces_packed_to_mesh_idx()[a]
    return reduce_batch(_per_mesh_mean(loss, owner, n), reduction)
