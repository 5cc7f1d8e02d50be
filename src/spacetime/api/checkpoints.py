"""One checkpoint schema for every model family, and :func:`load_model`.

Every ``train`` of :mod:`spacetime.api` writes engine checkpoints
(:func:`spacetime.engine.save_checkpoint`) whose ``meta`` entry is a :class:`ModelSpec`:

======================  ===============================================================
key                     content
======================  ===============================================================
``schema``              :data:`SCHEMA_VERSION` (2; checkpoints of spacetime 0.1 have none)
``family``              ``video``, ``two-stream``, ``flow``, ``shapes`` or ``meshrcnn``
``model``               the builder's name in the family's dict (:func:`model_builders`)
``model_kwargs``        **every** builder argument, defaults filled in (so a later change of
                        a default never changes a saved model); weight-file arguments
                        (``checkpoint``, ``detector_checkpoint``) are ``None``: the weights
                        are in the checkpoint
``classes``             class names (empty for flow)
``data``                the ``--data`` string the model was trained on
``data_options``        the data options (frames, sizes, fold, seed, ...)
``preprocess``          what turns a file into the model's input (sizes, mean/std, ...)
``options``             family options needed at inference (shape task, Mesh R-CNN mode,
                        two-stream flow settings, RAFT iterations, ...)
``spacetime_version``   the version that wrote it
======================  ===============================================================

:func:`load_model` rebuilds any of them with no other input. Checkpoints written by
spacetime 0.1 (no ``schema`` key) are migrated on load (``tests/fixtures/checkpoints_v0_1``).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spacetime import __version__
from spacetime.errors import FileFormatError, InputError

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "SCHEMA_VERSION",
    "FAMILIES",
    "ModelSpec",
    "LoadedModel",
    "model_builders",
    "complete_model_kwargs",
    "build_model",
    "read_spec",
    "load_model",
]

SCHEMA_VERSION = 2
FAMILIES = ("video", "two-stream", "flow", "shapes", "meshrcnn")
#: builder arguments that name weight files: stored as None (the weights are in the checkpoint)
WEIGHT_ARGUMENTS = frozenset({"checkpoint", "detector_checkpoint", "device"})


def _video_builders() -> dict[str, Callable[..., nn.Module]]:
    from spacetime.video.models import MODEL_BUILDERS

    return dict(MODEL_BUILDERS)


def _flow_builders() -> dict[str, Callable[..., nn.Module]]:
    import functools

    from spacetime.video.flow import RAFT_MODELS, build_raft

    return {name: functools.partial(build_raft, name) for name in RAFT_MODELS}


def _shape_builders() -> dict[str, Callable[..., nn.Module]]:
    from spacetime.shapes.models import SHAPE_MODEL_BUILDERS

    return dict(SHAPE_MODEL_BUILDERS)


def _meshrcnn_builders() -> dict[str, Callable[..., nn.Module]]:
    from spacetime.shapes.models.mesh_rcnn import MESH_RCNN_BUILDERS

    return dict(MESH_RCNN_BUILDERS)


_BUILDERS: dict[str, Callable[[], dict[str, Callable[..., nn.Module]]]] = {
    "video": _video_builders,
    "two-stream": _video_builders,
    "flow": _flow_builders,
    "shapes": _shape_builders,
    "meshrcnn": _meshrcnn_builders,
}


def model_builders(family: str) -> dict[str, Callable[..., nn.Module]]:
    """The name → builder dict of a family (imported on first use)."""
    from spacetime.checks import check_in

    check_in(family, "family", FAMILIES)
    return _BUILDERS[family]()


def _plain(value: Any) -> Any:
    """Tuples → lists, recursively (what JSON and ``weights_only`` loading keep)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def complete_model_kwargs(
    family: str, model: str, given: Mapping[str, Any] | None = None,
    auto: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Every argument of ``model``'s builder: ``auto`` values the builder takes (e.g. the data's
    ``num_classes``), then ``given`` (the user's), then the builder's defaults.

    Raises:
        InputError: unknown model name, or an argument the builder does not take (the message
            lists the ones it does).
    """
    from spacetime.checks import check_in

    builders = model_builders(family)
    check_in(model, "model", sorted(builders))
    sig = inspect.signature(builders[model])
    params = {n: p for n, p in sig.parameters.items()
              if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    var_kw = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    for k in given or {}:
        if k not in params and not var_kw:
            raise InputError(f"model_kwargs: {model} does not take {k!r}; it takes "
                             f"{', '.join(params)}")
    kwargs = {k: v for k, v in (auto or {}).items() if k in params}
    kwargs.update(given or {})
    for name, p in params.items():
        if name not in kwargs and p.default is not p.empty:
            kwargs[name] = p.default
    return _plain(kwargs)


@dataclass
class ModelSpec:
    """Everything that rebuilds a trained model and prepares its inputs (see the module
    docstring for each field)."""

    family: str
    model: str
    model_kwargs: dict[str, Any]
    classes: list[str] = field(default_factory=list)
    data: str | None = None
    data_options: dict[str, Any] = field(default_factory=dict)
    preprocess: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    spacetime_version: str = __version__
    schema: int = SCHEMA_VERSION

    def to_meta(self) -> dict[str, Any]:
        """The checkpoint's ``meta`` dict (plain Python values)."""
        meta = _plain(asdict(self))
        meta["model_kwargs"] = {k: (None if k in WEIGHT_ARGUMENTS else v)
                                for k, v in meta["model_kwargs"].items()}
        return meta

    @classmethod
    def from_meta(cls, meta: Any, source: str = "checkpoint") -> ModelSpec:
        """Read a checkpoint's ``meta`` (schema 2, or spacetime 0.1's, migrated)."""
        if not isinstance(meta, Mapping) or not meta:
            raise FileFormatError(f"{source}: no model description (meta['model'] missing); "
                                  "it was not written by a spacetime train command")
        if "schema" not in meta:
            meta = _migrate_v1(meta, source)
        schema = meta["schema"]
        if isinstance(schema, bool) or not isinstance(schema, int):
            raise FileFormatError(f"{source}: meta['schema'] = {schema!r}: expected an integer")
        if schema > SCHEMA_VERSION:
            raise FileFormatError(f"{source}: model schema {meta['schema']} is newer than this "
                                  f"spacetime ({__version__}) reads ({SCHEMA_VERSION})")
        missing = [k for k in ("family", "model", "model_kwargs") if k not in meta]
        if missing:
            raise FileFormatError(f"{source}: missing meta[{missing[0]!r}]")
        if not isinstance(meta["family"], str) or meta["family"] not in FAMILIES:
            raise FileFormatError(f"{source}: unknown model family {meta['family']!r} "
                                  f"(known: {', '.join(FAMILIES)})")
        _check_meta_types(meta, source)
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in meta.items() if k in names})


