"""Pictures of meshes and point clouds: an automatic camera framing the object, Lambert shading
with a head light, and colour maps for splatted points."""

from __future__ import annotations

import math
from typing import Any

import torch

from spacetime.checks import check_in, check_int, check_tensor
from spacetime.errors import InputError
from spacetime.limits import check_image_size
from spacetime.shapes.render.rasterize import render_depth_normals, splat_points

__all__ = ["camera_for_bounds", "shade_lambert", "render_mesh_image", "render_points_image"]

DEFAULT_COLOR = (0.62, 0.70, 0.84)


def camera_for_bounds(
    bounds: torch.Tensor,
    H: int,
    W: int,
    *,
    fov_deg: float = 35.0,
    azimuth_deg: float = 35.0,
    elevation_deg: float = 25.0,
    up: tuple[float, float, float] = (0.0, 1.0, 0.0),
    margin: float = 1.0,
):
    """Intrinsics ``(3, 3)``, ``R`` ``(3, 3)`` and ``t`` ``(3,)`` of an OpenCV camera looking at
    the centre of ``bounds`` ``(3, 2)`` [min, max] from the given azimuth (about ``up``, from
    +z towards +x) and elevation, far enough that the bounding sphere fits the view."""
    from spacetime.shapes.structures import look_at

    check_tensor(bounds, "bounds", (3, 2), dtype="float")
    b = bounds.detach().double().cpu()
    centre = (b[:, 0] + b[:, 1]) / 2
    radius = float((b[:, 1] - b[:, 0]).norm() / 2)
    radius = radius if radius > 0 else 1.0
    f = 0.5 * min(H, W) / math.tan(math.radians(fov_deg) / 2)
    dist = margin * radius / math.sin(math.radians(fov_deg) / 2)
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    upv = torch.tensor(up, dtype=torch.float64)
    upv = upv / upv.norm()
    # a horizontal frame around `up`
    ref = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    if abs(float(ref @ upv)) > 0.9:
        ref = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    fwd = ref - (ref @ upv) * upv
    fwd = fwd / fwd.norm()
    side = torch.linalg.cross(upv, fwd)
    direction = math.cos(el) * (math.cos(az) * fwd + math.sin(az) * side) + math.sin(el) * upv
    eye = centre + dist * direction
    ext = look_at(eye, centre, upv, dtype=torch.float64)
    K = torch.tensor([[f, 0, (W - 1) / 2], [0, f, (H - 1) / 2], [0, 0, 1]], dtype=torch.float64)
    dtype = bounds.dtype
    return K.to(dtype), ext.R[0].to(dtype), ext.t[0].to(dtype)


def shade_lambert(
    normals_cam: torch.Tensor,
    mask: torch.Tensor,
    albedo: torch.Tensor | None = None,
    *,
    ambient: float = 0.3,
    light_dir: tuple[float, float, float] = (-0.4, -0.6, -1.0),
    background: float = 1.0,
) -> torch.Tensor:
    """Lambert shading ``albedo * (ambient + (1 - ambient) max(0, n · l))`` of camera-frame
    normals ``(3, H, W)``; normals facing away from the camera are flipped (two-sided).
    ``light_dir`` points from the surface towards the light, in camera axes (default: from the
    upper left, behind the camera). Returns ``(H, W, 3)`` RGB in [0, 1]."""
    n = normals_cam
    view = torch.tensor([0.0, 0.0, -1.0], dtype=n.dtype, device=n.device)
    facing = (n * view[:, None, None]).sum(0)
    n = torch.where(facing < 0, -n, n)
    light = torch.tensor(light_dir, dtype=n.dtype, device=n.device)
    light = light / light.norm()
    lam = (n * light[:, None, None]).sum(0).clamp_min(0)
    inten = ambient + (1 - ambient) * lam  # (H, W)
    if albedo is None:
        albedo = torch.tensor(DEFAULT_COLOR, dtype=n.dtype, device=n.device)[:, None, None]
    rgb = (albedo * inten[None]).clamp(0, 1)
    out = torch.where(mask[None], rgb, torch.full_like(rgb, background))
    return out.permute(1, 2, 0)


