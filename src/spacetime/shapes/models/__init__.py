"""The lecture's 3D models: depth / normal prediction, voxel classification and generation,
octree generation, nested shape layers (Matryoshka networks), PointNet, point-set generation
and occupancy networks.

Plain ``nn.Module`` classes with keyword-only builders; :data:`SHAPE_MODEL_BUILDERS` maps the
model names to the builders and :data:`MODEL_TASKS` to their task (what the model eats, how it
is trained, evaluated and saved: the task objects of :mod:`spacetime.shapes.models.tasks`).
``docs/shape_models.md`` lists the papers and shapes.
"""

from collections.abc import Callable

from torch import nn

from spacetime.shapes.models._blocks import (
    SHAPE_IMAGE_ENCODERS,
    ImageEncoder,
    ResNetImageEncoder,
    activation_bytes,
    check_image,
)
from spacetime.shapes.models.dense import (
    DepthFCN,
    EncoderDecoder2d,
    NormalFCN,
    depth_fcn,
    normal_fcn,
)
from spacetime.shapes.models.matryoshka import (
    MatryoshkaNet,
    compose_predicted_layers,
    decode_shape_layers,
    matryoshka,
    shape_layer_targets,
)
from spacetime.shapes.models.occnet import (
    OCC_BOX,
    ConditionalBatchNorm1d,
    MeshExtraction,
    OccupancyNetwork,
    extract_mesh,
    occnet,
)
from spacetime.shapes.models.octree import (
    OctreeGenerator,
    OctreeOutput,
    octree_gen,
    octree_loss,
    octree_targets,
)
from spacetime.shapes.models.pixel2mesh import (
    Pixel2Mesh,
    Pixel2MeshLoss,
    Pixel2MeshOutput,
    Pixel2MeshStep,
    PyramidEncoder,
    camera_frame_targets,
    evaluate_pixel2mesh,
    pixel2mesh,
    pixel2mesh_loss,
    synthetic_object_depth,
)
from spacetime.shapes.models.points import (
    PointNet,
    PointNetSegmentation,
    PointSetGenerator,
    TNet,
    point_gen,
    pointnet,
    pointnet_seg,
)
from spacetime.shapes.models.tasks import (
    MODEL_TASKS,
    SHAPE_TASKS,
    TASK_RETURNS,
    DepthTask,
    MeshTask,
    NormalsTask,
    OccupancyTask,
    OctreeTask,
    PointClassificationTask,
    PointSegmentationTask,
    PointsTask,
    ShapeLayersTask,
    ShapeTask,
    VoxelClassificationTask,
    VoxelsTask,
    evaluate_shape_model,
    normalize_to_unit_cube,
    predict_shapes,
    resize_voxels,
    shape_task,
    synthetic_intrinsics,
)
from spacetime.shapes.models.voxels import (
    VoxelClassifier,
    VoxelGenerator,
    VoxelTubes,
    voxel_gen,
    voxel_tubes,
    voxels_to_shapenets_input,
    voxnet,
)

#: model name → keyword-only builder
SHAPE_MODEL_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "depth-fcn": depth_fcn,
    "normal-fcn": normal_fcn,
    "voxnet": voxnet,
    "voxel-gen": voxel_gen,
    "voxel-tubes": voxel_tubes,
    "octree-gen": octree_gen,
    "matryoshka": matryoshka,
    "pointnet": pointnet,
    "pointnet-seg": pointnet_seg,
    "point-gen": point_gen,
    "occnet": occnet,
    "pixel2mesh": pixel2mesh,
}

__all__ = [
    "SHAPE_MODEL_BUILDERS",
    "MODEL_TASKS",
    "SHAPE_TASKS",
    "TASK_RETURNS",
    # blocks
    "ImageEncoder",
    "ResNetImageEncoder",
    "SHAPE_IMAGE_ENCODERS",
    "check_image",
    "activation_bytes",
    # dense prediction
    "EncoderDecoder2d",
    "DepthFCN",
    "NormalFCN",
    "depth_fcn",
    "normal_fcn",
    # voxels
    "VoxelClassifier",
    "VoxelGenerator",
    "VoxelTubes",
    "voxnet",
    "voxel_gen",
    "voxel_tubes",
    "voxels_to_shapenets_input",
    # octree
    "OctreeGenerator",
    "OctreeOutput",
    "octree_gen",
    "octree_targets",
    "octree_loss",
    # shape layers (Matryoshka networks)
    "MatryoshkaNet",
    "matryoshka",
    "shape_layer_targets",
    "decode_shape_layers",
    "compose_predicted_layers",
    # points
    "TNet",
    "PointNet",
    "PointNetSegmentation",
    "PointSetGenerator",
    "pointnet",
    "pointnet_seg",
    "point_gen",
    # occupancy
    "ConditionalBatchNorm1d",
    "OccupancyNetwork",
    "occnet",
    "extract_mesh",
    "MeshExtraction",
    "OCC_BOX",
    # tasks: training steps, prediction, evaluation
    "ShapeTask",
    "DepthTask",
    "NormalsTask",
    "VoxelClassificationTask",
    "PointClassificationTask",
    "PointSegmentationTask",
    "VoxelsTask",
    "OctreeTask",
    "ShapeLayersTask",
    "PointsTask",
    "OccupancyTask",
    "MeshTask",
    "shape_task",
    "resize_voxels",
    "evaluate_shape_model",
    "predict_shapes",
    "synthetic_intrinsics",
    "normalize_to_unit_cube",
    # meshes (Pixel2Mesh)
    "PyramidEncoder",
    "Pixel2Mesh",
    "Pixel2MeshOutput",
    "Pixel2MeshLoss",
    "Pixel2MeshStep",
    "pixel2mesh",
    "pixel2mesh_loss",
    "camera_frame_targets",
    "evaluate_pixel2mesh",
    "synthetic_object_depth",
]
