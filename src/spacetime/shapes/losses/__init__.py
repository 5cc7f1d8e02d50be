"""Shape losses: Mesh R-CNN's Chamfer / normal / edge losses, Laplacian smoothing, face normal
consistency, depth (L2, scale-invariant), surface-normal and voxel BCE losses, the shape-layer
depth loss (Matryoshka networks)."""

from spacetime.shapes.losses.chamfer import ChamferNormalLoss, chamfer_loss, chamfer_normal_loss
from spacetime.shapes.losses.depth import (
    depth_l2_loss,
    scale_invariant_depth_loss,
    surface_normal_loss,
)
from spacetime.shapes.losses.layers import shape_layer_loss
from spacetime.shapes.losses.mesh import (
    mesh_edge_loss,
    mesh_laplacian_smoothing,
    mesh_normal_consistency,
)
from spacetime.shapes.losses.voxel import voxel_bce_loss

__all__ = [
    "ChamferNormalLoss",
    "chamfer_loss",
    "chamfer_normal_loss",
    "mesh_edge_loss",
    "mesh_laplacian_smoothing",
    "mesh_normal_consistency",
    "depth_l2_loss",
    "scale_invariant_depth_loss",
    "surface_normal_loss",
    "voxel_bce_loss",
    "shape_layer_loss",
]
