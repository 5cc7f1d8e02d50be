"""C3D, "the VGG of 3D CNNs".

Tran et al., "Learning Spatiotemporal Features with 3D Convolutional Networks", ICCV 2015.
All convolutions are ``3x3x3`` with padding 1 (size preserving), all pools ``2x2x2`` with
stride 2 except pool1 (``1x2x2``, keep early temporal information).

Shapes for the default 3 x 16 x 112 x 112 clip (``C x T x H x W``, printed by
``spacetime.analysis.layer_table``)::

    conv1  64x16x112x112   pool1  64x16x56x56
    conv2  128x16x56x56    pool2  128x8x28x28
    conv3a/b 256x8x28x28   pool3  256x4x14x14
    conv4a/b 512x4x14x14   pool4  512x2x7x7
    conv5a/b 512x2x7x7     pool5  512x1x4x4 = 8192 -> fc6 4096 -> fc7 4096 -> fc8 C

pool5: the lecture's table shows ``512x1x3x3`` (a plain 2x2x2 / stride 2 pool, floor mode).
The released C3D (Caffe, ceil-mode pooling) and MMAction2's reproduction give ``512x1x4x4``;
MMAction2 writes it as ``MaxPool3d(2, stride=2, padding=(0, 1, 1))``. We default to the
released network (``pool5_padding=(0, 1, 1)``, fc6 input 8192), so checkpoints converted from
it load; ``pool5_padding=(0, 0, 0)`` gives the lecture's ``512x1x3x3`` (fc6 input 4608).

Parameters: 78,409,573 with 101 classes (UCF101; MMAction2's "78.4 M"), 79,991,015 with
487 classes (Sports-1M). Multiply-adds for one 3 x 16 x 112 x 112 clip: 38.50 G in the eight
convolutions (the lecture's per-conv figures 1.04, 11.10, 5.55, 11.10, 2.77, 5.55, 0.69, 0.69
G exactly), 38.55 G with fc6 / fc7 / fc8 (0.034 / 0.017 / 0.002 G for 487 classes; MMAction2's
"38.5 GFLOPs"). The lecture's fc figures (0.51 / 0.45 / 0.05) and its headline "39.5 GFLOP" do
not follow from these layer sizes; we report the counts the layers give.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from spacetime.checks import check_int
from spacetime.errors import InputError
from spacetime.video.models.blocks import Conv3d, check_clip, init_weights

__all__ = ["C3D", "c3d"]

_POOLS = {
    "pool1": (1, 2, 2),
    "pool2": (2, 2, 2),
    "pool3": (2, 2, 2),
    "pool4": (2, 2, 2),
    "pool5": (2, 2, 2),
}


def _pool_out(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


class C3D(nn.Module):
    """C3D: eight ``3x3x3`` conv layers in five blocks, five max pools, fc6 / fc7 / fc8.

    Layers are attributes named as in the paper (``conv1``, ``pool1``, ``conv2``, ...,
    ``conv5b``, ``pool5``, ``fc6``, ``fc7``, ``fc8``); ReLU after every conv and fc6 / fc7,
    dropout after fc6 and fc7. Input ``(N, 3, T, H, W)`` with ``(T, H, W) = input_size``
    (fc6's input size depends on it; other sizes raise :class:`InputError`); output logits
    ``(N, num_classes)``.

    Args:
        num_classes: C (fc8 width).
        channels: widths of blocks 1..5 (default ``(64, 128, 256, 512, 512)``).
        fc_dim: width of fc6 and fc7 (default 4096).
        dropout: dropout probability after fc6 and fc7.
        input_size: ``(T, H, W)`` of the clips (default ``(16, 112, 112)``).
        pool5_padding: padding of pool5, see the module docstring.
    """

    def __init__(
        self,
        num_classes: int,
        channels: Sequence[int] = (64, 128, 256, 512, 512),
        fc_dim: int = 4096,
        dropout: float = 0.5,
        input_size: tuple[int, int, int] = (16, 112, 112),
        pool5_padding: tuple[int, int, int] = (0, 1, 1),
    ) -> None:
        super().__init__()
        check_int(num_classes, "num_classes", min_value=1)
        check_int(fc_dim, "fc_dim", min_value=1)
        c = tuple(channels)
        if len(c) != 5:
            raise InputError(f"channels: expected 5 block widths, got {len(c)}: {c!r}")
        for i, ci in enumerate(c):
            check_int(ci, f"channels[{i}]", min_value=1)
        if not 0.0 <= float(dropout) < 1.0:
            raise InputError(f"dropout: expected a probability in [0, 1), got {dropout!r}")
        self.input_size = tuple(int(v) for v in input_size)
        if len(self.input_size) != 3:
            raise InputError(f"input_size: expected (T, H, W), got {input_size!r}")
        self.pool5_padding = tuple(int(v) for v in pool5_padding)

        def conv(cin: int, cout: int) -> nn.Conv3d:
            return Conv3d(cin, cout, 3, padding=1)

        self.conv1 = conv(3, c[0])
        self.pool1 = nn.MaxPool3d(_POOLS["pool1"], stride=_POOLS["pool1"])
        self.conv2 = conv(c[0], c[1])
        self.pool2 = nn.MaxPool3d(2, stride=2)
        self.conv3a = conv(c[1], c[2])
        self.conv3b = conv(c[2], c[2])
        self.pool3 = nn.MaxPool3d(2, stride=2)
        self.conv4a = conv(c[2], c[3])
        self.conv4b = conv(c[3], c[3])
        self.pool4 = nn.MaxPool3d(2, stride=2)
        self.conv5a = conv(c[3], c[4])
        self.conv5b = conv(c[4], c[4])
        self.pool5 = nn.MaxPool3d(2, stride=2, padding=self.pool5_padding)
        self.pool5_shape = self._pool5_shape(c[4])
        self.fc6 = nn.Linear(math.prod(self.pool5_shape), fc_dim)
        self.fc7 = nn.Linear(fc_dim, fc_dim)
        self.fc8 = nn.Linear(fc_dim, num_classes)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(float(dropout))

    def _pool5_shape(self, c5: int) -> tuple[int, int, int, int]:
        size = list(self.input_size)
        for name, k in _POOLS.items():
            pad = self.pool5_padding if name == "pool5" else (0, 0, 0)
            for ax in range(3):
                if 2 * pad[ax] > k[ax]:
                    raise InputError(
                        f"pool5_padding: expected at most half the kernel {k}, got {pad}"
                    )
                size[ax] = _pool_out(size[ax], k[ax], k[ax], pad[ax])
            if min(size) < 1:
                raise InputError(
                    f"input_size: {self.input_size} is too small for C3D's five pools "
                    f"(after {name} the clip would be {tuple(size)}); use T >= 16 and "
                    f"H, W >= 16"
                )
        return (c5, size[0], size[1], size[2])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pool5 feature map ``(N, C5, T', H', W')``, e.g. ``(N, 512, 1, 4, 4)``."""
        check_clip(x, num_frames=self.input_size[0], frame_size=self.input_size[1:], model="C3D")
        r = self.relu
        x = self.pool1(r(self.conv1(x)))
        x = self.pool2(r(self.conv2(x)))
        x = self.pool3(r(self.conv3b(r(self.conv3a(x)))))
        x = self.pool4(r(self.conv4b(r(self.conv4a(x)))))
        return self.pool5(r(self.conv5b(r(self.conv5a(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` for clips ``(N, 3, *input_size)``."""
        x = torch.flatten(self.features(x), 1)
        x = self.dropout(self.relu(self.fc6(x)))
        x = self.dropout(self.relu(self.fc7(x)))
        return self.fc8(x)


def c3d(
    *,
    num_classes: int,
    channels: Sequence[int] = (64, 128, 256, 512, 512),
    fc_dim: int = 4096,
    dropout: float = 0.5,
    input_size: tuple[int, int, int] = (16, 112, 112),
    pool5_padding: tuple[int, int, int] = (0, 1, 1),
) -> C3D:
    """Build :class:`C3D` (defaults: the paper's network, 3 x 16 x 112 x 112 clips).

    Tiny variant for tests: ``c3d(num_classes=5, channels=(4, 8, 8, 8, 8), fc_dim=16,
    input_size=(16, 32, 32))``. Build the full network on the meta device
    (``with torch.device("meta"): c3d(num_classes=487)``) to inspect it without allocating
    its 320 MB of weights.
    """
    model = C3D(num_classes, channels, fc_dim, dropout, input_size, pool5_padding)
    init_weights(model)
    return model
