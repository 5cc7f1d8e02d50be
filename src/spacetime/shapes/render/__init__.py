"""Headless rendering for pictures and synthetic data: a vectorised z-buffer rasteriser
(depth, normals, masks), point splatting, Lambert shading and automatic cameras."""

from spacetime.shapes.render.rasterize import (
    RasterOutput,
    rasterize_meshes,
    render_depth_normals,
    splat_points,
)
from spacetime.shapes.render.shading import (
    camera_for_bounds,
    render_mesh_image,
    render_points_image,
    shade_lambert,
)

__all__ = [
    "RasterOutput",
    "rasterize_meshes",
    "render_depth_normals",
    "splat_points",
    "camera_for_bounds",
    "render_mesh_image",
    "render_points_image",
    "shade_lambert",
]
