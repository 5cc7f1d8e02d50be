"""The 2D frame encoders of the single-frame, late-fusion and spatial-stream models.

``encoder="conv-stack"`` (the default) is our VGG-style :func:`~spacetime.video.models.
conv_stack_2d` (one ``3x3`` conv per stage, ``channels`` and ``norm`` apply). The other names are
torchvision's ImageNet classifiers, laid out so that their state dicts map one to one
(:mod:`spacetime.weights`, format ``torchvision``):

==========================  =================================================  ===============
encoder                     module (``encoder.*`` keys)                         feature_dim
==========================  =================================================  ===============
``resnet18`` … ``resnet152``  torchvision's ``conv1, bn1, relu, maxpool,           512 / 2048
                            layer1 … layer4`` (He et al., CVPR 2016)
``vgg11`` … ``vgg19_bn``    ``features, avgpool (7x7), flatten, classifier``   4096
                            (fc6, ReLU, dropout, fc7, ReLU, dropout), then
                            ``unflatten`` to ``(B, 4096, 1, 1)`` (Simonyan &
                            Zisserman, ICLR 2015)
==========================  =================================================  ===============

The model's own head (global average pool, dropout, ``fc``) then plays torchvision's last layer:
ResNet's ``avgpool`` + ``fc`` exactly; VGG's ``classifier.6`` (the pool is a no-op on a
``1 x 1`` map). Encoders map ``(B, 3, H, W)`` to ``(B, feature_dim, H', W')``; ResNets take any
``H, W >= 32``-ish, VGG's adaptive ``7x7`` pool any ``H, W >= 32``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from spacetime.checks import check_in, check_int
from spacetime.errors import InputError
from spacetime.video.models.blocks import conv_stack_2d

__all__ = ["IMAGE_ENCODERS", "DEFAULT_CHANNELS", "image_encoder"]

#: the ``encoder=`` names; all but ``conv-stack`` are torchvision ImageNet architectures
IMAGE_ENCODERS = (
    "conv-stack",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
)
#: ``channels`` default of the conv-stack encoder
DEFAULT_CHANNELS = (64, 128, 256, 512)


def image_encoder(
    encoder: str = "conv-stack",
    *,
    channels: Sequence[int] = DEFAULT_CHANNELS,
    norm: bool = True,
    in_channels: int = 3,
) -> tuple[nn.Module, int]:
    """A 2D frame encoder and its output channels ``feature_dim`` (see the module docstring).

    ``channels`` and ``norm`` shape the ``conv-stack`` encoder only; with a torchvision encoder
    they must keep their defaults (a changed value raises :class:`InputError` rather than being
    ignored silently). ``in_channels``: input channels (3 for RGB; ``2L`` for a temporal
    stream's flow stack: a torchvision encoder's first conv then takes ``2L`` channels, same
    kernel, stride and padding).
    """
    check_in(encoder, "encoder", IMAGE_ENCODERS)
    check_int(in_channels, "in_channels", min_value=1)
    if encoder == "conv-stack":
        chans = tuple(channels)
        return conv_stack_2d(chans, in_channels=in_channels, norm=norm), int(chans[-1])
    if tuple(channels) != DEFAULT_CHANNELS or not norm:
        raise InputError(f"channels / norm: they shape the conv-stack encoder only; encoder "
                         f"{encoder!r} is torchvision's architecture (got channels="
                         f"{tuple(channels)}, norm={norm})")
    import torchvision

    tv = getattr(torchvision.models, encoder)(weights=None)
    first_name = "conv1" if encoder.startswith("resnet") else "0"
    parent = tv if encoder.startswith("resnet") else tv.features
    if in_channels != 3:
        first = getattr(parent, first_name)
        setattr(parent, first_name, nn.Conv2d(
            in_channels, first.out_channels, first.kernel_size, first.stride, first.padding,
            bias=first.bias is not None))
    if encoder.startswith("resnet"):
        names = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
        return nn.Sequential(OrderedDict((n, getattr(tv, n)) for n in names)), tv.fc.in_features
    head = tv.classifier  # Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear
    dim = head[3].out_features
    body = OrderedDict([
        ("features", tv.features),
        ("avgpool", tv.avgpool),
        ("flatten", nn.Flatten(1)),
        ("classifier", nn.Sequential(*list(head)[:6])),
        ("unflatten", nn.Unflatten(1, (dim, 1, 1))),
    ])
    return nn.Sequential(body), dim
