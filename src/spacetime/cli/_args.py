"""Argument types and helpers shared by the ``spacetime`` command families."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

__all__ = [
    "int_list",
    "json_dict",
    "print_help",
    "LazyChoices",
    "add_device",
    "DEVICE_HELP",
    "add_train_options",
    "train_options",
    "print_json",
]


def int_list(text: str) -> tuple[int, ...]:
    """``"3,16,112,112"`` or ``"3x16x112x112"`` → ``(3, 16, 112, 112)``."""
    try:
        return tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from exc


def json_dict(text: str) -> dict[str, Any]:
    """A JSON object given on the command line, e.g. ``'{"channels": [16, 32]}'``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def print_help(parser: argparse.ArgumentParser) -> int:
    """Print ``parser``'s help; exit code 2 (a command family called without a subcommand)."""
    parser.print_help()
    return 2


class LazyChoices:
    """``choices=`` for argparse that loads the names only when they are needed (checking a
    value or printing ``--help``), so that building the parser never imports torch."""

    def __init__(self, load: Callable[[], Iterable[str]]) -> None:
        self._load = load
        self._names: list[str] | None = None

    def _get(self) -> list[str]:
        if self._names is None:
            self._names = list(self._load())
        return self._names

    def __contains__(self, value: object) -> bool:
        return value in self._get()

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


#: what every ``--device`` accepts
DEVICE_HELP = "auto (CUDA when available, else CPU) | cpu | cuda | cuda:N"


def add_device(parser: argparse.ArgumentParser | Any, what: str = "") -> None:
    """Add ``--device`` (default ``auto``) to ``parser``; ``what`` says what runs there."""
    parser.add_argument("--device", default="auto",
                        help=f"{what + ': ' if what else ''}{DEVICE_HELP}; default auto")


def add_train_options(parser: argparse.ArgumentParser, defaults: Any, *,
                      optimizers: tuple[str, ...] = ("sgd", "adam", "adamw")) -> None:
    """The :class:`~spacetime.api.TrainOptions` flags, with a family's ``defaults``."""
    g = parser.add_argument_group("training (spacetime.api.TrainOptions)")
    g.add_argument("--out", default=defaults.out, help="run directory")
    g.add_argument("--epochs", type=int, default=defaults.epochs, help="epochs to train")
    g.add_argument("--batch-size", type=int, default=defaults.batch_size,
                   help="items per step and process")
    g.add_argument("--optimizer", default=defaults.optimizer, choices=optimizers,
                   help="optimiser")
    g.add_argument("--lr", type=float, default=defaults.lr, help="peak learning rate")
    g.add_argument("--momentum", type=float, default=defaults.momentum, help="SGD momentum")
    g.add_argument("--weight-decay", type=float, default=defaults.weight_decay,
                   help="weight decay (decoupled for adamw)")
    g.add_argument("--scheduler", default=defaults.scheduler,
                   choices=("none", "step", "cosine", "onecycle"),
                   help="learning-rate schedule, stepped every batch")
    g.add_argument("--warmup-epochs", type=float, default=defaults.warmup_epochs,
                   help="linear warm-up length in epochs")
    g.add_argument("--grad-clip", type=float, default=defaults.grad_clip,
                   help="max gradient norm")
    g.add_argument("--amp", action=argparse.BooleanOptionalAction, default=defaults.amp,
                   help="mixed precision on CUDA (never used on the CPU)")
    g.add_argument("--seed", type=int, default=defaults.seed,
                   help="one seed for data order, init, validation hold-out, augmentation")
    g.add_argument("--num-workers", type=int, default=defaults.num_workers,
                   help="data-loader worker processes")
    g.add_argument("--device", default=defaults.device, help=DEVICE_HELP)
    g.add_argument("--resume", nargs="?", const=True, default=None, metavar="CKPT",
                   help="resume from CKPT (default OUT/checkpoints/last.pt)")
    g.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every,
                   metavar="STEPS", help="also save last.pt every STEPS steps inside epochs")
    g.add_argument("--max-steps", type=int, default=defaults.max_steps, metavar="N",
                   help="stop after N optimiser steps (a quick trial run)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")
    g.add_argument("--no-tensorboard", action="store_true", help="no TensorBoard logs")


def train_options(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`~spacetime.api.TrainOptions` keyword arguments of parsed ``args``."""
    return {
        "out": args.out, "epochs": args.epochs, "batch_size": args.batch_size,
        "optimizer": args.optimizer, "lr": args.lr, "momentum": args.momentum,
        "weight_decay": args.weight_decay, "scheduler": args.scheduler,
        "warmup_epochs": args.warmup_epochs, "grad_clip": args.grad_clip,
        "amp": args.amp, "seed": args.seed, "num_workers": args.num_workers,
        "device": args.device, "resume": args.resume,
        "checkpoint_every": args.checkpoint_every, "max_steps": args.max_steps,
        "progress": not args.no_progress, "tensorboard": not args.no_tensorboard,
    }


def print_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON (tensors, paths and NaN made JSON-friendly)."""
    from spacetime.engine.rundir import to_jsonable

    print(json.dumps(to_jsonable(obj), indent=2))
