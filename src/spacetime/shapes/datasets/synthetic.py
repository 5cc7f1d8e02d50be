"""A built-in synthetic 3D dataset: procedural objects (:mod:`.procedural`) rendered from random
viewpoints, with ground truth for every 3D representation of the lecture.

Conventions (the ones of :mod:`spacetime.shapes.render`):

- **Object / world frame**: the canonical object frame, +y up, object inside ``[-0.5, 0.5]³``.
- **Camera**: OpenCV pinhole, ``X_cam = R X_world + t`` (x right, y down, z forward); pixel
  ``(u, v) = (fx X / Z + cx, fy Y / Z + cy)`` with pixel centres at integers; ``fx = fy =
  focal · image_size``, ``cx = cy = (image_size − 1) / 2``. Cameras look at the origin from a
  random azimuth, elevation and distance with world +y up in the image.
- **Depth** is the camera-frame ``Z`` (not the ray length), 0 off the mask; **normal_map** holds
  unit normals in camera axes, 0 off the mask.
- **voxels** ``(G, G, G)`` bool, index ``[d, h, w] = [z, y, x]``, covering the object cube
  ``[-0.5, 0.5]³`` with voxels of edge ``1 / G``: voxel ``(d, h, w)`` has centre
  ``(-0.5 + (w + ½) / G, -0.5 + (h + ½) / G, -0.5 + (d + ½) / G)``. A voxel is occupied when a
  triangle crosses it or it lies inside the closed surface (solid voxelisation).
- **voxels_cam** ``(G, G, G)`` bool: the *camera-aligned* grid of Mesh R-CNN's voxel branch
  (Gkioxari et al. 2019, "voxel predictions in a space transformed by the camera's intrinsic
  matrix K"). A camera point ``(X, Y, Z)`` has continuous grid coordinates

  ``x' = (fx X / Z + cx + ½) · G / W``,  ``y' = (fy Y / Z + cy + ½) · G / H``,
  ``z' = (Z − z_near) · G / (z_far − z_near)``

  (so columns / rows split the image evenly, pixel edges ``-½ … W − ½``, and slices are uniform
  in depth ``Z``), and lies in voxel ``[d, h, w] = [⌊z'⌋, ⌊y'⌋, ⌊x'⌋]``. ``depth_range =
  (z_near, z_far) = (‖t‖ − r, ‖t‖ + r)``, ``‖t‖`` the camera's distance to the origin and ``r``
  the object's bounding-sphere radius about the origin (× 1.01), so the grid always holds the
  whole object. Voxels near the camera cover less space than far ones: objects shrink with
  distance, as in the image.
- **Framing**: the camera distance is ``U(1.05, 1.4) · r / sin(atan(0.5 / focal))``, so the
  object's bounding sphere fits the image (objects fill a similar share of every picture).
- **points / normals**: surface samples (uniform by area) with outward face normals, object frame.
- **occ_points / occ_labels**: Occupancy Networks-style samples (Mescheder et al. 2019): half
  uniform in the padded box ``[-0.55, 0.55]³``, half near the surface (surface points + Gaussian
  noise, σ = 0.02), labelled inside by the mesh's generalised winding number (> 0.5).

Scale / depth ambiguity (lecture): scaling the object by ``s`` and putting the camera ``s``
times farther (``t → s t``) gives the same image, mask and normal map and a depth map scaled by
``s``: :func:`demonstrate_scale_ambiguity`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spacetime.checks import check_in, check_int, check_positive, check_tensor
from spacetime.errors import FileFormatError, InputError
from spacetime.fileio import atomic_write
from spacetime.shapes.datasets.procedural import CATEGORIES, CATEGORY_PARTS, make_object

__all__ = [
    "SyntheticShapes",
    "SyntheticScenes",
    "default_root",
    "SYNTHETIC_RETURNS",
    "render_view",
    "sample_view",
    "solid_voxels",
    "camera_aligned_voxels",
    "occupancy_samples",
    "demonstrate_scale_ambiguity",
    "contact_sheet",
]

#: Everything :class:`SyntheticShapes` can return (the ``returns`` argument).
SYNTHETIC_RETURNS: tuple[str, ...] = (
    "image", "depth", "normal_map", "mask", "K", "R", "t", "mesh", "points", "voxels",
    "voxels_cam", "occupancy", "parts",
)

# 2: records gained ``part_labels`` / ``face_parts`` (version 1 caches are rebuilt: the version
# is part of the cache folder's hash)
_FORMAT_VERSION = 2
_SCENES_FORMAT_VERSION = 1
# names of the issue text, accepted in ``returns``: "normals" is the normal *map* there, and
# "normals3d" the point normals (item keys stay ``normal_map`` and ``points``/``normals``)
_RETURN_ALIASES = {"normals": "normal_map", "normals3d": "points"}


def _mesh_parts(mesh: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    if hasattr(mesh, "verts_list"):
        if len(mesh) != 1:
            raise InputError(f"mesh: expected a Meshes with one mesh, got {len(mesh)}")
        colors = mesh.verts_colors_list()
        return mesh.verts_list()[0], mesh.faces_list()[0], None if colors is None else colors[0]
    if hasattr(mesh, "verts") and hasattr(mesh, "faces"):
        return mesh.verts, mesh.faces, getattr(mesh, "verts_colors", None)
    raise InputError(f"mesh: expected a Meshes or a ProceduralObject, got {type(mesh).__name__}")


def _size_hw(image_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(image_size, int):
        check_int(image_size, "image_size", min_value=1)
        return image_size, image_size
    hw = tuple(image_size)
    if len(hw) != 2 or not all(isinstance(s, int) and s >= 1 for s in hw):
        raise InputError(f"image_size: expected an int or (H, W) of ints >= 1, got {image_size!r}")
    return hw[0], hw[1]


def render_view(
    mesh: Any,
    K: torch.Tensor,
    R: torch.Tensor,
    t: torch.Tensor,
    image_size: int | Sequence[int] = 64,
    *,
    background: float | Sequence[float] | torch.Tensor = 1.0,
    ambient: float = 0.3,
    light_dir: tuple[float, float, float] = (-0.4, -0.6, -1.0),
) -> dict[str, torch.Tensor]:
    """Render one mesh with the z-buffer rasteriser of :mod:`spacetime.shapes.render`.

    Args:
        mesh: a ``Meshes`` with one mesh or a ``ProceduralObject``; vertex colours (if any) are
            the albedo, else a light blue.
        K: ``(3, 3)`` intrinsics; R ``(3, 3)``, t ``(3,)``: world→camera (OpenCV).
        image_size: ``S`` or ``(H, W)``.
        background: a grey level, an RGB triple or an ``(3, H, W)`` image.
        ambient, light_dir: Lambert shading ``albedo · (ambient + (1 − ambient) max(0, n·l))``
            with ``light_dir`` in camera axes (fixed to the camera: a head light).

    Returns:
        ``image`` ``(3, H, W)`` in [0, 1], ``depth`` ``(H, W)`` (camera Z, 0 off the mask),
        ``normal_map`` ``(3, H, W)`` (camera axes), ``mask`` ``(H, W)`` bool, ``pix_to_face``
        ``(H, W)`` (-1 off the mask).
    """
    from spacetime.shapes.render import render_depth_normals, shade_lambert
    from spacetime.shapes.structures import Meshes

    H, W = _size_hw(image_size)
    verts, faces, colors = _mesh_parts(mesh)
    m = Meshes([verts], [faces], verts_colors=None if colors is None else [colors])
    out = render_depth_normals(m, K, R, t, H, W, normals="smooth")
    albedo = None
    if colors is not None:
        p2f = out.pix_to_face[0].clamp_min(0)
        corner = colors.to(verts.dtype)[faces[p2f]]  # (H, W, 3, 3)
        albedo = (out.bary[0][..., None] * corner).sum(-2).permute(2, 0, 1)
    shaded = shade_lambert(out.normals[0], out.mask[0], albedo, ambient=ambient,
                           light_dir=light_dir).permute(2, 0, 1)
    bg = torch.as_tensor(background, dtype=shaded.dtype, device=shaded.device)
    if bg.ndim == 1:
        bg = bg[:, None, None]
    if bg.ndim not in (0, 3) or not all(a in (1, b) for a, b in zip(
            bg.shape[-3:] if bg.ndim else (), (3, H, W))):
        raise InputError(f"background: expected a number, an RGB triple or a (3, {H}, {W}) "
                         f"image, got shape {tuple(bg.shape)}")
    bg = bg.expand(3, H, W)
    image = torch.where(out.mask[0][None], shaded, bg)
    return {
        "image": image,
        "depth": out.depth[0],
        "normal_map": out.normals[0],
        "mask": out.mask[0],
        "pix_to_face": out.pix_to_face[0],
    }


def sample_view(
    rng: np.random.Generator,
    image_size: int | Sequence[int] = 64,
    *,
    focal: float = 1.0,
    radius: float = math.sqrt(3.0) / 2.0,
    distance_range: tuple[float, float] = (1.05, 1.4),
    elevation_range_deg: tuple[float, float] = (5.0, 40.0),
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random camera looking at the origin: ``K (3, 3), R (3, 3), t (3,)``.

    Azimuth uniform in [0°, 360°) about +y, elevation uniform in ``elevation_range_deg``,
    ``fx = fy = focal · min(H, W)``, principal point at the image centre. The distance is
    uniform in ``distance_range`` times ``d_fit = radius / sin(θ)``, ``θ = atan(0.5 / focal)``
    the half field of view: at ``d_fit`` a sphere of ``radius`` about the origin just fills the
    image, so factors >= 1 keep the whole object (inside that sphere) in view.
    """
    from spacetime.shapes.structures import look_at

    H, W = _size_hw(image_size)
    check_positive(focal, "focal")
    az = rng.uniform(0.0, 2 * math.pi)
    el = math.radians(rng.uniform(*elevation_range_deg))
    check_positive(radius, "radius")
    d_fit = radius / math.sin(math.atan(0.5 / focal))
    dist = d_fit * rng.uniform(*distance_range)
    eye = dist * np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)])
    ext = look_at(torch.tensor(eye), (0.0, 0.0, 0.0), (0.0, 1.0, 0.0), dtype=torch.float64)
    f = focal * min(H, W)
    K = torch.tensor([[f, 0.0, (W - 1) / 2], [0.0, f, (H - 1) / 2], [0.0, 0.0, 1.0]],
                     dtype=torch.float64)
    return K.to(dtype), ext.R[0].to(dtype), ext.t[0].to(dtype)


