"""Stated maxima of what spacetime reads or allocates, checked *before* allocating.

Every reader validates the sizes a file declares (a header's counts, an ``.npy`` header's shape,
an image's width × height, a binvox ``dim``) against these values, and so do the arguments that
size an allocation (a voxel ``resolution``, a picture ``size``), so that a 100-byte file or a
typo cannot ask for terabytes. A value beyond its limit raises
:class:`~spacetime.errors.FileFormatError` (files) or :class:`~spacetime.errors.InputError`
(arguments) naming the file or argument, the field, the value and the limit.

The limits are plain module-level values; change one for the whole process
(``spacetime.limits.MAX_POINTS = 10**9``) or for a block::

    from spacetime import limits

    with limits.override(MAX_IMAGE_PIXELS=400_000_000):
        img = read_rgb_image("huge.png")

(``override`` changes the module for every thread while the block runs.)

======================  ==============  ===================================================
limit                   default         what it bounds
======================  ==============  ===================================================
``MAX_FILE_BYTES``      4 GiB           any file read whole into memory
``MAX_MESH_VERTICES``   50 000 000      vertices of one mesh (OBJ, OFF, PLY, STL, GLB, ...)
``MAX_MESH_FACES``      100 000 000     faces of one mesh (triangles after fan-splitting)
``MAX_POLYGON_CORNERS`` 4 096           corners of one polygon (OBJ ``f``, OFF / PLY lists)
``MAX_POINTS``          100 000 000     points of one cloud (PLY, XYZ, NPY, NPZ)
``MAX_VOXELS``          2**28           cells of one voxel / SDF grid (binvox, NPZ,
                                        ``voxelize_mesh``, ``convert --resolution``: 645³)
``MAX_IMAGE_PIXELS``    100 000 000     width × height of an image, depth / normal map, flow
                                        field, video frame, or a picture to draw
``MAX_VIDEO_FRAMES``    100 000         frames decoded by one ``read_video`` call
``MAX_ARRAY_BYTES``     4 GiB           an array in an ``.npy`` / ``.npz`` file
======================  ==============  ===================================================
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import sys
from collections.abc import Iterator
from typing import Any

from spacetime.errors import FileFormatError, InputError

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_MESH_VERTICES",
    "MAX_MESH_FACES",
    "MAX_POLYGON_CORNERS",
    "MAX_POINTS",
    "MAX_VOXELS",
    "MAX_IMAGE_PIXELS",
    "MAX_VIDEO_FRAMES",
    "MAX_ARRAY_BYTES",
    "LIMIT_NAMES",
    "override",
    "get",
    "check_limit",
    "check_image_size",
]

MAX_FILE_BYTES: int = 4 << 30
MAX_MESH_VERTICES: int = 50_000_000
MAX_MESH_FACES: int = 100_000_000
MAX_POLYGON_CORNERS: int = 4096
MAX_POINTS: int = 100_000_000
MAX_VOXELS: int = 1 << 28
MAX_IMAGE_PIXELS: int = 100_000_000
MAX_VIDEO_FRAMES: int = 100_000
MAX_ARRAY_BYTES: int = 4 << 30

LIMIT_NAMES = (
    "MAX_FILE_BYTES", "MAX_MESH_VERTICES", "MAX_MESH_FACES", "MAX_POLYGON_CORNERS",
    "MAX_POINTS", "MAX_VOXELS", "MAX_IMAGE_PIXELS", "MAX_VIDEO_FRAMES", "MAX_ARRAY_BYTES",
)


def get(name: str) -> int:
    """The current value of limit ``name`` (e.g. ``"MAX_POINTS"``)."""
    if name not in LIMIT_NAMES:
        raise InputError(f"limit: unknown name {name!r}; known: {', '.join(LIMIT_NAMES)}")
    return int(getattr(sys.modules[__name__], name))


@contextlib.contextmanager
def override(**values: int) -> Iterator[None]:
    """Set limits for the duration of a ``with`` block (restored afterwards, even on error)."""
    mod = sys.modules[__name__]
    old = {}
    for name, value in values.items():
        get(name)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise InputError(f"limit {name}: expected a non-negative int, got {value!r}")
        old[name] = getattr(mod, name)
    try:
        for name, value in values.items():
            setattr(mod, name, int(value))
        yield
    finally:
        for name, value in old.items():
            setattr(mod, name, value)


def _error(source: str | os.PathLike | None, message: str) -> Exception:
    if source is None:
        return InputError(message)
    return FileFormatError(f"{os.fspath(source)}: {message}")


def check_limit(
    value: Any,
    field: str,
    limit: str,
    source: str | os.PathLike | None = None,
    *,
    min_value: int = 0,
) -> int:
    """``value`` as an int in ``[min_value, limits.<limit>]``, else a clear error.

    Args:
        value: a declared size (any int-like: Python int, numpy integer, an integral float).
        field: what it is (``"element vertex count"``, ``"resolution"``).
        limit: the limit's name in this module (``"MAX_POINTS"``).
        source: the file it comes from: errors are ``FileFormatError`` naming it; ``None`` for
            a function argument (``InputError``).
        min_value: smallest accepted value.
    """
    bound = get(limit)
    shown = int(value) if isinstance(value, numbers.Integral) else repr(value)
    where = f"{field} = {shown}"
    if isinstance(value, bool):
        raise _error(source, f"{where}: expected an integer")
    if isinstance(value, numbers.Integral):
        n = int(value)
    elif isinstance(value, numbers.Real) and math.isfinite(float(value)) \
            and float(value).is_integer():
        n = int(value)
    else:
        raise _error(source, f"{where}: expected an integer")
    if n < min_value:
        raise _error(source, f"{where}: expected >= {min_value}")
    if n > bound:
        raise _error(source, f"{where} exceeds the limit spacetime.limits.{limit} = {bound:,} "
                             f"(raise it with spacetime.limits.override({limit}=...))")
    return n


def check_image_size(
    height: Any, width: Any, source: str | os.PathLike | None = None, field: str = "image"
) -> tuple[int, int]:
    """``(height, width)`` as ints, each >= 0, whose product is within ``MAX_IMAGE_PIXELS``."""
    h = check_limit(height, f"{field} height", "MAX_IMAGE_PIXELS", source)
    w = check_limit(width, f"{field} width", "MAX_IMAGE_PIXELS", source)
    check_limit(h * w, f"{field} pixels ({h} x {w})", "MAX_IMAGE_PIXELS", source)
    return h, w
