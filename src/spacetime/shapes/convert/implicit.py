"""Analytic implicit shapes: signed distance functions (SDFs), CSG, transforms, grid sampling.

Convention: ``sdf(p) < 0`` inside, ``> 0`` outside, ``= 0`` on the surface, in world units
(the lecture's "signed distance function"). The primitives are exact Euclidean distances
(Inigo Quilez, "distance functions", iquilezles.org/articles/distfunctions):

==============  ===========================================================================
shape           definition
==============  ===========================================================================
``Sphere``      ``|p - c| - r``
``Box``         ``q = |p| - b``; ``|max(q, 0)| + min(max(q_x, q_y, q_z), 0)`` (half sizes b)
``Cylinder``    capped, axis z, radius r, half height h
``Torus``       ring in the xy plane: ``|(|p_xy| - R, p_z)| - r``
``Capsule``     segment ``a → b`` swept by radius r
==============  ===========================================================================

Combinations (``|`` union = min, ``&`` intersection = max, ``-`` difference = ``max(a, -b)``)
keep the zero level set and sign exactly but only give a *bound* on the distance away from the
surface (the true distance is ≥ the value's magnitude outside for union, and may differ inside
and for intersection / difference), which is enough for sphere tracing and marching cubes.
Translation and rotation are exact; only uniform scaling is offered (``s · f(p / s)`` is exact;
non-uniform scaling is not a distance).

Every shape is a callable ``points (..., 3) -> (...)``, differentiable w.r.t. the points and
(for tensor parameters) w.r.t. the shape parameters.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from spacetime.checks import check_int, check_tensor
from spacetime.errors import InputError
from spacetime.limits import check_limit
from spacetime.shapes.convert._common import new_voxelgrid

__all__ = [
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
]


def _param(value: Any, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


def _check_points(points: Any) -> None:
    check_tensor(points, "points", ("*", 3), dtype="float")


class SDF(abc.ABC):
    """Base class: a callable signed distance function ``(..., 3) -> (...)``."""

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        _check_points(points)
        return self.evaluate(points)

    @abc.abstractmethod
    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        """Signed distances of ``points`` ``(..., 3)`` (checked by ``__call__``)."""

    def __or__(self, other: SDF) -> SDF:
        return Union(self, other)

    def __and__(self, other: SDF) -> SDF:
        return Intersection(self, other)

    def __sub__(self, other: SDF) -> SDF:
        return Difference(self, other)

    def translate(self, offset: Sequence[float] | torch.Tensor) -> SDF:
        return Translate(self, offset)

    def scale(self, factor: float | torch.Tensor) -> SDF:
        return Scale(self, factor)

    def rotate(self, R: torch.Tensor) -> SDF:
        return Rotate(self, R)


class Sphere(SDF):
    """Sphere of ``radius`` centred at ``center``."""

    def __init__(self, radius: float | torch.Tensor = 1.0, center: Any = (0.0, 0.0, 0.0)):
        if not isinstance(radius, torch.Tensor) and not radius > 0:
            raise InputError(f"radius: expected a value > 0, got {radius!r}")
        self.radius, self.center = radius, center

    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        return (points - _param(self.center, points)).norm(dim=-1) - _param(self.radius, points)


class Box(SDF):
    """Axis-aligned box centred at the origin with edge lengths ``size`` (x, y, z) and optional
    corner rounding ``radius`` (the box keeps its outer size)."""

    def __init__(self, size: Any = (1.0, 1.0, 1.0), radius: float = 0.0):
        self.size, self.radius = size, radius

    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        r = _param(self.radius, points)
        half = _param(self.size, points).expand(3) * 0.5 - r
        q = points.abs() - half
        outside = q.clamp_min(0).norm(dim=-1)
        inside = q.max(dim=-1).values.clamp_max(0)
        return outside + inside - r


class Cylinder(SDF):
    """Capped cylinder around the z axis: ``radius``, ``z ∈ [-height/2, height/2]``."""

    def __init__(self, radius: float | torch.Tensor = 1.0, height: float | torch.Tensor = 2.0):
        self.radius, self.height = radius, height

    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        dx = points[..., :2].norm(dim=-1) - _param(self.radius, points)
        dz = points[..., 2].abs() - 0.5 * _param(self.height, points)
        d = torch.stack([dx, dz], -1)
        return d.max(dim=-1).values.clamp_max(0) + d.clamp_min(0).norm(dim=-1)


class Torus(SDF):
    """Torus around the z axis: tube radius ``minor_radius`` around a circle of radius
    ``major_radius`` in the xy plane."""

    def __init__(self, major_radius: float = 1.0, minor_radius: float = 0.25):
        self.major_radius, self.minor_radius = major_radius, minor_radius

    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        qx = points[..., :2].norm(dim=-1) - _param(self.major_radius, points)
        q = torch.stack([qx, points[..., 2]], -1)
        return q.norm(dim=-1) - _param(self.minor_radius, points)


class Capsule(SDF):
    """Segment from ``a`` to ``b`` swept by a ball of ``radius``."""

    def __init__(self, a: Any = (0.0, 0.0, -0.5), b: Any = (0.0, 0.0, 0.5), radius: float = 0.25):
        self.a, self.b, self.radius = a, b, radius

    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        a, b = _param(self.a, points), _param(self.b, points)
        pa, ba = points - a, b - a
        h = ((pa * ba).sum(-1) / (ba * ba).sum().clamp_min(1e-30)).clamp(0, 1)
        return (pa - ba * h[..., None]).norm(dim=-1) - _param(self.radius, points)


class Union(SDF):
    """``min`` of the shapes' SDFs (exact sign, distance bound inside)."""

    def __init__(self, *shapes: SDF):
        if not shapes:
            raise InputError("shapes: expected at least one shape, got none")
        self.shapes = shapes

    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        return torch.stack([s.evaluate(points) for s in self.shapes]).min(dim=0).values