def _centres_inside(tri: torch.Tensor, dims: tuple[int, int, int]) -> torch.Tensor:
    """Scan-line parity fill: ``(D, H, W)`` bool, True where a voxel centre ``(w + ½, h + ½,
    d + ½)`` is inside the closed surface of triangles ``tri`` ``(F, 3, 3)`` (index units).

    A ray along +z through every column centre (nudged by an irrational offset, so that it
    never passes exactly through a vertex or an edge) is intersected with every triangle; a
    centre is inside when an odd number of crossings lie below it.
    """
    d, h, w = dims
    jit = torch.tensor([1.2345e-7 * math.pi, 2.3456e-7 * math.e], dtype=tri.dtype)
    xy = tri[..., :2] - 0.5 - jit  # column (w, h) centres at integers
    lo = xy.amin(1).ceil().to(torch.int64)
    hi = xy.amax(1).floor().to(torch.int64)
    lo = torch.maximum(lo, torch.zeros_like(lo))
    hi = torch.minimum(hi, torch.tensor([w - 1, h - 1]))
    ext = (hi - lo + 1).clamp_min(0)
    cnt = ext[:, 0] * ext[:, 1]
    fidx = torch.repeat_interleave(torch.arange(tri.shape[0]), cnt)
    first = torch.cumsum(cnt, 0) - cnt
    k = torch.arange(int(cnt.sum())) - first[fidx]
    cw = lo[fidx, 0] + k % ext[fidx, 0]
    ch = lo[fidx, 1] + k // ext[fidx, 0]
    a, b, c = xy[fidx, 0], xy[fidx, 1], xy[fidx, 2]
    p = torch.stack([cw, ch], -1).to(tri.dtype)

    def cross(o, q, r):
        return (q[:, 0] - o[:, 0]) * (r[:, 1] - o[:, 1]) - (q[:, 1] - o[:, 1]) * (r[:, 0] - o[:, 0])

    area = cross(a, b, c)
    l0, l1, l2 = cross(p, b, c), cross(p, c, a), cross(p, a, b)
    sgn = torch.sign(area)
    hit = (area != 0) & (l0 * sgn >= 0) & (l1 * sgn >= 0) & (l2 * sgn >= 0)
    zs = tri[fidx, :, 2]
    z = (l0 * zs[:, 0] + l1 * zs[:, 1] + l2 * zs[:, 2]) / torch.where(hit, area, 1.0)
    first_above = (torch.floor(z - 0.5) + 1).clamp(0, d).to(torch.int64)
    lin = (ch * w + cw) * (d + 1) + first_above
    hist = torch.bincount(lin[hit], minlength=h * w * (d + 1)).reshape(h, w, d + 1)
    parity = hist[..., :d].cumsum(-1) % 2 == 1  # (H, W, D)
    return parity.permute(2, 0, 1).contiguous()


