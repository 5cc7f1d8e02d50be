"""Voxel models: a 3D ShapeNets-style classifier and image → voxel-grid generators.

- :class:`VoxelClassifier` (``voxnet``): 3D convolutions on a ``1 × 30 × 30 × 30`` occupancy grid
  (Wu et al. 2015, "3D ShapeNets: A Deep Representation for Volumetric Shapes": conv 6³ stride 2
  with 48 filters → conv 5³ stride 2 with 160 → conv 4³ with 512 → fully connected), trained
  discriminatively with cross-entropy. Grids are the object's 24³ voxelisation padded by 3
  voxels per side (:func:`voxels_to_shapenets_input`).
- :class:`VoxelGenerator` (``voxel-gen``): 2D CNN image encoder → code → fully connected to a
  ``4³`` feature grid → transposed 3D convolutions (×2 per stage) → ``(N, V, V, V)`` occupancy
  logits (3D-R2N2's decoder, Choy et al. 2016, without the recurrent unit).
- :class:`VoxelTubes` (``voxel-tubes``): the same encoder, but a *2D* decoder whose ``V`` output
  channels are the depth axis: ``(N, V, V, V)`` from ``V × V`` maps with ``V`` channels
  (Richter & Roth 2018 "Matryoshka Networks" call these voxel tubes) — far fewer
  activations than a 3D decoder.

Voxel grids are ``(N, D, H, W)`` indexed ``[z, y, x]`` (the ``VoxelGrid`` layout).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from spacetime.checks import check_int, check_tensor
from spacetime.errors import InputError
from spacetime.shapes.models._blocks import build_image_encoder, group_norm

__all__ = [
    "VoxelClassifier",
    "VoxelGenerator",
    "VoxelTubes",
    "voxnet",
    "voxel_gen",
    "voxel_tubes",
    "voxels_to_shapenets_input",
]


def voxels_to_shapenets_input(voxels: torch.Tensor, size: int = 30, pad: int = 3) -> torch.Tensor:
    """``(N, G, G, G)`` occupancy → ``(N, 1, size, size, size)`` float: resampled (nearest) to
    ``size − 2·pad`` per side and zero-padded by ``pad`` (3D ShapeNets: 24³ + 3 on each side)."""
    check_tensor(voxels, "voxels", ("N", "D", "H", "W"))
    inner = size - 2 * pad
    if inner < 1:
        raise InputError(f"size: expected > 2 * pad = {2 * pad}, got {size}")
    v = voxels.float()[:, None]
    if tuple(v.shape[2:]) != (inner,) * 3:
        v = F.interpolate(v, size=(inner,) * 3, mode="nearest")
    return F.pad(v, (pad,) * 6)


class VoxelClassifier(nn.Module):
    """3D ShapeNets-style classifier: ``(N, 1, S, S, S)`` (or ``(N, S, S, S)``) → logits
    ``(N, num_classes)``.

    Args:
        num_classes: classes.
        widths: filters of the three 3D convolutions (paper: 48, 160, 512).
        kernels, strides: of the three convolutions (paper: 6/5/4 and 2/2/1).
        input_size: ``S`` (paper: 30).
        dropout: before the classifier.
    """

    def __init__(self, num_classes: int, widths: Sequence[int] = (48, 160, 512),
                 kernels: Sequence[int] = (6, 5, 4), strides: Sequence[int] = (2, 2, 1),
                 input_size: int = 30, dropout: float = 0.5) -> None:
        super().__init__()
        check_int(num_classes, "num_classes", min_value=1)
        if not (len(widths) == len(kernels) == len(strides)):
            raise InputError("widths/kernels/strides: expected equal lengths")
        layers: list[nn.Module] = []
        cin, s = 1, int(input_size)
        for w, k, st in zip(widths, kernels, strides):
            layers += [nn.Conv3d(cin, w, k, stride=st), nn.ReLU(inplace=True)]
            cin, s = w, (s - k) // st + 1
            if s < 1:
                raise InputError(f"input_size: {input_size} is too small for kernels {kernels}")
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout),
                                        nn.Linear(cin * s ** 3, num_classes))
        self.input_size = int(input_size)
        self.num_classes = int(num_classes)

    def forward(self, voxels: torch.Tensor) -> torch.Tensor:
        if isinstance(voxels, torch.Tensor) and voxels.ndim == 4:
            voxels = voxels[:, None]
        s = self.input_size
        check_tensor(voxels, "voxels", ("N", 1, s, s, s))
        return self.classifier(self.features(voxels.float()))



def _check_resolution(resolution: int, widths: Sequence[int]) -> None:
    """The decoders start at 4 voxels and double per stage."""
    if resolution != 4 * 2 ** len(widths):
        raise InputError(
            f"resolution: expected 4 * 2**len(widths) = {4 * 2 ** len(widths)}, got {resolution}"
        )


def _upsampling_decoder(widths: Sequence[int], transpose: type[nn.Module]) -> nn.Sequential:
    """``transpose(4, stride 2) → GroupNorm → ReLU`` per width: the 3D decoder of the voxel
    generator and the 2D one of voxel tubes differ only in ``transpose``."""
    blocks: list[nn.Module] = []
    cin = widths[0]
    for w in widths:
        blocks += [transpose(cin, w, 4, stride=2, padding=1, bias=False),
                   group_norm(w), nn.ReLU(inplace=True)]
        cin = w
    return nn.Sequential(*blocks)

class VoxelGenerator(nn.Module):
    """Image ``(N, 3, S, S)`` → occupancy logits ``(N, V, V, V)``, ``V = 4 · 2**len(widths)``.

    Decoder: ``Linear(code → widths[0]·4³)``, then per stage ``ConvTranspose3d(4, stride 2) →
    GroupNorm → ReLU`` with the given widths, then a ``conv 3³`` to one channel.
    """

    def __init__(self, image_size: int = 64, resolution: int = 32,
                 encoder_widths: Sequence[int] = (32, 64, 128, 256), latent_dim: int = 256,
                 widths: Sequence[int] = (128, 64, 32), encoder: str = "conv-stack") -> None:
        super().__init__()
        _check_resolution(resolution, widths)
        self.encoder = build_image_encoder(image_size, encoder_widths, latent_dim, encoder)
        self.fc = nn.Linear(latent_dim, widths[0] * 64)
        self.decoder = _upsampling_decoder(widths, nn.ConvTranspose3d)
        self.head = nn.Conv3d(widths[-1], 1, 3, padding=1)
        self.c0 = widths[0]
        self.resolution = int(resolution)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        z = self.encoder(images)
        x = torch.relu(self.fc(z)).view(-1, self.c0, 4, 4, 4)
        return self.head(self.decoder(x))[:, 0]


class VoxelTubes(nn.Module):
    """Image ``(N, 3, S, S)`` → occupancy logits ``(N, V, V, V)`` from a 2D decoder: the ``V``
    output channels of a ``V × V`` map are the depth axis ``D`` of the grid."""

    def __init__(self, image_size: int = 64, resolution: int = 32,
                 encoder_widths: Sequence[int] = (32, 64, 128, 256), latent_dim: int = 256,
                 widths: Sequence[int] = (256, 128, 64), encoder: str = "conv-stack") -> None:
        super().__init__()
        _check_resolution(resolution, widths)
        self.encoder = build_image_encoder(image_size, encoder_widths, latent_dim, encoder)
        self.fc = nn.Linear(latent_dim, widths[0] * 16)
        self.decoder = _upsampling_decoder(widths, nn.ConvTranspose2d)
        self.head = nn.Conv2d(widths[-1], resolution, 3, padding=1)
        self.c0 = widths[0]
        self.resolution = int(resolution)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        z = self.encoder(images)
        x = torch.relu(self.fc(z)).view(-1, self.c0, 4, 4)
        return self.head(self.decoder(x))  # (N, V=D, H, W)


def voxnet(*, num_classes: int, widths: Sequence[int] = (48, 160, 512),
           input_size: int = 30, dropout: float = 0.5) -> VoxelClassifier:
    """3D ShapeNets' discriminative architecture (Wu et al. 2015) for ``input_size³`` grids."""
    return VoxelClassifier(num_classes, tuple(widths), input_size=input_size, dropout=dropout)


