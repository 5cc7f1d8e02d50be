"""Octrees: multi-resolution voxel grids refined only where the shape is not uniform.

An octree over a cubic grid of side ``S = 2**depth`` voxels stores, level by level, one state per
cell (level ``l`` has cells of ``2**(depth - l)`` voxels per side):

=========  =====  ============================================================================
state      value  meaning
=========  =====  ============================================================================
``EMPTY``  0      every voxel of the cell is 0 (leaf)
``FULL``   1      every voxel of the cell is 1 (leaf)
``MIXED``  2      the cell is refined: its 8 children are stored at level ``l + 1``
``VALUE``  3      every voxel holds one other value, kept in ``values[l]`` (leaf; float grids)
=========  =====  ============================================================================

Level 0 holds one root cell per batch item. Level ``l + 1`` holds the 8 children of every
``MIXED`` cell of level ``l``, in the order of their parents, children ordered by the bits
``(dz, dy, dx)`` (child ``c = 4 dz + 2 dy + dx``). Cell coordinates are therefore implicit (a
"pointerless" linear octree, as in O-CNN / OGN): the structure costs one byte per cell and
:meth:`Octree.memory_bytes` counts exactly what is stored. Construction is vectorised level by
level (all cells of a level are classified at once; mixed cells are refined), from a dense grid
(min/max pyramids), from points (sorted cell keys and counts, never building the dense grid) or
from a mesh (through :func:`spacetime.shapes.convert.voxelize_mesh`).

Grids use the ``VoxelGrid`` layout ``(N, D, H, W)`` indexed ``[z, y, x]``; voxel ``(d, h, w)`` has
its centre at ``origin + voxel_size * (w + 0.5, h + 0.5, d + 0.5)`` in world ``xyz``. Grids that
are not cubes of a power-of-two side are padded with zeros to one; :meth:`Octree.to_dense`
crops the padding again, so ``Octree.from_dense(g).to_dense()`` equals ``g`` exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from spacetime.checks import check_int, check_tensor
from spacetime.errors import InputError

__all__ = ["Octree", "EMPTY", "FULL", "MIXED", "VALUE"]

EMPTY, FULL, MIXED, VALUE = 0, 1, 2, 3

_CHILD_OFFSETS = torch.tensor(
    [[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)], dtype=torch.int64, device="cpu"
)  # (8, 3) zyx


def _children(coords: torch.Tensor) -> torch.Tensor:
    """``(M, 4)`` [n, z, y, x] cells → ``(8 M, 4)`` children at the next level."""
    off = _CHILD_OFFSETS.to(coords.device)
    kids = coords[:, None, :].repeat(1, 8, 1)
    kids[:, :, 1:] = kids[:, :, 1:] * 2 + off[None]
    return kids.reshape(-1, 4)


def _depth_for(side: int) -> int:
    depth = 0
    while (1 << depth) < side:
        depth += 1
    return depth


def _as_vec3(value: Any, n: int, name: str, device, dtype) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=dtype, device=device)
    if t.ndim == 1:
        t = t.expand(n, 3) if t.numel() == 3 else t
    if t.shape != (n, 3):
        raise InputError(f"{name}: expected shape (3,) or ({n}, 3), got {tuple(t.shape)}")
    return t.clone()


def _as_vec1(value: Any, n: int, name: str, device, dtype) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=dtype, device=device)
    if t.ndim == 0:
        t = t.expand(n)
    if t.shape != (n,):
        raise InputError(f"{name}: expected a scalar or shape ({n},), got {tuple(t.shape)}")
    if bool((t <= 0).any()):
        raise InputError(f"{name}: expected values > 0, got {t.tolist()}")
    return t.clone()


class Octree:
    """A batch of octrees over cubic grids of side ``2**depth`` (see the module docstring).

    Build with :meth:`from_dense`, :meth:`from_points` or
    :func:`spacetime.shapes.convert.mesh_to_octree` rather than calling
    the constructor.

    Args:
        states: ``depth + 1`` uint8 tensors; ``states[l]`` ``(M_l,)`` holds the state of each cell
            of level ``l`` (``M_0 = N``, ``M_{l+1} = 8 * #MIXED(states[l])``).
        values: ``depth + 1`` tensors; ``values[l]`` holds the value of each ``VALUE`` cell of
            level ``l``, in order (empty for boolean grids).
        shape: ``(D, H, W)`` of the dense grid this octree stands for (``<= 2**depth`` each).
        dtype: dtype of the dense grid (``torch.bool`` for occupancy).
        origin: ``(N, 3)`` world ``xyz`` of the grid corner (default 0).
        voxel_size: ``(N,)`` edge of a finest voxel in world units (default 1).
    """

    def __init__(
        self,
        states: Sequence[torch.Tensor],
        values: Sequence[torch.Tensor],
        *,
        shape: Sequence[int],
        dtype: torch.dtype = torch.bool,
        origin: Any = (0.0, 0.0, 0.0),
        voxel_size: Any = 1.0,
    ) -> None:
        if len(states) == 0 or len(states) != len(values):
            raise InputError(
                f"states/values: expected two lists of equal length >= 1, "
                f"got {len(states)} and {len(values)}"
            )
        self.states = [s.to(torch.uint8) for s in states]
        self.values = list(values)
        self.depth = len(self.states) - 1
        self.shape = tuple(int(s) for s in shape)
        side = 1 << self.depth
        if len(self.shape) != 3 or any(s < 1 or s > side for s in self.shape):
            raise InputError(f"shape: expected 3 sizes in [1, {side}], got {self.shape}")
        for l in range(self.depth):
            want = 8 * int((self.states[l] == MIXED).sum())
            if self.states[l + 1].numel() != want:
                raise InputError(
                    f"states[{l + 1}]: expected {want} cells (8 per MIXED cell of level {l}), "
                    f"got {self.states[l + 1].numel()}"
                )
        if bool((self.states[-1] == MIXED).any()):
            raise InputError("states: the finest level cannot contain MIXED cells")
        self.dtype = dtype
        n = self.states[0].numel()
        device = self.states[0].device
        fdt = torch.float64 if dtype == torch.float64 else torch.float32
        self.origin = _as_vec3(origin, n, "origin", device, fdt)
        self.voxel_size = _as_vec1(voxel_size, n, "voxel_size", device, fdt)

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _build(
        n: int,
        depth: int,
        classify: Callable[[int, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
        device: torch.device,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Top-down, level-by-level construction; ``classify(level, coords)`` returns the states
        and the per-cell values of cells ``coords`` ``(M, 4)`` [n, z, y, x] of that level."""
        coords = torch.zeros(n, 4, dtype=torch.int64, device=device)
        coords[:, 0] = torch.arange(n, device=device)
        states, values = [], []
        for level in range(depth + 1):
            st, val = classify(level, coords)
            if level == depth:
                st = torch.where(st == MIXED, torch.full_like(st, VALUE), st)
            states.append(st)
            values.append(val[st == VALUE])
            coords = _children(coords[st == MIXED])
        return states, values

    @classmethod
    def from_dense(
        cls,
        grid: Any,
        max_depth: int | None = None,
        *,
        origin: Any = None,
        voxel_size: Any = None,
    ) -> Octree:
        """Build from a dense grid ``(N, D, H, W)`` or ``(D, H, W)`` (bool or float) or a
        ``VoxelGrid``.

        ``max_depth`` (default: the smallest depth with ``2**depth >= max(D, H, W)``) sets the
        side ``2**max_depth`` of the cube the grid is padded to. Uniform cells become leaves;
        the round trip through :meth:`to_dense` is exact.
        """
        if hasattr(grid, "grid") and not isinstance(grid, torch.Tensor):  # a VoxelGrid
            origin = grid.origin if origin is None else origin
            voxel_size = grid.voxel_size if voxel_size is None else voxel_size
            grid = grid.grid
        check_tensor(grid, "grid")
        if grid.ndim == 3:
            grid = grid[None]
        check_tensor(grid, "grid", ("N", "D", "H", "W"))
        if grid.dtype == torch.bool:
            pass
        elif not grid.is_floating_point():
            raise InputError(f"grid: expected a bool or floating-point dtype, got {grid.dtype}")
        else:
            check_tensor(grid, "grid", finite=True)
        n, d, h, w = grid.shape
        if n == 0 or d == 0 or h == 0 or w == 0:
            raise InputError(f"grid: expected non-empty sizes, got {tuple(grid.shape)}")
        need = _depth_for(max(d, h, w))
        if max_depth is None:
            max_depth = need
        check_int(max_depth, "max_depth", min_value=0)
        if max_depth < need:
            raise InputError(
                f"max_depth: expected >= {need} for a grid of shape {(d, h, w)}, got {max_depth}"
            )
        side = 1 << max_depth
        work = torch.float64 if grid.dtype == torch.float64 else torch.float32
        g = torch.zeros(n, side, side, side, dtype=work, device=grid.device)
        g[:, :d, :h, :w] = grid.to(work)
        # min / max pyramids, finest last: pyr[l] has side 2**l
        mx, mn = [g], [g]
        for _ in range(max_depth):
            mx.append(F.max_pool3d(mx[-1][:, None], 2)[:, 0])
            mn.append(-F.max_pool3d(-mn[-1][:, None], 2)[:, 0])
        mx.reverse()
        mn.reverse()

        def classify(level: int, coords: torch.Tensor):
            nn_, z, y, x = coords.unbind(1)
            lo = mn[level][nn_, z, y, x]
            hi = mx[level][nn_, z, y, x]
            st = torch.full(lo.shape, MIXED, dtype=torch.uint8, device=g.device)
            uni = lo == hi
            st[uni & (lo == 0)] = EMPTY
            st[uni & (lo == 1)] = FULL
            st[uni & (lo != 0) & (lo != 1)] = VALUE
            return st, lo.to(grid.dtype)

        states, values = cls._build(n, max_depth, classify, grid.device)
        fdt = torch.float64 if grid.dtype == torch.float64 else torch.float32
        return cls(
            states,
            values,
            shape=(d, h, w),
            dtype=grid.dtype,
            origin=torch.zeros(3, dtype=fdt) if origin is None else origin,
            voxel_size=1.0 if voxel_size is None else voxel_size,
        )

    @classmethod
    def from_points(
        cls,
        points: Any,
        depth: int,
        bounds: Any = None,
    ) -> Octree:
        """Occupancy octree of the finest voxels that contain at least one point.

        Args:
            points: ``(P, 3)``, ``(N, P, 3)``, a list of ``(P_n, 3)`` or a ``Pointclouds``.
            depth: tree depth; the cube is split into ``2**depth`` voxels per side.
            bounds: ``(lo, hi)`` world ``xyz`` corners of the cube (each ``(3,)``, shared by the
                batch); default: the points' bounding box made cubic (longest side, centred,
                enlarged by 1e-4 relative so that no point lies on the upper faces). Points
                outside are ignored.

        Never builds the dense grid: memory is linear in the number of occupied voxels.
        """
        if hasattr(points, "points_list"):
            plist = list(points.points_list())
        elif isinstance(points, torch.Tensor):
            check_tensor(points, "points", ("*", "P", 3), dtype="float")
            if points.ndim == 2:
                plist = [points]
            elif points.ndim == 3:
                plist = list(points.unbind(0))
            else:
                raise InputError(
                    f"points: expected shape (P, 3) or (N, P, 3), got {tuple(points.shape)}"
                )
        elif isinstance(points, (list, tuple)) and len(points) > 0:
            plist = list(points)
        else:
            raise InputError(
                f"points: expected a tensor, a list of tensors or Pointclouds, "
                f"got {type(points).__name__}"
            )
        for i, p in enumerate(plist):
            check_tensor(p, f"points[{i}]", ("P", 3), dtype="float", finite=True)
        check_int(depth, "depth", min_value=0)
        if depth > 20:
            raise InputError(f"depth: expected <= 20, got {depth}")
        if len(plist) * 8**depth >= 2**62:
            raise InputError(
                f"depth: {len(plist)} clouds at depth {depth} overflow 64-bit cell keys; "
                "use a smaller depth or fewer clouds per call"
            )
        device = plist[0].device
        fdt = torch.float64
        allp = torch.cat([p.to(fdt) for p in plist], 0)
        if bounds is None:
            if allp.numel() == 0:
                lo, hi = torch.zeros(3, dtype=fdt), torch.ones(3, dtype=fdt)
            else:
                lo, hi = allp.min(0).values, allp.max(0).values
            centre, ext = (lo + hi) / 2, float((hi - lo).max())
            ext = ext * (1 + 1e-4) if ext > 0 else 1.0
            lo, hi = centre - ext / 2, centre + ext / 2
        else:
            if len(bounds) != 2:
                raise InputError("bounds: expected a pair (lo, hi) of xyz corners")
            lo = torch.as_tensor(bounds[0], dtype=fdt).reshape(3)
            hi = torch.as_tensor(bounds[1], dtype=fdt).reshape(3)
            ext = float((hi - lo).max())
            if not bool(((hi - lo) > 0).all()):
                raise InputError(f"bounds: expected hi > lo, got lo={lo.tolist()} hi={hi.tolist()}")
        lo, hi = lo.to(device), hi.to(device)
        side = 1 << depth
        vs = ext / side
        n = len(plist)
        keys_per = []
        for i, p in enumerate(plist):
            idx = torch.floor((p.to(fdt) - lo) / vs).to(torch.int64)  # x, y, z
            ok = ((idx >= 0) & (idx < side)).all(1)
            idx = idx[ok]
            key = ((i * side + idx[:, 2]) * side + idx[:, 1]) * side + idx[:, 0]
            keys_per.append(key)
        fine = torch.unique(torch.cat(keys_per)) if keys_per else torch.zeros(0, dtype=torch.int64)
        fb = fine.remainder(side**3)
        nb = fine // side**3
        fz, fy, fx = fb // (side * side), (fb // side) % side, fb % side
        uniq, counts = [], []
        for level in range(depth + 1):
            s = depth - level
            sl = 1 << level
            k = ((nb * sl + (fz >> s)) * sl + (fy >> s)) * sl + (fx >> s)
            u, c = torch.unique_consecutive(torch.sort(k).values, return_counts=True)
            uniq.append(u)
            counts.append(c)

        def classify(level: int, coords: torch.Tensor):
            sl = 1 << level
            nn_, z, y, x = coords.unbind(1)
            k = ((nn_ * sl + z) * sl + y) * sl + x
            u, c = uniq[level], counts[level]
            cnt = torch.zeros_like(k)
            if u.numel():
                pos = torch.searchsorted(u, k).clamp(max=u.numel() - 1)
                hit = u[pos] == k
                cnt[hit] = c[pos[hit]]
            full = 8 ** (depth - level)
            st = torch.full(k.shape, MIXED, dtype=torch.uint8, device=k.device)
            st[cnt == 0] = EMPTY
            st[cnt == full] = FULL
            return st, (cnt == full)

        states, values = cls._build(n, depth, classify, device)
        return cls(
            states,
            values,
            shape=(side, side, side),
            dtype=torch.bool,
            origin=lo.to(torch.float32),
            voxel_size=vs,
        )

    # ------------------------------------------------------------------ properties
    def __len__(self) -> int:
        return self.states[0].numel()

    def __repr__(self) -> str:
        return (
            f"Octree(N={len(self)}, depth={self.depth}, shape={self.shape}, "
            f"cells={self.num_cells_per_level()}, dtype={self.dtype})"
        )

    @property
    def device(self) -> torch.device:
        return self.states[0].device

    @property
    def side(self) -> int:
        """Side ``2**depth`` of the finest level in voxels."""
        return 1 << self.depth

    def num_cells_per_level(self) -> list[int]:
        """Number of stored cells at each level (level 0 = N roots)."""
        return [int(s.numel()) for s in self.states]

    def num_leaves_per_level(self) -> list[int]:
        """Number of leaf (non-``MIXED``) cells at each level."""
        return [int((s != MIXED).sum()) for s in self.states]

    def num_cells(self) -> int:
        return sum(self.num_cells_per_level())

    def memory_bytes(self) -> int:
        """Bytes stored: one byte per cell state plus the values of ``VALUE`` leaves."""
        return sum(s.numel() * s.element_size() for s in self.states) + sum(
            v.numel() * v.element_size() for v in self.values
        )

    def dense_memory_bytes(self) -> int:
        """Bytes of the dense ``(N, D, H, W)`` grid of the same finest resolution and dtype."""
        d, h, w = self.shape
        elem = torch.empty(0, dtype=self.dtype).element_size()
        return len(self) * d * h * w * elem

    def to(self, device: torch.device | str) -> Octree:
        return Octree(
            [s.to(device) for s in self.states],
            [v.to(device) for v in self.values],
            shape=self.shape,
            dtype=self.dtype,
            origin=self.origin.to(device),
            voxel_size=self.voxel_size.to(device),
        )

    # ------------------------------------------------------------------ traversal
    def _leaf_values(self, level: int) -> torch.Tensor:
        st = self.states[level]
        val = torch.zeros(st.shape, dtype=self.dtype, device=st.device)
        val[st == FULL] = True if self.dtype == torch.bool else 1
        if self.values[level].numel():
            val[st == VALUE] = self.values[level].to(self.dtype)
        return val

    def level_coords(self) -> list[torch.Tensor]:
        """Coordinates ``(M_l, 4)`` [n, z, y, x] of every cell of each level, in that level's
        cell units (derived from the states; not stored)."""
        coords = torch.zeros(len(self), 4, dtype=torch.int64, device=self.device)
        coords[:, 0] = torch.arange(len(self), device=self.device)
        out = [coords]
        for level in range(self.depth):
            coords = _children(coords[self.states[level] == MIXED])
            out.append(coords)
        return out

    def leaves(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """All leaf cells: ``coords`` ``(L, 4)`` [n, z, y, x] of their first finest voxel,
        ``size`` ``(L,)`` their side in finest voxels and ``value`` ``(L,)``."""
        cs, sizes, vals = [], [], []
        for level, coords in enumerate(self.level_coords()):
            leaf = self.states[level] != MIXED
            s = 1 << (self.depth - level)
            c = coords[leaf].clone()
            c[:, 1:] *= s
            cs.append(c)
            sizes.append(torch.full((c.shape[0],), s, dtype=torch.int64, device=self.device))
            vals.append(self._leaf_values(level)[leaf])
        return torch.cat(cs), torch.cat(sizes), torch.cat(vals)

    def to_dense(self) -> torch.Tensor:
        """The dense grid ``(N, D, H, W)`` (exactly the grid it was built from)."""
        coords = self.level_coords()
        dense = torch.zeros(len(self), 1, 1, 1, dtype=self.dtype, device=self.device)
        for level in range(self.depth + 1):
            if level > 0:
                dense = (
                    dense.repeat_interleave(2, 1).repeat_interleave(2, 2).repeat_interleave(2, 3)
                )
            leaf = self.states[level] != MIXED
            c = coords[level][leaf]
            dense[c[:, 0], c[:, 1], c[:, 2], c[:, 3]] = self._leaf_values(level)[leaf]
        d, h, w = self.shape
        return dense[:, :d, :h, :w].contiguous()

    def to_voxelgrid(self):
        """The dense grid as a ``VoxelGrid`` with this octree's origin and voxel size."""
        from spacetime.shapes.structures.voxels import VoxelGrid

        return VoxelGrid(self.to_dense(), origin=self.origin, voxel_size=self.voxel_size)

    def query_index(self, idx: torch.Tensor) -> torch.Tensor:
        """Values at integer voxel indices ``(P, 4)`` [n, z, y, x]; ``(P,)``, 0 outside.

        Descends the tree (``depth + 1`` vectorised steps), never densifies.
        """
        check_tensor(idx, "idx", ("P", 4), dtype="int")
        idx = idx.to(torch.int64)
        p = idx.shape[0]
        out = torch.zeros(p, dtype=self.dtype, device=self.device)
        d, h, w = self.shape
        n, z, y, x = idx.unbind(1)
        inside = (
            (n >= 0) & (n < len(self)) & (z >= 0) & (z < d) & (y >= 0) & (y < h)
            & (x >= 0) & (x < w)
        )
        active = torch.nonzero(inside).flatten()
        node = n[active]
        for level in range(self.depth + 1):
            st = self.states[level]
            s_here = st[node]
            leaf = s_here != MIXED
            if bool(leaf.any()):
                out[active[leaf]] = self._leaf_values(level)[node[leaf]]
            keep = ~leaf
            active, node = active[keep], node[keep]
            if active.numel() == 0 or level == self.depth:
                break
            rank = torch.cumsum((st == MIXED).to(torch.int64), 0) - 1
            shift = self.depth - level - 1
            bits = (
                ((z[active] >> shift) & 1) * 4
                + ((y[active] >> shift) & 1) * 2
                + ((x[active] >> shift) & 1)
            )
            node = rank[node] * 8 + bits
        return out

    def query(self, points: torch.Tensor) -> torch.Tensor:
        """Values at world points ``(N, P, 3)`` xyz (or ``(P, 3)`` for N = 1); ``(N, P)``,
        0 outside the grid. A point lies in voxel ``floor((p - origin) / voxel_size)``."""
        check_tensor(points, "points", ("*", "P", 3), dtype="float")
        squeeze = points.ndim == 2
        if squeeze:
            points = points[None]
        check_tensor(points, "points", (len(self), "P", 3))
        rel = (points.to(self.origin.dtype) - self.origin[:, None]) / self.voxel_size[:, None, None]
        ijk = torch.floor(rel)
        ijk = torch.where(torch.isfinite(ijk), ijk, torch.full_like(ijk, -1)).clamp(-1, 1 << 30)
        ijk = ijk.to(torch.int64)
        nidx = torch.arange(len(self), device=self.device)[:, None].expand(-1, points.shape[1])
        idx = torch.stack([nidx, ijk[..., 2], ijk[..., 1], ijk[..., 0]], -1).reshape(-1, 4)
        out = self.query_index(idx).reshape(points.shape[0], points.shape[1])
        return out[0] if squeeze else out
