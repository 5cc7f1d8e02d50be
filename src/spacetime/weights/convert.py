"""Convert a peer's published weight file into a spacetime checkpoint.

:data:`FORMATS` maps each ``--from`` name to its :class:`~spacetime.weights.formats.WeightFormat`
(one entry per format; add yours with one line). :func:`convert_weights` reads the file
(``torch.load(weights_only=True)``, or a restricted unpickler that only rebuilds numpy arrays
for plain pickles: no code from the file ever runs), removes ``state_dict`` / ``model``
wrappers and a ``module.`` prefix, lets the format's converter choose our model and rename
the keys, builds the model, checks every key and shape (an error names the file, each
missing / unexpected / mis-shaped key with the expected and the received shape), loads the
weights strictly and writes a normal spacetime checkpoint: ``spacetime.api.load_model(OUT)``
rebuilds it with no other input, and ``predict`` / ``evaluate`` prepare inputs the way the
weights expect (the format's normalisation is the checkpoint's ``preprocess``).

The converter contract (what a new format provides)::

    def convert_xyz(peer: PeerFile, *, <options with defaults>) -> Converted

``peer.state_dict`` holds the file's tensors under the peer's names; the returned
:class:`~spacetime.weights.formats.Converted` gives ``model_kwargs`` (builder arguments the
shapes imply; defaults are filled in here), ``classes``, optionally ``model`` / ``preprocess``
(else the format's), and ``renames`` = ``[(peer prefix, our prefix), ...]`` (first match wins),
``ignore`` patterns and ``transforms`` for tensors that must change. Options reach the
converter as keyword arguments (``convert_weights(..., classes="classInd.txt")``).
"""

from __future__ import annotations

import hashlib
import inspect
import os
import pickle
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spacetime import __version__
from spacetime.checks import check_in
from spacetime.errors import FileFormatError, InputError, MissingFileError
from spacetime.weights.c3d import C3D_FORMATS
from spacetime.weights.formats import (
    Converted,
    PeerFile,
    WeightFormat,
    is_ignored,
    our_key_for,
    peer_key_for,
)
from spacetime.weights.meshrcnn import MESHRCNN_FORMATS
from spacetime.weights.torchvision_backbones import TORCHVISION_FORMATS

__all__ = [
    "FORMATS",
    "ConversionReport",
    "read_peer_file",
    "convert_state_dict",
    "convert_weights",
    "format_table",
]

#: ``--from`` name → format (one entry per format)
FORMATS: dict[str, WeightFormat] = {
    **C3D_FORMATS,
    **TORCHVISION_FORMATS,
    **MESHRCNN_FORMATS,
}

#: the checkpoint schema written (``spacetime.api.checkpoints.SCHEMA_VERSION``; this package
#: sits below the api layer, a test keeps the two equal)
SCHEMA_VERSION = 2
#: builder arguments that name weight files: stored as None (as ``ModelSpec.to_meta`` does)
_WEIGHT_ARGUMENTS = frozenset({"checkpoint", "detector_checkpoint", "device"})
_WRAPPERS = ("state_dict", "model", "model_state", "model_state_dict", "net")


# ----------------------------------------------------------------------------- reading


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays, nothing else: any other global (a function
    or class the file names, e.g. ``os.system``) is refused before it could run."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict"),
        ("_codecs", "encode"),  # bytes in protocol-2 pickles (torch's weights_only allows it)
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED or (module == "numpy" and name.endswith("DType")
                                               and name[:1].isupper()):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused global {module}.{name}")


def _load_object(path: Path) -> Any:
    """``torch.load(weights_only=True)``; for a plain (non-torch) pickle, the numpy-only
    unpickler. Errors say which, and that nothing from the file was executed."""
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols it then refuses
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError,
            zipfile.BadZipFile, AttributeError, ImportError, IndexError, TypeError) as exc:
        first = " ".join(str(exc).split())
    if not zipfile.is_zipfile(path):
        try:
            with open(path, "rb") as fh:  # latin1: Python 2 pickles (e.g. detectron2's .pkl)
                return _NumpyOnlyUnpickler(fh, encoding="latin1").load()
        except pickle.UnpicklingError as exc:
            if "refused global" in str(exc):
                raise FileFormatError(
                    f"weights {str(path)!r}: refused: the pickle names {str(exc)[15:]!r}, "
                    "which could run code; only tensors, numpy arrays and plain containers are "
                    "read (save the weights with torch.save(model.state_dict()))") from None
        except (EOFError, ValueError, TypeError, AttributeError, IndexError, OSError,
                ImportError, KeyError, UnicodeDecodeError, MemoryError):
            pass
    at = first.find("GLOBAL ")
    if at >= 0:  # weights_only met a class or function it would have had to import
        shown = first[at:].split(" whose")[0].rstrip(". ")[:120]
        raise FileFormatError(
            f"weights {str(path)!r}: refused: the file holds pickled Python objects ({shown}); "
            "weights_only loading never runs code from a file. Re-save only the tensors: "
            "torch.save(model.state_dict(), PATH)")
    raise FileFormatError(f"weights {str(path)!r}: not a readable weight file (torch.load: "
                          f"{first[-200:]})")


