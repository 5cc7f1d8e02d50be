"""Flow pictures: Middlebury colour coding, dx/dy grayscale images and quiver plots.

:func:`flow_to_image` uses the colour wheel of Baker et al., "A Database and Evaluation
Methodology for Optical Flow" (ICCV 2007): hue encodes the direction, saturation the magnitude
(normalised by the largest magnitude or by ``max_flow``), with 55 hues RY=15, YG=6, GC=4, CB=11,
BM=13, MR=6 exactly as in ``flow_vis`` and ``torchvision.utils.flow_to_image``. With image axes
(x right, y down): flow to the right is red, down is yellow-orange, left is cyan, up is
blue-violet; zero flow is white. Magnitudes above ``max_flow`` are darkened (x 0.75).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from spacetime.checks import check_positive
from spacetime.errors import DependencyError, InputError
from spacetime.fileio import atomic_path
from spacetime.video.flow._common import as_flow_batch, frame_to_tensor

__all__ = [
    "make_colorwheel",
    "flow_to_image",
    "flow_components_to_images",
    "flow_quiver",
]


def make_colorwheel() -> torch.Tensor:
    """The Middlebury colour wheel, float ``(55, 3)`` RGB in [0, 255] (Baker et al. 2007)."""
    ry, yg, gc, cb, bm, mr = 15, 6, 4, 11, 13, 6
    wheel = torch.zeros(ry + yg + gc + cb + bm + mr, 3)

    def ramp(n: int) -> torch.Tensor:
        return torch.floor(255.0 * torch.arange(n) / n)

    c = 0
    wheel[c : c + ry, 0] = 255
    wheel[c : c + ry, 1] = ramp(ry)
    c += ry
    wheel[c : c + yg, 0] = 255 - ramp(yg)
    wheel[c : c + yg, 1] = 255
    c += yg
    wheel[c : c + gc, 1] = 255
    wheel[c : c + gc, 2] = ramp(gc)
    c += gc
    wheel[c : c + cb, 1] = 255 - ramp(cb)
    wheel[c : c + cb, 2] = 255
    c += cb
    wheel[c : c + bm, 2] = 255
    wheel[c : c + bm, 0] = ramp(bm)
    c += bm
    wheel[c : c + mr, 2] = 255 - ramp(mr)
    wheel[c : c + mr, 0] = 255
    return wheel


@torch.no_grad()
def flow_to_image(flow: torch.Tensor, max_flow: float | None = None) -> torch.Tensor:
    """Colour-code a flow with the Middlebury wheel.

    Args:
        flow: ``(2, H, W)`` or ``(N, 2, H, W)`` float flow in pixels. NaN (unknown) pixels are
            drawn black.
        max_flow: magnitude drawn at full saturation; default: the largest finite magnitude
            (per call, over the whole batch, as torchvision does).

    Returns:
        uint8 RGB image ``(3, H, W)`` or ``(N, 3, H, W)``. With the default normalisation the
        result equals ``torchvision.utils.flow_to_image``.
    """
    fl, batched = as_flow_batch(flow)
    fl = fl.float()
    unknown = ~torch.isfinite(fl).all(dim=1)
    fl = torch.where(unknown.unsqueeze(1), torch.zeros_like(fl), fl)
    mag = fl.pow(2).sum(dim=1).sqrt()
    if max_flow is None:
        scale = mag.max() if mag.numel() else torch.tensor(0.0)
        fl = fl / (scale + torch.finfo(torch.float32).eps)
    else:
        check_positive(max_flow, "max_flow")
        fl = fl / float(max_flow)
    wheel = make_colorwheel().to(fl.device)
    ncols = wheel.shape[0]
    rad = fl.pow(2).sum(dim=1).sqrt()
    a = torch.atan2(-fl[:, 1], -fl[:, 0]) / torch.pi
    fk = (a + 1) / 2 * (ncols - 1)
    k0 = torch.floor(fk).long()
    k1 = k0 + 1
    k1[k1 == ncols] = 0
    f = fk - k0
    col0 = wheel[k0] / 255.0  # (N, H, W, 3)
    col1 = wheel[k1] / 255.0
    col = (1 - f.unsqueeze(-1)) * col0 + f.unsqueeze(-1) * col1
    r = rad.unsqueeze(-1)
    col = torch.where(r <= 1, 1 - r * (1 - col), col * 0.75)
    img = torch.floor(255 * col).clamp(0, 255).to(torch.uint8).permute(0, 3, 1, 2)
    img[unknown.unsqueeze(1).expand_as(img)] = 0
    img = img.contiguous()
    return img if batched else img[0]


@torch.no_grad()
def flow_components_to_images(
    flow: torch.Tensor, bound: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal (dx) and vertical (dy) flow as two uint8 grayscale images (the lecture's view).

    Each component is mapped linearly from ``[-bound, bound]`` to ``[0, 255]`` (128 = no motion);
    ``bound`` defaults to the largest absolute component. Shapes: ``(H, W)`` each for a
    ``(2, H, W)`` flow, ``(N, H, W)`` each for a batch. NaN is drawn as 128.
    """
    fl, batched = as_flow_batch(flow)
    fl = torch.nan_to_num(fl.float(), nan=0.0)
    if bound is None:
        b = float(fl.abs().max()) if fl.numel() else 1.0
        b = b if b > 0 else 1.0
    else:
        check_positive(bound, "bound")
        b = float(bound)
    q = torch.round((fl.clamp(-b, b) + b) / (2 * b) * 255.0).to(torch.uint8)
    dx, dy = q[:, 0], q[:, 1]
    return (dx, dy) if batched else (dx[0], dy[0])