def solid_voxels(verts_idx: torch.Tensor, faces: torch.Tensor, resolution: int) -> torch.Tensor:
    """Solid voxelisation of a closed mesh given in *grid index units* (voxel ``(d, h, w)``
    spans ``[w, w+1] × [h, h+1] × [d, d+1]`` in x, y, z).

    A voxel is occupied when a triangle crosses its interior (triangle-box overlap,
    :func:`~spacetime.shapes.convert.voxelize_mesh` ``mode="surface"``) or its centre is inside
    the surface (scan-line parity along z), the definition of ``voxelize_mesh(mode="solid")``
    for a closed mesh, without a winding number per voxel. Returns ``(G, G, G)`` bool.
    """
    from spacetime.shapes.convert import voxelize_mesh
    from spacetime.shapes.structures import Meshes

    check_int(resolution, "resolution", min_value=1)
    check_tensor(verts_idx, "verts_idx", ("V", 3), dtype="float")
    check_tensor(faces, "faces", ("F", 3), dtype="int")
    g = resolution
    v = verts_idx.detach().to("cpu", torch.float64)
    f = faces.to("cpu")
    if f.shape[0] == 0:
        return torch.zeros(g, g, g, dtype=torch.bool, device=verts_idx.device)
    m = Meshes([v], [f])
    surf = voxelize_mesh(m, (g, g, g), mode="surface", origin=(0.0, 0.0, 0.0),
                         voxel_size=1.0).grid[0] > 0.5
    solid = surf | _centres_inside(v[f], (g, g, g))
    return solid.to(verts_idx.device)


def camera_aligned_voxels(
    verts: torch.Tensor,
    faces: torch.Tensor,
    K: torch.Tensor,
    R: torch.Tensor,
    t: torch.Tensor,
    image_size: int | Sequence[int],
    depth_range: tuple[float, float] | torch.Tensor,
    resolution: int = 32,
) -> torch.Tensor:
    """Mesh R-CNN's camera-aligned voxels of one mesh: ``(G, G, G)`` bool ``[d, h, w]``.

    The mesh (world frame, ``(V, 3)`` / ``(F, 3)``) is moved to the camera frame, each vertex
    mapped to ``(x', y', z')`` (module docstring) and the mapped mesh voxelised solid
    (:func:`solid_voxels`). Triangles are kept straight in the mapped space, which differs from
    the exact (curved) image of a triangle by a small fraction of a voxel for small triangles.
    """
    H, W = _size_hw(image_size)
    check_int(resolution, "resolution", min_value=1)
    near, far = (float(x) for x in torch.as_tensor(depth_range).reshape(2))
    if not 0 < near < far:
        raise InputError(f"depth_range: expected 0 < near < far, got ({near}, {far})")
    g = resolution
    v = verts.to(torch.float64)
    cam = v @ R.to(v).T + t.to(v)
    z = cam[:, 2]
    Kd = K.to(v)
    u = Kd[0, 0] * cam[:, 0] / z + Kd[0, 2]
    vv = Kd[1, 1] * cam[:, 1] / z + Kd[1, 2]
    idx = torch.stack([(u + 0.5) * g / W, (vv + 0.5) * g / H, (z - near) * g / (far - near)], 1)
    return solid_voxels(idx, faces, g)


