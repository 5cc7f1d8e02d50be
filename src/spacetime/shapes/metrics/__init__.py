"""Shape metrics: exact kNN, Chamfer (squared L2), F1@t, normal consistency, voxel IoU,
part-segmentation accuracy / instance and class mIoU, depth and
normal-map metrics, and Mesh R-CNN's ``compare_meshes``. Definitions: ``docs/metrics.md``."""

from spacetime.shapes.metrics.chamfer import chamfer_distance
from spacetime.shapes.metrics.compare import (
    MESHRCNN_THRESHOLDS,
    PIXEL2MESH_SCALE,
    PIXEL2MESH_THRESHOLDS,
    SurfaceErrors,
    compare_meshes,
    surface_errors,
)
from spacetime.shapes.metrics.depth import (
    DEPTH_METRIC_KEYS,
    NORMAL_METRIC_KEYS,
    depth_metrics,
    normal_metrics,
)
from spacetime.shapes.metrics.f1 import ChamferF1, F1Score, chamfer_and_f1, f1_score
from spacetime.shapes.metrics.knn import KNN, knn_gather, knn_points, morton_order
from spacetime.shapes.metrics.normals import NormalConsistency, normal_consistency
from spacetime.shapes.metrics.segmentation import part_segmentation_metrics, shape_part_ious
from spacetime.shapes.metrics.voxel import voxel_iou

__all__ = [
    "KNN",
    "knn_points",
    "knn_gather",
    "morton_order",
    "chamfer_distance",
    "F1Score",
    "ChamferF1",
    "f1_score",
    "chamfer_and_f1",
    "NormalConsistency",
    "normal_consistency",
    "voxel_iou",
    "shape_part_ious",
    "part_segmentation_metrics",
    "depth_metrics",
    "normal_metrics",
    "DEPTH_METRIC_KEYS",
    "NORMAL_METRIC_KEYS",
    "compare_meshes",
    "surface_errors",
    "SurfaceErrors",
    "MESHRCNN_THRESHOLDS",
    "PIXEL2MESH_SCALE",
    "PIXEL2MESH_THRESHOLDS",
]
