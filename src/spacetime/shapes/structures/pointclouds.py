"""Batched, ragged point clouds with list / padded / packed views.

A batch of N clouds with ``P_n`` points each:

=======================  =================================  ===============================
view                     shape                              padding
=======================  =================================  ===============================
``points_list()``        ``[(P_n, 3)]`` × N                 none
``points_padded()``      ``(N, max(P_n), 3)``               zeros
``points_packed()``      ``(sum(P_n), 3)``                  none
=======================  =================================  ===============================

Normals ``(…, 3)`` and features ``(…, C)`` follow the points in all three views. Index helpers:
``num_points_per_cloud()`` ``(N,)``, ``cloud_to_packed_first_idx()`` ``(N,)``,
``packed_to_cloud_idx()`` ``(sum(P_n),)``, ``padded_to_packed_idx()`` ``(sum(P_n),)`` (indices
into the flattened padded tensor). Everything is differentiable with respect to the points.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from spacetime.checks import check_tensor
from spacetime.errors import InputError
from spacetime.ragged import (
    check_lengths,
    lengths_to_first_idx,
    lengths_to_item_idx,
    lengths_to_mask,
    list_to_padded,
)

__all__ = ["Pointclouds", "join_pointclouds_as_batch"]


def _as_list(
    value: Sequence[torch.Tensor] | torch.Tensor,
    name: str,
    width: int | str,
    lengths: Sequence[int] | None = None,
) -> list[torch.Tensor]:
    """Turn a list of ``(P_n, width)`` or a padded ``(N, P, width)`` tensor into a list."""
    if isinstance(value, torch.Tensor):
        check_tensor(value, name, ("N", "P", width), dtype="float")
        if lengths is None:
            return list(value.unbind(0))
        lens = check_lengths(lengths, "lengths", value.shape[0], value.shape[1])
        return [value[i, :n] for i, n in enumerate(lens)]
    if not isinstance(value, (list, tuple)):
        raise InputError(
            f"{name}: expected a list of (P_n, {width}) tensors or an (N, P, {width}) tensor, "
            f"got {type(value).__name__}"
        )
    out = []
    for i, t in enumerate(value):
        check_tensor(t, f"{name}[{i}]", ("P", width), dtype="float")
        out.append(t)
    return out


class Pointclouds:
    """A batch of point clouds of possibly different sizes.

    Args:
        points: list of ``(P_n, 3)`` float tensors, or a padded ``(N, P, 3)`` tensor (all clouds
            then have P points unless ``lengths`` is given).
        normals: optional, same layout as ``points``.
        features: optional list of ``(P_n, C)`` or padded ``(N, P, C)``.
        lengths: optional ``(N,)`` lengths when ``points`` is padded.
    """

    def __init__(
        self,
        points: Sequence[torch.Tensor] | torch.Tensor,
        *,
        normals: Sequence[torch.Tensor] | torch.Tensor | None = None,
        features: Sequence[torch.Tensor] | torch.Tensor | None = None,
        lengths: Sequence[int] | torch.Tensor | None = None,
    ) -> None:
        lens = lengths
        self._points = _as_list(points, "points", 3, lens)
        if len(self._points) == 0:
            raise InputError("points: expected at least one cloud, got an empty batch")
        for i, p in enumerate(self._points):
            check_tensor(p, f"points[{i}]", finite=True)
        self.device = self._points[0].device
        self.dtype = self._points[0].dtype
        for i, p in enumerate(self._points):
            if p.device != self.device:
                raise InputError(f"points[{i}]: expected device {self.device}, got {p.device}")
        counts = [p.shape[0] for p in self._points]
        self._normals = None if normals is None else _as_list(normals, "normals", 3, counts)
        self._features = None
        if features is not None:
            c = features.shape[-1] if isinstance(features, torch.Tensor) else features[0].shape[-1]
            self._features = _as_list(features, "features", int(c), counts)
        for name, lst in (("normals", self._normals), ("features", self._features)):
            if lst is None:
                continue
            if len(lst) != len(counts):
                raise InputError(f"{name}: expected {len(counts)} clouds, got {len(lst)}")
            for i, (t, n) in enumerate(zip(lst, counts)):
                if t.shape[0] != n:
                    raise InputError(f"{name}[{i}]: expected {n} rows, got {t.shape[0]}")
        self._lengths = torch.tensor(counts, dtype=torch.int64, device=self.device)
        self._cache: dict[str, torch.Tensor] = {}

    # ------------------------------------------------------------------ sizes and indices
    def __len__(self) -> int:
        return len(self._points)

    def __repr__(self) -> str:
        return f"Pointclouds(N={len(self)}, points={self._lengths.tolist()}, device={self.device})"

    def isempty(self) -> bool:
        """True if every cloud has zero points."""
        return int(self._lengths.sum()) == 0

    def num_points_per_cloud(self) -> torch.Tensor:
        """``(N,)`` int64 number of points of each cloud."""
        return self._lengths

    def cloud_to_packed_first_idx(self) -> torch.Tensor:
        """``(N,)`` index of each cloud's first point in the packed view."""
        return self._cached("first", lambda: lengths_to_first_idx(self._lengths))

    def packed_to_cloud_idx(self) -> torch.Tensor:
        """``(sum(P_n),)`` the cloud each packed point belongs to."""
        return self._cached("p2c", lambda: lengths_to_item_idx(self._lengths))

    def padded_to_packed_idx(self) -> torch.Tensor:
        """``(sum(P_n),)`` index of each packed point in the flattened padded ``(N * P, …)``."""

        def build() -> torch.Tensor:
            mask = lengths_to_mask(self._lengths, self.max_points())
            return mask.reshape(-1).nonzero().squeeze(1)

        return self._cached("pad2pack", build)

    def max_points(self) -> int:
        return int(self._lengths.max()) if len(self) else 0

    def _cached(self, key: str, fn):
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    # ------------------------------------------------------------------ views
    def points_list(self) -> list[torch.Tensor]:
        return list(self._points)

    def points_packed(self) -> torch.Tensor:
        """``(sum(P_n), 3)``."""
        return self._cached("points_packed", lambda: torch.cat(self._points, 0))

    def points_padded(self) -> torch.Tensor:
        """``(N, max(P_n), 3)``, zero padded."""
        return self._cached("points_padded", lambda: self._padded(self._points, 3))

    def _padded(self, lst: list[torch.Tensor], width: int) -> torch.Tensor:
        if self.max_points() == 0:
            return torch.zeros(len(self), 0, width, device=self.device, dtype=lst[0].dtype)
        return list_to_padded(lst, 0.0, self.max_points())

    def normals_list(self) -> list[torch.Tensor] | None:
        return None if self._normals is None else list(self._normals)

    def normals_packed(self) -> torch.Tensor | None:
        if self._normals is None:
            return None
        return self._cached("normals_packed", lambda: torch.cat(self._normals, 0))

    def normals_padded(self) -> torch.Tensor | None:
        if self._normals is None:
            return None
        return self._cached("normals_padded", lambda: self._padded(self._normals, 3))

    def features_list(self) -> list[torch.Tensor] | None:
        return None if self._features is None else list(self._features)

    def features_packed(self) -> torch.Tensor | None:
        if self._features is None:
            return None
        return self._cached("features_packed", lambda: torch.cat(self._features, 0))

    def features_padded(self) -> torch.Tensor | None:
        if self._features is None:
            return None
        c = self._features[0].shape[-1]
        return self._cached("features_padded", lambda: self._padded(self._features, c))

    # ------------------------------------------------------------------ geometry
    def get_bounding_boxes(self) -> torch.Tensor:
        """``(N, 3, 2)``: per cloud ``[:, :, 0]`` min and ``[:, :, 1]`` max xyz (NaN if empty)."""
        boxes = []
        for p in self._points:
            if p.shape[0] == 0:
                boxes.append(torch.full((3, 2), float("nan"), device=self.device, dtype=p.dtype))
            else:
                boxes.append(torch.stack([p.min(0).values, p.max(0).values], dim=1))
        return torch.stack(boxes, 0)

    # ------------------------------------------------------------------ batch operations
    def _select(self, idx: list[int]) -> Pointclouds:
        def pick(lst):
            return None if lst is None else [lst[i] for i in idx]

        if not idx:
            raise InputError("index: expected to select at least one cloud, got none")
        return Pointclouds(
            pick(self._points), normals=pick(self._normals), features=pick(self._features)
        )

    def __getitem__(self, index: int | slice | Sequence[int] | torch.Tensor) -> Pointclouds:
        return self._select(_index_list(index, len(self)))

    def _map(self, fn) -> Pointclouds:
        def apply(lst):
            return None if lst is None else [fn(t) for t in lst]

        return Pointclouds(
            apply(self._points), normals=apply(self._normals), features=apply(self._features)
        )

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        """Copy to ``device`` (and cast floating tensors to ``dtype``)."""
        return self._map(lambda t: t.to(device=device, dtype=dtype))

    def cpu(self) -> Pointclouds:
        return self.to("cpu")

    def clone(self) -> Pointclouds:
        return self._map(torch.clone)

    def detach(self) -> Pointclouds:
        return self._map(torch.Tensor.detach)

    def update_padded(self, new_points_padded: torch.Tensor) -> Pointclouds:
        """A new batch with points taken from ``(N, max(P_n), 3)``; normals/features kept."""
        check_tensor(new_points_padded, "new_points_padded", (len(self), self.max_points(), 3))
        pts = [new_points_padded[i, :n] for i, n in enumerate(self._lengths.tolist())]
        return Pointclouds(pts, normals=self._normals, features=self._features)

    def offset(self, offsets_packed: torch.Tensor) -> Pointclouds:
        """A new batch with ``points_packed() + offsets_packed`` (``(sum(P_n), 3)`` or ``(3,)``)."""
        if offsets_packed.shape == (3,):
            offsets_packed = offsets_packed.expand(int(self._lengths.sum()), 3)
        check_tensor(offsets_packed, "offsets_packed", (int(self._lengths.sum()), 3))
        pts = list((self.points_packed() + offsets_packed).split(self._lengths.tolist(), 0))
        return Pointclouds(pts, normals=self._normals, features=self._features)


