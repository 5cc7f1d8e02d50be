"""``vert_align``: sample image features at the projections of mesh vertices (Pixel2Mesh's
"perceptual feature pooling", Wang et al. 2018; Mesh R-CNN's *VertAlign*, Gkioxari et al. 2019).

Conventions (those of :mod:`spacetime.shapes.structures.cameras`):

- vertices are in the **camera frame**, OpenCV axes (x right, y down, z forward);
- a vertex ``(X, Y, Z)`` projects to pixel ``u = fx X / Z + cx``, ``v = fy Y / Z + cy``; integer
  ``(u, v)`` is the **centre** of image pixel ``[v, u]``, so the image spans
  ``[-½, W_img − ½] × [-½, H_img − ½]``;
- a feature map ``(h, w)`` smaller than the image covers the same area, each feature cell
  covering ``W_img / w × H_img / h`` pixels: feature column ``j`` has its centre at image
  ``u = (j + ½) · W_img / w − ½``. This is ``F.grid_sample(..., align_corners=False)`` with the
  normalised coordinate ``x = (2u + 1) / W_img − 1`` (−1 and +1 are the *outer edges* of the
  image), the same ``x`` for every map of a pyramid;
- sampling is bilinear between the four nearest feature-cell centres.

Vertices outside the image are handled explicitly: with ``padding_mode="zeros"`` the map is
extended by zeros (the feature fades to exactly 0 one feature cell beyond the border), with
``"border"`` the border value is repeated. Vertices on or behind the camera plane (``Z <= z_min``)
get **zero** features in both modes (and zero gradients, never NaN). ``return_mask=True`` also
returns which vertices project inside the image from in front of the camera.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from spacetime.checks import check_in, check_tensor
from spacetime.errors import InputError
from spacetime.ragged import lengths_to_first_idx, lengths_to_item_idx

__all__ = ["vert_align", "project_verts"]


def _verts_and_lengths(
    verts: Any, num_verts: Sequence[int] | torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Packed ``(P, 3)`` vertices and ``(N,)`` lengths from any supported layout."""
    if hasattr(verts, "verts_packed") and hasattr(verts, "num_verts_per_mesh"):
        return verts.verts_packed(), verts.num_verts_per_mesh()
    if isinstance(verts, (list, tuple)):
        if len(verts) == 0:
            raise InputError("verts: expected at least one mesh, got an empty list")
        for i, v in enumerate(verts):
            check_tensor(v, f"verts[{i}]", ("V", 3), dtype="float")
        lengths = torch.tensor([v.shape[0] for v in verts], device=verts[0].device)
        return torch.cat(list(verts), 0), lengths
    if isinstance(verts, torch.Tensor) and verts.dim() == 3:
        sizes = check_tensor(verts, "verts", ("N", "V", 3), dtype="float")
        if num_verts is not None:
            raise InputError("num_verts: only for packed (P, 3) verts, got padded (N, V, 3)")
        lengths = torch.full((sizes["N"],), sizes["V"], dtype=torch.int64, device=verts.device)
        return verts.reshape(-1, 3), lengths
    if isinstance(verts, torch.Tensor) and verts.dim() == 2:
        sizes = check_tensor(verts, "verts", ("P", 3), dtype="float")
        if num_verts is None:
            raise InputError("num_verts: required with packed (P, 3) verts (vertices per mesh)")
        lengths = torch.as_tensor(num_verts, dtype=torch.int64, device=verts.device).reshape(-1)
        if bool((lengths < 0).any()) or int(lengths.sum()) != sizes["P"]:
            raise InputError(
                f"num_verts: expected non-negative counts summing to {sizes['P']}, "
                f"got {lengths.tolist()}"
            )
        return verts, lengths
    got = tuple(verts.shape) if isinstance(verts, torch.Tensor) else type(verts).__name__
    raise InputError(
        "verts: expected a Meshes, a list of (V_n, 3), an (N, V, 3) or a packed (P, 3) "
        f"tensor, got {got}"
    )


