"""Tiny model and data shared by the engine tests and the DDP worker script."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset


def toy_data(n: int = 48, dim: int = 6, num_classes: int = 3, seed: int = 123) -> TensorDataset:
    """Linearly separable-ish random classification data, independent of the global RNG."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(dim, num_classes, generator=g)
    x = torch.randn(n, dim, generator=g)
    y = (x @ w + 0.3 * torch.randn(n, num_classes, generator=g)).argmax(dim=1)
    return TensorDataset(x, y)


class DictDataset(Dataset):
    """Wrap a TensorDataset to yield ``{"video": x, "label": y}`` dicts."""

    def __init__(self, base: TensorDataset):
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        x, y = self.base[i]
        return {"video": x, "label": y}


def toy_model(dim: int = 6, num_classes: int = 3, dropout: float = 0.0) -> nn.Module:
    return nn.Sequential(
        nn.Linear(dim, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, num_classes)
    )
