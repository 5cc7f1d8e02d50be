"""Point-cloud models: the PointNet classifier and image → point-set generation.

- :class:`PointNet` (``pointnet``): Qi et al. 2017, "PointNet: Deep Learning on Point Sets for 3D
  Classification and Segmentation". A shared per-point MLP (1×1 convolutions; paper widths
  64, 64, 64, 128, 1024), a symmetric max pool over points (invariant to their order), and an
  MLP classifier (512, 256, dropout 0.3). The optional input transform (T-Net) predicts a 3×3
  matrix (initialised to the identity) applied to the points first.
- :class:`PointNetSegmentation` (``pointnet-seg``): the same paper's part-segmentation network.
  Shared per-point MLP (paper widths 64, 128, 128, 512, 2048; T-Net first), the max-pooled
  global feature tiled to every point and concatenated with every per-point layer's output and
  the one-hot object category ("local and global information", Fig. 9 of the paper), then a
  shared MLP (256, 256, 128, dropout before the last layer) to per-point part logits.
- :class:`PointSetGenerator` (``point-gen``): Fan et al. 2017, "A Point Set Generation Network
  for 3D Object Reconstruction from a Single Image" (the fully connected branch): image encoder
  → MLP → a fixed-size set ``(N, P, 3)``, trained with the Chamfer distance
  (:func:`~spacetime.shapes.losses.chamfer_loss`, squared L2, mean form).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from spacetime.checks import check_int, check_tensor
from spacetime.errors import InputError
from spacetime.shapes.models._blocks import build_image_encoder

__all__ = ["TNet", "PointNet", "PointNetSegmentation", "PointSetGenerator", "pointnet",
           "pointnet_seg", "point_gen"]


def _shared_mlp(cin: int, widths: Sequence[int]) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for w in widths:
        layers += [nn.Conv1d(cin, w, 1, bias=False), nn.BatchNorm1d(w), nn.ReLU(inplace=True)]
        cin = w
    return nn.Sequential(*layers), cin


class TNet(nn.Module):
    """PointNet's input transform: ``(N, 3, P)`` → ``(N, 3, 3)`` (identity + a learned
    residual; the residual layer starts at 0, so the network starts as the identity)."""

    def __init__(self, widths: Sequence[int] = (64, 128, 1024), fc: Sequence[int] = (512, 256)):
        super().__init__()
        self.mlp, c = _shared_mlp(3, widths)
        layers: list[nn.Module] = []
        for w in fc:
            layers += [nn.Linear(c, w), nn.ReLU(inplace=True)]
            c = w
        last = nn.Linear(c, 9)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.fc = nn.Sequential(*layers, last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.mlp(x).amax(dim=2)
        return torch.eye(3, dtype=x.dtype, device=x.device) + self.fc(f).view(-1, 3, 3)


class PointNet(nn.Module):
    """PointNet classifier: points ``(N, P, 3)`` → logits ``(N, num_classes)``.

    Args:
        num_classes: classes.
        widths: shared MLP widths (the last is the global feature size).
        fc: classifier hidden widths.
        input_transform: use the T-Net.
        dropout: before the last layer (paper: keep ratio 0.7).
    """

    def __init__(self, num_classes: int, widths: Sequence[int] = (64, 64, 64, 128, 1024),
                 fc: Sequence[int] = (512, 256), input_transform: bool = True,
                 dropout: float = 0.3) -> None:
        super().__init__()
        check_int(num_classes, "num_classes", min_value=1)
        self.tnet = TNet(widths[-3:], fc) if input_transform else None
        self.mlp, c = _shared_mlp(3, widths)
        layers: list[nn.Module] = []
        for w in fc:
            layers += [nn.Linear(c, w, bias=False), nn.BatchNorm1d(w), nn.ReLU(inplace=True)]
            c = w
        self.classifier = nn.Sequential(*layers, nn.Dropout(dropout), nn.Linear(c, num_classes))
        self.num_classes = int(num_classes)

    def global_feature(self, points: torch.Tensor) -> torch.Tensor:
        """The max-pooled feature ``(N, widths[-1])`` (invariant to the point order)."""
        check_tensor(points, "points", ("N", "P", 3), dtype="float", finite=True)
        x = points.transpose(1, 2)
        if self.tnet is not None:
            x = torch.bmm(self.tnet(x).transpose(1, 2), x)
        return self.mlp(x).amax(dim=2)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.global_feature(points))


class PointNetSegmentation(nn.Module):
    """PointNet part segmentation: points ``(N, P, 3)`` (+ category ``(N,)``) → per-point part
    logits ``(N, P, num_parts)``.

    Args:
        num_parts: part classes (global part indices, e.g. ShapeNet-Part's 50).
        num_classes: object categories (size of the one-hot input).
        widths: shared per-point MLP widths; the last is the global feature size.
        head: the segmentation MLP's hidden widths.
        input_transform: use the T-Net.
        use_category: concatenate the one-hot category (as the paper); ``forward`` then needs
            ``category``.
        dropout: before the last layer.
    """

    def __init__(self, num_parts: int, num_classes: int,
                 widths: Sequence[int] = (64, 128, 128, 512, 2048),
                 head: Sequence[int] = (256, 256, 128), input_transform: bool = True,
                 use_category: bool = True, dropout: float = 0.2) -> None:
        super().__init__()
        check_int(num_parts, "num_parts", min_value=1)
        check_int(num_classes, "num_classes", min_value=1)
        if len(widths) < 1:
            raise InputError("widths: expected at least one width, got none")
        self.tnet = TNet() if input_transform else None
        self.layers = nn.ModuleList()
        c = 3
        for w in widths:
            self.layers.append(_shared_mlp(c, (w,))[0])
            c = w
        cin = sum(widths) + widths[-1] + (num_classes if use_category else 0)
        self.head, c = _shared_mlp(cin, head)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Conv1d(c, num_parts, 1))
        self.num_parts, self.num_classes = int(num_parts), int(num_classes)
        self.use_category = bool(use_category)

    def forward(self, points: torch.Tensor, category: torch.Tensor | None = None
                ) -> torch.Tensor:
        sizes = check_tensor(points, "points", ("N", "P", 3), dtype="float", finite=True)
        x = points.transpose(1, 2)
        if self.tnet is not None:
            x = torch.bmm(self.tnet(x).transpose(1, 2), x)
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        n, p = sizes["N"], sizes["P"]
        glob = x.amax(dim=2, keepdim=True)
        parts = feats + [glob.expand(-1, -1, p)]
        if self.use_category:
            if category is None:
                raise InputError("category: expected the (N,) object categories (the model "
                                 "was built with use_category=True), got None")
            check_tensor(category, "category", (n,), dtype="int")
            if n and not bool(((category >= 0) & (category < self.num_classes)).all()):
                raise InputError(f"category: expected values in [0, {self.num_classes}), got "
                                 f"{category.tolist()}")
            onehot = F.one_hot(category.to(torch.int64), self.num_classes).to(x.dtype)
            parts.append(onehot[:, :, None].expand(-1, -1, p))
        logits = self.classifier(self.head(torch.cat(parts, 1)))
        return logits.transpose(1, 2)


class PointSetGenerator(nn.Module):
    """Image ``(N, 3, S, S)`` → points ``(N, num_points, 3)`` (object frame)."""

    def __init__(self, image_size: int = 64, num_points: int = 1024,
                 encoder_widths: Sequence[int] = (32, 64, 128, 256), latent_dim: int = 256,
                 hidden: Sequence[int] = (512, 1024), encoder: str = "conv-stack") -> None:
        super().__init__()
        check_int(num_points, "num_points", min_value=1)
        self.encoder = build_image_encoder(image_size, encoder_widths, latent_dim, encoder)
        layers: list[nn.Module] = []
        c = latent_dim
        for w in hidden:
            layers += [nn.Linear(c, w), nn.ReLU(inplace=True)]
            c = w
        self.decoder = nn.Sequential(*layers, nn.Linear(c, 3 * num_points))
        self.num_points = int(num_points)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(images)).view(-1, self.num_points, 3)


def pointnet(*, num_classes: int, widths: Sequence[int] = (64, 64, 64, 128, 1024),
             fc: Sequence[int] = (512, 256), input_transform: bool = True,
             dropout: float = 0.3) -> PointNet:
    """PointNet classifier with the paper's widths (T-Net on by default)."""
    return PointNet(num_classes, tuple(widths), tuple(fc), input_transform, dropout)


def pointnet_seg(*, num_classes: int, num_parts: int | None = None,
                 widths: Sequence[int] = (64, 128, 128, 512, 2048),
                 head: Sequence[int] = (256, 256, 128), input_transform: bool = True,
                 use_category: bool = True, dropout: float = 0.2) -> PointNetSegmentation:
    """PointNet part segmentation with the paper's widths; ``num_parts`` defaults to the
    synthetic shapes' 21 global parts (:data:`~spacetime.shapes.datasets.procedural.PART_NAMES`)."""
    if num_parts is None:
        from spacetime.shapes.datasets.procedural import PART_NAMES

        num_parts = len(PART_NAMES)
    return PointNetSegmentation(num_parts, num_classes, tuple(widths), tuple(head),
                                input_transform, use_category, dropout)


def point_gen(*, image_size: int = 64, num_points: int = 1024,
              encoder_widths: Sequence[int] = (32, 64, 128, 256), latent_dim: int = 256,
              hidden: Sequence[int] = (512, 1024),
              encoder: str = "conv-stack") -> PointSetGenerator:
    """PSGN-style point-set generator (1024 points by default); ``encoder``: ``conv-stack`` or a
    torchvision ResNet trunk (``resnet18`` …, :class:`~spacetime.shapes.models.ResNetImageEncoder`,
    ImageNet normalisation inside)."""
    return PointSetGenerator(image_size, num_points, tuple(encoder_widths), latent_dim,
                             tuple(hidden), encoder)
