"""Layer tables of any registered model by name: the video models, the image-input 3D models,
the voxel classifier, and the lecture's 2D references (AlexNet, VGG-16 from torchvision).

:func:`model_layer_table` builds the model on the meta device (no memory) and picks the input
the model takes: a clip ``(3, 16, 112, 112)`` for video models (``(3, 20, 64, 64)`` for the
lecture's ``toy-*`` models), a frame ``(3, 112, 112)`` for the spatial stream and a flow stack
``(2L, 112, 112)`` for the temporal stream, an image ``(3, S, S)`` for AlexNet / VGG-16 (224) and
the image → 3D models (their ``image_size``), a voxel grid ``(1, S, S, S)`` for VoxNet. Models
whose forward takes several inputs or point sets (two-stream's fusion, PointNet, occupancy
networks, Pixel2Mesh) and the octree generator (data-dependent sizes) are refused with a clear
message.
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

#: shape models whose forward takes more than one image-like tensor
_UNSUPPORTED = {
    "pointnet": "takes a point set (N, P, 3)",
    "occnet": "takes an image and query points",
    "pixel2mesh": "takes an image, K and depths",
    "octree-gen": "grows its octree from its own predictions (data-dependent sizes cannot be "
                  "traced on the meta device)",
    "two-stream": "takes an RGB frame and a flow stack (table the spatial-stream and "
                  "temporal-stream models one by one)",
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


def _default_input(name: str, family: str, kwargs: Mapping[str, Any]) -> tuple[int, ...]:
    if family == "image":
        return (3, 224, 224)
    if family == "shapes":
        if name == "voxnet":
            s = int(kwargs.get("input_size", 30))
            return (1, s, s, s)
        s = int(kwargs.get("image_size", 64))
        return (3, s, s)
    if name == "spatial-stream":
        return (3, 112, 112)
    if name == "temporal-stream":
        return (2 * int(kwargs.get("num_flows", 10)), 112, 112)
    return (3, 20, 64, 64) if name.startswith("toy-") else (3, 16, 112, 112)


def model_layer_table(
    name: str,
    input_shape: Sequence[int] | None = None,
    *,
    num_classes: int | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    all_layers: bool = False,
) -> LayerTable:
    """The :func:`~spacetime.analysis.layer_table` of a registered model, by name.

    Args:
        name: one of :func:`table_model_names` (video models, 3D models, ``alexnet``,
            ``vgg16``).
        input_shape: ``(C, T, H, W)`` or ``(C, H, W)``; default: what the model takes (module
            docstring).
        num_classes: classifiers' classes (default: 101 for video, 1000 for the 2D references,
            10 for VoxNet).
        model_kwargs: further builder arguments.
        all_layers: also list activation / norm / dropout layers.
    """
    reg = _registry()
    if name not in reg:
        raise InputError(f"name: expected one of {', '.join(sorted(reg))}, got {name!r}")
    if name in _UNSUPPORTED:
        raise InputError(f"name: {name} {_UNSUPPORTED[name]}; layer tables take one clip, "
                         "image or voxel-grid input")
    family, builder = reg[name]
    kwargs = dict(model_kwargs or {})
    params = inspect.signature(builder).parameters
    default_classes = {"image": 1000, "shapes": 10, "video": 101}[family]
    if "num_classes" in params or family == "image":
        kwargs.setdefault("num_classes", default_classes if num_classes is None else num_classes)
    default = _default_input(name, family, kwargs)
    shape = tuple(input_shape) if input_shape is not None else default
    if len(shape) != len(default):
        what = "a clip or voxel grid (C, T, H, W)" if len(default) == 4 else "an image (C, H, W)"
        raise InputError(f"input_shape: {name} takes {what}, got {shape!r}")
    if family == "video":  # builders that need the clip geometry
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
