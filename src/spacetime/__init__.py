"""spacetime: 3D vision and video understanding in PyTorch.

Two halves, as in the lecture this package implements:

- :mod:`spacetime.shapes`: 3D shape representations (depth maps, normals, voxels, implicit
  functions, point clouds, meshes), conversions, metrics, losses, file formats, datasets, models.
- :mod:`spacetime.video`: video decoding, clips, transforms, datasets, optical flow and models.

Shared: :mod:`spacetime.engine` (training/evaluation loops), :mod:`spacetime.analysis`
(layer tables), :mod:`spacetime.viz` (pictures), :mod:`spacetime.cli` (command line).
"""

from spacetime.errors import (
    DependencyError,
    FileFormatError,
    InputError,
    MissingFileError,
    SpacetimeError,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "SpacetimeError",
    "InputError",
    "FileFormatError",
    "MissingFileError",
    "DependencyError",
]
