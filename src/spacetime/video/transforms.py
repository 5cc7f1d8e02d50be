"""Clip transforms: resize, crop, flip, normalise, layout and dtype conversion, compose.

Every transform takes one clip ``(T, C, H, W)`` ("TCHW") or ``(C, T, H, W)`` ("CTHW"), or a batch
of clips with extra leading dimensions ``(..., T, C, H, W)``. Spatial transforms only touch the
last two dimensions, so they work on either layout; :class:`Normalize` needs to know where the
channels are (``layout=``). A random transform draws its parameters **once per call** and applies
them to every frame (and every clip of a batch), so a clip is never spatially jittered over time.
Pass ``generator=`` (a seeded :class:`torch.Generator`) to make the draws reproducible; without
one torch's global generator is used.

The default pipelines follow C3D (Tran et al., "Learning Spatiotemporal Features with 3D
Convolutional Networks", ICCV 2015): resize the short side to 128, crop 112 x 112 (random crop
and horizontal flip for training, centre crop for testing), then channels-first
``(3, T, 112, 112)``.
Values: uint8 in [0, 255], floats in [0, 1] before normalisation.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Generator, Tensor

from spacetime.checks import check_in, check_int, check_tensor
from spacetime.errors import InputError

__all__ = [
    "KINETICS_MEAN",
    "KINETICS_STD",
    "to_float",
    "resize",
    "short_side_resize",
    "crop",
    "center_crop",
    "hflip",
    "normalize",
    "convert_layout",
    "ClipTransform",
    "Compose",
    "ToFloat",
    "Resize",
    "ShortSideResize",
    "CenterCrop",
    "RandomCrop",
    "RandomHorizontalFlip",
    "Normalize",
    "ConvertLayout",
    "video_train_transform",
    "video_eval_transform",
]

#: Per-channel RGB mean / std of Kinetics-400 (values in [0, 1]), as used by torchvision's video
#: models (R3D, MC3, R(2+1)D).
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)

_LAYOUTS = ("TCHW", "CTHW")


def _check_clip(clip: torch.Tensor, name: str = "clip") -> None:
    check_tensor(clip, name, ("*", "A", "B", "H", "W"))


def _pair(size: int | Sequence[int], name: str) -> tuple[int, int]:
    if isinstance(size, int) and not isinstance(size, bool):
        check_int(size, name, min_value=1)
        return size, size
    if isinstance(size, Sequence) and len(size) == 2:
        return check_int(size[0], name, min_value=1), check_int(size[1], name, min_value=1)
    raise InputError(f"{name}: expected an int or (height, width), got {size!r}")


def to_float(clip: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 in [0, 255] -> ``dtype`` in [0, 1]; a float clip is only cast."""
    _check_clip(clip)
    if not dtype.is_floating_point:
        raise InputError(f"dtype: expected a floating-point dtype, got {dtype}")
    if clip.dtype == torch.uint8:
        return clip.to(dtype) / 255.0
    if not clip.is_floating_point():
        raise InputError(f"clip: expected uint8 or a float dtype, got {clip.dtype}")
    return clip.to(dtype)


def resize(
    clip: torch.Tensor,
    size: int | Sequence[int],
    interpolation: str = "bilinear",
    antialias: bool = True,
) -> torch.Tensor:
    """Resize every frame to ``size = (height, width)`` (an int gives a square).

    ``(..., H, W)`` -> ``(..., height, width)``; uint8 clips are resized in float32 and rounded
    back to uint8. Differentiable for float clips. ``antialias`` low-pass filters when shrinking
    (bilinear/bicubic only).
    """
    _check_clip(clip)
    check_in(interpolation, "interpolation", ("bilinear", "bicubic", "nearest", "area"))
    h, w = _pair(size, "size")
    if (h, w) == tuple(clip.shape[-2:]):
        return clip
    x = clip.reshape(-1, 1, *clip.shape[-2:])
    x = x.float() if clip.dtype == torch.uint8 else x
    if not x.is_floating_point():
        raise InputError(f"clip: expected uint8 or a float dtype, got {clip.dtype}")
    kw = {"antialias": antialias, "align_corners": False} if interpolation in ("bilinear",
                                                                              "bicubic") else {}
    y = F.interpolate(x, size=(h, w), mode=interpolation, **kw) if x.numel() else x.new_zeros(
        x.shape[0], 1, h, w)
    if clip.dtype == torch.uint8:
        y = y.round().clamp(0, 255).to(torch.uint8)
    return y.reshape(*clip.shape[:-2], h, w)


