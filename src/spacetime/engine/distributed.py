"""Distributed data parallel (DDP) helpers for runs started with ``torchrun``.

``torchrun --nproc_per_node 2 -m spacetime.cli.main video train ...`` starts one process per
rank and sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``.
:func:`init_distributed` reads them and joins the process group (``gloo`` on CPU, ``nccl`` when
the run uses CUDA); without them it returns a single-process :class:`DistInfo` and does nothing.

Only rank 0 writes logs and checkpoints (:attr:`DistInfo.is_main`); metrics are summed over
ranks with :func:`all_reduce_sums`. Training shards use ``DistributedSampler`` (``set_epoch``
each epoch); evaluation shards use :class:`ShardSampler`, which does not pad, so all-reduced
metrics are exact.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from spacetime.engine.device import resolve_device
from spacetime.errors import InputError

__all__ = [
    "DistInfo",
    "init_distributed",
    "cleanup_distributed",
    "get_dist_info",
    "all_reduce_sums",
    "broadcast_object",
    "barrier",
    "ShardSampler",
]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def get_dist_info() -> DistInfo:
    """The current rank / world size (single process when no process group is initialised)."""
    if dist.is_available() and dist.is_initialized():
        local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
        return DistInfo(dist.get_rank(), dist.get_world_size(), local)
    return DistInfo()


def init_distributed(device: str | torch.device = "cpu", backend: str | None = None) -> DistInfo:
    """Join the process group described by torchrun's environment variables, if any.

    Args:
        device: the training device (``auto``: CUDA when available); ``cuda`` selects
            ``nccl`` and pins this process to GPU ``LOCAL_RANK``, anything else selects
            ``gloo``.
        backend: override the backend.

    Returns:
        The :class:`DistInfo` of this process. With ``WORLD_SIZE`` unset or 1 nothing happens.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    if not dist.is_available():  # pragma: no cover - every supported build has it
        raise InputError("WORLD_SIZE > 1 but torch.distributed is not available in this build")
    for var in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        if var not in os.environ:
            raise InputError(f"WORLD_SIZE={world_size} but environment variable {var} is not set")
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    dev_type = torch.device(resolve_device(device)).type
    if backend is None:
        backend = "nccl" if dev_type == "cuda" else "gloo"
    if dev_type == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
        _release_at_exit()
    return DistInfo(rank, world_size, local_rank)


_AT_EXIT_REGISTERED = False


def _release_at_exit() -> None:
    """Collect garbage (and destroy a process group left open) in an ``atexit`` handler, i.e.
    while the interpreter is fully alive.

    A DDP wrapper holds the process group; if the wrapper sits in a reference cycle, it is
    freed only by the garbage collector, and if that happens during interpreter finalisation,
    gloo's destructor can abort the process ("terminate called without an active exception":
    seen about once in four test-suite runs with two CPU ranks). A ``Trainer`` is in such a
    cycle when it built the process's first optimiser: torch's lazy imports during that
    construction leave a garbage cycle of frames whose callers' frames hold the ``Trainer``."""
    global _AT_EXIT_REGISTERED
    if _AT_EXIT_REGISTERED:
        return
    import atexit
    import gc

    def release() -> None:
        gc.collect()
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        gc.collect()

    atexit.register(release)
    _AT_EXIT_REGISTERED = True


def cleanup_distributed() -> None:
    """Leave the process group (no-op when none is initialised).

    All ranks first meet at a barrier: a rank that tears gloo down while a peer is still
    talking to it can abort at exit ("terminate called without an active exception", seen in
    CI with two CPU processes)."""
    if dist.is_available() and dist.is_initialized():
        import gc

        if dist.get_world_size() > 1:
            dist.barrier()
        gc.collect()  # free DDP wrappers already unreachable (in cycles) while gloo is up
        dist.destroy_process_group()
        gc.collect()


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_reduce_sums(
    values: Mapping[str, float], device: str | torch.device = "cpu"
) -> dict[str, float]:
    """Sum each value over all ranks; returns a new dict (identity in a single process).

    Every rank must pass the same keys. Values are reduced in float64.
    """
    keys = sorted(values)
    if not (dist.is_available() and dist.is_initialized()) or not keys:
        return {k: float(values[k]) for k in keys}
    dev = torch.device(device)
    if dist.get_backend() == "nccl" and dev.type != "cuda":
        dev = torch.device("cuda", torch.cuda.current_device())
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return {k: float(v) for k, v in zip(keys, t.tolist())}


def broadcast_object(obj: object, src: int = 0) -> object:
    """Send a picklable object from rank ``src`` to every rank (identity in a single process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


class ShardSampler(Sampler[int]):
    """Deterministic, non-padding shard of ``range(n)`` for evaluation: ``rank, rank + W, ...``.

    Unlike ``DistributedSampler`` it never repeats samples, so per-rank sums all-reduced with
    :func:`all_reduce_sums` give exactly the single-process metric.
    """

    def __init__(self, n: int, rank: int | None = None, world_size: int | None = None):
        info = get_dist_info()
        self.n = int(n)
        self.rank = info.rank if rank is None else int(rank)
        self.world_size = info.world_size if world_size is None else int(world_size)
        if not 0 <= self.rank < self.world_size:
            raise InputError(f"rank: expected 0 <= rank < {self.world_size}, got {self.rank}")

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.n, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world_size))