def _check_meta_types(meta: Mapping[str, Any], source: str) -> None:
    """Each ``meta`` field has the type the schema says (else ``FileFormatError``)."""
    if not isinstance(meta["model"], str):
        raise FileFormatError(f"{source}: meta['model'] = {meta['model']!r:.80}: expected a "
                              "model name (str)")
    kw = meta["model_kwargs"]
    if not isinstance(kw, Mapping) or not all(isinstance(k, str) for k in kw):
        raise FileFormatError(f"{source}: meta['model_kwargs'] = {kw!r:.80}: expected a dict "
                              "of builder arguments")
    classes = meta.get("classes", [])
    if not isinstance(classes, (list, tuple)) or not all(isinstance(c, str) for c in classes):
        raise FileFormatError(f"{source}: meta['classes'] = {classes!r:.80}: expected a list "
                              "of class names")
    for key in ("data_options", "preprocess", "options"):
        if not isinstance(meta.get(key, {}), Mapping):
            raise FileFormatError(f"{source}: meta[{key!r}] = {meta[key]!r:.80}: expected a "
                                  "dict")
    for key in ("data", "spacetime_version"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            raise FileFormatError(f"{source}: meta[{key!r}] = {meta[key]!r:.80}: expected a "
                                  "string")


def _migrate_v1(meta: Mapping[str, Any], source: str) -> dict[str, Any]:
    """spacetime 0.1's free-form ``meta`` → schema 2."""
    if "model" not in meta and "mode" not in meta:
        raise FileFormatError(f"{source}: missing meta['model']; it was not written by a "
                              "spacetime train command")
    out: dict[str, Any] = {"schema": SCHEMA_VERSION, "spacetime_version": "0.1.0",
                           "classes": list(meta.get("classes") or []),
                           "data": meta.get("data"),
                           "data_options": dict(meta.get("data_options") or {}),
                           "preprocess": dict(meta.get("preprocess") or {}), "options": {}}
    kwargs = dict(meta.get("model_kwargs") or {})
    if "mode" in meta:  # `spacetime meshrcnn train`
        out.update(family="meshrcnn",
                   model="mesh-rcnn" if meta["mode"] == "scene" else "mesh-rcnn-single",
                   options={"preset": meta.get("preset", "best")})
        if meta["mode"] == "scene":
            kwargs["detector_checkpoint"] = None
    elif "task" in meta:  # `spacetime shapes train`
        out.update(family="shapes", model=meta["model"],
                   options={"use_gt_depth": bool(meta.get("use_gt_depth", True))})
    elif "two_stream" in meta:  # `spacetime video train --model two-stream`
        stage = meta.get("stage")
        model = f"{stage}-stream" if stage in ("spatial", "temporal") else "two-stream"
        if model != "two-stream":
            allowed = inspect.signature(_video_builders()[model]).parameters
            kwargs = {k: v for k, v in kwargs.items() if k in allowed}
        out.update(family="two-stream", model=model, options=dict(meta["two_stream"]))
        out["preprocess"].setdefault("frames", meta.get("frames"))
    elif "num_flow_updates" in meta or "corr_levels" in meta:  # `spacetime flow train`
        kwargs = {"corr_levels": meta.get("corr_levels")}
        out.update(family="flow", model=meta["model"], data="synthetic-flow",
                   options={"num_flow_updates": int(meta.get("num_flow_updates", 12))},
                   data_options={"size": list(meta.get("size") or []),
                                 "train_samples": meta.get("train_samples"),
                                 "val_samples": meta.get("val_samples"),
                                 "seed": 0})  # 0.1 stored no seed; 0 was its default
    else:  # `spacetime video train`
        out.update(family="video", model=meta["model"])
        if not out["preprocess"] and "frames" in meta:
            size = int(meta.get("size", 112))
            out["preprocess"] = {"kind": "crop", "frames": int(meta["frames"]), "size": size,
                                 "resize_to": max(size, round(size * 128 / 112))}
    if "model_kwargs" not in meta and out["family"] != "flow":
        raise FileFormatError(f"{source}: missing meta['model_kwargs']")
    out["model_kwargs"] = kwargs
    return out


def build_model(spec: ModelSpec) -> nn.Module:
    """Call the family's builder with ``spec.model_kwargs`` (lists become tuples).

    Raises:
        FileFormatError: unknown model name, arguments the builder does not take, or values
            it refuses; the message says what the checkpoint holds and what was expected.
    """
    builders = model_builders(spec.family)
    if not isinstance(spec.model, str) or spec.model not in builders:
        raise FileFormatError(f"model: the checkpoint holds {spec.family} model "
                              f"{spec.model!r}; expected one of {', '.join(sorted(builders))}")
    builder = builders[spec.model]
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.model_kwargs.items()}
    sig = inspect.signature(builder)
    if not any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        unknown = sorted(set(kwargs) - set(sig.parameters))
        if unknown:
            raise FileFormatError(f"model_kwargs: the checkpoint gives {spec.model} "
                                  f"{', '.join(unknown)}; it takes "
                                  f"{', '.join(sig.parameters)}")
    try:
        return builder(**kwargs)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, AssertionError,
            RuntimeError, ZeroDivisionError, OverflowError) as exc:
        shown = {k: v for k, v in kwargs.items() if not isinstance(v, (dict,))}
        raise FileFormatError(f"model_kwargs: {spec.model} cannot be built from the "
                              f"checkpoint's arguments {str(shown)[:200]} "
                              f"({type(exc).__name__}: {str(exc)[:200]})") from None


