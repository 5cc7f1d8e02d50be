"""What every family of :mod:`spacetime.api` shares: training options, results, the torchrun
context and the run-directory conventions."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spacetime.api.checkpoints import ModelSpec
from spacetime.errors import InputError, MissingFileError

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "TrainOptions",
    "TrainResult",
    "EvalResult",
    "Log",
    "train_options",
    "distributed_run",
    "resume_checkpoint",
    "engine_config",
    "fmt_pct",
    "checkpoints_of",
]

Log = Callable[[str], None] | None


@dataclass
class TrainOptions:
    """How a ``train`` call optimises and where it writes; every family takes these as keyword
    arguments (``train(..., epochs=5, lr=0.01)``), with its own defaults.

    Attributes:
        out: run directory (``config.json``, ``metrics.csv/json``, ``curves.png``,
            ``checkpoints/{last,best}.pt``); None keeps nothing on disk.
        epochs, batch_size: ``batch_size`` is per process (under torchrun the global batch is
            ``batch_size * world_size``).
        optimizer, lr, momentum, weight_decay: ``sgd`` | ``adam`` | ``adamw`` and its settings.
        scheduler, warmup_epochs: ``none`` | ``step`` | ``cosine`` | ``onecycle``.
        grad_clip: max global gradient norm (None: no clipping).
        amp: mixed precision on CUDA (never used on the CPU).
        seed: the one seed of the run (data order, init, validation hold-out, augmentation).
        num_workers: DataLoader worker processes.
        device: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda``, ``cuda:N``.
        resume: continue from a checkpoint: a path, or True for ``out/checkpoints/last.pt``.
        checkpoint_every: also write ``last.pt`` every this many steps inside epochs.
        max_steps: stop after this many optimiser steps (a quick trial run).
        progress: progress bars (only when stderr is a terminal).
        tensorboard: TensorBoard event files under ``out/tb``.
    """

    out: str | os.PathLike | None = None
    epochs: int = 10
    batch_size: int = 8
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "cosine"
    warmup_epochs: float = 0.0
    grad_clip: float | None = None
    amp: bool = True
    seed: int = 0
    num_workers: int = 0
    device: str = "auto"
    resume: str | os.PathLike | bool | None = None
    checkpoint_every: int | None = None
    max_steps: int | None = None
    progress: bool = True
    tensorboard: bool = True


def train_options(defaults: TrainOptions, overrides: Mapping[str, Any]) -> TrainOptions:
    """``defaults`` with ``overrides`` applied; unknown names raise an InputError listing the
    valid ones."""
    names = [f.name for f in fields(TrainOptions)]
    unknown = [k for k in overrides if k not in names]
    if unknown:
        raise InputError(f"{unknown[0]}: not a training option; expected one of "
                         f"{', '.join(names)}")
    return dataclasses.replace(defaults, **dict(overrides))


@dataclass
class TrainResult:
    """What a ``train`` call returns.

    Attributes:
        spec: the trained model's :class:`~spacetime.api.ModelSpec` (stored in checkpoints).
        model: the trained model (eval mode; the last epoch's weights).
        run_dir: the run directory (None when ``out=None``).
        best_checkpoint / last_checkpoint: ``run_dir/checkpoints/{best,last}.pt``.
        best: ``{"metric", "mode", "value", "epoch"}``: the validation metric that chose
            ``best.pt``.
        history: one dict of metrics per epoch.
        num_train / num_val: training and validation items (all processes).
    """

    spec: ModelSpec
    model: nn.Module = field(repr=False)
    run_dir: Path | None
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    best: dict[str, Any]
    history: list[dict[str, Any]] = field(repr=False)
    num_train: int = 0
    num_val: int = 0


@dataclass
class EvalResult:
    """What an ``evaluate`` call returns: which items were scored and the metrics.

    ``str(result)`` is the printed report (a header naming the model, data, split and number
    of items, then a table); ``result.to_dict()`` is what ``metrics.json`` holds.
    """

    family: str
    model: str
    data: str
    split: str
    num_items: int
    metrics: dict[str, Any]
    checkpoint: str | None = None
    epoch: int | None = None
    table: str = field(default="", repr=False)
    files: list[Path] = field(default_factory=list)

    @property
    def header(self) -> str:
        at = f" (epoch {self.epoch})" if self.epoch is not None else ""
        return (f"{self.model}{at} on {self.data}: {self.split} split, "
                f"{self.num_items} item(s)")

    def __str__(self) -> str:
        return f"{self.header}\n{self.table}" if self.table else self.header

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "model": self.model, "checkpoint": self.checkpoint,
                "epoch": self.epoch, "data": self.data, "split": self.split,
                "num_items": self.num_items, **self.metrics}


@contextlib.contextmanager
def distributed_run(device: str) -> Iterator[Any]:
    """Join the torchrun process group (a no-op without torchrun; reused when a previous call
    joined it) for a training call; yields the :class:`~spacetime.engine.DistInfo`.

    The group stays up after the call, so that a script or notebook may train several models
    under one torchrun (re-creating a destroyed group in the same process hangs in gloo); all
    ranks meet at a barrier when the call ends, and the group is destroyed at interpreter exit
    (:func:`~spacetime.engine.init_distributed` registers that)."""
    from spacetime.engine import barrier, init_distributed

    info = init_distributed(device)
    yield info
    barrier()


def resume_checkpoint(resume: str | os.PathLike | bool | None,
                      out: str | os.PathLike | None) -> Path | None:
    """The checkpoint to resume from: ``resume`` itself, or ``out/checkpoints/last.pt`` for
    ``True`` / ``"auto"``; None when not resuming."""
    if resume is None or resume is False:
        return None
    if resume is True or resume == "auto":
        if out is None:
            raise InputError("resume: True needs a run directory (out)")
        path = Path(out) / "checkpoints" / "last.pt"
    else:
        path = Path(resume)
    if not path.is_file():
        raise MissingFileError(f"resume: no checkpoint at {str(path)!r}")
    return path


def engine_config(opts: TrainOptions, **extra: Any) -> Any:
    """The engine's :class:`~spacetime.engine.TrainConfig` for ``opts`` (+ ``extra`` fields)."""
    from spacetime.engine import TrainConfig

    return TrainConfig(
        epochs=opts.epochs, optimizer=opts.optimizer, lr=opts.lr, momentum=opts.momentum,
        weight_decay=opts.weight_decay, scheduler=opts.scheduler,
        warmup_epochs=opts.warmup_epochs, grad_clip=opts.grad_clip, amp=opts.amp,
        seed=opts.seed, device=opts.device,
        out_dir=None if opts.out is None else str(opts.out), progress=opts.progress,
        tensorboard=opts.tensorboard and opts.out is not None, plot=opts.out is not None,
        checkpoint_every=opts.checkpoint_every, max_steps=opts.max_steps, **extra,
    )


def fmt_pct(v: Any) -> str:
    """A fraction as a percentage with two decimals (``n/a`` for None / NaN)."""
    return "n/a" if v is None or v != v else f"{100 * float(v):.2f}"


def checkpoints_of(out: str | os.PathLike | None) -> tuple[Path | None, Path | None]:
    """``(best, last)`` checkpoint paths of a run directory (those that exist)."""
    if out is None:
        return None, None
    d = Path(out) / "checkpoints"
    best, last = d / "best.pt", d / "last.pt"
    return (best if best.is_file() else None), (last if last.is_file() else None)
