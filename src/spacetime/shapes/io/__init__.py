"""File formats and interoperability for shapes (``spacetime.shapes.io``).

========  ==========================  =====  =====  =========================================
format    extension                   read   write  kept
========  ==========================  =====  =====  =========================================
OBJ       ``.obj`` (+ ``.mtl``/png)   yes    yes    verts (order), faces, colours, UVs, texture
PLY       ``.ply``                    yes    yes    verts, faces, normals, colours (ascii/bin)
OFF       ``.off``                    yes    yes    verts, faces
STL       ``.stl``                    yes    yes    triangles (identical vertices merged)
glTF      ``.glb`` / ``.gltf``        yes    glb    meshes of a scene (via trimesh)
points    ``.ply .xyz .npy .npz``     yes    yes    points, normals, colours
binvox    ``.binvox``                 yes    yes    occupancy, translate, scale
NPZ grid  ``.npz``                    yes    yes    any grid, origin, voxel size (lossless)
depth     ``.png`` (16 bit), ``.npy`` yes    yes    depth * scale (default mm)
normals   ``.png`` (8 bit), ``.npy``  yes    yes    (n + 1) / 2 as RGB
========  ==========================  =====  =====  =========================================

Every writer is atomic; every reader raises :class:`~spacetime.errors.FileFormatError` naming
the file and the reason for truncated or corrupt input. See ``docs/io_and_cli.md``.
"""

from spacetime.shapes.io.generic import KINDS, detect_kind, load, save
from spacetime.shapes.io.images import (
    load_depth,
    load_normals,
    read_rgb_image,
    save_depth,
    save_normals,
)
from spacetime.shapes.io.interop import (
    from_open3d,
    from_pytorch3d,
    from_trimesh,
    to_open3d,
    to_pytorch3d,
    to_trimesh,
)
from spacetime.shapes.io.meshes import MESH_EXTENSIONS, load_mesh, save_mesh
from spacetime.shapes.io.obj import read_obj, write_obj
from spacetime.shapes.io.off import read_off, write_off
from spacetime.shapes.io.ply import read_ply, write_ply
from spacetime.shapes.io.pointclouds import POINTCLOUD_EXTENSIONS, load_pointcloud, save_pointcloud
from spacetime.shapes.io.stl import read_stl, write_stl
from spacetime.shapes.io.voxels import (
    VOXEL_EXTENSIONS,
    load_voxels,
    read_binvox,
    save_voxels,
    write_binvox,
)

__all__ = [
    "load",
    "save",
    "detect_kind",
    "KINDS",
    "load_mesh",
    "save_mesh",
    "load_pointcloud",
    "save_pointcloud",
    "load_voxels",
    "save_voxels",
    "load_depth",
    "save_depth",
    "load_normals",
    "save_normals",
    "read_rgb_image",
    "read_obj",
    "write_obj",
    "read_ply",
    "write_ply",
    "read_off",
    "read_stl",
    "write_stl",
    "write_off",
    "read_binvox",
    "write_binvox",
    "to_trimesh",
    "from_trimesh",
    "to_open3d",
    "from_open3d",
    "to_pytorch3d",
    "from_pytorch3d",
    "MESH_EXTENSIONS",
    "POINTCLOUD_EXTENSIONS",
    "VOXEL_EXTENSIONS",
]
