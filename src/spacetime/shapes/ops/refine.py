"""Mesh refinement: vertex refinement ``v' = v + tanh(W_vert [f; v])`` (topology fixed), the
coarse-to-fine subdivision of meshes *with* their vertex features (Pixel2Mesh's graph unpooling),
and one refinement stage (vert align → graph convolutions → vertex refinement) as used by
Pixel2Mesh (Wang et al. 2018) and Mesh R-CNN's mesh branch (Gkioxari et al. 2019).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spacetime.checks import check_in, check_int, check_tensor
from spacetime.errors import InputError
from spacetime.shapes.ops.graph_conv import GraphConv
from spacetime.shapes.ops.vert_align import vert_align

__all__ = ["VertexRefine", "subdivide_meshes_and_features", "MeshRefinementStage", "grid_align"]


class VertexRefine(nn.Module):
    """``v'_i = v_i + tanh(W_vert [f_i; v_i] + b)``: per-vertex offsets, topology fixed.

    ``W_vert`` and ``b`` start at zero (as in Mesh R-CNN), so an untrained stage leaves the mesh
    unchanged; each stage moves a vertex by less than 1 (camera-frame units) per coordinate.

    Args:
        in_features: ``C`` of the vertex features ``f``.

    Shapes: ``forward(verts, feats)`` with ``verts`` a ``Meshes`` (→ a new ``Meshes``) or packed
    ``(V, 3)`` (→ ``(V, 3)``) and ``feats`` ``(V, C)``.
    """

    def __init__(self, in_features: int) -> None:
        super().__init__()
        check_int(in_features, "in_features", min_value=0)
        self.in_features = in_features
        self.linear = nn.Linear(in_features + 3, 3)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def offsets(self, verts: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """``tanh(W_vert [f; v] + b)`` ``(V, 3)``."""
        sizes = check_tensor(verts, "verts", ("V", 3), dtype="float")
        check_tensor(feats, "feats", (sizes["V"], self.in_features), dtype="float")
        return torch.tanh(self.linear(torch.cat([feats, verts], 1)))

    def forward(self, verts: Any, feats: torch.Tensor) -> Any:
        if hasattr(verts, "verts_packed") and hasattr(verts, "update_packed"):
            v = verts.verts_packed()
            return verts.update_packed(v + self.offsets(v, feats))
        if not isinstance(verts, torch.Tensor):
            raise InputError(
                f"verts: expected a Meshes or a (V, 3) tensor, got {type(verts).__name__}"
            )
        return verts + self.offsets(verts, feats)


def subdivide_meshes_and_features(
    meshes: Any, feats: torch.Tensor | None = None
) -> tuple[Any, torch.Tensor | None]:
    """Midpoint-subdivide every mesh once (:func:`~spacetime.shapes.subdivide_meshes`: faces × 4)
    and interpolate packed vertex features ``(sum(V_n), C)`` to the new vertices: the vertex made
    on edge ``(i, j)`` gets ``(f_i + f_j) / 2`` (Pixel2Mesh's graph unpooling).

    Returns:
        ``(meshes', feats')``, ``feats'`` ``(sum(V_n + E_n), C)`` in the order of the new packed
        vertices (per mesh: the old vertices, then one per unique edge), or ``None``.
    """
    from spacetime.shapes.convert import subdivide_meshes

    new = subdivide_meshes(meshes, levels=1)
    if feats is None:
        return new, None
    nv = meshes.num_verts_per_mesh()
    check_tensor(feats, "feats", (int(nv.sum()), "C"), dtype="float")
    edges = meshes.edges_packed()
    mids = 0.5 * (feats[edges[:, 0]] + feats[edges[:, 1]])
    parts = []
    for f, m in zip(feats.split(nv.tolist(), 0), mids.split(meshes.num_edges_per_mesh().tolist())):
        parts += [f, m]
    return new, torch.cat(parts, 0)


def grid_align(
    feature_maps: Sequence[torch.Tensor],
    meshes: Any,
    *,
    padding_mode: str = "border",
    align_corners: bool = True,
) -> torch.Tensor:
    """Sample ``(N, C_k, h_k, w_k)`` maps at the vertices' ``(x, y)`` read directly as
    normalised map coordinates (``-1`` left / top, ``+1`` right / bottom; no projection), as
    Mesh R-CNN's Pix3D mesh head does on RoI features (its meshes live in the box's normalised
    space). Returns packed ``(sum(V_n), sum(C_k))`` features. ``align_corners``: as
    ``F.grid_sample`` (PyTorch3D's ``vert_align`` default: True)."""
    from spacetime.ragged import lengths_to_first_idx, lengths_to_item_idx

    check_in(padding_mode, "padding_mode", ("zeros", "border"))
    verts = meshes.verts_packed()
    lengths = meshes.num_verts_per_mesh().to(verts.device)
    maps = list(feature_maps)
    if not maps:
        raise InputError("feature_maps: expected at least one map, got []")
    for i, m in enumerate(maps):
        check_tensor(m, f"feature_maps[{i}]", (lengths.numel(), "C", "h", "w"), dtype="float")
    item = lengths_to_item_idx(lengths)
    pos = torch.arange(verts.shape[0], device=verts.device) - lengths_to_first_idx(lengths)[item]
    vmax = int(lengths.max()) if lengths.numel() else 0
    grid = verts.new_zeros(lengths.numel(), 1, max(vmax, 1), 2)
    grid = grid.index_put((item, torch.zeros_like(item), pos), verts[:, :2])
    out = [F.grid_sample(m, grid.to(m.dtype), mode="bilinear", padding_mode=padding_mode,
                         align_corners=bool(align_corners))[item, :, 0, pos] for m in maps]
    return torch.cat(out, 1) if len(out) > 1 else out[0]


class MeshRefinementStage(nn.Module):
    """One refinement stage: image features at the vertices (:func:`vert_align`) → bottleneck
    ``Linear + ReLU`` → concatenated with the previous stage's vertex features and the vertex
    positions → ``num_convs`` × (:class:`GraphConv` + ReLU, positions re-appended after each) →
    :class:`VertexRefine`.

    Args:
        image_feat_dim: channels of the (concatenated) image feature maps.
        vert_feat_dim: channels of the previous stage's vertex features (0 for the first stage).
        hidden_dim: width of the bottleneck and the graph convolutions.
        num_convs: number of graph convolutions (>= 1).
        padding_mode: :func:`vert_align`'s.
        align: ``"project"`` (default: :func:`vert_align` projects camera-frame vertices with
            ``K``) or ``"grid"`` (:func:`grid_align`: vertex ``(x, y)`` are normalised map
            coordinates, ``K`` / ``image_size`` unused — Mesh R-CNN's Pix3D head).
        align_corners: passed to :func:`vert_align` / :func:`grid_align` (PyTorch3D: True).
        neighbor_bias: :class:`GraphConv`'s (PyTorch3D's layout: True).

    Shapes: ``forward(feature_maps [(N, C_k, h_k, w_k)], meshes (N meshes), K, image_size,
    vert_feats (sum(V_n), vert_feat_dim) or None) -> (meshes', vert_feats' (sum(V_n),
    hidden_dim))``.
    """

    def __init__(
        self,
        image_feat_dim: int,
        vert_feat_dim: int,
        hidden_dim: int,
        *,
        num_convs: int = 3,
        padding_mode: str = "zeros",
        align: str = "project",
        align_corners: bool = False,
        neighbor_bias: bool = False,
    ) -> None:
        super().__init__()
        check_in(align, "align", ("project", "grid"))
        check_int(image_feat_dim, "image_feat_dim", min_value=1)
        check_int(vert_feat_dim, "vert_feat_dim", min_value=0)
        check_int(hidden_dim, "hidden_dim", min_value=1)
        check_int(num_convs, "num_convs", min_value=1)
        self.vert_feat_dim = vert_feat_dim
        self.padding_mode = padding_mode
        self.align, self.align_corners = align, bool(align_corners)
        self.bottleneck = nn.Linear(image_feat_dim, hidden_dim)
        dims = [hidden_dim + vert_feat_dim + 3] + [hidden_dim + 3] * (num_convs - 1)
        self.convs = nn.ModuleList(GraphConv(d, hidden_dim, neighbor_bias=neighbor_bias)
                                   for d in dims)
        self.refine = VertexRefine(hidden_dim)

    def forward(
        self,
        feature_maps: Sequence[torch.Tensor],
        meshes: Any,
        K: Any,
        image_size: int | Sequence[int],
        vert_feats: torch.Tensor | None = None,
    ) -> tuple[Any, torch.Tensor]:
        verts = meshes.verts_packed()
        if self.align == "grid":
            img = grid_align(feature_maps, meshes, padding_mode=self.padding_mode,
                             align_corners=self.align_corners)
        else:
            img = vert_align(feature_maps, meshes, K, image_size, padding_mode=self.padding_mode,
                             align_corners=self.align_corners)
        x = torch.relu(self.bottleneck(img))
        if self.vert_feat_dim:
            if vert_feats is None:
                raise InputError(
                    f"vert_feats: expected ({verts.shape[0]}, {self.vert_feat_dim}), got None"
                )
            check_tensor(vert_feats, "vert_feats", (verts.shape[0], self.vert_feat_dim))
            x = torch.cat([x, vert_feats], 1)
        edges = meshes.edges_packed()
        for conv in self.convs:
            x = torch.relu(conv(torch.cat([x, verts], 1), edges))
        return self.refine(meshes, x), x