def _index_list(index, n: int) -> list[int]:
    """Normalise an int / slice / list / tensor index over a batch of size ``n``."""
    if isinstance(index, bool):
        raise InputError(f"index: expected int, slice, list or tensor, got {index!r}")
    if isinstance(index, int):
        if not -n <= index < n:
            raise InputError(f"index: expected -{n} <= index < {n}, got {index}")
        return [index % n]
    if isinstance(index, slice):
        return list(range(n))[index]
    if isinstance(index, torch.Tensor):
        if index.dtype == torch.bool:
            if index.shape != (n,):
                raise InputError(f"index: expected a bool mask of shape ({n},), got {index.shape}")
            return index.nonzero().squeeze(1).tolist()
        index = index.reshape(-1).tolist()
    out = []
    for i in index:
        i = int(i)
        if not -n <= i < n:
            raise InputError(f"index: expected -{n} <= index < {n}, got {i}")
        out.append(i % n)
    return out


def join_pointclouds_as_batch(clouds: Sequence[Pointclouds]) -> Pointclouds:
    """Concatenate several ``Pointclouds`` batches into one batch."""
    if not clouds:
        raise InputError("clouds: expected at least one Pointclouds, got none")
    has_n = [c.normals_list() is not None for c in clouds]
    has_f = [c.features_list() is not None for c in clouds]
    if len(set(has_n)) > 1 or len(set(has_f)) > 1:
        raise InputError("clouds: expected all or none to have normals/features, got a mix")
    pts = [p for c in clouds for p in c.points_list()]
    normals = [p for c in clouds for p in c.normals_list()] if has_n[0] else None
    feats = [p for c in clouds for p in c.features_list()] if has_f[0] else None
    return Pointclouds(pts, normals=normals, features=feats)