def render_mesh_image(
    meshes: Any,
    H: int = 512,
    W: int = 512,
    *,
    index: int = 0,
    camera: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    flat: bool = False,
    **camera_kwargs: Any,
) -> torch.Tensor:
    """Shaded picture ``(H, W, 3)`` in [0, 1] of mesh ``index`` of a batch, framed by
    :func:`camera_for_bounds` unless ``camera=(K, R, t)`` is given. The albedo is the UV
    texture when present (nearest texel), else the vertex colours, else a light blue."""
    check_image_size(H, W, None, "render_mesh_image")
    check_int(H, "H", min_value=1)
    check_int(W, "W", min_value=1)
    if not hasattr(meshes, "verts_list"):
        raise InputError(f"meshes: expected a Meshes, got {type(meshes).__name__}")
    m = meshes[index]
    if camera is None:
        camera = camera_for_bounds(m.get_bounding_boxes()[0], H, W, **camera_kwargs)
    K, R, t = camera
    out = render_depth_normals(m, K, R, t, H, W, normals="flat" if flat else "smooth")
    albedo = None
    colors = m.verts_colors_packed()
    p2f = out.pix_to_face[0].clamp_min(0)
    uvs, fuvs, tex = m.verts_uvs_list(), m.faces_uvs_list(), m.texture_images_list()
    if uvs is not None and fuvs is not None and tex is not None and tex[0] is not None:
        # texture lookup (nearest texel; OBJ convention: v = 0 at the bottom of the image)
        uv = (out.bary[0][..., None] * uvs[0][fuvs[0][p2f]]).sum(-2)  # (H, W, 2)
        th, tw = tex[0].shape[:2]
        col = (uv[..., 0].remainder(1) * tw).long().clamp(0, tw - 1)
        row = ((1 - uv[..., 1].remainder(1)) * th).long().clamp(0, th - 1)
        albedo = tex[0][row, col].permute(2, 0, 1).to(out.normals.dtype)
    elif colors is not None:
        corner = colors[m.faces_packed()[p2f]]  # (H, W, 3, 3)
        albedo = (out.bary[0][..., None] * corner).sum(-2).permute(2, 0, 1)
    return shade_lambert(out.normals[0], out.mask[0], albedo)


def render_points_image(
    points: Any,
    H: int = 512,
    W: int = 512,
    *,
    index: int = 0,
    color_by: str = "depth",
    radius: int | None = None,
    cmap: str = "viridis",
    camera: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    **camera_kwargs: Any,
) -> torch.Tensor:
    """Picture ``(H, W, 3)`` of splatted points coloured by depth (a colour map), by their
    normals (``(n + 1) / 2`` in camera axes) or by their RGB ``features``."""
    check_image_size(H, W, None, "render_points_image")
    check_in(color_by, "color_by", ("depth", "normals", "features"))
    if hasattr(points, "points_list"):
        pts = points.points_list()[index]
        nrm = None if points.normals_list() is None else points.normals_list()[index]
        feat = None if points.features_list() is None else points.features_list()[index]
    else:
        check_tensor(points, "points", ("P", 3), dtype="float")
        pts, nrm, feat = points, None, None
    pts = pts.detach()
    if pts.shape[0] == 0:
        return torch.ones(H, W, 3)
    if camera is None:
        bounds = torch.stack([pts.amin(0), pts.amax(0)], 1)
        camera = camera_for_bounds(bounds, H, W, **camera_kwargs)
    K, R, t = camera
    if radius is None:
        radius = max(1, round(min(H, W) / 256))
    depth, idx = splat_points(pts, K, R, t, H, W, radius=radius)
    mask = idx >= 0
    img = torch.ones(H, W, 3)
    if not bool(mask.any()):
        return img
    sel = idx[mask]
    if color_by == "normals" and nrm is not None:
        ncam = nrm.detach()[sel] @ R.T.to(nrm)
        colors = ((ncam + 1) / 2).clamp(0, 1)
    elif color_by == "features" and feat is not None and feat.shape[-1] == 3:
        colors = feat.detach()[sel].clamp(0, 1)
    else:
        import matplotlib

        d = depth[mask]
        lo, hi = float(d.min()), float(d.max())
        s = (d - lo) / (hi - lo) if hi > lo else torch.zeros_like(d)
        lut = torch.tensor(matplotlib.colormaps[cmap](torch.linspace(0, 1, 256).numpy())[:, :3])
        colors = lut[(s * 255).round().long().cpu()]
    img[mask] = colors.float().cpu()
    return img
