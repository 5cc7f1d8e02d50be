"""DataLoader construction with seeded shuffling and distributed sharding; batch helpers.

:func:`build_loader` always shuffles through a ``DistributedSampler`` (with one replica in a
single process), so the order of epoch ``e`` depends only on ``(seed, e)``: a run resumed
from a checkpoint sees the same batches as an uninterrupted one, and ``torchrun`` ranks see
disjoint shards. The trainer calls ``sampler.set_epoch(e)`` before each epoch.
Evaluation loaders (``shuffle=False``) use :class:`~spacetime.engine.distributed.ShardSampler`,
which never pads, so metrics summed over ranks are exact.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from spacetime.checks import check_int
from spacetime.engine.distributed import ShardSampler, get_dist_info
from spacetime.engine.seed import make_generator, seed_worker

__all__ = [
    "ResumableDistributedSampler",
    "build_loader",
    "move_to_device",
    "batch_size_of",
    "set_loader_epoch",
]


class ResumableDistributedSampler(DistributedSampler):
    """``DistributedSampler`` that can skip the first samples of its next epoch.

    The trainer calls :meth:`skip_next` when it resumes from a checkpoint written inside an
    epoch, so the batches already trained on are neither decoded nor repeated.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._skip = 0

    def skip_next(self, n: int) -> None:
        """Leave out the first ``n`` samples of this rank's next pass (once)."""
        self._skip = check_int(n, "n", min_value=0)

    def __iter__(self):
        skip, self._skip = self._skip, 0
        it = super().__iter__()
        for _ in range(skip):
            next(it, None)
        return it

    def __len__(self) -> int:
        return max(0, self.num_samples - self._skip)


def build_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    num_workers: int = 0,
    drop_last: bool = False,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    pin_memory: bool = False,
    persistent_workers: bool = False,
) -> DataLoader:
    """A ``DataLoader`` that is reproducible, resumable and shards under ``torchrun``.

    Args:
        dataset: a map-style dataset (``len`` and ``__getitem__``).
        batch_size: samples per batch per process.
        shuffle: training order (a fresh permutation per epoch, from ``seed`` and the epoch).
        seed: shuffle seed; also seeds the worker processes (:func:`seed_worker`).
        num_workers: loader worker processes.
        drop_last: drop the last incomplete batch.
        collate_fn: custom collate function.
        pin_memory: pin host memory (useful with CUDA).
        persistent_workers: keep workers alive between epochs (needs ``num_workers > 0``).
    """
    check_int(batch_size, "batch_size", min_value=1)
    check_int(num_workers, "num_workers", min_value=0)
    info = get_dist_info()
    if shuffle:
        sampler: Any = ResumableDistributedSampler(
            dataset,
            num_replicas=info.world_size,
            rank=info.rank,
            shuffle=True,
            seed=seed,
            drop_last=drop_last and info.world_size > 1,
        )
    else:
        sampler = ShardSampler(len(dataset), info.rank, info.world_size)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
        collate_fn=collate_fn,
        pin_memory=pin_memory,
        worker_init_fn=seed_worker,
        generator=make_generator(seed),
        persistent_workers=persistent_workers and num_workers > 0,
    )


def set_loader_epoch(loader: Any, epoch: int) -> None:
    """Call ``set_epoch(epoch)`` on the loader's sampler / batch sampler when they have one."""
    for obj in (
        getattr(loader, "sampler", None),
        getattr(getattr(loader, "batch_sampler", None), "sampler", None),
        getattr(loader, "batch_sampler", None),
        getattr(loader, "dataset", None),
    ):
        fn = getattr(obj, "set_epoch", None)
        if callable(fn):
            fn(epoch)


def move_to_device(batch: Any, device: torch.device | str, non_blocking: bool = False) -> Any:
    """Recursively move the tensors in dicts / lists / tuples to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, Mapping):
        return type(batch)({k: move_to_device(v, device, non_blocking) for k, v in batch.items()})
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # NamedTuple
        return type(batch)(*(move_to_device(v, device, non_blocking) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(v, device, non_blocking) for v in batch)
    return batch


def batch_size_of(batch: Any) -> int:
    """Size of dim 0 of the first tensor found in ``batch`` (1 when there is none)."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() else 1
    if isinstance(batch, Mapping):
        items: Sequence[Any] = list(batch.values())
    elif isinstance(batch, (list, tuple)):
        items = batch
    else:
        return 1
    for v in items:
        if isinstance(v, (torch.Tensor, Mapping, list, tuple)):
            return batch_size_of(v)
    return 1
