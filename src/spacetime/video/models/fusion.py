"""The lecture's first video classifiers: single frame, late / early / slow fusion.

Karpathy et al., "Large-scale Video Classification with Convolutional Neural Networks",
CVPR 2014, as presented in the lecture's "Video Classification" slides.

All models take a clip batch ``x`` of shape ``(N, 3, T, H, W)`` (float, channels first, time
second) and return ``(N, num_classes)``. Generic classes take their parts (an ``encoder``
module, feature sizes); keyword-only builders (``single_frame(num_classes=...)``) pick the
defaults and build tiny variants from ``channels=``.

================  =====================================================  =====================
model             what happens to time                                    forward returns
================  =====================================================  =====================
SingleFrame       2D CNN on each frame, class probabilities averaged      log of mean softmax
LateFusionFC      2D CNN per frame, ``T x D x H' x W'`` flattened -> MLP  logits
LateFusionPool    2D CNN per frame, average pool over T, H', W' -> fc     logits
EarlyFusion       reshape to ``3T x H x W``, first conv sees all frames   logits
SlowFusion        3D convs and 3D pooling, time fused layer by layer      logits
================  =====================================================  =====================
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from spacetime.checks import check_int
from spacetime.errors import InputError
from spacetime.video.models.blocks import (
    Conv3d,
    check_clip,
    conv_stack_2d,
    conv_stack_3d,
    infer_output_shape,
    init_weights,
)
from spacetime.video.models.image_encoders import DEFAULT_CHANNELS, image_encoder

__all__ = [
    "SingleFrame",
    "LateFusionFC",
    "LateFusionPool",
    "EarlyFusion",
    "SlowFusion",
    "single_frame",
    "late_fusion_fc",
    "late_fusion_pool",
    "early_fusion",
    "slow_fusion",
    "toy_late_fusion",
    "toy_early_fusion",
    "toy_slow_fusion",
]


def _frames_to_batch(x: torch.Tensor) -> torch.Tensor:
    """``(N, C, T, H, W)`` -> ``(N*T, C, H, W)``, frame-major within each clip."""
    n, c, t, h, w = x.shape
    return x.transpose(1, 2).reshape(n * t, c, h, w)


def _check_dropout(p: float) -> float:
    if not 0.0 <= float(p) < 1.0:
        raise InputError(f"dropout: expected a probability in [0, 1), got {p!r}")
    return float(p)


class SingleFrame(nn.Module):
    """Single-frame baseline: a 2D CNN classifies each frame; frame probabilities are averaged.

    ``forward(x)`` returns ``log(mean_t softmax(frame_logits[:, t]))`` of shape
    ``(N, num_classes)``: the log of the lecture's "average predicted probs". These are
    log-probabilities (they ``logsumexp`` to 0), so ``F.nll_loss(out, y)`` trains the model and
    ``F.cross_entropy(out, y)`` gives the same value (log-softmax leaves log-probabilities
    unchanged); ``out.exp()`` are the averaged probabilities. Use :meth:`frame_logits` for the
    per-frame logits ``(N, T, num_classes)``, e.g. to train on frames independently.

    Args:
        encoder: 2D CNN mapping ``(B, 3, H, W)`` to ``(B, feature_dim, H', W')``.
        feature_dim: channels of the encoder output.
        num_classes: number of classes ``C``.
        dropout: dropout before the classifier.
    """

    def __init__(
        self, encoder: nn.Module, feature_dim: int, num_classes: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        check_int(feature_dim, "feature_dim", min_value=1)
        check_int(num_classes, "num_classes", min_value=1)
        self.encoder = encoder
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(_check_dropout(dropout))
        self.fc = nn.Linear(feature_dim, num_classes)

    def frame_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Per-frame logits ``(N, T, num_classes)`` for clips ``x`` of shape ``(N, 3, T, H, W)``."""
        sizes = check_clip(x, model="SingleFrame")
        f = self.encoder(_frames_to_batch(x))
        f = self.dropout(torch.flatten(self.gap(f), 1))
        return self.fc(f).reshape(sizes["N"], sizes["T"], self.fc.out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Log of the frame-averaged class probabilities, ``(N, num_classes)``."""
        logits = self.frame_logits(x)
        t = logits.shape[1]
        return torch.logsumexp(torch.log_softmax(logits, dim=-1), dim=1) - math.log(t)


class LateFusionFC(nn.Module):
    """Late fusion with FC layers: per-frame 2D CNN -> ``T x D x H' x W'`` -> flatten -> MLP.

    The MLP sees every frame's feature map at once, so the model is built for one clip size:
    ``num_frames`` frames of ``frame_size = (H, W)``; other sizes raise :class:`InputError`.
    Returns logits ``(N, num_classes)``.

    Args:
        encoder: 2D CNN mapping ``(B, 3, H, W)`` to ``(B, D, H', W')``.
        num_frames: T.
        frame_size: ``(H, W)``.
        num_classes: C.
        hidden: hidden widths of the MLP (each ``Linear -> ReLU -> Dropout``).
        dropout: dropout probability in the MLP.
    """

    def __init__(
        self,
        encoder: nn.Module,
        num_frames: int,
        frame_size: tuple[int, int],
        num_classes: int,
        hidden: Sequence[int] = (512,),
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        check_int(num_frames, "num_frames", min_value=1)
        check_int(num_classes, "num_classes", min_value=1)
        frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.num_frames = num_frames
        self.frame_size = frame_size
        self.encoder = encoder
        feat = infer_output_shape(encoder, (1, 3, *frame_size))
        self.feature_shape = tuple(feat[1:])
        in_dim = num_frames * math.prod(self.feature_shape)
        p = _check_dropout(dropout)
        layers: list[tuple[str, nn.Module]] = []
        for i, h in enumerate(hidden, start=1):
            check_int(h, f"hidden[{i - 1}]", min_value=1)
            layers += [
                (f"fc{i}", nn.Linear(in_dim, h)),
                (f"relu{i}", nn.ReLU(inplace=True)),
                (f"drop{i}", nn.Dropout(p)),
            ]
            in_dim = h
        layers.append(("out", nn.Linear(in_dim, num_classes)))
        self.mlp = nn.Sequential(OrderedDict(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` for clips ``(N, 3, num_frames, H, W)``."""
        sizes = check_clip(
            x, num_frames=self.num_frames, frame_size=self.frame_size, model="LateFusionFC"
        )
        f = self.encoder(_frames_to_batch(x))  # (N*T, D, H', W')
        return self.mlp(f.reshape(sizes["N"], self.num_frames * math.prod(self.feature_shape)))


class LateFusionPool(nn.Module):
    """Late fusion with pooling: per-frame 2D CNN -> average over T, H', W' -> linear.

    Features ``(N*T, D, H', W')`` are laid out as ``(N, D, T, H', W')`` and averaged by one
    ``AdaptiveAvgPool3d(1)`` into a D-dimensional clip feature. Any T, H, W. Returns logits.

    Args:
        encoder: 2D CNN mapping ``(B, 3, H, W)`` to ``(B, feature_dim, H', W')``.
        feature_dim: D.
        num_classes: C.
        dropout: dropout before the classifier.
    """

    def __init__(
        self, encoder: nn.Module, feature_dim: int, num_classes: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        check_int(feature_dim, "feature_dim", min_value=1)
        check_int(num_classes, "num_classes", min_value=1)
        self.encoder = encoder
        self.gap = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(_check_dropout(dropout))
        self.fc = nn.Linear(feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` for clips ``(N, 3, T, H, W)``."""
        sizes = check_clip(x, model="LateFusionPool")
        f = self.encoder(_frames_to_batch(x))  # (N*T, D, H', W')
        n, t = sizes["N"], sizes["T"]
        f = f.reshape(n, t, *f.shape[1:]).transpose(1, 2)  # (N, D, T, H', W')
        return self.fc(self.dropout(torch.flatten(self.gap(f), 1)))


class EarlyFusion(nn.Module):
    """Early fusion: reshape ``(N, 3, T, H, W)`` to ``(N, 3T, H, W)`` and run a 2D CNN.

    The reshape keeps memory order, so channel ``c * T + t`` holds colour ``c`` of frame ``t``.
    The encoder's first conv must take ``3 * num_frames`` channels; the model is built for a
    fixed ``num_frames`` (other T raise :class:`InputError`), any H, W. Returns logits.

    Args:
        encoder: 2D CNN mapping ``(N, 3 * num_frames, H, W)`` to ``(N, feature_dim, H', W')``.
        num_frames: T.
        feature_dim: channels of the encoder output.
        num_classes: C.
        dropout: dropout before the classifier.
    """

    def __init__(
        self,
        encoder: nn.Module,
        num_frames: int,
        feature_dim: int,
        num_classes: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_int(num_frames, "num_frames", min_value=1)
        check_int(feature_dim, "feature_dim", min_value=1)
        check_int(num_classes, "num_classes", min_value=1)
        self.num_frames = num_frames
        self.encoder = encoder
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(_check_dropout(dropout))
        self.fc = nn.Linear(feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` for clips ``(N, 3, num_frames, H, W)``."""
        sizes = check_clip(x, num_frames=self.num_frames, model="EarlyFusion")
        f = self.encoder(x.reshape(sizes["N"], 3 * sizes["T"], sizes["H"], sizes["W"]))
        return self.fc(self.dropout(torch.flatten(self.gap(f), 1)))


class SlowFusion(nn.Module):
    """3D CNN ("slow fusion"): 3D convs and 3D pooling, then global average pool and a linear.

    Every layer keeps a ``D x T x H x W`` tensor, so time is fused a little at each layer.
    Any T, H, W large enough for the pooling. Returns logits ``(N, num_classes)``.

    Args:
        encoder: 3D CNN mapping ``(N, 3, T, H, W)`` to ``(N, feature_dim, T', H', W')``.
        feature_dim: channels of the encoder output.
        num_classes: C.
        dropout: dropout before the classifier.
    """

    def __init__(
        self, encoder: nn.Module, feature_dim: int, num_classes: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        check_int(feature_dim, "feature_dim", min_value=1)
        check_int(num_classes, "num_classes", min_value=1)
        self.encoder = encoder
        self.gap = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(_check_dropout(dropout))
        self.fc = nn.Linear(feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` for clips ``(N, 3, T, H, W)``."""
        check_clip(x, model="SlowFusion")
        f = self.encoder(x)
        return self.fc(self.dropout(torch.flatten(self.gap(f), 1)))


# ----------------------------------------------------------------------------- builders


def single_frame(
    *,
    num_classes: int,
    channels: Sequence[int] = DEFAULT_CHANNELS,
    norm: bool = True,
    dropout: float = 0.0,
    encoder: str = "conv-stack",
) -> SingleFrame:
    """:class:`SingleFrame` on a VGG-style 2D CNN (:func:`conv_stack_2d` with ``channels``), or
    on a torchvision ImageNet architecture (``encoder="resnet18"``, ``"vgg16"``, ...: see
    :mod:`~spacetime.video.models.image_encoders`; ImageNet weights map onto it with
    :mod:`spacetime.weights`)."""
    enc, dim = image_encoder(encoder, channels=channels, norm=norm)
    model = SingleFrame(enc, dim, num_classes, dropout)
    init_weights(model)
    return model


def late_fusion_fc(
    *,
    num_classes: int,
    num_frames: int = 16,
    frame_size: tuple[int, int] = (112, 112),
    channels: Sequence[int] = (64, 128, 256, 512),
    hidden: Sequence[int] = (512,),
    norm: bool = True,
    dropout: float = 0.5,
) -> LateFusionFC:
    """:class:`LateFusionFC` on a VGG-style 2D CNN.

    With the defaults the first MLP layer alone has 16 * 512 * 7 * 7 * 512 = 205 M weights: the
    lecture's point that the FC version is where "many parameters and computations take place".
    """
    enc = conv_stack_2d(tuple(channels), norm=norm)
    model = LateFusionFC(enc, num_frames, frame_size, num_classes, hidden, dropout)
    init_weights(model)
    return model


def late_fusion_pool(
    *,
    num_classes: int,
    channels: Sequence[int] = DEFAULT_CHANNELS,
    norm: bool = True,
    dropout: float = 0.0,
    encoder: str = "conv-stack",
) -> LateFusionPool:
    """:class:`LateFusionPool` on a VGG-style 2D CNN, or on a torchvision ImageNet architecture
    (``encoder=``, as in :func:`single_frame`)."""
    enc, dim = image_encoder(encoder, channels=channels, norm=norm)
    model = LateFusionPool(enc, dim, num_classes, dropout)
    init_weights(model)
    return model


def early_fusion(
    *,
    num_classes: int,
    num_frames: int = 16,
    channels: Sequence[int] = (64, 128, 256, 512),
    norm: bool = True,
    dropout: float = 0.0,
) -> EarlyFusion:
    """:class:`EarlyFusion` on a VGG-style 2D CNN whose first conv takes ``3 * num_frames``."""
    check_int(num_frames, "num_frames", min_value=1)
    channels = tuple(channels)
    enc = conv_stack_2d(channels, in_channels=3 * num_frames, norm=norm)
    model = EarlyFusion(enc, num_frames, channels[-1], num_classes, dropout)
    init_weights(model)
    return model


def slow_fusion(
    *,
    num_classes: int,
    channels: Sequence[int] = (64, 128, 256, 256),
    pools: Sequence[tuple[int, int, int]] | None = None,
    norm: bool = True,
    dropout: float = 0.0,
) -> SlowFusion:
    """:class:`SlowFusion` on :func:`conv_stack_3d` (``1x2x2`` first pool, ``2x2x2`` after)."""
    channels = tuple(channels)
    enc = conv_stack_3d(channels, pools=pools, norm=norm)
    model = SlowFusion(enc, channels[-1], num_classes, dropout)
    init_weights(model)
    return model


# ------------------------------------------------------- the lecture's toy comparison (3x20x64x64)


def _toy_2d(in_channels: int, width: int) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            [
                ("conv1", nn.Conv2d(in_channels, width, 3, padding=1)),
                ("relu1", nn.ReLU(inplace=True)),
                ("pool1", nn.MaxPool2d(4)),
                ("conv2", nn.Conv2d(width, 2 * width, 3, padding=1)),
                ("relu2", nn.ReLU(inplace=True)),
            ]
        )
    )


def toy_late_fusion(*, num_classes: int, width: int = 12) -> LateFusionPool:
    """The lecture's toy late fusion: per frame Conv2D(3x3, 3->12), Pool2D(4x4),
    Conv2D(3x3, 12->24), then global average pool over T, H, W and a linear layer.

    Built for the lecture's 3 x 20 x 64 x 64 clips but accepts any T, H, W.
    """
    check_int(width, "width", min_value=1)
    model = LateFusionPool(_toy_2d(3, width), 2 * width, num_classes)
    init_weights(model)
    return model


def toy_early_fusion(*, num_classes: int, num_frames: int = 20, width: int = 12) -> EarlyFusion:
    """The lecture's toy early fusion: Conv2D(3x3, 3T->12), Pool2D(4x4), Conv2D(3x3, 12->24), GAP.

    The slide writes "3*10->12" for the first conv, but its input has T = 20 frames; the
    reshape gives ``3 * num_frames`` = 60 input channels, which is what we build.
    """
    check_int(width, "width", min_value=1)
    check_int(num_frames, "num_frames", min_value=1)
    model = EarlyFusion(_toy_2d(3 * num_frames, width), num_frames, 2 * width, num_classes)
    init_weights(model)
    return model


def toy_slow_fusion(*, num_classes: int, width: int = 12) -> SlowFusion:
    """The lecture's toy 3D CNN: Conv3D(3x3x3, 3->12), Pool3D(4x4x4), Conv3D(3x3x3, 12->24), GAP."""
    check_int(width, "width", min_value=1)
    enc = nn.Sequential(
        OrderedDict(
            [
                ("conv1", Conv3d(3, width, 3, padding=1)),
                ("relu1", nn.ReLU(inplace=True)),
                ("pool1", nn.MaxPool3d(4)),
                ("conv2", Conv3d(width, 2 * width, 3, padding=1)),
                ("relu2", nn.ReLU(inplace=True)),
            ]
        )
    )
    model = SlowFusion(enc, 2 * width, num_classes)
    init_weights(model)
    return model