def short_side_resize(
    clip: torch.Tensor, size: int, interpolation: str = "bilinear", antialias: bool = True
) -> torch.Tensor:
    """Resize so that the short side is ``size``, keeping the aspect ratio (rounded)."""
    _check_clip(clip)
    check_int(size, "size", min_value=1)
    H, W = clip.shape[-2:]
    if H <= W:
        hw = (size, max(1, round(W * size / H)))
    else:
        hw = (max(1, round(H * size / W)), size)
    return resize(clip, hw, interpolation, antialias)


def crop(clip: torch.Tensor, top: int, left: int, height: int, width: int) -> torch.Tensor:
    """The window ``[top, top + height) x [left, left + width)`` of every frame (a view)."""
    _check_clip(clip)
    H, W = clip.shape[-2:]
    if top < 0 or left < 0 or height < 1 or width < 1 or top + height > H or left + width > W:
        raise InputError(
            f"crop: expected a window inside the {H}x{W} frame, got top={top}, left={left}, "
            f"height={height}, width={width}"
        )
    return clip[..., top:top + height, left:left + width]


def center_crop(clip: torch.Tensor, size: int | Sequence[int] = 112) -> torch.Tensor:
    """The centred ``size`` window (``(H - h) // 2`` from the top, likewise from the left)."""
    _check_clip(clip)
    h, w = _pair(size, "size")
    H, W = clip.shape[-2:]
    if h > H or w > W:
        raise InputError(f"size: expected a crop no larger than the {H}x{W} frame, got {h}x{w}")
    return crop(clip, (H - h) // 2, (W - w) // 2, h, w)


def hflip(clip: torch.Tensor) -> torch.Tensor:
    """Mirror every frame left-right."""
    _check_clip(clip)
    return clip.flip(-1)


def normalize(
    clip: torch.Tensor,
    mean: Sequence[float] = KINETICS_MEAN,
    std: Sequence[float] = KINETICS_STD,
    layout: str = "TCHW",
) -> torch.Tensor:
    """``(clip - mean) / std`` per channel; the channel axis is -3 ("TCHW") or -4 ("CTHW")."""
    _check_clip(clip)
    check_in(layout, "layout", _LAYOUTS)
    if not clip.is_floating_point():
        raise InputError(f"clip: expected a float clip (use to_float first), got {clip.dtype}")
    cdim = -3 if layout == "TCHW" else -4
    C = clip.shape[cdim]
    m = torch.as_tensor(mean, dtype=clip.dtype, device=clip.device).flatten()
    s = torch.as_tensor(std, dtype=clip.dtype, device=clip.device).flatten()
    if m.numel() != C or s.numel() != C:
        raise InputError(
            f"mean/std: expected {C} values (channels of a {layout} clip of shape "
            f"{tuple(clip.shape)}), got {m.numel()} and {s.numel()}"
        )
    if bool((s <= 0).any()):
        raise InputError(f"std: expected values > 0, got {s.tolist()}")
    view = (C, 1, 1) if layout == "TCHW" else (C, 1, 1, 1)
    return (clip - m.view(view)) / s.view(view)


def convert_layout(clip: torch.Tensor, src: str = "TCHW", dst: str = "CTHW") -> torch.Tensor:
    """``(..., T, C, H, W)`` <-> ``(..., C, T, H, W)``; contiguous output."""
    _check_clip(clip)
    check_in(src, "src", _LAYOUTS)
    check_in(dst, "dst", _LAYOUTS)
    if src == dst:
        return clip
    return clip.transpose(-4, -3).contiguous()


class ClipTransform(abc.ABC):
    """Base class: ``transform(clip, generator=None) -> clip``."""

    @abc.abstractmethod
    def __call__(self, clip: torch.Tensor, generator: Generator | None = None) -> Tensor:
        """Transform one clip (or a batch); random transforms draw from ``generator``."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Compose(ClipTransform):
    """Apply transforms in order, passing the same ``generator`` to each."""

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, clip: torch.Tensor, generator: Generator | None = None) -> Tensor:
        for t in self.transforms:
            clip = t(clip, generator=generator) if isinstance(t, ClipTransform) else t(clip)
        return clip


class ToFloat(ClipTransform):
    """uint8 [0, 255] -> float [0, 1] (see :func:`to_float`)."""

    def __init__(self, dtype: torch.dtype = torch.float32) -> None:
        self.dtype = dtype

    def __call__(self, clip: torch.Tensor, generator: Generator | None = None) -> Tensor:
        return to_float(clip, self.dtype)


class Resize(ClipTransform):
    """Resize frames to ``size`` (see :func:`resize`)."""

    def __init__(self, size: int | Sequence[int], interpolation: str = "bilinear",
                 antialias: bool = True) -> None:
        self.size = _pair(size, "size")
        self.interpolation, self.antialias = interpolation, antialias

    def __call__(self, clip: torch.Tensor, generator: Generator | None = None) -> Tensor:
        return resize(clip, self.size, self.interpolation, self.antialias)


class ShortSideResize(ClipTransform):
    """Resize the short side to ``size`` keeping the aspect ratio (default 128, as C3D)."""

    def __init__(self, size: int = 128, interpolation: str = "bilinear",
                 antialias: bool = True) -> None:
        self.size = check_int(size, "size", min_value=1)
        self.interpolation, self.antialias = interpolation, antialias

    def __call__(self, clip: torch.Tensor, generator: Generator | None = None) -> Tensor:
        return short_side_resize(clip, self.size, self.interpolation, self.antialias)


class CenterCrop(ClipTransform):
    """Centre crop, default 112 x 112."""

    def __init__(self, size: int | Sequence[int] = 112) -> None:
        self.size = _pair(size, "size")

    def __call__(self, clip: torch.Tensor, generator: Generator | None = None) -> Tensor:
        return center_crop(clip, self.size)


def _draw_device(generator: Generator | None) -> torch.device:
    """Where random draws happen: the generator's device, else the CPU (the global CPU RNG),
    whatever the default device and the clip's device."""
    return generator.device if generator is not None else torch.device("cpu")


class RandomCrop(ClipTransform):
    """Crop a uniformly random ``size`` window (default 112 x 112), the same for all frames."""

    def __init__(self, size: int | Sequence[int] = 112) -> None:
        self.size = _pair(size, "size")

    def __call__(self, clip: torch.Tensor, generator: Generator | None = None) -> Tensor:
        _check_clip(clip)
        h, w = self.size
        H, W = clip.shape[-2:]
        if h > H or w > W:
            raise InputError(f"size: expected a crop no larger than the {H}x{W} frame, "
                             f"got {h}x{w}")
        dev = _draw_device(generator)
        top = int(torch.randint(0, H - h + 1, (1,), generator=generator, device=dev))
        left = int(torch.randint(0, W - w + 1, (1,), generator=generator, device=dev))
        return crop(clip, top, left, h, w)


class RandomHorizontalFlip(ClipTransform):
    """Mirror the whole clip with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise InputError(f"p: expected a probability in [0, 1], got {p!r}")
        self.p = p

    def __call__(self, clip: torch.Tensor, generator: Generator | None = None) -> Tensor:
        _check_clip(clip)
        if float(torch.rand((), generator=generator, device=_draw_device(generator))) < self.p:
            return hflip(clip)
        return clip


class Normalize(ClipTransform):
    """Per-channel ``(clip - mean) / std`` (defaults: Kinetics statistics)."""

    def __init__(self, mean: Sequence[float] = KINETICS_MEAN, std: Sequence[float] = KINETICS_STD,
                 layout: str = "TCHW") -> None:
        check_in(layout, "layout", _LAYOUTS)
        self.mean, self.std, self.layout = tuple(mean), tuple(std), layout

    def __call__(self, clip: torch.Tensor, generator: Generator | None = None) -> Tensor:
        return normalize(clip, self.mean, self.std, self.layout)


class ConvertLayout(ClipTransform):
    """``"TCHW"`` <-> ``"CTHW"`` (see :func:`convert_layout`)."""

    def __init__(self, src: str = "TCHW", dst: str = "CTHW") -> None:
        check_in(src, "src", _LAYOUTS)
        check_in(dst, "dst", _LAYOUTS)
        self.src, self.dst = src, dst

    def __call__(self, clip: torch.Tensor, generator: Generator | None = None) -> Tensor:
        return convert_layout(clip, self.src, self.dst)


def video_train_transform(
    crop_size: int = 112,
    resize_to: int = 128,
    *,
    flip: bool = True,
    mean: Sequence[float] = KINETICS_MEAN,
    std: Sequence[float] = KINETICS_STD,
    layout: str = "CTHW",
) -> Compose:
    """Training pipeline for a uint8 TCHW clip: float, short side ``resize_to``, random
    ``crop_size`` crop, random flip, normalise, then ``layout`` (``(3, T, 112, 112)`` default)."""
    steps: list[ClipTransform] = [ToFloat(), ShortSideResize(resize_to), RandomCrop(crop_size)]
    if flip:
        steps.append(RandomHorizontalFlip())
    steps += [Normalize(mean, std), ConvertLayout("TCHW", layout)]
    return Compose(steps)


def video_eval_transform(
    crop_size: int = 112,
    resize_to: int = 128,
    *,
    mean: Sequence[float] = KINETICS_MEAN,
    std: Sequence[float] = KINETICS_STD,
    layout: str = "CTHW",
) -> Compose:
    """Test pipeline: like :func:`video_train_transform` with a centre crop and no flip."""
    return Compose([ToFloat(), ShortSideResize(resize_to), CenterCrop(crop_size),
                    Normalize(mean, std), ConvertLayout("TCHW", layout)])
