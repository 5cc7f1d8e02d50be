"""Conversions between the three views of a ragged batch (after PyTorch3D's list/padded/packed).

For a batch of N items with ``L_n`` rows each (vertices of mesh n, points of cloud n, frames of
clip n), and D features per row:

=========  =========================  ==============================================
view       shape                      example, lengths (2, 3), D = 1
=========  =========================  ==============================================
list       ``[(L_n, D)]`` × N         ``[[a0, a1], [b0, b1, b2]]``
padded     ``(N, max(L_n), D)``       ``[[a0, a1, pad], [b0, b1, b2]]``
packed     ``(sum(L_n), D)``          ``[a0, a1, b0, b1, b2]``
=========  =========================  ==============================================

``first_idx[n]`` is the packed row where item n starts; ``packed_to_item_idx[i]`` the item that
packed row i belongs to. These helpers are shared by ``Meshes``, ``Pointclouds`` and clip batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from spacetime.errors import InputError

__all__ = [
    "check_lengths",
    "list_to_padded",
    "padded_to_list",
    "list_to_packed",
    "packed_to_list",
    "padded_to_packed",
    "lengths_to_first_idx",
    "lengths_to_item_idx",
    "lengths_to_mask",
]


def list_to_padded(
    tensors: Sequence[torch.Tensor],
    pad_value: float = 0.0,
    max_len: int | None = None,
    *,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Stack ``[(L_n, *D)]`` into ``(N, max_len, *D)``, filling missing rows with ``pad_value``."""
    if len(tensors) == 0:
        raise InputError("tensors: expected a non-empty list, got an empty list")
    trailing = tuple(tensors[0].shape[1:])
    for i, t in enumerate(tensors):
        if tuple(t.shape[1:]) != trailing:
            raise InputError(
                f"tensors[{i}]: expected trailing shape {trailing}, got {tuple(t.shape[1:])}"
            )
    lengths = [int(t.shape[0]) for t in tensors]
    max_len = max(lengths) if max_len is None else max_len
    device = tensors[0].device if device is None else device
    dtype = tensors[0].dtype if dtype is None else dtype
    out = torch.full((len(tensors), max_len, *trailing), pad_value, device=device, dtype=dtype)
    for i, t in enumerate(tensors):
        if lengths[i]:
            out[i, : lengths[i]] = t
    return out


def padded_to_list(
    padded: torch.Tensor, lengths: Sequence[int] | torch.Tensor
) -> list[torch.Tensor]:
    """Split ``(N, L, *D)`` into ``[(L_n, *D)]`` using ``lengths``."""
    lengths = [int(v) for v in lengths]
    return [padded[i, : lengths[i]] for i in range(len(lengths))]


def list_to_packed(tensors: Sequence[torch.Tensor]):
    """Concatenate ``[(L_n, *D)]`` into ``(sum L_n, *D)``.

    Returns:
        packed, lengths (N,) long, first_idx (N,) long, item_idx (sum L_n,) long.
    """
    if len(tensors) == 0:
        raise InputError("tensors: expected a non-empty list, got an empty list")
    device = tensors[0].device
    lengths = torch.tensor([t.shape[0] for t in tensors], dtype=torch.int64, device=device)
    packed = torch.cat(list(tensors), dim=0)
    return packed, lengths, lengths_to_first_idx(lengths), lengths_to_item_idx(lengths)


def packed_to_list(
    packed: torch.Tensor, lengths: Sequence[int] | torch.Tensor
) -> list[torch.Tensor]:
    """Split ``(sum L_n, *D)`` into ``[(L_n, *D)]``."""
    return list(packed.split([int(v) for v in lengths], dim=0))


def padded_to_packed(padded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Select the valid rows of ``(N, L, *D)`` into ``(sum L_n, *D)``."""
    mask = lengths_to_mask(lengths, padded.shape[1])
    return padded[mask]


def lengths_to_first_idx(lengths: torch.Tensor) -> torch.Tensor:
    """``(N,)`` lengths → ``(N,)`` index of each item's first packed row."""
    first = torch.zeros_like(lengths)
    if lengths.numel() > 1:
        first[1:] = torch.cumsum(lengths, 0)[:-1]
    return first


def lengths_to_item_idx(lengths: torch.Tensor) -> torch.Tensor:
    """``(N,)`` lengths → ``(sum L_n,)`` item index of every packed row."""
    return torch.repeat_interleave(torch.arange(lengths.numel(), device=lengths.device), lengths)


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """``(N,)`` lengths → ``(N, max_len)`` bool mask, True for valid rows."""
    max_len = int(lengths.max()) if (max_len is None and lengths.numel()) else (max_len or 0)
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def check_lengths(lengths: Any, name: str, n: int, max_len: int) -> list[int]:
    """``lengths`` of a padded batch as a list of ``n`` ints in ``[0, max_len]``.

    Raises ``InputError`` for a wrong count, non-integers, negative or too-large values (never
    clips silently: a length beyond the padded size means the caller's data is inconsistent).
    """
    if isinstance(lengths, torch.Tensor):
        if lengths.ndim != 1 or lengths.is_floating_point() or lengths.is_complex():
            raise InputError(f"{name}: expected a 1-D integer tensor, got {lengths.dtype} "
                             f"{tuple(lengths.shape)}")
        values = lengths.tolist()
    else:
        try:
            values = list(lengths)
        except TypeError:
            raise InputError(f"{name}: expected a sequence of ints, got "
                             f"{type(lengths).__name__}") from None
    if len(values) != n:
        raise InputError(f"{name}: expected {n} lengths (one per item), got {len(values)}")
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, np_integer_types())):
            raise InputError(f"{name}[{i}]: expected an int, got {v!r}")
        if not 0 <= int(v) <= max_len:
            raise InputError(f"{name}[{i}]: expected a length in [0, {max_len}] (the padded "
                             f"size), got {int(v)}")
        out.append(int(v))
    return out


def np_integer_types() -> tuple[type, ...]:
    """numpy's integer scalar base class, when numpy is importable."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        return ()
    return (np.integer,)
