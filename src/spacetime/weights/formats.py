"""What a weight format is: :class:`WeightFormat` (one entry of
:data:`spacetime.weights.FORMATS`), the file it reads (:class:`PeerFile`) and what its converter
returns (:class:`Converted`), plus small helpers the converters share.

A converter is a plain function::

    def convert_xyz(peer: PeerFile, *, option: T = default, ...) -> Converted

It looks at the peer's keys and shapes (``peer.state_dict``, tensors keyed by the peer's names,
``module.`` and ``state_dict`` wrappers already removed), chooses our model's builder arguments
and says how the peer's key names become ours (``renames``: ``(peer prefix, our prefix)`` pairs,
first match wins; ``transforms`` for the rare tensor that must change). It does not build the
model: :func:`spacetime.weights.convert_state_dict` builds it, compares every key and shape
(naming the peer's keys in its errors) and loads the weights strictly.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from spacetime.errors import FileFormatError, InputError, MissingFileError

__all__ = [
    "PeerFile",
    "Converted",
    "WeightFormat",
    "class_names",
    "check_peer_shape",
    "peer_key_for",
    "our_key_for",
    "is_ignored",
]


@dataclass
class PeerFile:
    """A peer's weight file as read by :func:`spacetime.weights.read_peer_file`.

    ``state_dict``: the tensors, keyed by the peer's names (wrappers and a ``module.`` prefix
    removed); ``source``: the file name for messages; ``wrapper``: the key the state dict was
    found under (``state_dict``, ``model``, ...; None for a bare state dict); ``extras``: the
    file's other top-level entries (e.g. MMAction2's ``meta``); ``path``: the file (None for
    a state dict given in memory)."""

    state_dict: dict[str, torch.Tensor]
    source: str = "state dict"
    wrapper: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    path: str | None = None

    def shape(self, key: str) -> tuple[int, ...] | None:
        """The shape of ``key``, or None when the file lacks it."""
        t = self.state_dict.get(key)
        return None if t is None else tuple(t.shape)


@dataclass
class Converted:
    """What a converter returns: our model (``model``, ``model_kwargs``: the builder arguments
    the peer's shapes imply; defaults are filled in later), its ``classes``, how its inputs are
    prepared (``preprocess``, the checkpoint schema's dict; None: the format's), and how the
    peer's keys map onto ours.

    ``renames``: ``(peer prefix, our prefix)`` pairs, tried in order (an empty peer prefix
    matches every key); ``ignore``: :mod:`fnmatch` patterns of peer keys dropped on purpose
    (reported in the notes); ``transforms``: our key → function applied to the peer's tensor;
    ``notes``: lines for the conversion report; ``family`` / ``options``: the checkpoint's
    family (None: the format's) and its inference options (e.g. a two-stream model's
    ``num_flows``, ``flow_method``, ``fusion``); ``tensors``: the peer tensors to convert
    instead of the file's (None: the file's), for a converter that derives tensors (e.g. a
    second copy of the encoder under another prefix); ``keep_init``: :mod:`fnmatch` patterns
    of *our* keys the peer does not provide on purpose: they keep the builder's (random)
    initialisation and are counted in the notes (e.g. a shape decoder behind an ImageNet
    encoder)."""

    model_kwargs: dict[str, Any]
    classes: list[str]
    renames: Sequence[tuple[str, str]]
    model: str | None = None
    preprocess: dict[str, Any] | None = None
    ignore: Sequence[str] = ()
    transforms: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    family: str | None = None
    options: dict[str, Any] | None = None
    tensors: dict[str, torch.Tensor] | None = None
    keep_init: Sequence[str] = ()


@dataclass(frozen=True)
class WeightFormat:
    """One published weight layout that converts to a spacetime model.

    Attributes:
        name: the ``--from`` name.
        description: one line: whose weights, trained on what.
        family, model: the target family and builder name (:func:`spacetime.api.model_builders`).
        converter: ``fn(peer: PeerFile, **options) -> Converted`` (module docstring).
        preprocess: what the weights expect, as the checkpoint's ``preprocess`` dict
            (frame size, crop, clip length, mean / std in the ``[0, 1]`` pixel scale, ...);
            converters may refine it (e.g. from options).
        source: where users get the file (text: URLs, file names).
        expects: the input convention in words (colour order, value range, normalisation).
    """

    name: str
    description: str
    family: str
    model: str
    converter: Callable[..., Converted]
    preprocess: Mapping[str, Any]
    source: str = ""
    expects: str = ""


def our_key_for(key: str, renames: Sequence[tuple[str, str]]) -> str | None:
    """The name a peer ``key`` gets under ``renames`` (None: no rule matches)."""
    for peer, ours in renames:
        if key.startswith(peer):
            return ours + key[len(peer):]
    return None


def peer_key_for(key: str, renames: Sequence[tuple[str, str]]) -> str:
    """The peer name that would give our ``key`` (for messages about missing keys)."""
    for peer, ours in renames:
        if key.startswith(ours):
            return peer + key[len(ours):]
    return key


def is_ignored(key: str, patterns: Sequence[str]) -> bool:
    """Whether a peer key matches one of the ``fnmatch`` ``patterns``."""
    return any(fnmatch.fnmatchcase(key, p) for p in patterns)


def class_names(
    classes: str | os.PathLike | Sequence[str] | None,
    num_classes: int,
    default: Sequence[str] | None = None,
    prefix: str = "class",
) -> list[str]:
    """Class names for ``num_classes`` outputs: ``classes`` (a list, or a text file with one
    name per line; UCF101's ``classInd.txt`` form ``"1 ApplyEyeMakeup"`` also works), else
    ``default`` when it has the right length, else ``class_000``, ``class_001``, ...

    Raises:
        MissingFileError: no such file. InputError: a count other than ``num_classes``.
    """
    if classes is None:
        if default is not None and len(default) == num_classes:
            return list(default)
        width = len(str(num_classes - 1))
        return [f"{prefix}_{i:0{max(3, width)}d}" for i in range(num_classes)]
    if isinstance(classes, (str, os.PathLike)):
        p = Path(classes)
        if not p.is_file():
            raise MissingFileError(f"classes: no such file {str(p)!r}")
        lines = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
        split = [ln.split(maxsplit=1) for ln in lines]
        if lines and all(len(s) == 2 and s[0].isdigit() for s in split):
            lines = [s[1] for s in split]  # "1 ApplyEyeMakeup" (classInd.txt)
        names, where = lines, f"classes file {str(p)!r}"
    else:
        names, where = [str(c) for c in classes], "classes"
    if len(names) != num_classes:
        raise InputError(f"{where}: names {len(names)} classes; the weights have "
                         f"{num_classes} outputs")
    return names


def check_peer_shape(peer: PeerFile, key: str, rank: int | None = None) -> tuple[int, ...]:
    """The shape of a key the converter needs to read sizes from; a clear error when the file
    lacks it or it has the wrong rank."""
    shape = peer.shape(key)
    if shape is None:
        shown = ", ".join(list(peer.state_dict)[:6])
        raise FileFormatError(f"{peer.source}: no key {key!r} (the file holds "
                              f"{len(peer.state_dict)} tensors: {shown}, ...); is it the "
                              "right --from format?")
    if rank is not None and len(shape) != rank:
        raise FileFormatError(f"{peer.source}: {key} has shape {shape}; expected {rank} "
                              "dimensions")
    return shape