def flow_quiver(
    image: torch.Tensor | np.ndarray | None,
    flow: torch.Tensor,
    path: str | os.PathLike,
    *,
    step: int | None = None,
    scale: float = 1.0,
    color: str = "yellow",
    dpi: int = 100,
) -> Path:
    """Save an arrow picture of ``flow`` (``(2, H, W)``) over ``image`` (or over the colour code).

    One arrow every ``step`` pixels (default: about 24 arrows across), drawn from ``(x, y)`` to
    ``(x + scale dx, y + scale dy)`` in image coordinates (y down). Uses matplotlib's Agg
    backend; the file is written atomically.
    """
    fl, batched = as_flow_batch(flow)
    if batched:
        if fl.shape[0] != 1:
            raise InputError(f"flow: expected (2, H, W), got {tuple(fl.shape)}")
    f = fl[0].detach().cpu().float()
    _, h, w = f.shape
    if image is None:
        bg = flow_to_image(torch.nan_to_num(f)).permute(1, 2, 0).numpy()
    else:
        t = frame_to_tensor(image, "image")
        if tuple(t.shape[-2:]) != (h, w):
            raise InputError(
                f"image: expected size {(h, w)} like flow, got {tuple(t.shape[-2:])}"
            )
        bg = t.permute(1, 2, 0).numpy()
        bg = bg[:, :, 0] if bg.shape[2] == 1 else bg
    step = step or max(1, round(max(h, w) / 24))
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover
        raise DependencyError("flow_quiver needs matplotlib") from exc
    fig = Figure(figsize=(w / dpi * 2, h / dpi * 2) if max(h, w) < 400 else (w / dpi, h / dpi))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(bg, cmap="gray" if bg.ndim == 2 else None, interpolation="nearest")
    ys, xs = np.mgrid[step // 2 : h : step, step // 2 : w : step]
    u = f[0].numpy()[ys, xs] * scale
    v = f[1].numpy()[ys, xs] * scale
    ax.quiver(xs, ys, u, v, color=color, angles="xy", scale_units="xy", scale=1.0, width=0.004)
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.axis("off")
    p = Path(path)
    with atomic_path(p) as tmp:
        fig.savefig(tmp, dpi=dpi, format=p.suffix.lstrip(".") or "png")
    return p