def _to_tensors(state: Mapping[Any, Any], source: str) -> dict[str, torch.Tensor]:
    import numpy as np

    out: dict[str, torch.Tensor] = {}
    bad = []
    for k, v in state.items():
        if isinstance(v, np.ndarray) and v.dtype != object:
            v = torch.from_numpy(np.ascontiguousarray(v))
        if not isinstance(k, str) or not isinstance(v, torch.Tensor):
            bad.append(f"{k!r} ({type(v).__name__})")
            continue
        out[k] = v
    if bad:
        raise FileFormatError(f"{source}: the state dict holds non-tensor entries: "
                              f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}")
    return out


def _is_tensor_dict(obj: Any) -> bool:
    import numpy as np

    return isinstance(obj, Mapping) and bool(obj) and all(
        isinstance(v, (torch.Tensor, np.ndarray)) for v in obj.values())


def read_peer_file(path: str | os.PathLike) -> PeerFile:
    """Read a peer's weight file (``.pth`` / ``.pt`` / ``.pickle`` / ``.pkl``) safely.

    A bare state dict, or one under ``state_dict`` / ``model`` / ``model_state`` /
    ``model_state_dict`` / ``net`` (the file's other entries go to ``extras``); a
    ``module.`` prefix on every key (``DataParallel``) is removed.

    Raises:
        MissingFileError: no such file. FileFormatError: unreadable, pickled code, or no
        state dict of tensors in it.
    """
    p = Path(path)
    source = f"weights {str(p)!r}"
    if not p.is_file():
        raise MissingFileError(f"weights: no such file {str(p)!r}")
    obj = _load_object(p)
    wrapper, extras = None, {}
    if not _is_tensor_dict(obj):
        if not isinstance(obj, Mapping):
            raise FileFormatError(f"{source}: holds a {type(obj).__name__}, not a state dict")
        for key in _WRAPPERS:
            if key in obj and _is_tensor_dict(obj[key]):
                wrapper = key
                extras = {str(k): v for k, v in obj.items() if k != key}
                obj = obj[key]
                break
        else:
            shown = ", ".join(f"{k!r}: {type(v).__name__}" for k, v in list(obj.items())[:6])
            raise FileFormatError(f"{source}: no state dict of tensors in it (top-level "
                                  f"entries {shown}); expected tensors, or a dict holding "
                                  f"them under one of {', '.join(_WRAPPERS)}")
    state = _to_tensors(obj, source)
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return PeerFile(state, source, wrapper, extras, str(p))


# ----------------------------------------------------------------------------- converting


def _builders(family: str) -> dict[str, Callable[..., nn.Module]]:
    check_in(family, "family", ("video", "two-stream", "shapes", "meshrcnn"))
    if family in ("video", "two-stream"):
        from spacetime.video.models import MODEL_BUILDERS

        return dict(MODEL_BUILDERS)
    if family == "shapes":
        from spacetime.shapes.models import SHAPE_MODEL_BUILDERS

        return dict(SHAPE_MODEL_BUILDERS)
    from spacetime.shapes.models.mesh_rcnn import MESH_RCNN_BUILDERS

    return dict(MESH_RCNN_BUILDERS)


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _complete(builder: Callable[..., nn.Module], given: Mapping[str, Any]) -> dict[str, Any]:
    """Every builder argument: ``given`` then the defaults (as the checkpoint schema stores)."""
    params = inspect.signature(builder).parameters
    kwargs = dict(given)
    for name, p in params.items():
        if name not in kwargs and p.default is not p.empty and p.kind not in (
                p.VAR_POSITIONAL, p.VAR_KEYWORD):
            kwargs[name] = p.default
    return _plain(kwargs)


