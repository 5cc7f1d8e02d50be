"""Mesh operations for image → mesh models: :func:`vert_align` (image features at projected
vertices), :class:`GraphConv` (vertex graph convolution), :class:`VertexRefine`
(``v' = v + tanh(W [f; v])``), feature-carrying subdivision and one refinement stage
(Pixel2Mesh, Wang et al. 2018; Mesh R-CNN, Gkioxari et al. 2019). ``docs/pixel2mesh.md`` has
the shapes and conventions. Point-cloud ops: :func:`estimate_normals` (PCA normals, Hoppe et al.
1992), :func:`farthest_point_sampling` and :func:`ball_query` (PointNet++); see
``docs/point_ops.md``."""

from spacetime.shapes.ops.graph_conv import GraphConv, graph_conv, neighbor_sum
from spacetime.shapes.ops.points import (
    FPS,
    BallQuery,
    ball_query,
    estimate_normals,
    farthest_point_sampling,
)
from spacetime.shapes.ops.refine import (
    MeshRefinementStage,
    VertexRefine,
    grid_align,
    subdivide_meshes_and_features,
)
from spacetime.shapes.ops.vert_align import project_verts, vert_align

__all__ = [
    "vert_align",
    "project_verts",
    "grid_align",
    "GraphConv",
    "graph_conv",
    "neighbor_sum",
    "VertexRefine",
    "subdivide_meshes_and_features",
    "MeshRefinementStage",
    "estimate_normals",
    "farthest_point_sampling",
    "FPS",
    "ball_query",
    "BallQuery",
]
