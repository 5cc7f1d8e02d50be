"""RAFT (Teed & Deng, "RAFT: Recurrent All-Pairs Field Transforms for Optical Flow", ECCV 2020).

The architecture is torchvision's (``torchvision.models.optical_flow.raft_small`` /
``raft_large``, built with ``weights=None``: no download). :class:`RAFTFlow` wraps it with what
torchvision leaves to the caller:

- frames in [0, 1] (``(N, 3, H, W)``) are mapped to RAFT's [-1, 1] input range;
- any ``H, W`` works: frames are padded (replicate) to multiples of 8 and to at least 128 px
  (torchvision's correlation pyramid needs feature maps of at least 16 px = 128 input px), and
  every predicted flow is cropped back to ``H, W``;
- weights come from random init or a local checkpoint (:func:`load_raft_weights`, read with
  ``torch.load(weights_only=True)``; a torchvision state dict or a spacetime training checkpoint).

:func:`sequence_loss` is RAFT's training loss: the L1 error of every iteration's prediction,
weighted by ``gamma ** (n_iter - i - 1)`` (gamma = 0.8), over valid pixels whose ground-truth
magnitude is below ``max_flow``.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spacetime.checks import check_in, check_int, check_positive, check_tensor
from spacetime.errors import FileFormatError, InputError, MissingFileError

__all__ = [
    "RAFT_MODELS",
    "RAFTFlow",
    "build_raft",
    "load_raft_weights",
    "sequence_loss",
    "raft_padding",
]

RAFT_MODELS = ("raft-small", "raft-large")
_MIN_SIZE = 128


def raft_padding(h: int, w: int, min_size: int = _MIN_SIZE) -> tuple[int, int, int, int]:
    """``(left, right, top, bottom)`` padding making ``h, w`` multiples of 8 and >= ``min_size``.

    Padding is split evenly between both sides (extra pixel on the right / bottom).
    """
    check_int(h, "h", min_value=1)
    check_int(w, "w", min_value=1)
    ph = max(-(-h // 8) * 8, min_size) - h
    pw = max(-(-w // 8) * 8, min_size) - w
    return pw // 2, pw - pw // 2, ph // 2, ph - ph // 2


class RAFTFlow(nn.Module):
    """A torchvision RAFT that takes [0, 1] frames of any size.

    Args:
        raft: a ``torchvision.models.optical_flow.RAFT``.
        min_size: pad inputs to at least this many pixels per side (128 for 4 pyramid levels).

    ``forward(frame1, frame2, num_flow_updates=12)`` takes float ``(N, 3, H, W)`` in [0, 1] and
    returns the list of ``num_flow_updates`` flow predictions ``(N, 2, H, W)`` in pixels (the
    last one is the estimate).
    """

    def __init__(self, raft: nn.Module, min_size: int = _MIN_SIZE):
        super().__init__()
        self.raft = raft
        self.min_size = int(min_size)

    def forward(
        self, frame1: torch.Tensor, frame2: torch.Tensor, num_flow_updates: int = 12
    ) -> list[torch.Tensor]:
        sizes = check_tensor(frame1, "frame1", ("N", 3, "H", "W"), dtype="float")
        check_tensor(frame2, "frame2", ("N", 3, "H", "W"), dtype="float", sizes=sizes)
        check_int(num_flow_updates, "num_flow_updates", min_value=1)
        h, w = sizes["H"], sizes["W"]
        left, right, top, bottom = raft_padding(h, w, self.min_size)
        pad = (left, right, top, bottom)
        x1 = F.pad(frame1 * 2.0 - 1.0, pad, mode="replicate")
        x2 = F.pad(frame2 * 2.0 - 1.0, pad, mode="replicate")
        preds = self.raft(x1, x2, num_flow_updates=num_flow_updates)
        return [p[:, :, top : top + h, left : left + w] for p in preds]


def load_raft_weights(model: RAFTFlow | nn.Module, path: str | os.PathLike) -> None:
    """Load weights into ``model`` from a local file (``torch.load(weights_only=True)``).

    Accepted: a torchvision RAFT ``state_dict``, a :class:`RAFTFlow` ``state_dict`` (``raft.``
    prefixes), or a spacetime checkpoint (its ``"model"`` entry).
    """
    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"checkpoint: no such file {str(p)!r}")
    try:
        state: Any = torch.load(p, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError,
            ValueError) as exc:
        raise FileFormatError(f"checkpoint {str(p)!r}: cannot read ({exc})") from exc
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise FileFormatError(f"checkpoint {str(p)!r}: expected a state dict")
    target = model.raft if isinstance(model, RAFTFlow) else model
    state = {k[len("raft."):] if k.startswith("raft.") else k: v for k, v in state.items()}
    try:
        target.load_state_dict(state)
    except RuntimeError as exc:
        raise FileFormatError(
            f"checkpoint {str(p)!r}: does not match this RAFT architecture ({exc})"
        ) from exc


def build_raft(
    name: str = "raft-small",
    *,
    checkpoint: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
    corr_levels: int | None = None,
    **kwargs: Any,
) -> RAFTFlow:
    """Build ``raft-small`` (0.99 M params) or ``raft-large`` (5.26 M): random init or local file.

    Args:
        name: ``raft-small`` | ``raft-large``.
        checkpoint: local weights (:func:`load_raft_weights`); never downloads.
        device: move the model there.
        corr_levels: correlation-pyramid levels (default 4, the paper's and torchvision's).
            Fewer levels lower the minimum input size to ``16 * 2 ** (levels - 1)`` px
            (3 levels: 64 px), which makes small-image training on a CPU ~4 x cheaper than
            padding to 128 px; such models do not load torchvision's 4-level weights.
        **kwargs: passed to the torchvision builder.
    """
    check_in(name, "name", RAFT_MODELS)
    from torchvision.models.optical_flow import raft_large, raft_small
    from torchvision.models.optical_flow.raft import CorrBlock

    min_size = _MIN_SIZE
    if corr_levels is not None:
        check_int(corr_levels, "corr_levels", min_value=1)
        radius = 3 if name == "raft-small" else 4
        kwargs["corr_block"] = CorrBlock(num_levels=corr_levels, radius=radius)
        min_size = 16 * 2 ** (corr_levels - 1)
    builder = raft_small if name == "raft-small" else raft_large
    model = RAFTFlow(builder(weights=None, progress=False, **kwargs), min_size=min_size)
    if checkpoint is not None:
        load_raft_weights(model, checkpoint)
    if device is not None:
        model = model.to(device)
    return model


def sequence_loss(
    predictions: Sequence[torch.Tensor],
    gt: torch.Tensor,
    valid: torch.Tensor | None = None,
    *,
    gamma: float = 0.8,
    max_flow: float = 400.0,
) -> torch.Tensor:
    """RAFT's loss: ``sum_i gamma^(n-i-1) * mean_valid |pred_i - gt|_1``.

    Args:
        predictions: list of ``(N, 2, H, W)`` flows, first to last iteration.
        gt: ``(N, 2, H, W)`` ground truth (NaN pixels count as invalid).
        valid: optional ``(N, H, W)`` mask.
        gamma: weight decay towards early iterations (0.8 in the paper).
        max_flow: pixels whose ground-truth magnitude is >= this are ignored.
    """
    if len(predictions) == 0:
        raise InputError("predictions: expected at least one flow prediction, got none")
    check_tensor(gt, "gt", ("N", 2, "H", "W"), dtype="float")
    check_positive(gamma, "gamma")
    check_positive(max_flow, "max_flow")
    mask = torch.isfinite(gt).all(dim=1)
    g = torch.where(mask.unsqueeze(1), gt, torch.zeros_like(gt))
    mask = mask & (g.norm(dim=1) < max_flow)
    if valid is not None:
        check_tensor(valid, "valid", (gt.shape[0], gt.shape[2], gt.shape[3]))
        mask = mask & (valid > 0)
    m = mask.unsqueeze(1).to(g.dtype)
    denom = (m.sum() * 2).clamp(min=1.0)
    n = len(predictions)
    loss = g.new_zeros(())
    for i, pred in enumerate(predictions):
        if pred.shape != gt.shape:
            raise InputError(
                f"predictions[{i}]: expected shape {tuple(gt.shape)}, got {tuple(pred.shape)}"
            )
        loss = loss + gamma ** (n - i - 1) * ((pred - g).abs() * m).sum() / denom
    return loss
