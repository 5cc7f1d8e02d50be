"""Nested shape layers (Matryoshka networks; Richter & Roth, "Matryoshka Networks: Predicting 3D
Geometry via Nested Shape Layers", CVPR 2018).

A *shape layer* of a cubic grid of side R is given by 6 depth maps, one seen from each face of
the cube, each ``(R, R)`` and measured in voxels from its own face:

=====  ========  =============  ===============================================================
index  face      map indexed    the ray of map entry ``[i, j]``
=====  ========  =============  ===============================================================
0      ``-z``    ``[y, x]``     voxels ``[:, i, j]``, depth counted from ``z = 0`` upwards
1      ``+z``    ``[y, x]``     same ray, depth counted from ``z = R - 1`` downwards
2      ``-y``    ``[z, x]``     voxels ``[i, :, j]``, from ``y = 0``
3      ``+y``    ``[z, x]``     same ray, from ``y = R - 1``
4      ``-x``    ``[z, y]``     voxels ``[i, j, :]``, from ``x = 0``
5      ``+x``    ``[z, y]``     same ray, from ``x = R - 1``
=====  ========  =============  ===============================================================

(the grid is indexed ``[z, y, x]`` as everywhere in spacetime). Along each axis the pair of maps
keeps the voxels ``front <= i < R - back`` of every ray (an empty ray has ``front = back = R``);
the layer is the intersection of the three axes' extrusions (the fused depth maps of the paper).

A shape is composed from K layers by alternately adding and subtracting them,
``S_{1:K} = ((L_1 \\ L_2) ∪ L_3) \\ L_4 ...``. :func:`decompose_shape_layers` produces nested
layers (``L_1 ⊇ L_2 ⊇ ...``) greedily: ``L_1`` is the layer of the shape (its depth maps are
the first and last occupied voxel of every ray), ``T_2 = L_1 \\ S`` is what must be carved away,
``L_2`` is the layer of ``T_2`` intersected with ``L_1`` (intersecting two layers takes the
elementwise maximum of their depth maps), and so on until nothing is left. A solid convex shape
needs one layer; a box with a closed cavity or a cup needs two; a cup with something inside three.
"""

from __future__ import annotations

import torch

from spacetime.checks import check_int, check_tensor
from spacetime.errors import InputError

__all__ = [
    "ShapeLayers",
    "compose_shape_layers",
    "decompose_shape_layers",
    "shape_layer_depths",
    "shape_layer_masks",
]


def _check_grid(grid: torch.Tensor) -> torch.Tensor:
    check_tensor(grid, "grid")
    if grid.ndim == 3:
        grid = grid[None]
    check_tensor(grid, "grid", ("N", "R", "R", "R"))
    if grid.dtype != torch.bool:
        if not grid.is_floating_point() and grid.dtype not in (torch.uint8, torch.int64,
                                                               torch.int32):
            raise InputError(f"grid: expected a bool, integer or float dtype, got {grid.dtype}")
        grid = grid > 0.5
    return grid


def shape_layer_depths(grid: torch.Tensor) -> torch.Tensor:
    """The tightest single layer containing ``grid`` ``(N, R, R, R)`` bool.

    Returns:
        ``(N, 6, R, R)`` int64 depth maps (see the module docstring for the order).
    """
    grid = _check_grid(grid)
    r = grid.shape[-1]
    ar = torch.arange(r, device=grid.device)
    big = torch.full((), r, device=grid.device, dtype=torch.int64)
    out = []
    for axis in (1, 2, 3):  # z, y, x
        shape = [1, 1, 1, 1]
        shape[axis] = r
        pos = ar.view(shape)
        first = torch.where(grid, pos, big).amin(dim=axis)
        last = torch.where(grid, pos, torch.full_like(big, -1)).amax(dim=axis)
        back = torch.where(last >= 0, r - 1 - last, big)
        out += [first, back]
    return torch.stack(out, dim=1)


def shape_layer_masks(depths: torch.Tensor) -> torch.Tensor:
    """Voxel masks of layers given as depth maps ``(..., 6, R, R)``; returns ``(..., R, R, R)``
    bool."""
    check_tensor(depths, "depths", ("*", 6, "R", "R"))
    r = depths.shape[-1]
    lead = depths.shape[:-3]
    d = depths.reshape(-1, 6, r, r).to(torch.int64)
    ar = torch.arange(r, device=depths.device)
    z = ar.view(1, r, 1, 1)
    y = ar.view(1, 1, r, 1)
    x = ar.view(1, 1, 1, r)
    mz = (z >= d[:, 0, None, :, :]) & (z < r - d[:, 1, None, :, :])
    my = (y >= d[:, 2, :, None, :]) & (y < r - d[:, 3, :, None, :])
    mx = (x >= d[:, 4, :, :, None]) & (x < r - d[:, 5, :, :, None])
    return (mz & my & mx).reshape(*lead, r, r, r)