def occupancy_samples(
    verts: torch.Tensor,
    faces: torch.Tensor,
    num_samples: int,
    generator: torch.Generator,
    *,
    padding: float = 0.05,
    sigma: float = 0.02,
    sdf: Any = None,
    band: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Occupancy Networks-style samples of one mesh in ``[-0.5, 0.5]³``: ``num_samples // 2``
    uniform in ``[-0.5 - padding, 0.5 + padding]³`` and the rest near the surface (area-uniform
    surface points + N(0, σ²) noise), labelled by the winding number
    (:func:`~spacetime.shapes.convert.mesh_occupancy`). Returns ``points (Q, 3)``,
    ``labels (Q,)`` bool (True inside).

    Speed-up (same labels): given the object's analytic ``sdf`` (whose magnitude is a lower
    bound on the distance to its exact surface, true of the CSG SDFs) and ``band`` > the largest
    distance between the mesh and that surface, points with ``|sdf| > band`` take the sign of
    ``sdf`` and only the others pay for a winding number."""
    from spacetime.shapes.convert import mesh_occupancy, sample_points_from_meshes
    from spacetime.shapes.structures import Meshes

    check_int(num_samples, "num_samples", min_value=0)
    m = Meshes([verts], [faces])
    n_uni = num_samples // 2
    n_near = num_samples - n_uni
    dev = generator.device
    uni = (torch.rand(n_uni, 3, generator=generator, dtype=verts.dtype, device=dev) - 0.5) * (
        1 + 2 * padding)
    uni = uni.to(verts.device)
    if n_near:
        near = sample_points_from_meshes(m, n_near, generator=generator)[0]
        noise = torch.randn(n_near, 3, generator=generator, dtype=verts.dtype, device=dev)
        near = near + sigma * noise.to(verts.device)
    else:
        near = verts.new_zeros(0, 3)
    pts = torch.cat([uni, near], 0)
    if pts.shape[0] == 0:
        return pts, torch.zeros(0, dtype=torch.bool)
    if sdf is None:
        return pts, mesh_occupancy(m, [pts])[0]
    with torch.no_grad():
        val = sdf(pts.double()).to(pts.dtype)
    labels = val < 0
    near_surface = val.abs() <= band
    if bool(near_surface.any()):
        labels[near_surface] = mesh_occupancy(m, [pts[near_surface]])[0]
    return pts, labels


def _background(kind: str, rng: np.random.Generator, H: int, W: int) -> torch.Tensor:
    if kind == "white":
        return torch.ones(3, H, W)
    if kind == "black":
        return torch.zeros(3, H, W)
    if kind == "random":
        return torch.from_numpy(rng.uniform(0, 1, 3).astype(np.float32))[:, None, None].expand(
            3, H, W).clone()
    # "noise": a smooth random texture (bilinear upsampling of a 4 × 4 colour grid)
    small = torch.from_numpy(rng.uniform(0, 1, (1, 3, 4, 4)).astype(np.float32))
    return torch.nn.functional.interpolate(small, size=(H, W), mode="bilinear",
                                           align_corners=False)[0]


def _generate_object(cfg: dict, split: str, category: str, index: int) -> dict[str, torch.Tensor]:
    """All ground truth of one object and its views (the content of one cache file)."""
    from spacetime.shapes.convert import sample_points_from_meshes
    from spacetime.shapes.structures import Meshes

    split_id = ("train", "val", "test").index(split)
    ss = np.random.SeedSequence([cfg["seed"], split_id, CATEGORIES.index(category), index])
    rng = np.random.default_rng(ss)
    obj = make_object(category, rng, resolution=cfg["mesh_resolution"])
    gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
    verts, faces = obj.verts, obj.faces
    mesh = Meshes([verts], [faces], verts_colors=[obj.verts_colors])
    g, S, nv = cfg["voxel_resolution"], cfg["image_size"], cfg["views_per_object"]
    out: dict[str, torch.Tensor] = {
        "verts": verts, "faces": faces, "verts_colors": obj.verts_colors,
    }
    pts, nrm = sample_points_from_meshes(mesh, cfg["num_points"], return_normals=True,
                                         generator=gen)
    out["points"], out["normals"] = pts[0].contiguous(), nrm[0].contiguous()
    # part labels from the generating CSG parts (global indices, < 256: stored as uint8)
    offset = CATEGORY_PARTS[category][0]
    out["part_labels"] = (obj.labeller(out["points"]) + offset).to(torch.uint8)
    out["face_parts"] = (obj.face_parts + offset).to(torch.uint8)
    out["voxels"] = solid_voxels((verts.double() + 0.5) * g, faces, g)
    # A point with |sdf| > √3 h (h the marching-cubes spacing; the CSG SDF is 1-Lipschitz) has
    # all 8 corners of its marching-cubes cell on its side, so the mesh labels it like the SDF.
    out["occ_points"], out["occ_labels"] = occupancy_samples(
        verts, faces, cfg["num_occupancy_samples"], gen, sdf=obj.sdf,
        band=2.0 * obj.grid_spacing)
    radius = float(verts.double().norm(dim=1).max()) * 1.01  # bounding sphere about the origin
    views: dict[str, list[torch.Tensor]] = {k: [] for k in (
        "K", "R", "t", "image", "depth", "normal_map", "mask", "voxels_cam", "depth_range")}
    for _ in range(nv):
        K, R, t = sample_view(rng, S, focal=cfg["focal"], radius=radius)
        bg = _background(cfg["background"], rng, S, S)
        r = render_view(mesh, K, R, t, S, background=bg)
        dist = float(t.double().norm())
        dr = torch.tensor([dist - radius, dist + radius], dtype=torch.float32)
        views["K"].append(K)
        views["R"].append(R)
        views["t"].append(t)
        views["image"].append((r["image"] * 255).round().to(torch.uint8))
        views["depth"].append(r["depth"])
        views["normal_map"].append(r["normal_map"])
        views["mask"].append(r["mask"])
        views["voxels_cam"].append(camera_aligned_voxels(verts, faces, K, R, t, S, dr, g))
        views["depth_range"].append(dr)
    for k, lst in views.items():
        out[k] = torch.stack(lst) if lst else torch.zeros(0)
    return out


def default_root() -> Path:
    """``$SPACETIME_CACHE/synthetic_shapes`` or ``~/.cache/spacetime/synthetic_shapes``."""
    env = os.environ.get("SPACETIME_CACHE")
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "spacetime"
    return base / "synthetic_shapes"


class SyntheticShapes(torch.utils.data.Dataset):
    """Procedural objects rendered from random viewpoints, with every kind of ground truth.

    Generated on first use (with a progress bar) into ``root/<config hash>/<split>/`` — one
    ``<category>_<index>.pt`` file per object, written atomically — and loaded from there
    afterwards. Object ``i`` of a category in a split depends only on ``(seed, split, category,
    i)`` (not on which categories or how many objects are asked for), so configurations nest.

    Item ``k`` is view ``k % views_per_object`` of object ``k // views_per_object`` (objects
    ordered by category, then index). Each item is a dict with ``label`` (int, index into
    :attr:`class_names`), ``category``, ``object_index``, ``view`` and the requested fields:

    ==============  ============================================================================
    ``returns``     item keys (shapes; frames and conventions in the module docstring)
    ==============  ============================================================================
    ``image``       ``image`` ``(3, S, S)`` float32 in [0, 1] (stored as 8-bit)
    ``depth``       ``depth`` ``(S, S)`` float32 camera Z, 0 off the mask
    ``normal_map``  ``normal_map`` ``(3, S, S)`` float32 unit normals, camera axes
    ``mask``        ``mask`` ``(S, S)`` bool instance mask
    ``K/R/t``       ``K`` ``(3, 3)``, ``R`` ``(3, 3)``, ``t`` ``(3,)`` (world → camera)
    ``mesh``        ``verts`` ``(V, 3)``, ``faces`` ``(F, 3)`` int64, ``verts_colors`` ``(V, 3)``
    ``points``      ``points`` ``(P, 3)``, ``normals`` ``(P, 3)`` (surface samples, object frame)
    ``voxels``      ``voxels`` ``(G, G, G)`` bool, object frame
    ``voxels_cam``  ``voxels_cam`` ``(G, G, G)`` bool and ``depth_range`` ``(2,)``
    ``occupancy``   ``occ_points`` ``(Q, 3)``, ``occ_labels`` ``(Q,)`` bool (inside)
    ``parts``       ``points``, ``normals`` and ``part_labels`` ``(P,)`` int64 (the global part
                    index of each point, :data:`~.procedural.PART_NAMES`), ``face_parts``
                    ``(F,)`` int64 (of each mesh face, at its centroid)
    ==============  ============================================================================

    Part labels come from the CSG parts that generated the object
    (:func:`~.procedural.part_labels`): a point belongs to the part on whose surface it lies.

    Batch with :func:`~spacetime.shapes.datasets.collate_3d` (``verts``/``faces`` → ``meshes``,
    ``points``/``normals`` → ``pointclouds``).

    Args:
        root: cache folder (default :func:`default_root`).
        split: ``"train"``, ``"val"`` or ``"test"`` (different objects).
        categories: a subset of :data:`~spacetime.shapes.datasets.procedural.CATEGORIES`
            (default all).
        num_objects_per_category, views_per_object: dataset size.
        image_size: ``S`` (square images).
        voxel_resolution: ``G``.
        num_points: ``P`` surface samples; num_occupancy_samples: ``Q``.
        mesh_resolution: marching-cubes resolution of the objects.
        background: ``"white"``, ``"black"``, ``"random"`` (a random colour per view) or
            ``"noise"`` (a smooth random colour texture).
        focal: ``fx = fy = focal · S``.
        seed: the dataset seed.
        returns: which fields to load (see the table); ``"normals"`` is accepted for
            ``"normal_map"`` and ``"normals3d"`` for ``"points"``.
        progress: show a tqdm bar while generating.
    """

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        split: str = "train",
        *,
        categories: Sequence[str] | None = None,
        num_objects_per_category: int = 20,
        views_per_object: int = 4,
        image_size: int = 64,
        voxel_resolution: int = 32,
        num_points: int = 2048,
        num_occupancy_samples: int = 2048,
        mesh_resolution: int = 48,
        background: str = "random",
        focal: float = 1.0,
        seed: int = 0,
        returns: Sequence[str] = SYNTHETIC_RETURNS,
        progress: bool = True,
    ) -> None:
        check_in(split, "split", ("train", "val", "test"))
        cats = list(CATEGORIES) if categories is None else list(categories)
        if not cats:
            raise InputError("categories: expected at least one category, got none")
        for c in cats:
            check_in(c, "categories", CATEGORIES)
        check_int(num_objects_per_category, "num_objects_per_category", min_value=1)
        check_int(views_per_object, "views_per_object", min_value=1)
        check_int(image_size, "image_size", min_value=1)
        check_int(voxel_resolution, "voxel_resolution", min_value=1)
        check_int(num_points, "num_points", min_value=1)
        check_int(num_occupancy_samples, "num_occupancy_samples", min_value=0)
        check_int(mesh_resolution, "mesh_resolution", min_value=8)
        check_int(seed, "seed", min_value=0)
        check_in(background, "background", ("white", "black", "random", "noise"))
        check_positive(focal, "focal")
        if isinstance(returns, str):
            returns = (returns,)
        returns = tuple(_RETURN_ALIASES.get(r, r) for r in returns)
        for r in returns:
            check_in(r, "returns", SYNTHETIC_RETURNS)
        self.split = split
        self.class_names: list[str] = cats
        self.returns = tuple(returns)
        self.num_objects_per_category = num_objects_per_category
        self.views_per_object = views_per_object
        self._cfg = {
            "version": _FORMAT_VERSION,
            "seed": seed,
            "views_per_object": views_per_object,
            "image_size": image_size,
            "voxel_resolution": voxel_resolution,
            "num_points": num_points,
            "num_occupancy_samples": num_occupancy_samples,
            "mesh_resolution": mesh_resolution,
            "background": background,
            "focal": float(focal),
        }
        key = hashlib.sha1(json.dumps(self._cfg, sort_keys=True).encode()).hexdigest()[:12]
        base = default_root() if root is None else Path(root).expanduser()
        self.root = base / key
        self._objects = [(c, i) for c in cats for i in range(num_objects_per_category)]
        self._loaded: tuple[int, dict] | None = None
        self._generate(progress)

    def _path(self, category: str, index: int) -> Path:
        return self.root / self.split / f"{category}_{index:05d}.pt"

    def _generate(self, progress: bool) -> None:
        missing = [(c, i) for c, i in self._objects if not self._path(c, i).is_file()]
        if not missing:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        cfg_path = self.root / "config.json"
        if not cfg_path.is_file():
            with atomic_write(cfg_path, "w") as f:
                json.dump(self._cfg, f, indent=1, sort_keys=True)
        from tqdm.auto import tqdm

        bar = tqdm(missing, desc=f"SyntheticShapes {self.split}", unit="obj", disable=not progress)
        for c, i in bar:
            data = _generate_object(self._cfg, self.split, c, i)
            with atomic_write(self._path(c, i), "wb") as f:
                torch.save(data, f)

    def __len__(self) -> int:
        return len(self._objects) * self.views_per_object

    def load_object(self, object_index: int) -> dict[str, torch.Tensor]:
        """The raw cached record of object ``object_index`` (all views stacked)."""
        check_int(object_index, "object_index", min_value=0)
        if object_index >= len(self._objects):
            raise InputError(f"object_index: expected < {len(self._objects)}, got {object_index}")
        if self._loaded is not None and self._loaded[0] == object_index:
            return self._loaded[1]
        path = self._path(*self._objects[object_index])
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unpickling failure means a bad cache file
            raise FileFormatError(f"SyntheticShapes: cannot read cache file {path} ({e}); "
                                  "delete it to regenerate") from e
        self._loaded = (object_index, data)
        return data

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not isinstance(index, int) or isinstance(index, bool):
            index = int(index)
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for SyntheticShapes of length {n}")
        index %= n
        obj, view = divmod(index, self.views_per_object)
        data = self.load_object(obj)
        cat, i = self._objects[obj]
        item: dict[str, Any] = {
            "label": self.class_names.index(cat),
            "category": cat,
            "object_index": i,
            "view": view,
        }
        r = self.returns
        if "image" in r:
            item["image"] = data["image"][view].to(torch.float32) / 255.0
        for k in ("depth", "normal_map", "mask", "K", "R", "t", "voxels_cam"):
            if k in r:
                item[k] = data[k][view]
        if "voxels_cam" in r:
            item["depth_range"] = data["depth_range"][view]
        if "mesh" in r:
            item["verts"], item["faces"] = data["verts"], data["faces"]
            item["verts_colors"] = data["verts_colors"]
        if "points" in r:
            item["points"], item["normals"] = data["points"], data["normals"]
        if "parts" in r:
            item["points"], item["normals"] = data["points"], data["normals"]
            item["part_labels"] = data["part_labels"].to(torch.int64)
            item["face_parts"] = data["face_parts"].to(torch.int64)
        if "voxels" in r:
            item["voxels"] = data["voxels"]
        if "occupancy" in r:
            item["occ_points"], item["occ_labels"] = data["occ_points"], data["occ_labels"]
        return item


def demonstrate_scale_ambiguity(
    category: str = "chair",
    *,
    seed: int = 0,
    scale: float = 2.0,
    distance: float = 2.4,
    image_size: int = 64,
    azimuth_deg: float = 30.0,
    elevation_deg: float = 20.0,
) -> dict[str, Any]:
    """Render an object at distance ``d`` and the same object scaled by ``s`` at ``s · d``.

    The camera frame coordinates of every vertex are multiplied by ``s`` (``R (s X) + s t =
    s (R X + t)``), so every projection ``fx X / Z`` is unchanged: image, mask and normal map are
    equal and the depth map is multiplied by ``s``. For ``s`` a power of two the equality is
    exact in floating point (pixel for pixel); for other ``s`` rounding may flip a few pixels on
    silhouette edges.

    Returns a dict with ``image_1``/``image_s`` ``(3, S, S)``, ``depth_1``/``depth_s``,
    ``mask_1``/``mask_s`` and ``max_image_diff``, ``max_depth_ratio_error``
    (``max |depth_s − s·depth_1|``).
    """
    from spacetime.shapes.structures import Meshes, look_at

    check_positive(scale, "scale")
    check_positive(distance, "distance")
    obj = make_object(category, seed)
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    direction = torch.tensor([math.cos(el) * math.sin(az), math.sin(el),
                              math.cos(el) * math.cos(az)])
    K = torch.tensor([[float(image_size), 0, (image_size - 1) / 2],
                      [0, float(image_size), (image_size - 1) / 2], [0, 0, 1]])
    ext = look_at(direction * distance, (0.0, 0.0, 0.0), (0.0, 1.0, 0.0))
    out: dict[str, Any] = {}
    for tag, s in (("1", 1.0), ("s", float(scale))):
        # object scaled by s about its centre, camera s times farther along the same ray
        mesh = Meshes([obj.verts * s], [obj.faces], verts_colors=[obj.verts_colors])
        r = render_view(mesh, K, ext.R[0], ext.t[0] * s, image_size)
        out[f"image_{tag}"], out[f"depth_{tag}"], out[f"mask_{tag}"] = (
            r["image"], r["depth"], r["mask"])
    out["max_image_diff"] = float((out["image_1"] - out["image_s"]).abs().max())
    out["max_depth_ratio_error"] = float((out["depth_s"] - scale * out["depth_1"]).abs().max())
    return out


def contact_sheet(
    categories: Sequence[str] | None = None,
    per_category: int = 6,
    image_size: int = 96,
    *,
    seed: int = 0,
    mesh_resolution: int = 48,
    azimuth_deg: float = 35.0,
    elevation_deg: float = 20.0,
) -> torch.Tensor:
    """A picture of the categories: one row per category, ``per_category`` objects (seeds
    ``seed, seed + 1, …``) rendered from the same 3/4 view on white. Returns
    ``(rows · S, per_category · S, 3)`` float in [0, 1] (save with ``PIL.Image``)."""
    from spacetime.shapes.structures import look_at

    cats = list(CATEGORIES) if categories is None else list(categories)
    for c in cats:
        check_in(c, "categories", CATEGORIES)
    check_int(per_category, "per_category", min_value=1)
    check_int(image_size, "image_size", min_value=8)
    S = image_size
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    direction = torch.tensor([math.cos(el) * math.sin(az), math.sin(el),
                              math.cos(el) * math.cos(az)])
    focal = 1.0
    dist = 0.78 / math.sin(math.atan(0.5 / focal))
    ext = look_at(direction * dist, (0.0, 0.0, 0.0), (0.0, 1.0, 0.0))
    K = torch.tensor([[focal * S, 0, (S - 1) / 2], [0, focal * S, (S - 1) / 2], [0, 0, 1]])
    rows = []
    for c in cats:
        tiles = []
        for i in range(per_category):
            obj = make_object(c, seed + i, resolution=mesh_resolution)
            tiles.append(render_view(obj, K, ext.R[0], ext.t[0], S)["image"])
        rows.append(torch.cat(tiles, 2))
    return torch.cat(rows, 1).permute(1, 2, 0).contiguous()


def _ground_mesh(half: float, n: int, color: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """A square ``[-half, half]²`` at y = 0 split into ``n × n`` quads (small triangles, so that
    those behind the camera are dropped alone), facing +y."""
    c = torch.linspace(-half, half, n + 1)
    zz, xx = torch.meshgrid(c, c, indexing="ij")
    verts = torch.stack([xx, torch.zeros_like(xx), zz], -1).reshape(-1, 3)
    i = torch.arange(n)
    a = (i[:, None] * (n + 1) + i[None, :]).reshape(-1)  # corner (row z, col x)
    b, d = a + 1, a + n + 1
    e = d + 1
    # counter-clockwise seen from +y: (a, d, b), (b, d, e)
    faces = torch.cat([torch.stack([a, d, b], 1), torch.stack([b, d, e], 1)])
    return verts, faces, color.expand(verts.shape[0], 3).clone()


def _generate_scene(cfg: dict, split: str, index: int, cats: list[str]) -> dict[str, Any]:
    """One scene: 1–3 objects on a ground plane seen by one camera (one cache file)."""
    from spacetime.shapes.structures import look_at

    split_id = ("train", "val", "test").index(split)
    rng = np.random.default_rng(np.random.SeedSequence([cfg["seed"], 100 + split_id, index]))
    S, g = cfg["image_size"], cfg["voxel_resolution"]
    lo_n, hi_n = cfg["objects_per_scene"]
    m = int(rng.integers(lo_n, hi_n + 1))
    objs, labels, scales, rots, trans, footprints = [], [], [], [], [], []
    for _ in range(m):
        c = cats[int(rng.integers(0, len(cats)))]
        obj = make_object(c, rng, resolution=cfg["mesh_resolution"])
        scale = float(rng.uniform(0.45, 0.8))
        yaw = float(rng.uniform(0, 2 * math.pi))
        rot = torch.tensor([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0],
                            [-math.sin(yaw), 0, math.cos(yaw)]], dtype=torch.float32)
        r_xz = scale * float(obj.verts[:, [0, 2]].norm(dim=1).max())
        for _try in range(50):  # rejection sampling of non-overlapping footprints
            pos = rng.uniform(-1.0, 1.0, 2) * 0.5 * (m - 1) ** 0.5 * 1.6
            if all(np.hypot(*(pos - p)) > r_xz + r for p, r in footprints):
                break
        footprints.append((pos, r_xz))
        y = -scale * float(obj.verts[:, 1].min())  # resting on y = 0
        objs.append(obj)
        labels.append(cats.index(c))
        scales.append(scale)
        rots.append(rot)
        trans.append(torch.tensor([pos[0], y, pos[1]], dtype=torch.float32))
    world = [s_ * o.verts @ r_.T + t_ for o, s_, r_, t_ in zip(objs, scales, rots, trans)]
    allv = torch.cat(world)
    centre = (allv.amin(0) + allv.amax(0)) / 2
    radius = float((allv - centre).norm(dim=1).max()) * 1.02
    ground_col = torch.from_numpy(rng.uniform(0.35, 0.8, 3).astype(np.float32))
    gv, gf, gc = _ground_mesh(4.0, 24, ground_col)
    verts = torch.cat([gv] + world)
    counts = [gv.shape[0]] + [w.shape[0] for w in world]
    offs = np.cumsum([0] + counts)
    faces = torch.cat([gf] + [o.faces + int(offs[k + 1]) for k, o in enumerate(objs)])
    colors = torch.cat([gc] + [o.verts_colors for o in objs])
    face_owner = torch.cat([torch.full((gf.shape[0],), -1)] + [
        torch.full((o.faces.shape[0],), k) for k, o in enumerate(objs)])
    from spacetime.shapes.structures import Meshes

    scene = Meshes([verts], [faces], verts_colors=[colors])
    focal = cfg["focal"]
    d_fit = radius / math.sin(math.atan(0.5 / focal))
    f = focal * S
    K = torch.tensor([[f, 0.0, (S - 1) / 2], [0.0, f, (S - 1) / 2], [0.0, 0.0, 1.0]])
    for _try in range(20):  # a view where every object shows at least 20 pixels
        az = rng.uniform(0, 2 * math.pi)
        el = math.radians(rng.uniform(20, 50))
        dist = d_fit * rng.uniform(1.0, 1.2)
        eye = centre.double() + dist * torch.tensor(
            [math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)])
        ext = look_at(eye, centre.double(), (0.0, 1.0, 0.0), dtype=torch.float64)
        R, t = ext.R[0].float(), ext.t[0].float()
        bg = _background(cfg["background"], rng, S, S)
        r = render_view(scene, K, R, t, S, background=bg)
        p2f = r["pix_to_face"]
        inst = torch.where(p2f >= 0, face_owner[p2f.clamp_min(0)], torch.full_like(p2f, -1))
        masks = torch.stack([inst == k for k in range(m)])
        if bool((masks.flatten(1).sum(1) >= 20).all()):
            break
    boxes = torch.zeros(m, 4)
    for k in range(m):
        ys, xs = torch.nonzero(masks[k], as_tuple=True)
        if xs.numel():
            boxes[k] = torch.tensor([xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5,
                                     ys.max() + 0.5], dtype=torch.float32)
    return {
        "image": (r["image"] * 255).round().to(torch.uint8),
        "depth": r["depth"],
        "normal_map": r["normal_map"],
        "instance_map": inst,
        "masks": masks,
        "boxes": boxes,
        "labels": torch.tensor(labels, dtype=torch.int64),
        "K": K, "R": R, "t": t,
        "object_scale": torch.tensor(scales, dtype=torch.float32),
        "object_R": torch.stack(rots),
        "object_t": torch.stack(trans),
        "object_verts": [o.verts for o in objs],
        "object_faces": [o.faces for o in objs],
        "object_colors": [o.verts_colors for o in objs],
        "object_voxels": torch.stack([solid_voxels((o.verts.double() + 0.5) * g, o.faces, g)
                                      for o in objs]),
    }


class SyntheticScenes(torch.utils.data.Dataset):
    """Scenes of 1–3 procedural objects standing on a ground plane, one view each, for
    detection + shape prediction (Mesh R-CNN style).

    Objects are placed with a random scale in [0.45, 0.8], a random rotation about +y and a
    random position on the ground (footprints do not overlap), resting on ``y = 0``. Object
    ``k``'s canonical vertices map to the world by ``X_world = s_k R_k X_obj + t_k``; world to
    camera by ``X_cam = R X_world + t`` (OpenCV, as in :class:`SyntheticShapes`). The camera looks
    at the scene's centre from 20–50° elevation and is re-drawn (up to 20 times) until every
    object shows at least 20 pixels.

    Item keys (``M`` objects; cache and seeding as in :class:`SyntheticShapes`, one file per
    scene):

    - ``image`` ``(3, S, S)`` float32, ``depth`` ``(S, S)``, ``normal_map`` ``(3, S, S)``
      (the ground included), ``K``, ``R``, ``t``;
    - ``instance_map`` ``(S, S)`` int64: object index per pixel, -1 for ground / background;
      ``masks`` ``(M, S, S)`` bool (visible parts); ``boxes`` ``(M, 4)`` float32 ``x0, y0, x1,
      y1`` of the visible mask in pixel-edge coordinates (a pixel ``(u, v)`` spans
      ``[u − ½, u + ½]``); ``labels`` ``(M,)`` int64 into :attr:`class_names`;
    - ``object_scale`` ``(M,)``, ``object_R`` ``(M, 3, 3)``, ``object_t`` ``(M, 3)``;
      ``object_verts`` / ``object_faces`` / ``object_colors``: lists of M canonical-frame
      meshes; ``object_voxels`` ``(M, G, G, G)`` bool canonical-frame solid voxels.
    """

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        split: str = "train",
        *,
        categories: Sequence[str] | None = None,
        num_scenes: int = 100,
        objects_per_scene: tuple[int, int] = (1, 3),
        image_size: int = 128,
        voxel_resolution: int = 32,
        mesh_resolution: int = 48,
        background: str = "random",
        focal: float = 1.0,
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        check_in(split, "split", ("train", "val", "test"))
        cats = list(CATEGORIES) if categories is None else list(categories)
        if not cats:
            raise InputError("categories: expected at least one category, got none")
        for c in cats:
            check_in(c, "categories", CATEGORIES)
        check_int(num_scenes, "num_scenes", min_value=1)
        lo, hi = (int(x) for x in objects_per_scene)
        if not 1 <= lo <= hi <= 6:
            raise InputError(f"objects_per_scene: expected 1 <= min <= max <= 6, got "
                             f"{tuple(objects_per_scene)}")
        check_int(image_size, "image_size", min_value=8)
        check_int(voxel_resolution, "voxel_resolution", min_value=1)
        check_int(mesh_resolution, "mesh_resolution", min_value=8)
        check_int(seed, "seed", min_value=0)
        check_in(background, "background", ("white", "black", "random", "noise"))
        check_positive(focal, "focal")
        self.split = split
        self.class_names: list[str] = cats
        self.num_scenes = num_scenes
        self._cfg = {
            "version": _SCENES_FORMAT_VERSION, "kind": "scenes", "seed": seed, "categories": cats,
            "objects_per_scene": [lo, hi], "image_size": image_size,
            "voxel_resolution": voxel_resolution, "mesh_resolution": mesh_resolution,
            "background": background, "focal": float(focal),
        }
        key = hashlib.sha1(json.dumps(self._cfg, sort_keys=True).encode()).hexdigest()[:12]
        base = default_root().parent / "synthetic_scenes" if root is None else Path(root)
        self.root = base.expanduser() / key
        missing = [i for i in range(num_scenes) if not self._path(i).is_file()]
        if missing:
            self.root.mkdir(parents=True, exist_ok=True)
            if not (self.root / "config.json").is_file():
                with atomic_write(self.root / "config.json", "w") as f:
                    json.dump(self._cfg, f, indent=1, sort_keys=True)
            from tqdm.auto import tqdm

            for i in tqdm(missing, desc=f"SyntheticScenes {split}", unit="scene",
                          disable=not progress):
                data = _generate_scene(self._cfg, split, i, cats)
                with atomic_write(self._path(i), "wb") as f:
                    torch.save(data, f)

    def _path(self, index: int) -> Path:
        return self.root / self.split / f"scene_{index:05d}.pt"

    def __len__(self) -> int:
        return self.num_scenes

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = int(index)
        if not -self.num_scenes <= index < self.num_scenes:
            raise IndexError(f"index {index} out of range for SyntheticScenes of length "
                             f"{self.num_scenes}")
        index %= self.num_scenes
        path = self._path(index)
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unpickling failure means a bad cache file
            raise FileFormatError(f"SyntheticScenes: cannot read cache file {path} ({e}); "
                                  "delete it to regenerate") from e
        data["image"] = data["image"].to(torch.float32) / 255.0
        data["scene_index"] = index
        return data
