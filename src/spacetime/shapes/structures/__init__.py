"""Data structures for 3D shapes: meshes, point clouds, voxel grids and cameras."""

from spacetime.shapes.structures.cameras import CameraExtrinsics, CameraIntrinsics, look_at
from spacetime.shapes.structures.layers import (
    ShapeLayers,
    compose_shape_layers,
    decompose_shape_layers,
)
from spacetime.shapes.structures.meshes import Meshes, join_meshes_as_batch, join_meshes_as_scene
from spacetime.shapes.structures.octree import Octree
from spacetime.shapes.structures.pointclouds import Pointclouds, join_pointclouds_as_batch
from spacetime.shapes.structures.voxels import VoxelGrid

__all__ = [
    "Meshes",
    "Pointclouds",
    "VoxelGrid",
    "Octree",
    "ShapeLayers",
    "compose_shape_layers",
    "decompose_shape_layers",
    "CameraIntrinsics",
    "CameraExtrinsics",
    "look_at",
    "join_meshes_as_batch",
    "join_meshes_as_scene",
    "join_pointclouds_as_batch",
]
