"""Building blocks shared by the shape models: input checks, a 2D image encoder, counters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from spacetime.checks import check_in, check_tensor
from spacetime.errors import InputError

__all__ = [
    "SHAPE_IMAGE_ENCODERS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "check_image",
    "ImageEncoder",
    "ResNetImageEncoder",
    "build_image_encoder",
    "activation_bytes",
    "conv2d_block",
    "group_norm",
]

#: the ``encoder=`` names of the global-code shape models: our GroupNorm CNN, or a torchvision
#: ImageNet ResNet trunk (ImageNet weights: ``spacetime weights convert --from torchvision``)
SHAPE_IMAGE_ENCODERS = ("conv-stack", "resnet18", "resnet34", "resnet50", "resnet101",
                        "resnet152")
#: ``encoder_widths`` default (shapes the conv-stack encoder only)
DEFAULT_ENCODER_WIDTHS = (32, 64, 128, 256)
#: ImageNet RGB mean / std on [0, 1] pixels, applied inside :class:`ResNetImageEncoder`
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def check_image(
    x: Any, name: str = "images", size: int | None = None, multiple_of: int = 1
) -> tuple[int, int]:
    """Check an RGB batch ``(N, 3, H, W)`` (float); ``size``: required ``H = W``;
    ``multiple_of``: ``H`` and ``W`` must be multiples of it. Returns ``(H, W)``.

    Raises:
        InputError: wrong rank, channels, dtype or size.
    """
    check_tensor(x, name, ("N", 3, "H", "W"), dtype="float")
    h, w = int(x.shape[2]), int(x.shape[3])
    if size is not None and (h, w) != (size, size):
        raise InputError(f"{name}: expected images of size {size}x{size}, got {h}x{w}")
    if h % multiple_of or w % multiple_of or h == 0 or w == 0:
        raise InputError(
            f"{name}: expected H and W to be positive multiples of {multiple_of}, got {h}x{w}"
        )
    return h, w


def group_norm(channels: int, max_groups: int = 8) -> nn.GroupNorm:
    """GroupNorm with the largest number of groups ``<= max_groups`` dividing ``channels``.

    The convolutional models normalise with GroupNorm rather than BatchNorm: it behaves the same
    in training and evaluation and does not depend on the batch size (CPU training uses small
    batches; BatchNorm's running statistics lag badly in short runs)."""
    g = max(d for d in range(1, max_groups + 1) if channels % d == 0)
    return nn.GroupNorm(g, channels)


def conv2d_block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """``Conv 3×3 → GroupNorm → ReLU``."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        group_norm(cout),
        nn.ReLU(inplace=True),
    )


class ImageEncoder(nn.Module):
    """A small VGG-like 2D CNN: RGB ``(N, 3, S, S)`` → latent code ``(N, latent_dim)``.

    Each stage is ``conv 3×3 stride 2 → conv 3×3`` (GroupNorm, ReLU); the last feature map is
    averaged over space and mapped to the code by a linear layer (3D-R2N2 / PSGN / ONet style
    image encoders, scaled down).

    Args:
        image_size: ``S`` (checked on every call).
        widths: channels of the stages (one stride-2 stage each).
        latent_dim: size of the code.
    """

    def __init__(self, image_size: int, widths: Sequence[int], latent_dim: int) -> None:
        super().__init__()
        if not widths:
            raise InputError("widths: expected at least one stage width, got none")
        self.image_size = int(image_size)
        layers: list[nn.Module] = []
        cin = 3
        for w in widths:
            layers += [conv2d_block(cin, w, 2), conv2d_block(w, w, 1)]
            cin = w
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, latent_dim)
        self.latent_dim = int(latent_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_image(images, "images", self.image_size)
        f = self.features(images).mean(dim=(2, 3))
        return torch.relu(self.fc(f))


class ResNetImageEncoder(nn.Module):
    """torchvision's ImageNet ResNet trunk as a global image encoder: RGB ``(N, 3, S, S)`` in
    ``[0, 1]`` → ImageNet normalisation (``(x - mean) / std``, done here so every caller, train,
    evaluate and predict alike, feeds the trunk what ImageNet weights expect) → ``conv1`` …
    ``layer4`` → global average pool → ``ReLU(Linear(512 or 2048 → latent_dim))``, the code
    ``(N, latent_dim)`` (Occupancy Networks' ResNet-18 image encoder, Mescheder et al. CVPR 2019).

    Keys: ``backbone.conv1`` … ``backbone.layer4`` (torchvision's names, no ``fc``) and ``fc``
    (ours, random init). Built with ``weights=None`` (no download).
    """

    def __init__(self, image_size: int, arch: str, latent_dim: int) -> None:
        super().__init__()
        check_in(arch, "encoder", SHAPE_IMAGE_ENCODERS[1:])
        import torchvision

        tv = getattr(torchvision.models, arch)(weights=None)
        width = int(tv.fc.in_features)
        del tv.fc, tv.avgpool
        self.backbone = tv
        self.image_size = int(image_size)
        self.fc = nn.Linear(width, latent_dim)
        self.latent_dim = int(latent_dim)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)

    def trunk(self, images: torch.Tensor) -> torch.Tensor:
        """ImageNet-normalised ``layer4`` features ``(N, 512 or 2048, S/32, S/32)``."""
        check_image(images, "images", self.image_size)
        b = self.backbone
        x = (images - self.mean.to(images.dtype)) / self.std.to(images.dtype)
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        return b.layer4(b.layer3(b.layer2(b.layer1(x))))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(self.trunk(images).mean(dim=(2, 3))))


def build_image_encoder(image_size: int, widths: Sequence[int], latent_dim: int,
                        encoder: str = "conv-stack") -> nn.Module:
    """The image encoder of a global-code shape model: :class:`ImageEncoder` (``conv-stack``,
    ``widths`` apply) or :class:`ResNetImageEncoder` (``resnet18`` …; ``widths`` must keep
    their default, a changed value raises :class:`InputError` rather than being ignored)."""
    check_in(encoder, "encoder", SHAPE_IMAGE_ENCODERS)
    if encoder == "conv-stack":
        return ImageEncoder(image_size, widths, latent_dim)
    if tuple(widths) != DEFAULT_ENCODER_WIDTHS:
        raise InputError(f"encoder_widths: they shape the conv-stack encoder only; encoder "
                         f"{encoder!r} is torchvision's architecture (got encoder_widths="
                         f"{tuple(widths)})")
    return ResNetImageEncoder(image_size, encoder, latent_dim)


def activation_bytes(module: nn.Module, *args: Any, **kwargs: Any) -> tuple[Any, int]:
    """Run ``module(*args, **kwargs)`` with autograd on and count the bytes of the distinct
    tensors saved for the backward pass, parameters excluded: the activation memory of a
    training step, measured exactly and independently of the allocator (works on CPU).
    Returns ``(output, bytes)``."""
    params = {p.untyped_storage().data_ptr() for p in module.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        if st.data_ptr() not in params:
            seen[st.data_ptr()] = max(seen.get(st.data_ptr(), 0), st.nbytes())
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = module(*args, **kwargs)
    return out, int(sum(seen.values()))