def voxel_gen(*, image_size: int = 64, resolution: int = 32,
              encoder_widths: Sequence[int] = (32, 64, 128, 256), latent_dim: int = 256,
              widths: Sequence[int] | None = None,
              encoder: str = "conv-stack") -> VoxelGenerator:
    """Image → ``resolution³`` voxels with a 3D decoder (default 32³; ``widths`` default: halving
    from 128, one stage per doubling from 4³); ``encoder``: ``conv-stack`` or a torchvision
    ResNet trunk (``resnet18`` …, :class:`~spacetime.shapes.models.ResNetImageEncoder`, ImageNet
    normalisation inside)."""
    if widths is None:
        widths = _halving(128, resolution)
    return VoxelGenerator(image_size, resolution, tuple(encoder_widths), latent_dim, tuple(widths),
                          encoder)


def voxel_tubes(*, image_size: int = 64, resolution: int = 32,
                encoder_widths: Sequence[int] = (32, 64, 128, 256), latent_dim: int = 256,
                widths: Sequence[int] | None = None,
                encoder: str = "conv-stack") -> VoxelTubes:
    """Image → ``resolution³`` voxels with a 2D decoder (voxel tubes); ``encoder`` as
    :func:`voxel_gen`."""
    if widths is None:
        widths = _halving(256, resolution)
    return VoxelTubes(image_size, resolution, tuple(encoder_widths), latent_dim, tuple(widths),
                      encoder)


def _halving(first: int, resolution: int) -> tuple[int, ...]:
    n, r = 0, 4
    while r < resolution:
        r, n = r * 2, n + 1
    if r != resolution or n == 0:
        raise InputError(f"resolution: expected 4 * 2**k with k >= 1 (8, 16, 32, ...), "
                         f"got {resolution}")
    return tuple(max(8, first >> i) for i in range(n))
