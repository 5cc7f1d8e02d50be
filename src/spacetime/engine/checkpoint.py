"""Checkpoint files: written atomically, read back with ``torch.load(weights_only=True)``.

A spacetime checkpoint is a ``dict`` holding only tensors and plain Python values (no pickled
classes), so loading it never executes code from the file:

=================  ==============================================================
key                content
=================  ==============================================================
``format``         ``"spacetime-checkpoint"``
``version``        format version (int)
``model``          ``model.state_dict()`` (unwrapped from DDP)
``optimizer``      optimiser ``state_dict()``
``scheduler``      LR scheduler ``state_dict()``
``scaler``         ``GradScaler`` ``state_dict()`` (empty when AMP is off)
``rng``            :func:`spacetime.engine.seed.get_rng_state` (python/numpy/torch/cuda)
``epoch``          number of completed epochs
``step``           number of completed optimiser steps
``best``           ``{"metric", "mode", "value", "epoch"}``
``history``        list of per-epoch metric dicts
``config``         the training configuration as a dict
``meta``           free-form plain data, e.g. model name, model kwargs, class names
``checksum``       ``{"algorithm": "sha256", "value": hex}`` over everything above
                   (:func:`checkpoint_checksum`); verified on load when present
=================  ==============================================================
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from spacetime.errors import FileFormatError, InputError, MissingFileError
from spacetime.fileio import atomic_path

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "save_checkpoint",
    "load_checkpoint",
    "check_weights_only",
    "checkpoint_checksum",
]

CHECKPOINT_FORMAT = "spacetime-checkpoint"
CHECKPOINT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` (plus format/version keys) to ``path`` atomically; return the path."""
    dest = Path(path)
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}
    check_weights_only(payload)
    payload["checksum"] = {"algorithm": "sha256", "value": checkpoint_checksum(payload)}
    with atomic_path(dest) as tmp:
        try:
            torch.save(payload, tmp)
        except RuntimeError as exc:  # torch's zip writer reports a failed write this way
            import errno

            raise OSError(errno.EIO, "cannot write the checkpoint (disk full or file-size "
                          f"limit?): {' '.join(str(exc).split())[:160]}", str(dest)) from None
    return dest


_PLAIN = (str, bytes, int, float, bool, complex, type(None), torch.Size, torch.dtype,
          torch.device)


def check_weights_only(value: Any, where: str = "state") -> None:
    """Refuse what ``torch.load(weights_only=True)`` would refuse to read back: anything but
    tensors, dicts, lists, tuples and plain Python values. Raises ``InputError`` naming the
    key (``state['meta']['fn']``) and the type, before anything is written."""
    if isinstance(value, torch.Tensor):
        if type(value) not in (torch.Tensor, torch.nn.Parameter):
            raise InputError(f"{where}: a {type(value).__name__} (tensor subclass) cannot be "
                             "loaded with weights_only; store a plain tensor")
        return
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, (str, int, float, bool, type(None))):
                raise InputError(f"{where}: key {k!r} of type {type(k).__name__} cannot be "
                                 "loaded with weights_only")
            check_weights_only(v, f"{where}[{k!r}]")
        return
    if isinstance(value, (list, tuple, set)):
        for i, v in enumerate(value):
            check_weights_only(v, f"{where}[{i}]")
        return
    raise InputError(f"{where}: a {type(value).__module__}.{type(value).__qualname__} cannot "
                     "be loaded with weights_only (store tensors and plain values only)")


def checkpoint_checksum(state: dict[str, Any]) -> str:
    """sha256 (hex) over every entry of a checkpoint but ``checksum`` itself, keys in sorted
    order: each tensor's dtype, shape and bytes, each plain value's ``repr``. Written by
    :func:`save_checkpoint` and verified by :func:`load_checkpoint`, so that flipped bytes
    in the file (which ``torch.load`` does not notice) are refused."""
    import hashlib

    h = hashlib.sha256()

    def walk(value: Any, where: str) -> None:
        if isinstance(value, torch.Tensor):
            t = value.detach().to("cpu").contiguous()
            h.update(f"{where}:T:{t.dtype}:{tuple(t.shape)}:".encode())
            if t.numel():
                h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(value, dict):
            keys = [k for k in value if not (where == "" and k == "checksum")]
            h.update(f"{where}:D{len(keys)}:".encode())
            for k in sorted(keys, key=lambda k: (type(k).__name__, str(k))):
                walk(value[k], f"{where}/{k!r}")
        elif isinstance(value, (list, tuple)):
            h.update(f"{where}:L{len(value)}:".encode())
            for i, v in enumerate(value):
                walk(v, f"{where}/{i}")
        else:
            h.update(f"{where}:V:{value!r};".encode())

    walk(state, "")
    return h.hexdigest()


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device | None = "cpu"
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Raises:
        MissingFileError: ``path`` does not exist.
        FileFormatError: the file is truncated, not a torch file, or not a spacetime checkpoint.
    """
    src = Path(path)
    if not src.is_file():
        raise MissingFileError(f"checkpoint: no such file {str(src)!r}")
    try:
        state = torch.load(src, map_location=map_location, weights_only=True)
    except (
        RuntimeError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, ValueError
    ) as exc:
        msg = " ".join(str(exc).split())
        raise FileFormatError(f"checkpoint {str(src)!r}: cannot read ({type(exc).__name__}: "
                              f"{msg[:300]})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise FileFormatError(
            f"checkpoint {str(src)!r}: not a spacetime checkpoint (missing format key)"
        )
    version = state.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise FileFormatError(f"checkpoint {str(src)!r}: format version {version!r} is not an "
                              "integer (corrupt checkpoint)")
    stored = state.get("checksum")
    if stored is not None:  # checkpoints written before the checksum have none
        if not (isinstance(stored, dict) and stored.get("algorithm") == "sha256"
                and isinstance(stored.get("value"), str)):
            raise FileFormatError(f"checkpoint {str(src)!r}: malformed checksum entry")
        actual = checkpoint_checksum(state)
        if actual != stored["value"]:
            raise FileFormatError(
                f"checkpoint {str(src)!r}: integrity check failed (sha256 of its contents is "
                f"{actual[:16]}…, the file says {stored['value'][:16]}…): the file is corrupt")
    if version > CHECKPOINT_VERSION:
        raise FileFormatError(
            f"checkpoint {str(src)!r}: format version {state['version']} is newer than "
            f"supported ({CHECKPOINT_VERSION})"
        )
    return state
