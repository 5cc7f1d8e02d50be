"""Conversions between 3D representations: depth maps, point clouds, voxels, implicit
functions (SDFs) and triangle meshes. See ``docs/conversions.md`` for the conversion graph and
the coordinate conventions."""

from spacetime.shapes.convert.cubify import cubify
from spacetime.shapes.convert.depth import (
    depth_to_normals,
    depth_to_points,
    depth_to_points_dense,
    points_to_depth,
)
from spacetime.shapes.convert.implicit import (
    SDF,
    Box,
    Capsule,
    Cylinder,
    Difference,
    Intersection,
    Rotate,
    Scale,
    Sphere,
    Torus,
    Translate,
    Union,
    occupancy_from_sdf,
    sample_grid,
)
from spacetime.shapes.convert.marching_cubes import marching_cubes
from spacetime.shapes.convert.mesh_distance import (
    closest_points_on_triangles,
    mesh_distance,
    mesh_occupancy,
    mesh_sdf,
    winding_number,
)
from spacetime.shapes.convert.primitives import (
    box_mesh,
    cylinder_mesh,
    ico_sphere,
    subdivide_faces,
    subdivide_meshes,
    torus_mesh,
)
from spacetime.shapes.convert.route import (
    ConvertOptions,
    conversion_route,
    convert_file,
    convert_representation,
    target_kind,
)
from spacetime.shapes.convert.sampling import sample_points_from_meshes
from spacetime.shapes.convert.voxelize import (
    mesh_to_octree,
    triangle_box_overlap,
    voxelize_mesh,
    voxelize_points,
)

__all__ = [
    "cubify",
    "depth_to_points",
    "depth_to_points_dense",
    "points_to_depth",
    "depth_to_normals",
    "SDF",
    "Sphere",
    "Box",
    "Cylinder",
    "Torus",
    "Capsule",
    "Union",
    "Intersection",
    "Difference",
    "Translate",
    "Scale",
    "Rotate",
    "sample_grid",
    "occupancy_from_sdf",
    "marching_cubes",
    "closest_points_on_triangles",
    "mesh_distance",
    "winding_number",
    "mesh_sdf",
    "mesh_occupancy",
    "ico_sphere",
    "box_mesh",
    "cylinder_mesh",
    "torus_mesh",
    "subdivide_meshes",
    "subdivide_faces",
    "sample_points_from_meshes",
    "voxelize_mesh",
    "voxelize_points",
    "mesh_to_octree",
    "triangle_box_overlap",
    "ConvertOptions",
    "conversion_route",
    "convert_representation",
    "convert_file",
    "target_kind",
]