class Intersection(SDF):
    """``max`` of the shapes' SDFs (exact sign, distance bound outside)."""

    def __init__(self, *shapes: SDF):
        if not shapes:
            raise InputError("shapes: expected at least one shape, got none")
        self.shapes = shapes

    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        return torch.stack([s.evaluate(points) for s in self.shapes]).max(dim=0).values


class Difference(SDF):
    """``a`` minus ``b``: ``max(a, -b)`` (exact sign, distance bound)."""

    def __init__(self, a: SDF, b: SDF):
        self.a, self.b = a, b

    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        return torch.maximum(self.a.evaluate(points), -self.b.evaluate(points))


class Translate(SDF):
    """``shape`` moved by ``offset`` (xyz)."""

    def __init__(self, shape: SDF, offset: Any):
        self.shape, self.offset = shape, offset

    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        return self.shape.evaluate(points - _param(self.offset, points))


class Scale(SDF):
    """``shape`` scaled uniformly by ``factor`` about the origin: ``s · f(p / s)`` (exact)."""

    def __init__(self, shape: SDF, factor: float | torch.Tensor):
        f = torch.as_tensor(factor)
        if f.numel() != 1:
            raise InputError(
                "factor: expected a scalar (only uniform scaling keeps a distance field), "
                f"got shape {tuple(f.shape)}"
            )
        if not float(f) > 0:
            raise InputError(f"factor: expected a value > 0, got {float(f)!r}")
        self.shape, self.factor = shape, factor

    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        s = _param(self.factor, points)
        return self.shape.evaluate(points / s) * s


class Rotate(SDF):
    """``shape`` rotated about the origin by the rotation matrix ``R`` (3, 3): a point ``x`` of
    the original shape moves to ``R x``. Evaluates ``f(Rᵀ p)``."""

    def __init__(self, shape: SDF, R: torch.Tensor):
        R = torch.as_tensor(R)
        check_tensor(R, "R", (3, 3), dtype="float", finite=True)
        eye = torch.eye(3, dtype=R.dtype, device="cpu")
        if not torch.allclose(R.detach().cpu() @ R.detach().cpu().T, eye, atol=1e-4):
            raise InputError("R: expected a rotation matrix (R Rᵀ = I), got a non-orthogonal one")
        self.shape, self.R = shape, R

    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        return self.shape.evaluate(points @ _param(self.R, points))


