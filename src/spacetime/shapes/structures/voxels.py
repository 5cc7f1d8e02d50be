"""Batched dense voxel grids placed in the world.

Layout and coordinates (used by every voxel function in spacetime):

- ``grid`` is ``(N, D, H, W)``: index ``[n, d, h, w]`` with D along world **z**, H along **y**,
  W along **x** (so ``grid[n, d, h, w]`` is the voxel at ``x ~ w, y ~ h, z ~ d``).
- ``origin`` ``(N, 3)`` is the world xyz of the grid's corner (the corner of voxel ``(0, 0, 0)``);
  ``voxel_size`` ``(N,)`` is the edge length of a (cubic) voxel, in world units.
- Voxel ``(d, h, w)`` spans ``origin + voxel_size * [w, w+1] × [h, h+1] × [d, d+1]``; its centre
  is ``origin + voxel_size * (w + 0.5, h + 0.5, d + 0.5)``.

Values are occupancies in {0, 1}, probabilities in [0, 1], or any scalar field (e.g. SDF values
at the voxel centres).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from spacetime.checks import check_tensor
from spacetime.errors import InputError
from spacetime.shapes.structures.pointclouds import _index_list

__all__ = ["VoxelGrid"]


class VoxelGrid:
    """A batch of dense ``(N, D, H, W)`` grids with a world origin and voxel size.

    Args:
        grid: ``(N, D, H, W)`` (or ``(D, H, W)``, taken as N = 1) tensor of occupancies,
            probabilities or field values.
        origin: world xyz of each grid's corner: ``(3,)`` or ``(N, 3)``; default the origin.
        voxel_size: voxel edge length: a float or ``(N,)``; default 1.
    """

    def __init__(
        self,
        grid: torch.Tensor,
        *,
        origin: Sequence[float] | torch.Tensor | None = None,
        voxel_size: float | torch.Tensor = 1.0,
    ) -> None:
        if isinstance(grid, torch.Tensor) and grid.dim() == 3:
            grid = grid.unsqueeze(0)
        check_tensor(grid, "grid", ("N", "D", "H", "W"))
        if grid.dtype == torch.bool:
            grid = grid.to(torch.float32)
        if not grid.is_floating_point():
            grid = grid.to(torch.float32)
        n = grid.shape[0]
        fdtype = grid.dtype
        if origin is None:
            origin_t = torch.zeros(n, 3, dtype=fdtype, device=grid.device)
        else:
            origin_t = torch.as_tensor(origin, dtype=fdtype, device=grid.device)
            if origin_t.shape == (3,):
                origin_t = origin_t.expand(n, 3).clone()
            check_tensor(origin_t, "origin", (n, 3), finite=True)
        size_t = torch.as_tensor(voxel_size, dtype=fdtype, device=grid.device)
        if size_t.dim() == 0:
            size_t = size_t.expand(n).clone()
        check_tensor(size_t, "voxel_size", (n,), finite=True)
        if bool((size_t <= 0).any()):
            raise InputError(f"voxel_size: expected values > 0, got {size_t.tolist()}")
        self.grid = grid
        self.origin = origin_t
        self.voxel_size = size_t

    @classmethod
    def from_bounds(
        cls, grid: torch.Tensor, bounds_min: Sequence[float], bounds_max: Sequence[float]
    ) -> VoxelGrid:
        """Place ``grid`` with cubic voxels inside the box ``[bounds_min, bounds_max]``: the
        voxel size makes the grid fill the box along its tightest axis, and the grid is centred
        in the box."""
        if grid.dim() == 3:
            grid = grid.unsqueeze(0)
        lo = torch.as_tensor(bounds_min, dtype=torch.float64)
        hi = torch.as_tensor(bounds_max, dtype=torch.float64)
        if lo.shape != (3,) or hi.shape != (3,) or bool((hi <= lo).any()):
            raise InputError(
                f"bounds: expected min < max, 3 values each, got {lo.tolist()} and {hi.tolist()}"
            )
        dims_xyz = torch.tensor([grid.shape[3], grid.shape[2], grid.shape[1]], dtype=torch.float64)
        size = float(((hi - lo) / dims_xyz).max())
        origin = (lo + hi) / 2 - dims_xyz * size / 2
        return cls(grid, origin=origin.tolist(), voxel_size=size)

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return self.grid.shape[0]

    def __repr__(self) -> str:
        return (
            f"VoxelGrid(N={len(self)}, resolution={self.resolution}, "
            f"voxel_size={self.voxel_size.tolist()}, device={self.device})"
        )

    @property
    def shape(self) -> torch.Size:
        return self.grid.shape

    @property
    def resolution(self) -> tuple[int, int, int]:
        """``(D, H, W)``."""
        return tuple(self.grid.shape[1:])  # type: ignore[return-value]

    @property
    def device(self) -> torch.device:
        return self.grid.device

    @property
    def dtype(self) -> torch.dtype:
        return self.grid.dtype

    def __getitem__(self, index) -> VoxelGrid:
        idx = _index_list(index, len(self))
        if not idx:
            raise InputError("index: expected to select at least one grid, got none")
        return VoxelGrid(self.grid[idx], origin=self.origin[idx], voxel_size=self.voxel_size[idx])

    def to(self, device=None, dtype=None) -> VoxelGrid:
        return VoxelGrid(
            self.grid.to(device=device, dtype=dtype),
            origin=self.origin.to(device=device, dtype=dtype),
            voxel_size=self.voxel_size.to(device=device, dtype=dtype),
        )

    def with_grid(self, grid: torch.Tensor) -> VoxelGrid:
        """Same placement, new values (same N, D, H, W)."""
        check_tensor(grid, "grid", tuple(self.grid.shape))
        return VoxelGrid(grid, origin=self.origin, voxel_size=self.voxel_size)

    # ------------------------------------------------------------------ coordinates
    def bounds(self) -> torch.Tensor:
        """``(N, 3, 2)`` world xyz min / max corners of each grid."""
        d, h, w = self.resolution
        ext = torch.tensor([w, h, d], dtype=self.dtype, device=self.device)
        lo = self.origin
        hi = self.origin + ext[None] * self.voxel_size[:, None]
        return torch.stack([lo, hi], dim=2)

    def index_to_world(self, idx_zyx: torch.Tensor, batch: int | torch.Tensor = 0) -> torch.Tensor:
        """Voxel indices ``(…, 3)`` in ``(d, h, w)`` order → world xyz ``(…, 3)`` of their
        centres. Fractional indices are allowed (``d + 0.5`` is the far face, etc.).
        ``batch`` selects which grid's placement to use (an int or a tensor broadcastable to
        ``idx_zyx.shape[:-1]``)."""
        check_tensor(idx_zyx, "idx_zyx", ("*", 3))
        origin = self.origin[batch]
        size = self.voxel_size[batch]
        xyz = idx_zyx.flip(-1).to(self.dtype) + 0.5
        if isinstance(batch, torch.Tensor):
            return origin + xyz * size[..., None]
        return origin + xyz * size

    def world_to_index(self, xyz: torch.Tensor, batch: int | torch.Tensor = 0) -> torch.Tensor:
        """World xyz ``(…, 3)`` → continuous ``(d, h, w)`` index coordinates, where voxel
        centres sit at integer values (inverse of :meth:`index_to_world`)."""
        check_tensor(xyz, "xyz", ("*", 3))
        origin = self.origin[batch]
        size = self.voxel_size[batch]
        if isinstance(batch, torch.Tensor):
            size = size[..., None]
        return ((xyz - origin) / size - 0.5).flip(-1)

    def world_to_voxel(
        self, xyz: torch.Tensor, batch: int | torch.Tensor = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """World xyz ``(…, 3)`` → integer voxel index ``(…, 3)`` (d, h, w) containing each point,
        and an in-bounds mask ``(…,)``. Out-of-bounds indices are clamped."""
        idx = torch.floor(self.world_to_index(xyz, batch) + 0.5).to(torch.int64)
        limits = torch.tensor(self.resolution, device=self.device)
        inside = ((idx >= 0) & (idx < limits)).all(-1)
        return torch.minimum(idx.clamp_min(0), limits - 1), inside

    def centers(self, batch: int = 0) -> torch.Tensor:
        """``(D, H, W, 3)`` world xyz of every voxel centre of grid ``batch``."""
        d, h, w = self.resolution
        zz, yy, xx = torch.meshgrid(
            torch.arange(d, device=self.device),
            torch.arange(h, device=self.device),
            torch.arange(w, device=self.device),
            indexing="ij",
        )
        return self.index_to_world(torch.stack([zz, yy, xx], -1), batch)

    def occupied(self, thresh: float = 0.5) -> torch.Tensor:
        """``(N, D, H, W)`` bool: a voxel is occupied when its value is at least ``thresh``."""
        return self.grid >= thresh

    def num_occupied(self, thresh: float = 0.5) -> torch.Tensor:
        """``(N,)`` number of occupied voxels."""
        return self.occupied(thresh).flatten(1).sum(1)