def compose_shape_layers(depths: torch.Tensor) -> torch.Tensor:
    """Compose ``(N, K, 6, R, R)`` layers into a grid ``(N, R, R, R)`` bool:
    ``L_1 \\ (L_2 \\ (L_3 \\ ...))``, which equals ``((L_1 \\ L_2) ∪ L_3) \\ L_4 ...`` for nested
    layers."""
    check_tensor(depths, "depths", ("N", "K", 6, "R", "R"))
    masks = shape_layer_masks(depths)
    n, k, r = depths.shape[0], depths.shape[1], depths.shape[-1]
    out = torch.zeros(n, r, r, r, dtype=torch.bool, device=depths.device)
    for i in range(k - 1, -1, -1):
        out = masks[:, i] & ~out
    return out


def decompose_shape_layers(grid: torch.Tensor, max_layers: int = 8) -> torch.Tensor:
    """Decompose a grid ``(N, R, R, R)`` (or ``(R, R, R)``) into at most ``max_layers`` nested
    layers ``(N, K, 6, R, R)`` int64, ``K`` the number needed by the most complex shape of the
    batch (shorter decompositions are padded with empty layers, which change nothing).

    ``compose_shape_layers(decompose_shape_layers(g, K)) == g`` whenever ``g`` is representable
    with K layers; otherwise the composition is the best K-layer approximation of the greedy
    scheme (check with :func:`compose_shape_layers`).
    """
    grid = _check_grid(grid)
    check_int(max_layers, "max_layers", min_value=1)
    n, r = grid.shape[0], grid.shape[-1]
    target = grid.clone()
    layers = []
    prev = None
    prev_mask = None
    for _ in range(max_layers):
        if not bool(target.any()):
            break
        d = shape_layer_depths(target)
        if prev is not None:
            d = torch.maximum(d, prev)  # intersection with the enclosing layer
        mask = shape_layer_masks(d)
        if prev_mask is not None:
            mask = mask & prev_mask
        layers.append(d)
        target = mask & ~target
        prev, prev_mask = d, mask
    if not layers:
        empty = torch.full((n, 1, 6, r, r), r, dtype=torch.int64, device=grid.device)
        return empty
    return torch.stack(layers, dim=1)


class ShapeLayers:
    """A batch of shapes as K nested shape layers (Matryoshka networks, Richter & Roth 2018).

    Args:
        depths: ``(N, K, 6, R, R)`` depth maps in voxels from each face of the cube, in the
            order ``-z, +z, -y, +y, -x, +x`` (module docstring).
    """

    def __init__(self, depths: torch.Tensor) -> None:
        check_tensor(depths, "depths", ("N", "K", 6, "R", "R"))
        r = depths.shape[-1]
        if depths.numel() and (int(depths.min()) < 0 or int(depths.max()) > r):
            raise InputError(
                f"depths: expected values in [0, {r}], "
                f"got range [{int(depths.min())}, {int(depths.max())}]"
            )
        self.depths = depths

    @classmethod
    def decompose(cls, grid: torch.Tensor, max_layers: int = 8) -> ShapeLayers:
        """Nested layers of ``grid`` ``(N, R, R, R)``; see :func:`decompose_shape_layers`."""
        return cls(decompose_shape_layers(grid, max_layers))

    def compose(self) -> torch.Tensor:
        """The grid ``(N, R, R, R)`` bool; see :func:`compose_shape_layers`."""
        return compose_shape_layers(self.depths)

    def masks(self) -> torch.Tensor:
        """Each layer's voxels ``(N, K, R, R, R)`` bool."""
        return shape_layer_masks(self.depths)

    def num_layers(self) -> torch.Tensor:
        """``(N,)`` number of non-empty layers of each shape."""
        return self.masks().flatten(2).any(-1).sum(1)

    @property
    def resolution(self) -> int:
        return int(self.depths.shape[-1])

    def __len__(self) -> int:
        return int(self.depths.shape[0])

    def __repr__(self) -> str:
        n, k = self.depths.shape[:2]
        return f"ShapeLayers(N={n}, K={k}, R={self.resolution})"