def _check_state_dict(model: nn.Module, weights: Any, spec: ModelSpec, source: str) -> None:
    """Compare the checkpoint's weights to the rebuilt model before loading them: a message
    listing missing / unexpected keys and shape mismatches (held vs expected)."""
    import torch

    if not isinstance(weights, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()):
        raise FileFormatError(f"{source}: 'model' is not a state dict of tensors")
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    shapes = [f"{k}: checkpoint {tuple(weights[k].shape)}, {spec.model} expects "
              f"{tuple(v.shape)}" for k, v in expected.items()
              if k in weights and tuple(weights[k].shape) != tuple(v.shape)]
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches ({'; '.join(shapes[:3])})")
        if missing:
            parts.append(f"{len(missing)} missing ({', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected ({', '.join(unexpected[:3])})")
        raise FileFormatError(f"{source}: weights do not fit {spec.model} built from the "
                              f"checkpoint's arguments: {'; '.join(parts)}")


def _check_classes(spec: ModelSpec, source: str) -> None:
    """A classifier's checkpoint names one class per output."""
    n = spec.model_kwargs.get("num_classes")
    if spec.family in ("video", "two-stream") or n is not None:
        if not spec.classes:
            raise FileFormatError(f"{source}: holds a classifier ({spec.model}) but no class "
                                  "names (meta['classes'] is empty)")
        if isinstance(n, int) and n != len(spec.classes):
            raise FileFormatError(f"{source}: {spec.model} has {n} outputs but the checkpoint "
                                  f"names {len(spec.classes)} classes")


