"""Device selection: ``"auto"`` means CUDA when a GPU is usable, else the CPU."""

from __future__ import annotations

import os

import torch

from spacetime.errors import InputError

__all__ = ["resolve_device", "process_device"]


def resolve_device(device: str | torch.device | None = "auto") -> str:
    """``"auto"`` / None → ``"cuda"`` when ``torch.cuda.is_available()``, else ``"cpu"``;
    any other value is checked (``cpu``, ``cuda``, ``cuda:N``, ``mps``) and returned as a string.

    Raises:
        InputError: an unknown device string, or CUDA asked for on a machine without a GPU.
    """
    if device is None or str(device) == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"device: expected auto, cpu, cuda or cuda:N, got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device: expected an available device, got {str(device)!r} (no GPU)")
    return str(dev)


def process_device(device: str | torch.device | None = "auto") -> str:
    """:func:`resolve_device`, and under ``torchrun`` a bare ``cuda`` becomes this process's own
    GPU, ``cuda:LOCAL_RANK`` (one GPU per process, as
    :func:`~spacetime.engine.distributed.init_distributed` pins it)."""
    resolved = resolve_device(device)
    if resolved == "cuda" and "LOCAL_RANK" in os.environ:
        return f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return resolved
