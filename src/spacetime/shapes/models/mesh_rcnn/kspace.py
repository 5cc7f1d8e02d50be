"""Mesh R-CNN's camera-aligned voxel space ("K-space", Gkioxari et al., "Mesh R-CNN", ICCV 2019:
"voxel predictions in a space transformed by the camera's intrinsic matrix K").

A ``G × G × G`` grid is attached to one object: its columns / rows split the object's image
**box** evenly and its slices split a **depth range** ``(z_near, z_far)`` evenly. A camera-frame
point ``(X, Y, Z)`` (OpenCV axes: x right, y down, z forward) with pixel
``u = fx X / Z + cx``, ``v = fy Y / Z + cy`` (integer ``(u, v)`` = pixel centres) has continuous
grid coordinates

``x' = (u − x0) · G / (x1 − x0)``,  ``y' = (v − y0) · G / (y1 − y0)``,
``z' = (Z − z_near) · G / (z_far − z_near)``

with the box ``(x0, y0, x1, y1)`` in pixel-edge coordinates (the whole image is
``(−½, −½, W − ½, H − ½)``, which is :class:`~spacetime.shapes.datasets.SyntheticShapes`'
``voxels_cam``), and lies in voxel ``[d, h, w] = [⌊z'⌋, ⌊y'⌋, ⌊x'⌋]`` — the index convention of
:func:`~spacetime.shapes.cubify`, whose vertices (voxel units, origin 0) *are* ``(x', y', z')``.
The inverse undoes the perspective: ``Z = z_near + z' (z_far − z_near) / G``,
``u = x0 + x' (x1 − x0) / G``, ``X = (u − cx) Z / fx`` (and likewise ``Y``). Far objects get
smaller voxels in camera space, as they are smaller in the image.

``depth_mode="inverse"`` spaces the slices evenly in ``1 / Z`` instead,
``z' = G (1/Z − 1/z_near) / (1/z_far − 1/z_near)``: the depth axis of a projective map, as in
Mesh R-CNN's own code (its Pix3D unit box and its ShapeNet NDC voxels), whose released weights
:mod:`spacetime.weights.meshrcnn` converts. Default ``"linear"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from spacetime.checks import check_in, check_int, check_tensor
from spacetime.errors import InputError

__all__ = [
    "intrinsics_params",
    "camera_to_kspace",
    "kspace_to_camera",
    "kspace_voxels",
    "cubify_kspace",
    "box_intrinsics",
    "full_image_boxes",
    "depth_range_from_box",
    "DEPTH_MODES",
    "box_to_camera",
]

#: how the grid's depth slices are spaced between ``z_near`` and ``z_far``
DEPTH_MODES = ("linear", "inverse")


def _depth_to_grid(z: torch.Tensor, r: torch.Tensor, g: float, mode: str) -> torch.Tensor:
    if mode == "inverse":
        return (1.0 / z - 1.0 / r[:, 0]) * g / (1.0 / r[:, 1] - 1.0 / r[:, 0])
    return (z - r[:, 0]) * g / (r[:, 1] - r[:, 0])


def _grid_to_depth(zg: torch.Tensor, r: torch.Tensor, g: float, mode: str) -> torch.Tensor:
    if mode == "inverse":
        return 1.0 / (1.0 / r[:, 0] + zg * (1.0 / r[:, 1] - 1.0 / r[:, 0]) / g)
    return r[:, 0] + zg * (r[:, 1] - r[:, 0]) / g


def intrinsics_params(K: Any, n: int) -> torch.Tensor:
    """``(n, 4)`` rows ``fx, fy, cx, cy`` from ``(3, 3)`` / ``(n, 3, 3)`` matrices or a
    :class:`~spacetime.shapes.CameraIntrinsics` (1 or ``n`` cameras)."""
    if hasattr(K, "fx") and hasattr(K, "expand"):
        cam = K.expand(n)
        return torch.stack([cam.fx, cam.fy, cam.cx, cam.cy], 1)
    if not isinstance(K, torch.Tensor):
        raise InputError(f"K: expected an (N, 3, 3) tensor or CameraIntrinsics, got "
                         f"{type(K).__name__}")
    k = K[None] if K.dim() == 2 else K
    check_tensor(k, "K", ("M", 3, 3), dtype="float", finite=True)
    if k.shape[0] not in (1, n):
        raise InputError(f"K: expected (3, 3), (1, 3, 3) or ({n}, 3, 3), got {tuple(K.shape)}")
    p = torch.stack([k[:, 0, 0], k[:, 1, 1], k[:, 0, 2], k[:, 1, 2]], 1).expand(n, 4)
    if bool((p[:, :2] <= 0).any()):
        raise InputError(f"K: expected focal lengths > 0, got {p[:, :2].tolist()}")
    return p


def _boxes_ranges(
    boxes: torch.Tensor, depth_range: torch.Tensor, n: int
) -> tuple[torch.Tensor, torch.Tensor]:
    b = boxes.expand(n, 4) if boxes.dim() == 1 else boxes
    check_tensor(b, "boxes", (n, 4), dtype="float", finite=True)
    if bool(((b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])).any()):
        raise InputError(f"boxes: expected x1 > x0 and y1 > y0, got {b.tolist()}")
    r = torch.as_tensor(depth_range, dtype=b.dtype, device=b.device)
    r = r.expand(n, 2) if r.dim() == 1 else r
    check_tensor(r, "depth_range", (n, 2), dtype="float", finite=True)
    if bool(((r[:, 0] <= 0) | (r[:, 1] <= r[:, 0])).any()):
        raise InputError(f"depth_range: expected 0 < z_near < z_far, got {r.tolist()}")
    return b, r


def camera_to_kspace(
    points: torch.Tensor,
    K: Any,
    boxes: torch.Tensor,
    depth_range: torch.Tensor,
    grid_size: int,
    *,
    idx: torch.Tensor | None = None,
    depth_mode: str = "linear",
) -> torch.Tensor:
    """Camera-frame points ``(P, 3)`` → continuous grid coordinates ``(x', y', z')`` ``(P, 3)``.

    ``idx`` ``(P,)`` says which object (row of ``boxes`` ``(N, 4)``, ``depth_range`` ``(N, 2)``,
    ``K``) each point belongs to (default: all to object 0). Points must have ``Z > 0``.
    ``depth_mode``: see the module docstring.
    """
    check_in(depth_mode, "depth_mode", DEPTH_MODES)
    check_tensor(points, "points", ("P", 3), dtype="float")
    check_int(grid_size, "grid_size", min_value=1)
    n = boxes.shape[0] if boxes.dim() == 2 else 1
    b, r = _boxes_ranges(boxes.to(points), torch.as_tensor(depth_range).to(points), n)
    p = intrinsics_params(K, n).to(points)
    i = torch.zeros(points.shape[0], dtype=torch.long, device=points.device) if idx is None \
        else idx.long()
    b, r, p = b[i], r[i], p[i]
    z = points[:, 2]
    if bool((z <= 0).any()):
        raise InputError("points: expected Z > 0 (in front of the camera) for the K-space map")
    u = p[:, 0] * points[:, 0] / z + p[:, 2]
    v = p[:, 1] * points[:, 1] / z + p[:, 3]
    g = float(grid_size)
    return torch.stack([(u - b[:, 0]) * g / (b[:, 2] - b[:, 0]),
                        (v - b[:, 1]) * g / (b[:, 3] - b[:, 1]),
                        _depth_to_grid(z, r, g, depth_mode)], 1)


def kspace_to_camera(
    coords: torch.Tensor,
    K: Any,
    boxes: torch.Tensor,
    depth_range: torch.Tensor,
    grid_size: int,
    *,
    idx: torch.Tensor | None = None,
    depth_mode: str = "linear",
) -> torch.Tensor:
    """Inverse of :func:`camera_to_kspace`: grid coordinates ``(P, 3)`` → camera frame
    ``(P, 3)`` (``Z = z_near + z' Δz / G``, ``X = (u − cx) Z / fx``, ``Y = (v − cy) Z / fy``).
    Differentiable w.r.t. ``coords`` (and ``depth_range``)."""
    check_in(depth_mode, "depth_mode", DEPTH_MODES)
    check_tensor(coords, "coords", ("P", 3), dtype="float")
    check_int(grid_size, "grid_size", min_value=1)
    n = boxes.shape[0] if boxes.dim() == 2 else 1
    b, r = _boxes_ranges(boxes.to(coords), torch.as_tensor(depth_range).to(coords), n)
    p = intrinsics_params(K, n).to(coords)
    i = torch.zeros(coords.shape[0], dtype=torch.long, device=coords.device) if idx is None \
        else idx.long()
    b, r, p = b[i], r[i], p[i]
    g = float(grid_size)
    u = b[:, 0] + coords[:, 0] * (b[:, 2] - b[:, 0]) / g
    v = b[:, 1] + coords[:, 1] * (b[:, 3] - b[:, 1]) / g
    z = _grid_to_depth(coords[:, 2], r, g, depth_mode)
    return torch.stack([(u - p[:, 2]) * z / p[:, 0], (v - p[:, 3]) * z / p[:, 1], z], 1)


def full_image_boxes(n: int, image_size: int | Sequence[int], *, device: Any = None,
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(n, 4)`` boxes covering whole ``H × W`` images: ``(−½, −½, W − ½, H − ½)``."""
    h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    return torch.tensor([-0.5, -0.5, w - 0.5, h - 0.5], device=device, dtype=dtype).expand(n, 4)


def box_intrinsics(K: Any, boxes: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """``(N, 3, 3)`` intrinsics of the ``h × w`` "box images" (RoI feature maps) cropped from the
    image at ``boxes`` ``(N, 4)`` and resized: ``fx' = fx w / (x1 − x0)``,
    ``cx' = (cx − x0) w / (x1 − x0) − ½`` (pixel-edge box, pixel-centre intrinsics), so that
    :func:`~spacetime.shapes.ops.vert_align` with ``image_size = (h, w)`` samples an RoI
    feature map exactly where a camera-frame vertex projects inside its box."""
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    n = boxes.shape[0]
    p = intrinsics_params(K, n).to(boxes)
    sx = w / (boxes[:, 2] - boxes[:, 0])
    sy = h / (boxes[:, 3] - boxes[:, 1])
    out = torch.zeros(n, 3, 3, dtype=boxes.dtype, device=boxes.device)
    out[:, 0, 0] = p[:, 0] * sx
    out[:, 1, 1] = p[:, 1] * sy
    out[:, 0, 2] = (p[:, 2] - boxes[:, 0]) * sx - 0.5
    out[:, 1, 2] = (p[:, 3] - boxes[:, 1]) * sy - 0.5
    out[:, 2, 2] = 1.0
    return out


def depth_range_from_box(
    boxes: torch.Tensor, depth: torch.Tensor, K: Any, *, margin: float = 1.3
) -> torch.Tensor:
    """``(N, 2)`` depth ranges ``depth ± r`` for objects centred at camera depth ``depth``
    ``(N,)`` seen in ``boxes`` ``(N, 4)``: ``r = margin · ½ max(box w / fx, box h / fy) · depth``
    (the object assumed about as deep as it is wide), clamped so that ``z_near > 0.05 depth``."""
    p = intrinsics_params(K, boxes.shape[0]).to(boxes)
    half = 0.5 * torch.maximum((boxes[:, 2] - boxes[:, 0]) / p[:, 0],
                               (boxes[:, 3] - boxes[:, 1]) / p[:, 1])
    r = torch.minimum(margin * half * depth, 0.95 * depth)
    return torch.stack([depth - r, depth + r], 1)


def kspace_voxels(
    meshes: Any,
    K: Any,
    boxes: torch.Tensor,
    depth_range: torch.Tensor,
    grid_size: int,
    *,
    depth_mode: str = "linear",
) -> torch.Tensor:
    """Solid K-space voxels ``(N, G, G, G)`` bool ``[d, h, w]`` of camera-frame meshes (one per
    box): each mesh is mapped with :func:`camera_to_kspace` and voxelised solid
    (:func:`~spacetime.shapes.datasets.synthetic.solid_voxels`; triangles kept straight in the
    mapped space, parts outside the grid dropped). These are the voxel branch's targets."""
    from spacetime.shapes.datasets.synthetic import solid_voxels

    n = len(meshes)
    out = torch.zeros(n, grid_size, grid_size, grid_size, dtype=torch.bool, device=boxes.device)
    if n == 0:
        return out
    b = boxes.reshape(-1, 4)
    r = torch.as_tensor(depth_range).reshape(-1, 2)
    p = intrinsics_params(K, n)
    for i, (v, f) in enumerate(zip(meshes.verts_list(), meshes.faces_list())):
        if f.shape[0] == 0:
            continue
        vv = v.detach().double()
        vv = torch.cat([vv[:, :2], vv[:, 2:].clamp_min(1e-6)], 1)
        Ki = torch.zeros(3, 3, dtype=torch.float64)
        Ki[0, 0], Ki[1, 1], Ki[0, 2], Ki[1, 2] = (float(x) for x in p[i])
        Ki[2, 2] = 1.0
        g = camera_to_kspace(vv.cpu(), Ki, b[i].double().cpu(), r[i].double().cpu(), grid_size,
                             depth_mode=depth_mode)
        out[i] = solid_voxels(g, f.cpu(), grid_size).to(boxes.device)
    return out


def cubify_kspace(
    probs: torch.Tensor,
    K: Any,
    boxes: torch.Tensor,
    depth_range: torch.Tensor,
    *,
    thresh: float = 0.2,
    keep_one: bool = True,
    depth_mode: str = "linear",
    align: str = "corner",
    frame: str = "camera",
) -> Any:
    """Voxel-branch probabilities ``(N, G, G, G)`` (K-space, ``[d, h, w]``) → camera-frame
    ``Meshes``: :func:`~spacetime.shapes.cubify` at ``thresh`` (Mesh R-CNN: 0.2), then every
    vertex mapped back with :func:`kspace_to_camera`. With ``keep_one`` a grid with no voxel
    above ``thresh`` keeps its most likely voxel (one cube), so no mesh is empty.

    ``align="topleft"`` places the cube corners as PyTorch3D's ``cubify`` (which Mesh R-CNN
    uses) does: corner ``c`` (0..G) at normalised ``2c / (G − 1) − 1``, i.e. grid coordinate
    ``c G / (G − 1)`` (the cubes come out ``G / (G − 1)`` times too large); default
    ``"corner"`` (corner ``c`` at ``c``). ``frame="box"`` returns the meshes in the box's
    normalised space ``2 (x', y', z') / G − 1`` (Mesh R-CNN's Pix3D mesh space: ±1 on the box
    edges and the depth range) instead of the camera frame; :func:`box_to_camera` maps them
    back."""
    check_in(align, "align", ("corner", "topleft"))
    check_in(frame, "frame", ("camera", "box"))
    from spacetime.shapes.convert import cubify
    from spacetime.shapes.structures import Meshes

    sizes = check_tensor(probs, "probs", ("N", "G", "G", "G"), dtype="float")
    n, g = sizes["N"], sizes["G"]
    occ = probs > thresh
    if keep_one and n:
        empty = ~occ.flatten(1).any(1)
        if bool(empty.any()):
            best = probs.flatten(1).argmax(1)
            flat = occ.flatten(1).clone()
            rows = empty.nonzero().squeeze(1)
            flat[rows, best[rows]] = True
            occ = flat.view_as(occ)
    m = cubify(occ.to(probs.dtype), 0.5)
    verts = m.verts_packed()
    if verts.shape[0] == 0:
        return m
    if align == "topleft":
        verts = verts * (g / (g - 1.0))
    if frame == "box":
        return m.update_packed(2.0 * verts / g - 1.0)
    cam = kspace_to_camera(verts, K, boxes.to(verts), depth_range, g,
                           idx=m.verts_packed_to_mesh_idx(), depth_mode=depth_mode)
    return Meshes(list(cam.split(m.num_verts_per_mesh().tolist())), m.faces_list(),
                  validate=False)


def box_to_camera(meshes: Any, K: Any, boxes: torch.Tensor, depth_range: torch.Tensor,
                  *, depth_mode: str = "linear") -> Any:
    """Meshes in their boxes' normalised space (``(x_n, y_n, z_n)`` = ``2 (x', y', z') / G −
    1``, see :func:`cubify_kspace` ``frame="box"``; one box / depth range / camera per mesh) →
    camera-frame ``Meshes`` (:func:`kspace_to_camera` with ``G = 2``). Differentiable."""
    v = meshes.verts_packed()
    if v.shape[0] == 0:
        return meshes
    cam = kspace_to_camera(v + 1.0, K, boxes.to(v), depth_range, 2,
                           idx=meshes.verts_packed_to_mesh_idx(), depth_mode=depth_mode)
    return meshes.update_packed(cam)
