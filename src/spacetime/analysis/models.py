"""Layer tables of any registered model by name: the video models, the 3D models, the voxel
classifier, and the lecture's 2D references (AlexNet, VGG-16 from torchvision).

:func:`model_layer_table` builds the model on the meta device (no memory) and picks the input
the model takes: a clip ``(3, 16, 112, 112)`` for video models (``(3, 20, 64, 64)`` for the
lecture's ``toy-*`` models), a frame ``(3, 112, 112)`` for the spatial stream, a flow stack
``(2L, 112, 112)`` for the temporal stream and both (``{"rgb": ..., "flow": ...}``) for the
two-stream network, an image ``(3, S, S)`` for AlexNet / VGG-16 (224) and the image → 3D models
(their ``image_size``), an image and 2048 query points for the occupancy network, 1024 points
``(1024, 3)`` for PointNet (the part segmenter is tabled without its category one-hot input,
``use_category=False``, as it takes integer categories) and a voxel grid ``(1, S, S, S)`` for
VoxNet. Pixel2Mesh (it takes K and depths beside the image) and the octree generator
(data-dependent sizes) are refused with a clear message.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from spacetime.analysis.layer_table import LayerTable, layer_table
from spacetime.errors import InputError

__all__ = ["IMAGE_CLASSIFIERS", "table_model_names", "model_layer_table"]


def _alexnet(**kw: Any) -> nn.Module:
    import torchvision

    return torchvision.models.alexnet(**kw)


def _vgg16(**kw: Any) -> nn.Module:
    import torchvision

    return torchvision.models.vgg16(**kw)


#: the lecture's 2D references (torchvision architectures, random weights)
IMAGE_CLASSIFIERS: dict[str, Callable[..., nn.Module]] = {"alexnet": _alexnet, "vgg16": _vgg16}

#: models whose layer table cannot be traced, and why
_UNSUPPORTED = {
    "pixel2mesh": "takes an image, the camera K and per-vertex depths, and grows its mesh "
                  "(table its image encoder: vgg16 or the image → 3D models)",
    "octree-gen": "grows its octree from its own predictions (data-dependent sizes cannot be "
                  "traced on the meta device)",
}


def _registry() -> dict[str, tuple[str, Callable[..., nn.Module]]]:
    from spacetime.shapes.models import SHAPE_MODEL_BUILDERS
    from spacetime.video.models import MODEL_BUILDERS

    reg: dict[str, tuple[str, Callable[..., nn.Module]]] = {}
    reg.update({k: ("image", v) for k, v in IMAGE_CLASSIFIERS.items()})
    reg.update({k: ("shapes", v) for k, v in SHAPE_MODEL_BUILDERS.items()})
    reg.update({k: ("video", v) for k, v in MODEL_BUILDERS.items()})
    return reg


def table_model_names() -> list[str]:
    """Every name :func:`model_layer_table` knows (sorted)."""
    return sorted(_registry())


Shape = tuple[int, ...]


def _default_input(name: str, family: str, kwargs: Mapping[str, Any]) -> Shape | dict[str, Shape]:
    if family == "image":
        return (3, 224, 224)
    if family == "shapes":
        if name == "voxnet":
            s = int(kwargs.get("input_size", 30))
            return (1, s, s, s)
        if name in ("pointnet", "pointnet-seg"):
            return (1024, 3)
        s = int(kwargs.get("image_size", 64))
        if name == "occnet":
            return {"images": (3, s, s), "points": (2048, 3)}
        return (3, s, s)
    if name == "spatial-stream":
        return (3, 112, 112)
    if name == "temporal-stream":
        return (2 * int(kwargs.get("num_flows", 10)), 112, 112)
    if name == "two-stream":
        return {"rgb": (3, 112, 112), "flow": (2 * int(kwargs.get("num_flows", 10)), 112, 112)}
    return (3, 20, 64, 64) if name.startswith("toy-") else (3, 16, 112, 112)


_WHAT = {2: "a point set (P, D)", 3: "an image (C, H, W)",
         4: "a clip or voxel grid (C, T, H, W)"}


def _check_against(name: str, shape: Any, default: Shape | dict[str, Shape]
                   ) -> Shape | dict[str, Shape]:
    """``shape`` given for ``name``, checked against the kind of input(s) the model takes."""
    if isinstance(default, dict):
        if not isinstance(shape, Mapping) or list(shape) != list(default):
            want = ", ".join(f"{k}={_WHAT[len(v)]}" for k, v in default.items())
            raise InputError(f"input_shape: {name} takes {len(default)} inputs, a dict "
                             f"{{{want}}} in this order, got {shape!r}")
        for k, v in shape.items():
            if not isinstance(v, Sequence) or len(v) != len(default[k]):
                raise InputError(f"input_shape[{k!r}]: {name} takes {_WHAT[len(default[k])]} "
                                 f"there, got {v!r}")
        return {k: tuple(v) for k, v in shape.items()}
    if isinstance(shape, Mapping) or not isinstance(shape, Sequence) or len(shape) != len(default):
        raise InputError(f"input_shape: {name} takes {_WHAT[len(default)]}, got {shape!r}")
    return tuple(shape)


def model_layer_table(
    name: str,
    input_shape: Sequence[int] | Mapping[str, Sequence[int]] | None = None,
    *,
    num_classes: int | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    all_layers: bool = False,
) -> LayerTable:
    """The :func:`~spacetime.analysis.layer_table` of a registered model, by name.

    Args:
        name: one of :func:`table_model_names` (video models, 3D models, ``alexnet``,
            ``vgg16``).
        input_shape: ``(C, T, H, W)``, ``(C, H, W)``, ``(P, D)``, or a dict of those for models
            with several inputs (``{"rgb": (3, 112, 112), "flow": (20, 112, 112)}``, in the
            forward's order); default: what the model takes (module docstring).
        num_classes: classifiers' classes (default: 101 for video, 1000 for the 2D references,
            10 for VoxNet).
        model_kwargs: further builder arguments.
        all_layers: also list activation / norm / dropout layers.
    """
    reg = _registry()
    if name not in reg:
        raise InputError(f"name: expected one of {', '.join(sorted(reg))}, got {name!r}")
    if name in _UNSUPPORTED:
        raise InputError(f"name: {name} {_UNSUPPORTED[name]}; it has no layer table")
    family, builder = reg[name]
    kwargs = dict(model_kwargs or {})
    params = inspect.signature(builder).parameters
    default_classes = {"image": 1000, "shapes": 10, "video": 101}[family]
    if "num_classes" in params or family == "image":
        kwargs.setdefault("num_classes", default_classes if num_classes is None else num_classes)
    default = _default_input(name, family, kwargs)
    shape = default if input_shape is None else _check_against(name, input_shape, default)
    if name == "pointnet-seg":
        kwargs.setdefault("use_category", False)
    flow = shape.get("flow") if isinstance(shape, dict) else shape
    if name in ("temporal-stream", "two-stream") and flow is not None and "num_flows" in params:
        if flow[0] % 2:
            raise InputError(f"input_shape: the flow stack of {name} has 2L channels (x and y "
                             f"of L flows), got {flow[0]}")
        kwargs.setdefault("num_flows", flow[0] // 2)
    if family == "video" and not isinstance(shape, dict):  # builders that need clip geometry
        if "num_frames" in params and len(shape) == 4:
            kwargs.setdefault("num_frames", shape[1])
        if "frame_size" in params:
            kwargs.setdefault("frame_size", tuple(shape[-2:]))
        if "input_size" in params and len(shape) == 4:
            kwargs.setdefault("input_size", tuple(shape[1:]))
    for k in kwargs:
        if k not in params and not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            raise InputError(f"model_kwargs: {name} does not take {k!r}; it takes "
                             f"{', '.join(params)}")
    fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    try:
        with torch.device("meta"):
            model = builder(**fixed)
    except TypeError as exc:
        raise InputError(f"model_kwargs: {name} cannot be built with {sorted(fixed)} "
                         f"({exc})") from exc
    return layer_table(model, shape, all_layers=all_layers)