def _intrinsics(K: Any, n: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``(N, 4)`` rows ``fx, fy, cx, cy``."""
    if hasattr(K, "fx") and hasattr(K, "expand"):
        if len(K) not in (1, n):
            raise InputError(f"K: expected 1 or {n} cameras, got {len(K)}")
        cam = K.expand(n)
        p = torch.stack([cam.fx, cam.fy, cam.cx, cam.cy], 1)
    elif isinstance(K, torch.Tensor):
        k = K[None] if K.dim() == 2 else K
        check_tensor(k, "K", ("M", 3, 3), dtype="float", finite=True)
        if k.shape[0] not in (1, n):
            raise InputError(f"K: expected (3, 3), (1, 3, 3) or ({n}, 3, 3), got {tuple(K.shape)}")
        p = torch.stack([k[:, 0, 0], k[:, 1, 1], k[:, 0, 2], k[:, 1, 2]], 1).expand(n, 4)
    else:
        raise InputError(
            f"K: expected a CameraIntrinsics or an (N, 3, 3) tensor, got {type(K).__name__}"
        )
    if bool((p[:, :2] <= 0).any()):
        raise InputError(f"K: expected focal lengths > 0, got fx, fy = {p[:, :2].tolist()}")
    return p.to(device=device, dtype=dtype)


def project_verts(
    verts: torch.Tensor,
    mesh_idx: torch.Tensor,
    K: Any,
    num_meshes: int,
    *,
    z_min: float = 1e-4,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Project packed camera-frame vertices ``(P, 3)`` (mesh ``mesh_idx`` ``(P,)``) with
    intrinsics ``K`` → pixel coordinates ``uv`` ``(P, 2)`` and ``in_front`` ``(P,)`` bool
    (``Z > z_min``). Vertices not in front get ``uv = (cx, cy)`` (finite values, zero gradient).
    """
    p = _intrinsics(K, num_meshes, verts.device, verts.dtype)[mesh_idx]
    z = verts[:, 2]
    in_front = z > z_min
    safe_z = torch.where(in_front, z, torch.ones_like(z))
    xy = torch.where(
        in_front[:, None], verts[:, :2] / safe_z[:, None], torch.zeros_like(verts[:, :2])
    )
    uv = xy * p[:, :2] + p[:, 2:]
    return uv, in_front


def vert_align(
    feats: torch.Tensor | Sequence[torch.Tensor],
    verts: Any,
    K: Any,
    image_size: int | Sequence[int],
    *,
    num_verts: Sequence[int] | torch.Tensor | None = None,
    padding_mode: str = "zeros",
    return_packed: bool = True,
    return_mask: bool = False,
    z_min: float = 1e-4,
    align_corners: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Bilinearly sample image features at the projections of camera-frame mesh vertices.

    Batched over meshes of different sizes, differentiable w.r.t. ``feats`` and the vertices;
    one ``grid_sample`` call per feature map (no Python loop over vertices or meshes).

    Args:
        feats: an ``(N, C, h, w)`` feature map or a list of maps ``(N, C_k, h_k, w_k)`` of the
            same image (e.g. a CNN pyramid); the sampled features are concatenated,
            ``C = sum(C_k)``.
        verts: a ``Meshes`` (N meshes), a list of ``(V_n, 3)``, a padded ``(N, V, 3)`` tensor
            or a packed ``(sum(V_n), 3)`` tensor with ``num_verts``; camera frame, OpenCV axes.
        K: :class:`~spacetime.shapes.CameraIntrinsics` (1 or N cameras) or ``(N, 3, 3)`` /
            ``(3, 3)`` intrinsic matrices of the **image** (pixels).
        image_size: ``(H_img, W_img)`` (or an int for square images) of the image that ``K``
            refers to; the maps may be smaller (see the module docstring).
        num_verts: vertices per mesh, for packed ``verts``.
        padding_mode: ``"zeros"`` or ``"border"``: what lies outside the image.
        return_packed: ``(sum(V_n), C)`` (default) or zero-padded ``(N, max(V_n), C)``.
        return_mask: also return ``valid`` (same layout, without ``C``): True where the vertex
            is in front of the camera (``Z > z_min``) and projects inside the image.
        z_min: smallest depth counted as in front of the camera.
        align_corners: sample each map with ``grid_sample(align_corners=True)`` at the same
            normalised coordinate ``x = (2u + 1) / W_img − 1``: then ±1 are the *centres* of
            each map's corner cells rather than the image's outer edges (PyTorch3D's
            ``vert_align`` default, which released Mesh R-CNN weights were trained with).
            Default False (the convention of the module docstring).

    Returns:
        features ``(sum(V_n), C)`` or ``(N, max(V_n), C)``, and ``valid`` when
        ``return_mask``.
    """
    maps = [feats] if isinstance(feats, torch.Tensor) else list(feats)
    if not maps:
        raise InputError("feats: expected a feature map or a non-empty list of maps, got []")
    sizes = check_tensor(maps[0], "feats[0]", ("N", "C", "h", "w"), dtype="float")
    n = sizes["N"]
    for i, m in enumerate(maps[1:], 1):
        check_tensor(m, f"feats[{i}]", (n, "C", "h", "w"), dtype="float")
        if m.device != maps[0].device:
            raise InputError(f"feats[{i}]: expected device {maps[0].device}, got {m.device}")
    check_in(padding_mode, "padding_mode", ("zeros", "border"))
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    hw = tuple(image_size)
    if len(hw) != 2 or not all(isinstance(s, int) and s > 0 for s in hw):
        raise InputError(f"image_size: expected (H_img, W_img) positive ints, got {image_size!r}")
    vp, lengths = _verts_and_lengths(verts, num_verts)
    if lengths.numel() != n:
        raise InputError(f"verts: expected {n} meshes (the batch of feats), got {lengths.numel()}")
    if vp.device != maps[0].device:
        raise InputError(f"verts: expected device {maps[0].device} (as feats), got {vp.device}")
    check_tensor(vp, "verts", finite=True)
    lengths = lengths.to(vp.device)
    item = lengths_to_item_idx(lengths)
    pos = torch.arange(vp.shape[0], device=vp.device) - lengths_to_first_idx(lengths)[item]
    vmax = int(lengths.max()) if lengths.numel() else 0

    uv, in_front = project_verts(vp, item, K, n, z_min=z_min)
    h_img, w_img = hw
    scale = torch.tensor([2.0 / w_img, 2.0 / h_img], dtype=vp.dtype, device=vp.device)
    g = (2.0 * uv + 1.0) * scale / 2.0 - 1.0  # (2u + 1) / W - 1
    inside = (g.abs() <= 1.0).all(1)
    grid = vp.new_zeros(n, 1, max(vmax, 1), 2)
    grid = grid.index_put((item, torch.zeros_like(item), pos), g)

    out = []
    for m in maps:
        s = F.grid_sample(m, grid.to(m.dtype), mode="bilinear", padding_mode=padding_mode,
                          align_corners=bool(align_corners))  # (N, C_k, 1, Vmax)
        out.append(s[item, :, 0, pos])  # (P, C_k)
    f = torch.cat(out, 1) if len(out) > 1 else out[0]
    f = f * in_front[:, None].to(f.dtype)
    valid = in_front & inside
    if not return_packed:
        padded = f.new_zeros(n, vmax, f.shape[1]).index_put((item, pos), f)
        if return_mask:
            vpad = torch.zeros(n, vmax, dtype=torch.bool, device=vp.device)
            return padded, vpad.index_put((item, pos), valid)
        return padded
    return (f, valid) if return_mask else f
