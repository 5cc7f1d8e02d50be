"""Matryoshka networks (Richter & Roth, "Matryoshka Networks: Predicting 3D Geometry via Nested
Shape Layers", CVPR 2018): image → ``L`` nested shape layers → voxels.

A shape layer is six axis-aligned depth maps of side ``R`` (one per cube face: the first and
the last occupied voxel of every ray, the paper's *fused depth maps*), see
:mod:`spacetime.shapes.structures.layers`. ``L`` nested layers compose into a grid by
alternating union and subtraction, ``((L_1 \\ L_2) ∪ L_3) \\ ...``, so cavities and holes that
one layer cannot see are carved by the next. The network never holds an ``R³`` tensor: its
output is ``L · 6 · R²`` numbers (2D decoder, like voxel tubes), ``R / (6 L)`` times fewer than a
dense grid (32³, 3 layers: 1.8×; 128³: 7×).

- :class:`MatryoshkaNet` (``matryoshka``): the image encoder of the other image → 3D models
  (:class:`~spacetime.shapes.models.ImageEncoder`), a code mapped to a ``4 × 4`` feature map and
  a 2D up-convolutional decoder (``ConvTranspose2d(4, stride 2) → GroupNorm → ReLU`` per
  doubling) to ``L · 6`` channels at ``R × R``; a sigmoid gives normalised depths in
  ``[0, 1]`` (depth in voxels / ``R``), as in the paper. Output ``(N, L, 6, R, R)``.
- :func:`shape_layer_targets`: the training targets ``(N, L, 6, R, R)`` int64 of voxel grids
  (greedy nested decomposition, padded with empty layers).
- :func:`decode_shape_layers` / :func:`compose_predicted_layers`: normalised depths → whole
  voxels → the composed grid ``(N, R, R, R)`` bool.
- the loss is :func:`~spacetime.shapes.losses.shape_layer_loss` (L1 / L2 on the depths, empty
  rays masked to a hinge).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from spacetime.checks import check_int, check_tensor
from spacetime.errors import InputError
from spacetime.shapes.models._blocks import build_image_encoder
from spacetime.shapes.models.voxels import _check_resolution, _halving, _upsampling_decoder
from spacetime.shapes.structures.layers import compose_shape_layers, decompose_shape_layers

__all__ = [
    "MatryoshkaNet",
    "matryoshka",
    "shape_layer_targets",
    "decode_shape_layers",
    "compose_predicted_layers",
]


class MatryoshkaNet(nn.Module):
    """Image ``(N, 3, S, S)`` → normalised shape-layer depths ``(N, L, 6, R, R)`` in ``[0, 1]``,
    ``R = 4 · 2**len(widths)``.

    Args:
        image_size: ``S``.
        resolution: ``R``, the grid side (a power-of-two multiple of 4).
        num_layers: ``L``, nested layers (the synthetic shapes need at most 3 at 32³).
        encoder_widths, latent_dim: the image encoder (:class:`ImageEncoder`).
        widths: channels of the 2D up-convolution stages (one per doubling from 4 × 4).
    """

    def __init__(self, image_size: int = 64, resolution: int = 32, num_layers: int = 3,
                 encoder_widths: Sequence[int] = (32, 64, 128, 256), latent_dim: int = 256,
                 widths: Sequence[int] = (256, 128, 64), encoder: str = "conv-stack") -> None:
        super().__init__()
        check_int(num_layers, "num_layers", min_value=1)
        _check_resolution(resolution, widths)
        self.encoder = build_image_encoder(image_size, encoder_widths, latent_dim, encoder)
        self.fc = nn.Linear(latent_dim, widths[0] * 16)
        self.decoder = _upsampling_decoder(widths, nn.ConvTranspose2d)
        self.head = nn.Conv2d(widths[-1], 6 * num_layers, 3, padding=1)
        self.c0 = widths[0]
        self.resolution = int(resolution)
        self.num_layers = int(num_layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        z = self.encoder(images)
        x = torch.relu(self.fc(z)).view(-1, self.c0, 4, 4)
        r = self.resolution
        out = torch.sigmoid(self.head(self.decoder(x)))
        return out.view(-1, self.num_layers, 6, r, r)

    def compose(self, depths: torch.Tensor) -> torch.Tensor:
        """The voxels ``(N, R, R, R)`` bool of this network's output (see
        :func:`compose_predicted_layers`)."""
        return compose_predicted_layers(depths)


def matryoshka(*, image_size: int = 64, resolution: int = 32, num_layers: int = 3,
               encoder_widths: Sequence[int] = (32, 64, 128, 256), latent_dim: int = 256,
               widths: Sequence[int] | None = None,
               encoder: str = "conv-stack") -> MatryoshkaNet:
    """Image → ``num_layers`` nested shape layers at ``resolution`` (default 32, 3 layers;
    ``widths`` default: halving from 256, one stage per doubling from 4 × 4, as voxel tubes);
    ``encoder``: ``conv-stack`` or a torchvision ResNet trunk (``resnet18`` …,
    :class:`~spacetime.shapes.models.ResNetImageEncoder`, ImageNet normalisation inside)."""
    if widths is None:
        widths = _halving(256, resolution)
    return MatryoshkaNet(image_size, resolution, num_layers, tuple(encoder_widths), latent_dim,
                         tuple(widths), encoder)


def shape_layer_targets(voxels: torch.Tensor, num_layers: int) -> torch.Tensor:
    """Training targets of a batch of grids ``(N, R, R, R)`` (bool / 0-1): the greedy nested
    decomposition (:func:`~spacetime.shapes.structures.layers.decompose_shape_layers`) into at
    most ``num_layers`` layers, padded with empty layers (all depths ``R``) to exactly
    ``num_layers``. Returns ``(N, num_layers, 6, R, R)`` int64 depths in voxels.

    Shapes that need more layers get the best ``num_layers``-layer approximation of the greedy
    scheme. Cost: about 2.5 ms per 32³ shape on one CPU core (measured on the synthetic data),
    small beside a training step, so targets are built on the fly.
    """
    check_int(num_layers, "num_layers", min_value=1)
    d = decompose_shape_layers(voxels, num_layers)
    k, r = d.shape[1], d.shape[-1]
    if k < num_layers:
        pad = torch.full((d.shape[0], num_layers - k, 6, r, r), r, dtype=d.dtype,
                         device=d.device)
        d = torch.cat([d, pad], 1)
    return d


def decode_shape_layers(depths: torch.Tensor) -> torch.Tensor:
    """Normalised depths ``(N, L, 6, R, R)`` in ``[0, 1]`` → whole voxels ``round(d · R)``
    (int64, clamped to ``[0, R]``). Exact inverse of ``targets / R``."""
    check_tensor(depths, "depths", ("N", "L", 6, "R", "R"), dtype="float")
    if depths.numel() and bool(torch.isnan(depths).any()):
        raise InputError("depths: expected no NaN values, got NaN")
    r = depths.shape[-1]
    return torch.round(depths.detach() * r).clamp(0, r).to(torch.int64)


def compose_predicted_layers(depths: torch.Tensor) -> torch.Tensor:
    """Normalised depths ``(N, L, 6, R, R)`` → the composed grid ``(N, R, R, R)`` bool
    (:func:`decode_shape_layers`, then
    :func:`~spacetime.shapes.structures.layers.compose_shape_layers`: ``L_1 \\ (L_2 \\ ...)``).

    Predicted layers need not be nested; the composition rule is applied as it is (what the
    paper does at test time)."""
    return compose_shape_layers(decode_shape_layers(depths))
