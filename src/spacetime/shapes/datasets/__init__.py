"""Loaders for real 3D datasets: ShapeNetCore v1/v2, R2N2 renderings + voxels, Pix3D and
ModelNet10/40 (``torch.utils.data.Dataset``s indexed at construction, loaded lazily per item),
and :func:`collate_3d`, which batches their items into ``Meshes`` / ``Pointclouds``; the split
rule of each source (:mod:`.splits`) and the adapters to the models' inputs (:mod:`.adapters`);
and the
built-in :class:`SyntheticShapes` (procedural objects rendered with every kind of ground truth)
and :class:`SyntheticScenes` (1–3 of them on a ground plane, with instance masks and boxes).

Folder layouts and examples: ``docs/datasets_3d.md``, ``docs/synthetic_3d.md``.
"""

from spacetime.shapes.datasets.adapters import MeshNormalizedDataset, R2N2Views
from spacetime.shapes.datasets.collate import collate_3d
from spacetime.shapes.datasets.modelnet import ModelNet, read_modelnet_off
from spacetime.shapes.datasets.pix3d import (
    PIX3D_BAD_IMAGES,
    PIX3D_SENSOR_WIDTH_MM,
    Pix3D,
    pix3d_camera,
)
from spacetime.shapes.datasets.procedural import CATEGORIES as SYNTHETIC_CATEGORIES
from spacetime.shapes.datasets.procedural import ProceduralObject, make_object
from spacetime.shapes.datasets.r2n2 import (
    R2N2,
    R2N2_FOCAL_NDC,
    R2N2_MAX_CAMERA_DISTANCE,
    R2N2_SYNSETS,
    align_voxels_to_bbox,
    r2n2_camera,
    read_r2n2_metadata,
    read_r2n2_split,
    voxels_to_camera_frame,
)
from spacetime.shapes.datasets.shapenet import (
    ShapeNetCore,
    read_shapenet_split_csv,
    read_shapenet_taxonomy,
)
from spacetime.shapes.datasets.splits import (
    SHAPE_DATA_FORMS,
    ShapeData,
    ShapeSplit,
    ShapeSplits,
    shape_splits,
    shapenet_version,
)
from spacetime.shapes.datasets.synthetic import (
    SYNTHETIC_RETURNS,
    SyntheticScenes,
    SyntheticShapes,
    camera_aligned_voxels,
    demonstrate_scale_ambiguity,
    occupancy_samples,
    render_view,
    sample_view,
    solid_voxels,
)

__all__ = [
    "collate_3d",
    "MeshNormalizedDataset",
    "R2N2Views",
    "SHAPE_DATA_FORMS",
    "ShapeData",
    "ShapeSplit",
    "ShapeSplits",
    "shape_splits",
    "shapenet_version",
    "ShapeNetCore",
    "read_shapenet_taxonomy",
    "read_shapenet_split_csv",
    "R2N2",
    "r2n2_camera",
    "read_r2n2_metadata",
    "read_r2n2_split",
    "align_voxels_to_bbox",
    "voxels_to_camera_frame",
    "R2N2_SYNSETS",
    "R2N2_FOCAL_NDC",
    "R2N2_MAX_CAMERA_DISTANCE",
    "Pix3D",
    "pix3d_camera",
    "PIX3D_SENSOR_WIDTH_MM",
    "PIX3D_BAD_IMAGES",
    "ModelNet",
    "read_modelnet_off",
    "SyntheticShapes",
    "SyntheticScenes",
    "SYNTHETIC_CATEGORIES",
    "SYNTHETIC_RETURNS",
    "ProceduralObject",
    "make_object",
    "render_view",
    "sample_view",
    "solid_voxels",
    "camera_aligned_voxels",
    "occupancy_samples",
    "demonstrate_scale_ambiguity",
]
