"""Builders for torchvision's video ResNets with an optional local checkpoint.

Tran et al., "A Closer Look at Spatiotemporal Convolutions for Action Recognition", CVPR 2018:
``r3d_18`` (3D ResNet-18), ``mc3_18`` (mixed convolutions: 3D in the stem and first stage, 2D
after) and ``r2plus1d_18`` ((2+1)D: every 3D conv factored into a 2D spatial and a 1D temporal
conv). The returned modules are torchvision's own ``VideoResNet`` (input ``(N, 3, T, H, W)``,
output logits ``(N, num_classes)``), so torchvision state dicts load unchanged.

Nothing is downloaded: ``checkpoint`` is a local file saved with ``torch.save(state_dict)``
(a plain state dict, or a dict holding one under ``"state_dict"`` or ``"model"``), loaded with
``torch.load(path, weights_only=True)``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn
from torchvision.models import video as tv_video

from spacetime.checks import check_int
from spacetime.errors import FileFormatError, MissingFileError

__all__ = ["r3d_18", "r2plus1d_18", "mc3_18", "load_video_checkpoint"]

_HEAD = "fc."


def _read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"checkpoint: no such file: {str(p)!r}")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and weights_only errors all end up here
        raise FileFormatError(
            f"checkpoint: {str(p)!r} is not a readable torch checkpoint "
            f"(saved with torch.save(model.state_dict())?): {exc}"
        ) from exc
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise FileFormatError(
            f"checkpoint: {str(p)!r} does not hold a state dict (str -> tensor), "
            f"got {type(obj).__name__}"
        )
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_video_checkpoint(model: nn.Module, path: str | os.PathLike) -> list[str]:
    """Load a local state dict into ``model``; a head (``fc.*``) of another size is skipped.

    Every other key must match the model in name and shape, otherwise
    :class:`FileFormatError` lists the missing, unexpected and mis-shaped keys. Returns the
    names of the skipped head keys (the head then keeps its fresh init, ready for fine-tuning
    on ``num_classes`` classes). Raises :class:`MissingFileError` if ``path`` does not exist.
    """
    state = _read_state_dict(path)
    own = model.state_dict()
    skipped = [
        k
        for k, v in state.items()
        if k.startswith(_HEAD) and k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    for k in skipped:
        del state[k]
    missing = [k for k in own if k not in state and k not in skipped]
    unexpected = [k for k in state if k not in own]
    mis_shaped = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or mis_shaped:
        parts = []
        for label, items in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("shape mismatch", mis_shaped),
        ):
            if items:
                more = f", ... ({len(items)} in all)" if len(items) > 5 else ""
                shown = ", ".join(items[:5]) + more
                parts.append(f"{label}: {shown}")
        raise FileFormatError(
            f"checkpoint: {str(path)!r} does not fit {type(model).__name__}: " + "; ".join(parts)
        )
    model.load_state_dict(state, strict=False)
    return skipped


def _build(
    fn: Callable[..., nn.Module], num_classes: int, checkpoint: str | os.PathLike | None
) -> nn.Module:
    check_int(num_classes, "num_classes", min_value=1)
    model = fn(weights=None, num_classes=num_classes)
    if checkpoint is not None:
        load_video_checkpoint(model, checkpoint)
    return model


def r3d_18(*, num_classes: int = 400, checkpoint: str | os.PathLike | None = None) -> nn.Module:
    """torchvision ``r3d_18`` (33.4 M parameters with 400 classes), random or ``checkpoint``."""
    return _build(tv_video.r3d_18, num_classes, checkpoint)


def r2plus1d_18(
    *, num_classes: int = 400, checkpoint: str | os.PathLike | None = None
) -> nn.Module:
    """torchvision ``r2plus1d_18`` (31.5 M parameters with 400 classes)."""
    return _build(tv_video.r2plus1d_18, num_classes, checkpoint)


def mc3_18(*, num_classes: int = 400, checkpoint: str | os.PathLike | None = None) -> nn.Module:
    """torchvision ``mc3_18`` (11.7 M parameters with 400 classes)."""
    return _build(tv_video.mc3_18, num_classes, checkpoint)
