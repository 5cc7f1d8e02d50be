"""Pictures of optical flow with their key: the Middlebury colour wheel and the magnitude range.

:func:`flow_picture` writes ``flow.png``: the colour-coded flow
(:func:`spacetime.video.flow.flow_to_image`), the colour wheel as a legend (hue = direction in
image axes, x right and y down; saturation = magnitude up to ``max_flow``) and the magnitudes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spacetime.checks import check_int
from spacetime.errors import InputError
from spacetime.fileio import atomic_path

__all__ = ["flow_wheel", "flow_legend", "flow_picture", "is_kitti_flow_png", "FLOW_SUFFIXES"]

#: file suffixes read as flow by :func:`spacetime.viz.show` (``.png`` only when KITTI-encoded)
FLOW_SUFFIXES = (".flo",)


def is_kitti_flow_png(path: str | os.PathLike) -> bool:
    """True if ``path`` is a PNG with 16 bits per channel and 3 channels (KITTI's flow
    encoding), read from the PNG header."""
    p = Path(path)
    if p.suffix.lower() != ".png" or not p.is_file():
        return False
    with open(p, "rb") as f:
        head = f.read(26)
    # signature (8) + IHDR length and type (8) + width, height (8) + bit depth + colour type
    return (len(head) == 26 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
            and head[24] == 16 and head[25] == 2)


def flow_wheel(size: int = 128) -> np.ndarray:
    """The flow colour key: ``(size, size, 3)`` uint8, the colour of flow ``(dx, dy)`` at
    ``(x, y)`` offset from the centre (image axes, y down) up to the full saturation radius;
    white outside the disc."""
    from spacetime.video.flow import flow_to_image

    check_int(size, "size", min_value=8)
    r = torch.linspace(-1.0, 1.0, size)
    y, x = torch.meshgrid(r, r, indexing="ij")
    img = flow_to_image(torch.stack([x, y]), max_flow=1.0).permute(1, 2, 0).numpy().copy()
    img[(x * x + y * y).numpy() > 1.0] = 255
    return img


def _flow_tensor(flow: Any) -> torch.Tensor:
    fl = flow if isinstance(flow, torch.Tensor) else torch.as_tensor(np.asarray(flow))
    if fl.ndim == 4 and fl.shape[0] == 1:
        fl = fl[0]
    if fl.ndim != 3 or fl.shape[0] != 2:
        raise InputError(f"flow: expected (2, H, W), got shape {tuple(fl.shape)}")
    return fl.detach().cpu().float()


def flow_legend(flow: Any, max_flow: float | None = None) -> tuple[np.ndarray, list[str]]:
    """The colour wheel picture and one line of magnitudes (max, mean, valid pixels) of a
    ``(2, H, W)`` flow in pixels."""
    fl = _flow_tensor(flow)
    valid = torch.isfinite(fl).all(0)
    mag = fl.norm(dim=0)[valid]
    top = float(mag.max()) if mag.numel() else 0.0
    full = float(max_flow) if max_flow is not None else top
    line = (f"|flow| max {top:.2f} px, mean {float(mag.mean()) if mag.numel() else 0.0:.2f} px; "
            f"full saturation at {full:.2f} px; {int(valid.sum()):,} of {valid.numel():,} "
            "pixels valid")
    return flow_wheel(96), [line]


def flow_picture(
    flow: Any,
    path: str | os.PathLike,
    *,
    max_flow: float | None = None,
    title: str | None = None,
) -> Path:
    """Write a PNG of a ``(2, H, W)`` flow (pixels) in the Middlebury colours with the colour
    wheel as a legend and the magnitudes; unknown (NaN) pixels are black. Returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from spacetime.video.flow import flow_to_image

    fl = _flow_tensor(flow)
    _, h, w = fl.shape
    img = flow_to_image(fl, max_flow=max_flow).permute(1, 2, 0).numpy()
    _, lines = flow_legend(fl, max_flow)
    wheel = flow_wheel(160)
    main_w = 6.0
    main_h = main_w * h / w
    fig = Figure(figsize=(main_w + 2.2, max(main_h, 2.4) + 0.9), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.02, 0.14, main_w / (main_w + 2.2) - 0.03, 0.74))
    ax.imshow(img, interpolation="nearest")
    ax.set_axis_off()
    key = fig.add_axes((main_w / (main_w + 2.2) + 0.01, 0.42, 2.0 / (main_w + 2.2) - 0.02, 0.42))
    key.imshow(wheel, interpolation="bilinear")
    key.set_axis_off()
    key.set_title("direction (hue)\nmagnitude (saturation)", fontsize=8)
    for txt, xy in (("+x", (1.08, 0.5)), ("+y (down)", (0.5, -0.1))):
        key.annotate(txt, xy=xy, xycoords="axes fraction", ha="center", va="center", fontsize=8)
    fig.text(0.02, 0.04, lines[0], fontsize=8)
    fig.suptitle(title or f"optical flow {w}×{h}", fontsize=11)
    dest = Path(path)
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", facecolor="white")
    return dest
