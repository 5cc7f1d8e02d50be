"""Mesh R-CNN (Gkioxari, Malik & Johnson, "Mesh R-CNN", ICCV 2019): detection (torchvision's
Mask R-CNN) + a voxel branch predicting a ``G³`` occupancy grid per object in the space
transformed by the camera intrinsics K, :func:`~spacetime.shapes.cubify`, and a mesh
refinement branch (vert align → graph convolution → vertex refinement, from
:mod:`spacetime.shapes.ops`).

- :mod:`.kspace`: the K-space transform and its inverse, K-space voxel targets, cubify back to
  the camera frame;
- :mod:`.heads`: :class:`VoxelHead`, :class:`MeshRefinementHead`, :class:`DepthHead`;
- :mod:`.single`: single-object mode (ShapeNet-style, no detector), :func:`mesh_rcnn_single`;
- :mod:`.scene`: scene mode (Pix3D-style / synthetic scenes), :func:`mesh_rcnn`;
- :mod:`.losses`: voxel + Chamfer + normal + edge losses, presets ``"best"`` / ``"pretty"``;
- :mod:`.evaluation`: ShapeNet protocol, box / mask / mesh AP, face-quality counts;
- :mod:`.viz`: the image with boxes, masks and meshes overlaid, meshes from a second view;
- :mod:`.experiments`: the lecture's edge-loss ablation and sphere- vs voxel-init comparison.

``docs/mesh_rcnn.md`` has the conventions, the figures and the CLI (``spacetime meshrcnn``).
"""

from spacetime.shapes.models.mesh_rcnn.evaluation import (
    average_precision,
    box_iou,
    detection_ap,
    evaluate_single,
    mask_iou,
    mesh_quality,
)
from spacetime.shapes.models.mesh_rcnn.experiments import (
    edge_loss_ablation,
    euler_characteristic,
    experiment_data,
    mesh_genus,
    sphere_vs_voxel_init,
    train_single,
)
from spacetime.shapes.models.mesh_rcnn.heads import (
    DepthHead,
    MeshRefinementHead,
    VoxelHead,
    ZHead,
)
from spacetime.shapes.models.mesh_rcnn.kspace import (
    DEPTH_MODES,
    box_intrinsics,
    box_to_camera,
    camera_to_kspace,
    cubify_kspace,
    depth_range_from_box,
    full_image_boxes,
    intrinsics_params,
    kspace_to_camera,
    kspace_voxels,
)
from spacetime.shapes.models.mesh_rcnn.losses import (
    LOSS_PRESETS,
    MeshRCNNLoss,
    MeshRCNNStep,
    loss_weights,
    mesh_rcnn_loss,
)
from spacetime.shapes.models.mesh_rcnn.scene import (
    MeshRCNN,
    MeshRCNNSceneStep,
    TinyBackbone,
    collate_scenes,
    evaluate_scenes,
    load_detector_weights,
    mesh_rcnn,
    predict_scenes,
    scene_targets,
)
from spacetime.shapes.models.mesh_rcnn.single import (
    MeshRCNNOutput,
    MeshRCNNSingle,
    ResNet50Encoder,
    mesh_rcnn_single,
)
from spacetime.shapes.models.mesh_rcnn.viz import (
    PALETTE,
    contact_row,
    overlay_predictions,
    save_png,
    second_view,
)

#: model name → builder: scene mode (detector + shape heads) and single-object mode
MESH_RCNN_BUILDERS = {"mesh-rcnn": mesh_rcnn, "mesh-rcnn-single": mesh_rcnn_single}

__all__ = [
    "MESH_RCNN_BUILDERS",
    # K-space
    "intrinsics_params",
    "camera_to_kspace",
    "kspace_to_camera",
    "kspace_voxels",
    "cubify_kspace",
    "box_intrinsics",
    "box_to_camera",
    "DEPTH_MODES",
    "full_image_boxes",
    "depth_range_from_box",
    # heads and models
    "VoxelHead",
    "MeshRefinementHead",
    "DepthHead",
    "ZHead",
    "ResNet50Encoder",
    "MeshRCNNOutput",
    "MeshRCNNSingle",
    "mesh_rcnn_single",
    "TinyBackbone",
    "MeshRCNN",
    "mesh_rcnn",
    "load_detector_weights",
    # scene data, step, evaluation
    "scene_targets",
    "collate_scenes",
    "MeshRCNNSceneStep",
    "predict_scenes",
    "evaluate_scenes",
    # losses
    "LOSS_PRESETS",
    "loss_weights",
    "MeshRCNNLoss",
    "mesh_rcnn_loss",
    "MeshRCNNStep",
    # evaluation
    "average_precision",
    "box_iou",
    "mask_iou",
    "detection_ap",
    "evaluate_single",
    "mesh_quality",
    # pictures
    "PALETTE",
    "overlay_predictions",
    "second_view",
    "contact_row",
    "save_png",
    # experiments
    "experiment_data",
    "train_single",
    "euler_characteristic",
    "mesh_genus",
    "edge_loss_ablation",
    "sphere_vs_voxel_init",
]