def _fmt(shape: Any) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def _rename(peer: PeerFile, conv: Converted, expected: Mapping[str, torch.Tensor],
            fmt: WeightFormat, model: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The peer's tensors under our names; raises one FileFormatError listing every missing,
    unexpected and mis-shaped key (peer names, expected and received shapes)."""
    ours: dict[str, torch.Tensor] = {}
    came_from: dict[str, str] = {}
    unexpected, ignored, mis_shaped, mis_names = [], [], [], set()
    for key, value in peer.state_dict.items():
        if is_ignored(key, conv.ignore):
            ignored.append(key)
            continue
        name = our_key_for(key, conv.renames)
        if name is None or name not in expected:
            unexpected.append(f"{key} {_fmt(value.shape)}")
            continue
        if name in ours or name in mis_names:
            raise FileFormatError(f"{peer.source}: {came_from.get(name, '?')} and {key} both "
                                  f"map onto {name} ({fmt.name})")
        if name in conv.transforms:
            value = conv.transforms[name](value)
        came_from[name] = key
        if tuple(value.shape) != tuple(expected[name].shape):
            mis_shaped.append(f"{key}: expected {_fmt(expected[name].shape)}, the file has "
                              f"{_fmt(value.shape)}")
            mis_names.add(name)
            continue
        ours[name] = value
    missing = [f"{peer_key_for(k, conv.renames)} {_fmt(v.shape)}" for k, v in expected.items()
               if k not in ours and k not in mis_names and not is_ignored(k, conv.keep_init)]
    if missing or unexpected or mis_shaped:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected),
                             ("mis-shaped", mis_shaped)):
            if items:
                more = f", ... ({len(items)} in all)" if len(items) > 6 else ""
                parts.append(f"{len(items)} {label}: {'; '.join(items[:6])}{more}")
        raise FileFormatError(f"{peer.source}: does not fit {model} as --from {fmt.name} "
                              f"reads it: {' | '.join(parts)}")
    notes = [f"ignored {len(ignored)} tensors ({', '.join(ignored[:3])}"
             f"{', ...' if len(ignored) > 3 else ''})"] if ignored else []
    return ours, notes


def _format(name: str) -> WeightFormat:
    if name not in FORMATS:
        raise InputError(f"from_format: unknown weight format {name!r}; known: "
                         f"{', '.join(sorted(FORMATS))}")
    return FORMATS[name]


def _run_converter(fmt: WeightFormat, peer: PeerFile, options: Mapping[str, Any]) -> Converted:
    params = inspect.signature(fmt.converter).parameters
    takes = [n for n in params if n != "peer"]
    unknown = sorted(set(options) - set(takes))
    if unknown and not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        raise InputError(f"options: --from {fmt.name} does not take {', '.join(unknown)}; it "
                         f"takes {', '.join(takes) or 'none'}")
    return fmt.converter(peer, **options)


def convert_state_dict(
    peer: PeerFile | Mapping[str, torch.Tensor],
    from_format: str,
    **options: Any,
) -> tuple[nn.Module, dict[str, Any], list[str]]:
    """Convert in memory: ``(model in eval mode with the weights, checkpoint meta, notes)``.

    ``peer`` is a :class:`PeerFile` (:func:`read_peer_file`) or a bare state dict; the meta is
    the checkpoint schema's ``ModelSpec`` as a dict (``spacetime.api.ModelSpec.from_meta``
    reads it). ``options`` go to the format's converter.

    Raises:
        InputError: unknown format or option. FileFormatError: the weights do not fit (every
        missing / unexpected / mis-shaped key listed).
    """
    fmt = _format(from_format)
    if not isinstance(peer, PeerFile):
        peer = PeerFile(_to_tensors(peer, "state dict"))
    conv = _run_converter(fmt, peer, options)
    model_name = conv.model or fmt.model
    family = conv.family or fmt.family
    builders = _builders(family)
    if model_name not in builders:
        raise InputError(f"model: {family} has no model {model_name!r}")
    builder = builders[model_name]
    kwargs = _complete(builder, conv.model_kwargs)
    with torch.device("meta"):  # only the key set and shapes, no memory
        expected = builder(**{k: tuple(v) if isinstance(v, list) else v
                              for k, v in kwargs.items()}).state_dict()
    source = peer if conv.tensors is None else PeerFile(
        conv.tensors, peer.source, peer.wrapper, peer.extras, peer.path)
    ours, notes = _rename(source, conv, expected, fmt, model_name)
    model = builder(**{k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()})
    kept = {k: v for k, v in model.state_dict().items() if k not in ours}
    if kept:
        n = sum(v.numel() for v in kept.values())
        notes.append(f"kept the builder's initialisation for {len(kept)} tensors ({n:,} values; "
                     f"{', '.join(list(kept)[:3])}{', ...' if len(kept) > 3 else ''})")
    model.load_state_dict({**kept, **ours}, strict=True)
    model.eval()
    preprocess = dict(conv.preprocess if conv.preprocess is not None else fmt.preprocess)
    data_options = {k: preprocess[k] for k in ("frames", "size") if k in preprocess}
    meta = {
        "schema": SCHEMA_VERSION,
        "family": family,
        "model": model_name,
        "model_kwargs": {k: (None if k in _WEIGHT_ARGUMENTS else v) for k, v in kwargs.items()},
        "classes": list(conv.classes),
        "data": None,
        "data_options": data_options,
        "preprocess": _plain(preprocess),
        "options": _plain(dict(conv.options or {})),
        "spacetime_version": __version__,
        "converted_from": {"format": fmt.name,
                           "file": None if peer.path is None else Path(peer.path).name,
                           "tensors": len(peer.state_dict)},
    }
    return model, meta, [*conv.notes, *notes]


@dataclass
class ConversionReport:
    """What :func:`convert_weights` did: the files, the format, the model built (family,
    name, builder arguments, number of parameters and tensors), the classes and the input
    preparation stored in the checkpoint, and notes."""

    source: Path
    out: Path
    format: str
    family: str
    model: str
    model_kwargs: dict[str, Any]
    num_classes: int
    num_tensors: int
    num_parameters: int
    preprocess: dict[str, Any]
    sha256: str
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        pre = self.preprocess
        lines = [f"{self.source} ({self.format}) -> {self.out}",
                 f"  model: {self.family} {self.model}, {self.num_parameters:,} parameters in "
                 f"{self.num_tensors} tensors, {self.num_classes} classes"]
        if {"frames", "size", "mean", "std"} <= set(pre):
            lines.append(f"  input: {pre['frames']} frames, short side {pre.get('resize_to')}, "
                         f"centre crop {pre['size']}, mean {_short(pre['mean'])}, "
                         f"std {_short(pre['std'])} (on [0, 1] pixels)")
        elif pre:
            lines.append(f"  input: {pre}")
        lines.append(f"  source sha256: {self.sha256}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"source": str(self.source), "out": str(self.out), "format": self.format,
                "family": self.family, "model": self.model, "model_kwargs": self.model_kwargs,
                "num_classes": self.num_classes, "num_tensors": self.num_tensors,
                "num_parameters": self.num_parameters, "preprocess": self.preprocess,
                "sha256": self.sha256, "notes": list(self.notes)}


def _short(values: Any) -> str:
    if not isinstance(values, (list, tuple)):
        return str(values)
    return "[" + ", ".join(f"{float(v):.4g}" for v in values) + "]"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def convert_weights(
    src: str | os.PathLike,
    from_format: str,
    out: str | os.PathLike,
    **options: Any,
) -> ConversionReport:
    """Convert the peer weight file ``src`` (format ``from_format``, see :data:`FORMATS`)
    into the spacetime checkpoint ``out`` (written atomically).

    ``options`` go to the format's converter (e.g. ``classes="classInd.txt"``; torchvision:
    ``model="late-fusion-pool"``, ``frames=8``). ``spacetime.api.load_model(out)`` then
    rebuilds the model, and ``predict`` / ``evaluate`` normalise inputs as the weights expect.

    Raises:
        MissingFileError, FileFormatError, InputError: see :func:`read_peer_file` and
        :func:`convert_state_dict`.
    """
    from spacetime.engine.checkpoint import save_checkpoint

    fmt = _format(from_format)
    src_path = Path(src)
    peer = read_peer_file(src_path)
    model, meta, notes = convert_state_dict(peer, fmt.name, **options)
    digest = _sha256(src_path)
    meta["converted_from"]["sha256"] = digest
    state = {"model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
             "meta": meta, "epoch": 0, "step": 0, "best": {}, "history": [],
             "config": {"converted_from": fmt.name}}
    out_path = save_checkpoint(out, state)
    return ConversionReport(
        src_path, out_path, fmt.name, meta["family"], meta["model"], meta["model_kwargs"],
        len(meta["classes"]), len(state["model"]),
        sum(p.numel() for p in model.parameters()), meta["preprocess"], digest, notes)


def format_table() -> str:
    """The known formats, one block each: name, target model, what it is, what it expects."""
    lines = []
    for name, f in FORMATS.items():
        lines.append(f"{name}  ->  {f.family} {f.model}")
        lines.append(f"    {f.description}")
        if f.expects:
            lines.append(f"    expects: {f.expects}")
        if f.source:
            lines.append(f"    get it: {f.source}")
    return "\n".join(lines)
