"""Pictures, plots and interactive 3D views.

- PNG pictures: :func:`show` (meshes, points, voxels, depth / normal maps, flow files),
  :func:`shape_image`, :func:`flow_picture`; training curves and confusion matrices (from
  :mod:`spacetime.engine.plots`, re-exported so that every picture-making function is one
  import away).
- Interactive views (three.js, one self-contained HTML file, inline in Jupyter):
  :class:`Figure` and the one-call ``view_*`` functions; :func:`view_error_map` is the
  Chamfer / F1@t error map; :func:`html_page` / :func:`write_html` assemble reports.
"""

from spacetime.engine.plots import plot_confusion_matrix, plot_training_curves
from spacetime.viz.flow import flow_picture, flow_wheel
from spacetime.viz.interactive import (
    MAX_CUBES,
    MAX_FACES,
    MAX_POINTS,
    Figure,
    colormap,
    html_page,
    write_html,
)
from spacetime.viz.shapes import shape_image, show
from spacetime.viz.views import (
    error_colors,
    load_viewable,
    view,
    view_depth,
    view_error_map,
    view_flow,
    view_flow_pair,
    view_mesh,
    view_octree,
    view_points,
    view_sdf,
    view_voxels,
)

__all__ = [
    "show",
    "shape_image",
    "flow_picture",
    "flow_wheel",
    "plot_training_curves",
    "plot_confusion_matrix",
    "Figure",
    "view",
    "view_mesh",
    "view_points",
    "view_voxels",
    "view_octree",
    "view_sdf",
    "view_depth",
    "view_flow",
    "view_flow_pair",
    "view_error_map",
    "error_colors",
    "load_viewable",
    "colormap",
    "html_page",
    "write_html",
    "MAX_FACES",
    "MAX_POINTS",
    "MAX_CUBES",
]
