"""One collate function for every 3D dataset in spacetime.

Dataset items are dicts. :func:`collate_3d` turns a list of them into one dict:

- ``verts`` / ``faces`` (+ ``verts_colors``) → ``meshes``: a :class:`Meshes` batch
  (the ragged lists are also kept as ``verts`` / ``faces`` lists);
- ``points`` (+ ``normals``) → ``pointclouds``: a :class:`Pointclouds` batch, and ``points`` /
  ``normals`` stacked to ``(N, P, 3)`` when every item has the same P;
- other tensors: stacked when their shapes agree, else kept as a list;
- numbers → a tensor; strings, paths, cameras and everything else → a list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from spacetime.errors import InputError

__all__ = ["collate_3d"]


def _stack_or_list(values: list[Any]) -> Any:
    if all(isinstance(v, torch.Tensor) for v in values):
        if all(v.shape == values[0].shape for v in values):
            return torch.stack(values)
        return values
    if all(isinstance(v, bool) for v in values):
        return torch.tensor(values, dtype=torch.bool)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return torch.tensor(values, dtype=torch.int64)
    if all(isinstance(v, float) for v in values):
        return torch.tensor(values, dtype=torch.float32)
    return values


def collate_3d(batch: Sequence[dict]) -> dict:
    """Collate dataset items (dicts) into a batch dict; see the module docstring.

    Use as ``DataLoader(dataset, batch_size=8, collate_fn=collate_3d)``. Keys missing from some
    items (e.g. ``mesh`` only loaded for some) are collated over the items that have them only
    when all items have them; otherwise they are returned as a list with ``None`` holes.
    """
    if not isinstance(batch, (list, tuple)) or len(batch) == 0:
        raise InputError("batch: expected a non-empty list of dataset items (dicts)")
    for i, item in enumerate(batch):
        if not isinstance(item, dict):
            raise InputError(f"batch[{i}]: expected a dict, got {type(item).__name__}")
    keys: list[str] = []
    for item in batch:
        for k in item:
            if k not in keys:
                keys.append(k)
    out: dict[str, Any] = {}
    for k in keys:
        values = [item.get(k) for item in batch]
        if any(v is None for v in values):
            out[k] = values
            continue
        if k in ("verts", "faces", "verts_colors"):
            out[k] = values
        else:
            out[k] = _stack_or_list(values)
    if all(item.get("verts") is not None and item.get("faces") is not None for item in batch):
        from spacetime.shapes.structures import Meshes

        colors = None
        if all(item.get("verts_colors") is not None for item in batch):
            colors = [item["verts_colors"] for item in batch]
        out["meshes"] = Meshes(
            [item["verts"] for item in batch],
            [item["faces"] for item in batch],
            verts_colors=colors,
            validate=False,
        )
    if all(item.get("points") is not None for item in batch):
        from spacetime.shapes.structures import Pointclouds

        normals = None
        if all(item.get("normals") is not None for item in batch):
            normals = [item["normals"] for item in batch]
        out["pointclouds"] = Pointclouds([item["points"] for item in batch], normals=normals)
    return out