def _bounds_tensor(bounds: Any) -> torch.Tensor:
    """``(3, 2)`` float64 bounds on the CPU (host-side arithmetic, whatever the default device)."""
    b = torch.as_tensor(bounds, dtype=torch.float64, device="cpu")
    if b.shape == (2,):
        b = b[None].expand(3, 2)
    if b.shape != (3, 2):
        raise InputError(
            f"bounds: expected (lo, hi) or a (3, 2) [[xmin, xmax], ...] array, got shape "
            f"{tuple(b.shape)}"
        )
    if not bool((b[:, 1] > b[:, 0]).all()):
        raise InputError(f"bounds: expected max > min on every axis, got {b.tolist()}")
    return b


def sample_grid(
    sdf: Callable[[torch.Tensor], torch.Tensor],
    resolution: int = 64,
    bounds: Any = (-1.0, 1.0),
    *,
    chunk_size: int = 1 << 18,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
):
    """Evaluate an SDF (any callable ``(P, 3) -> (P,)``) at the voxel centres of a grid.

    Args:
        sdf: the function to sample.
        resolution: number of voxels along the longest side of ``bounds``; voxels are cubes of
            edge ``max_extent / resolution`` and the other sides get
            ``ceil(extent / voxel_size)`` voxels.
        bounds: ``(lo, hi)`` for a cube or ``[[xmin, xmax], [ymin, ymax], [zmin, zmax]]``; the
            grid's corner (origin) is at the minimum.
        chunk_size: points evaluated per call (memory bound).

    Returns:
        a ``VoxelGrid`` with one ``(D, H, W)`` grid of SDF values (voxel ``(d, h, w)`` holds
        ``sdf(origin + voxel_size · (w + ½, h + ½, d + ½))``).
    """
    check_int(resolution, "resolution", min_value=1)
    check_limit(resolution**3, f"grid cells of resolution {resolution}", "MAX_VOXELS")
    check_int(chunk_size, "chunk_size", min_value=1)
    b = _bounds_tensor(bounds)
    extent = b[:, 1] - b[:, 0]
    vs = float(extent.max()) / resolution
    dims = [max(1, math.ceil(e / vs - 1e-9)) for e in extent.tolist()]  # x, y, z
    origin = b[:, 0].to(dtype=dtype, device=device)
    zs, ys, xs = (
        (torch.arange(n, dtype=dtype, device=device) + 0.5) * vs + origin[i]
        for i, n in ((2, dims[2]), (1, dims[1]), (0, dims[0]))
    )
    zz, yy, xx = torch.meshgrid(zs, ys, xs, indexing="ij")
    pts = torch.stack([xx, yy, zz], -1).reshape(-1, 3)
    vals = torch.cat([sdf(pts[s : s + chunk_size]) for s in range(0, pts.shape[0], chunk_size)])
    grid = vals.reshape(1, dims[2], dims[1], dims[0])
    return new_voxelgrid(grid, origin[None], torch.tensor([vs], dtype=dtype, device=device))


def occupancy_from_sdf(sdf_values: Any, *, temperature: float = 0.0):
    """Occupancy (1 inside, 0 outside) from SDF values (tensor or ``VoxelGrid``).

    ``temperature == 0`` gives the hard indicator ``sdf < 0`` (as the values' float dtype);
    ``temperature > 0`` the soft, differentiable ``sigmoid(-sdf / temperature)``. A
    ``VoxelGrid`` input returns a ``VoxelGrid`` with the same origin and voxel size.
    """
    if temperature < 0:
        raise InputError(f"temperature: expected a value >= 0, got {temperature!r}")
    if hasattr(sdf_values, "index_to_world"):
        occ = occupancy_from_sdf(sdf_values.grid, temperature=temperature)
        return new_voxelgrid(occ, sdf_values.origin, sdf_values.voxel_size)
    check_tensor(sdf_values, "sdf_values", dtype="float")
    if temperature == 0:
        return (sdf_values < 0).to(sdf_values.dtype)
    return torch.sigmoid(-sdf_values / temperature)
