"""Per-pixel prediction from one RGB image: depth maps and surface-normal maps.

A fully convolutional encoder-decoder (U-Net-like skips; in the spirit of Eigen et al. 2014,
"Depth Map Prediction from a Single Image using a Multi-Scale Deep Network", and Eigen & Fergus
2015 for normals): RGB ``(N, 3, H, W)`` → ``(N, C, H, W)`` at the input resolution, for any
``H, W`` that are multiples of ``2 ** len(widths)``.

- :class:`DepthFCN`: ``(N, 1, H, W)`` positive depth (``softplus``), trained with
  :func:`~spacetime.shapes.losses.depth_l2_loss` or
  :func:`~spacetime.shapes.losses.scale_invariant_depth_loss` (Eigen et al. 2014, eq. 4).
- :class:`NormalFCN`: ``(N, 3, H, W)`` unit normals (camera axes), normalised inside the network
  (backprop goes through the normalisation), trained with the lecture's dot-product loss
  :func:`~spacetime.shapes.losses.surface_normal_loss`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from spacetime.errors import InputError
from spacetime.shapes.models._blocks import check_image, conv2d_block

__all__ = ["EncoderDecoder2d", "DepthFCN", "NormalFCN", "depth_fcn", "normal_fcn"]


class EncoderDecoder2d(nn.Module):
    """Fully convolutional encoder-decoder with skip connections.

    Encoder stage ``i``: ``conv 3×3 stride 2 → conv 3×3`` to ``widths[i]`` channels; decoder:
    bilinear ×2 upsampling, concatenation with the encoder feature of the same size, two
    ``conv 3×3``. Output: ``(N, out_channels, H, W)`` raw values.
    """

    def __init__(self, out_channels: int, widths: Sequence[int], stem: int) -> None:
        super().__init__()
        if not widths:
            raise InputError("widths: expected at least one stage width, got none")
        self.stem = nn.Sequential(conv2d_block(3, stem), conv2d_block(stem, stem))
        self.down = nn.ModuleList()
        cin = stem
        skips = [stem]
        for w in widths:
            self.down.append(nn.Sequential(conv2d_block(cin, w, 2), conv2d_block(w, w)))
            skips.append(w)
            cin = w
        self.up = nn.ModuleList()
        for skip in reversed(skips[:-1]):
            self.up.append(nn.Sequential(conv2d_block(cin + skip, skip), conv2d_block(skip, skip)))
            cin = skip
        self.head = nn.Conv2d(cin, out_channels, 1)
        self.multiple = 2 ** len(widths)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_image(images, "images", multiple_of=self.multiple)
        feats = [self.stem(images)]
        for stage in self.down:
            feats.append(stage(feats[-1]))
        x = feats.pop()
        for stage in self.up:
            skip = feats.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = stage(torch.cat([x, skip], 1))
        return self.head(x)


class DepthFCN(nn.Module):
    """RGB ``(N, 3, H, W)`` → depth ``(N, 1, H, W)`` > 0 (``softplus`` of the network output
    plus ``min_depth``), in the units of the training depth maps (camera ``Z``)."""

    def __init__(self, widths: Sequence[int] = (32, 64, 128, 256), stem: int = 16,
                 min_depth: float = 1e-3) -> None:
        super().__init__()
        self.net = EncoderDecoder2d(1, widths, stem)
        self.min_depth = float(min_depth)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.softplus(self.net(images)) + self.min_depth


class NormalFCN(nn.Module):
    """RGB ``(N, 3, H, W)`` → unit surface normals ``(N, 3, H, W)`` (camera axes)."""

    def __init__(self, widths: Sequence[int] = (32, 64, 128, 256), stem: int = 16) -> None:
        super().__init__()
        self.net = EncoderDecoder2d(3, widths, stem)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(images), dim=1, eps=1e-6)


def depth_fcn(*, widths: Sequence[int] = (32, 64, 128, 256), stem: int = 16,
              min_depth: float = 1e-3) -> DepthFCN:
    """Depth encoder-decoder (defaults: 4 stages, 32→256 channels, ~2 M parameters)."""
    return DepthFCN(tuple(widths), stem, min_depth)


def normal_fcn(*, widths: Sequence[int] = (32, 64, 128, 256), stem: int = 16) -> NormalFCN:
    """Surface-normal encoder-decoder (same backbone as :func:`depth_fcn`)."""
    return NormalFCN(tuple(widths), stem)
