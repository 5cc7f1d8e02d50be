"""Pictures of Mesh R-CNN predictions: the image with boxes, masks and the predicted meshes
overlaid in the camera view, and each mesh from a second viewpoint. Arrays are ``(H, W, 3)``
float in [0, 1]; :func:`save_png` writes them atomically."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from spacetime.checks import check_tensor

__all__ = ["PALETTE", "overlay_predictions", "second_view", "save_png", "contact_row"]

#: colours of successive objects
PALETTE = torch.tensor([[0.9, 0.25, 0.2], [0.2, 0.6, 0.95], [0.3, 0.8, 0.3], [0.95, 0.75, 0.1],
                        [0.7, 0.35, 0.9], [0.1, 0.8, 0.8]], device="cpu")


def overlay_predictions(
    image: torch.Tensor,
    K: torch.Tensor,
    *,
    boxes: torch.Tensor | None = None,
    masks: torch.Tensor | None = None,
    meshes: Any = None,
    mesh_alpha: float = 0.6,
    mask_alpha: float = 0.35,
) -> torch.Tensor:
    """``image`` ``(3, H, W)`` with masks ``(M, H, W)`` tinted, camera-frame ``meshes`` (M
    meshes, intrinsics ``K`` ``(3, 3)`` of this image) rendered in place with Lambert shading
    and boxes ``(M, 4)`` (pixel-edge ``x0, y0, x1, y1``) outlined; object ``k`` in
    ``PALETTE[k % 6]``. Returns ``(H, W, 3)``."""
    from spacetime.shapes.render import render_depth_normals
    from spacetime.shapes.render.shading import shade_lambert

    sizes = check_tensor(image, "image", (3, "H", "W"), dtype="float")
    h, w = sizes["H"], sizes["W"]
    out = image.permute(1, 2, 0).clone().float().cpu()
    if masks is not None:
        for k, m in enumerate(masks.bool().cpu()):
            c = PALETTE[k % len(PALETTE)]
            out[m] = (1 - mask_alpha) * out[m] + mask_alpha * c
    if meshes is not None:
        eye = torch.eye(3)
        for k in range(len(meshes)):
            m = meshes[k].cpu()
            if m.faces_packed().shape[0] == 0:
                continue
            r = render_depth_normals(m.to(dtype=torch.float32), K.float().cpu(), eye,
                                     torch.zeros(3), h, w)
            albedo = PALETTE[k % len(PALETTE)][:, None, None].expand(3, h, w)
            shaded = shade_lambert(r.normals[0], r.mask[0], albedo)
            sel = r.mask[0]
            out[sel] = (1 - mesh_alpha) * out[sel] + mesh_alpha * shaded[sel]
    if boxes is not None:
        for k, b in enumerate(boxes.cpu().tolist()):
            c = PALETTE[k % len(PALETTE)]
            x0, y0 = max(0, int(round(b[0] + 0.5))), max(0, int(round(b[1] + 0.5)))
            x1, y1 = min(w - 1, int(round(b[2] - 0.5))), min(h - 1, int(round(b[3] - 0.5)))
            if x1 < x0 or y1 < y0:
                continue
            out[y0, x0:x1 + 1] = c
            out[y1, x0:x1 + 1] = c
            out[y0:y1 + 1, x0] = c
            out[y0:y1 + 1, x1] = c
    return out.clamp(0, 1)


def second_view(meshes: Any, index: int = 0, *, size: int = 256, azimuth_deg: float = 60.0,
                elevation_deg: float = 25.0) -> torch.Tensor:
    """Mesh ``index`` rendered from a viewpoint beside the camera's (``azimuth_deg`` about the
    camera's up axis −y), framed on the mesh. Returns ``(size, size, 3)``."""
    from spacetime.shapes.render import render_mesh_image

    return render_mesh_image(meshes.cpu(), size, size, index=index, up=(0.0, -1.0, 0.0),
                             azimuth_deg=180.0 + azimuth_deg, elevation_deg=elevation_deg)


def save_png(array: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write an ``(H, W, 3)`` array in [0, 1] as an 8-bit PNG (atomically); return the path."""
    import numpy as np
    from PIL import Image

    from spacetime.fileio import atomic_write

    arr = (array.detach().cpu().clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    with atomic_write(path, "wb") as f:
        Image.fromarray(arr).save(f, format="PNG")
    return Path(path)


def contact_row(arrays: Sequence[torch.Tensor], size: int = 128) -> torch.Tensor:
    """Resize ``(H, W, 3)`` pictures to ``size`` high and place them side by side."""
    import torch.nn.functional as F

    tiles = []
    for a in arrays:
        x = a.permute(2, 0, 1)[None].float()
        w = max(1, round(x.shape[-1] * size / x.shape[-2]))
        tiles.append(F.interpolate(x, size=(size, w), mode="bilinear",
                                   align_corners=False)[0].permute(1, 2, 0))
    return torch.cat(tiles, 1)