@dataclass
class LoadedModel:
    """A model rebuilt from a checkpoint: ``model`` (eval mode, on ``device``), its ``spec``,
    the file it came from, and the training state it was saved at (``epoch``, ``best``)."""

    model: nn.Module
    spec: ModelSpec
    path: Path | None = None
    epoch: int | None = None
    best: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def classes(self) -> list[str]:
        return list(self.spec.classes)


def read_spec(checkpoint: str | os.PathLike) -> ModelSpec:
    """The :class:`ModelSpec` of a checkpoint file (its weights are read but no model is built)."""
    from spacetime.engine import load_checkpoint

    state = load_checkpoint(checkpoint, map_location="cpu")
    return ModelSpec.from_meta(state.get("meta"), f"checkpoint {str(checkpoint)!r}")


def load_model(
    checkpoint: str | os.PathLike | LoadedModel | None = None,
    *,
    device: str = "auto",
    families: tuple[str, ...] | None = None,
    weights: str | os.PathLike | None = None,
    from_format: str | None = None,
    **convert_options: Any,
) -> LoadedModel:
    """Rebuild the model of any spacetime checkpoint, with its weights, in eval mode; or
    convert a peer's weight file on the fly.

    Args:
        checkpoint: a checkpoint file (``RUN/checkpoints/best.pt``, or one written by
            ``spacetime weights convert``), or an already :class:`LoadedModel` (returned as
            is, moved to ``device``).
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:N``.
        families: accept only these families (the message names the one found).
        weights: the same as ``checkpoint`` (a spacetime checkpoint), or with ``from_format``
            a peer's weight file (``c3d.pickle``, a torchvision ``.pth``, ...).
        from_format: a :data:`spacetime.weights.FORMATS` name: convert ``weights`` (or
            ``checkpoint``) in memory, as ``spacetime weights convert`` does, without writing.
        **convert_options: the format's options (e.g. ``classes="classInd.txt"``).

    Raises:
        MissingFileError / FileFormatError: no such file, not a spacetime checkpoint, weights
        that do not fit the described model. InputError: both or neither of ``checkpoint`` and
        ``weights``, options without ``from_format``, an unknown format.
    """
    from spacetime.engine import load_checkpoint, resolve_device

    if (checkpoint is None) == (weights is None):
        raise InputError("checkpoint / weights: pass exactly one (got "
                         f"{'both' if checkpoint is not None else 'neither'})")
    path = checkpoint if checkpoint is not None else weights
    if convert_options and from_format is None:
        raise InputError(f"{', '.join(sorted(convert_options))}: conversion options need "
                         "from_format=...")
    dev = resolve_device(device)
    if isinstance(path, LoadedModel):
        if from_format is not None:
            raise InputError("from_format: applies to a weight file, not a LoadedModel")
        loaded = path
        loaded.model.to(dev)
        loaded.device = dev
    elif from_format is not None:
        from spacetime.weights import convert_state_dict, read_peer_file

        source = f"weights {str(path)!r} ({from_format})"
        model, meta, _ = convert_state_dict(read_peer_file(path), from_format,
                                            **convert_options)
        spec = ModelSpec.from_meta(meta, source)
        _check_classes(spec, source)
        loaded = LoadedModel(model.to(dev).eval(), spec, Path(path), epoch=None, device=dev)
    else:
        source = f"checkpoint {str(path)!r}"
        state = load_checkpoint(path, map_location="cpu")
        spec = ModelSpec.from_meta(state.get("meta"), source)
        _check_classes(spec, source)
        model = build_model(spec)
        _check_state_dict(model, state.get("model"), spec, source)
        try:
            model.load_state_dict(state["model"])
        except (RuntimeError, KeyError) as exc:
            raise FileFormatError(f"{source}: weights do not fit {spec.model} "
                                  f"({str(exc)[:300]})") from exc
        loaded = LoadedModel(model.to(dev).eval(), spec, Path(path),
                             epoch=state.get("epoch"), best=dict(state.get("best") or {}),
                             device=dev)
    if families is not None and loaded.spec.family not in families:
        where = loaded.path if loaded.path is not None else "the model"
        raise InputError(f"checkpoint: {where} holds a {loaded.spec.family} model "
                         f"({loaded.spec.model}); expected {' or '.join(families)}")
    return loaded
