"""3D-R2N2 renderings and voxels of ShapeNetCore v1 (Choy et al., "3D-R2N2: A Unified Approach
for Single and Multi-view 3D Object Reconstruction", ECCV 2016).

On-disk layout (the two R2N2 archives, plus optionally ShapeNetCore v1 for the meshes)::

    <root_renderings>/<synset>/<model>/rendering/00.png … 23.png     # 137×137 RGBA
    <root_renderings>/<synset>/<model>/rendering/rendering_metadata.txt
    <root_voxels>/<synset>/<model>/model.binvox                      # 32³
    <root_shapenet>/<synset>/<model>/model.obj                       # optional

``rendering_metadata.txt`` has one line per view: ``azimuth elevation in_plane_rotation
distance_ratio field_of_view`` (degrees, degrees, degrees, unitless, degrees).

Cameras (see :func:`r2n2_camera` for the derivation). The views were rendered by Blender with
its default camera: a 35 mm lens on a 32 mm sensor, i.e. a focal length of ``35 / 16 = 2.1875``
in normalised device units (the matrix Mesh R-CNN read out of Blender), a horizontal field of
view of 49.1°. The metadata's ``field_of_view`` column (25) is therefore *not* used; the
in-plane rotation column is 0 in the released data and is ignored. The camera distance is
``distance_ratio × 1.75`` (R2N2's maximum camera distance, as in PyTorch3D's and Mesh R-CNN's
loaders).

Split files: either the dict-of-lists form ``{synset: {"train": [model, …], "val": […],
"test": […]}}`` or PyTorch3D's ``{"train": {synset: {model: [view ids]}}, …}``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from spacetime.checks import check_in, check_int
from spacetime.errors import FileFormatError, InputError, MissingFileError
from spacetime.shapes.datasets._common import (
    PathLike,
    load_binvox_grid,
    load_image_rgba,
    load_json,
    load_mesh_tensors,
    require_dir,
    require_file,
)
from spacetime.shapes.structures import CameraExtrinsics, CameraIntrinsics, VoxelGrid, look_at

__all__ = [
    "R2N2",
    "r2n2_camera",
    "read_r2n2_metadata",
    "read_r2n2_split",
    "R2N2_SYNSETS",
    "R2N2_FOCAL_NDC",
    "R2N2_MAX_CAMERA_DISTANCE",
    "align_voxels_to_bbox",
    "voxels_to_camera_frame",
]

#: The 13 R2N2 categories (ShapeNetCore v1 synset ids → names).
R2N2_SYNSETS: dict[str, str] = {
    "02691156": "airplane",
    "02828884": "bench",
    "02933112": "cabinet",
    "02958343": "car",
    "03001627": "chair",
    "03211117": "display",
    "03636649": "lamp",
    "03691459": "loudspeaker",
    "04090263": "rifle",
    "04256520": "sofa",
    "04379243": "table",
    "04401088": "telephone",
    "04530566": "watercraft",
}

#: Focal length of the R2N2 renderings in NDC units (Blender default camera: 35 mm / 16 mm).
R2N2_FOCAL_NDC = 2.1875
#: ``distance_ratio`` in ``rendering_metadata.txt`` is relative to this distance.
R2N2_MAX_CAMERA_DISTANCE = 1.75
_IMAGE_SIZE = 137
_SPLITS = ("train", "val", "test")


def r2n2_camera(
    azimuth: float | Sequence[float] | torch.Tensor,
    elevation: float | Sequence[float] | torch.Tensor,
    distance_ratio: float | Sequence[float] | torch.Tensor,
    *,
    image_size: int = _IMAGE_SIZE,
    dtype: torch.dtype = torch.float32,
) -> tuple[CameraIntrinsics, CameraExtrinsics]:
    """OpenCV cameras of R2N2 views, in ShapeNetCore v1 model coordinates.

    Args:
        azimuth, elevation: degrees, floats or ``(V,)`` (columns 1–2 of the metadata).
        distance_ratio: column 4 of the metadata; the distance is ``ratio × 1.75``.
        image_size: the square image size in pixels (137 for the released renderings; pass
            the new size after resizing).

    Returns:
        ``(CameraIntrinsics, CameraExtrinsics)`` with V cameras: ``X_cam = R X_model + t``,
        ``u = fx X/Z + cx`` (x right, y down, z forward; pixel centres at integers).

    Derivation. Blender imports the Y-up OBJ into its Z-up world by ``(x, y, z) ↦ (x, -z, y)``
    and places the camera at azimuth ``-a`` (clockwise seen from above) and elevation ``e`` on
    a sphere of radius ``d`` around the origin, looking at the origin with world +Z up. Mapped
    back to model coordinates (Y up) the camera centre is::

        C = d · (cos e · cos a,  sin e,  cos e · sin a)

    looking at the origin with +Y up in the image, which :func:`look_at` turns into ``R, t``.
    Blender's projection maps ``x_ndc = 2.1875 · X / Z`` with NDC spanning the image width, so
    ``fx = fy = 2.1875 · S / 2`` and ``cx = cy = (S - 1) / 2`` for an ``S × S`` image (OpenCV
    pixel centres). This equals Mesh R-CNN's ``compute_extrinsic_matrix`` followed by the
    OpenGL → OpenCV axis flip ``diag(1, -1, -1)`` (checked in the tests).
    """
    az = torch.as_tensor(azimuth, dtype=torch.float64).reshape(-1)
    el = torch.as_tensor(elevation, dtype=torch.float64).reshape(-1)
    dr = torch.as_tensor(distance_ratio, dtype=torch.float64).reshape(-1)
    n = max(az.numel(), el.numel(), dr.numel())
    az, el, dr = (x.expand(n) if x.numel() == 1 else x for x in (az, el, dr))
    if not (az.numel() == el.numel() == dr.numel() == n):
        raise InputError(
            f"azimuth/elevation/distance_ratio: expected equal lengths, got "
            f"{az.numel()}/{el.numel()}/{dr.numel()}"
        )
    if not bool(torch.isfinite(torch.stack([az, el, dr])).all()):
        raise InputError("azimuth/elevation/distance_ratio: expected finite values")
    if bool((dr <= 0).any()):
        raise InputError(f"distance_ratio: expected values > 0, got {dr.tolist()}")
    check_int(image_size, "image_size", min_value=1)
    a, e = torch.deg2rad(az), torch.deg2rad(el)
    d = dr * R2N2_MAX_CAMERA_DISTANCE
    eye = torch.stack([d * e.cos() * a.cos(), d * e.sin(), d * e.cos() * a.sin()], dim=-1)
    ext = look_at(eye, (0.0, 0.0, 0.0), (0.0, 1.0, 0.0), dtype=torch.float64)
    ext = CameraExtrinsics(ext.R.to(dtype), ext.t.to(dtype))
    f = R2N2_FOCAL_NDC * image_size / 2
    c = (image_size - 1) / 2
    intr = CameraIntrinsics(
        torch.full((n,), f, dtype=dtype), f, c, c, width=image_size, height=image_size
    )
    return intr, ext


def read_r2n2_metadata(path: PathLike) -> torch.Tensor:
    """Parse ``rendering_metadata.txt`` into a ``(V, 5)`` float64 tensor (one row per view:
    azimuth, elevation, in-plane rotation, distance ratio, field of view)."""
    p = require_file(path, "R2N2 rendering metadata")
    rows = []
    for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            vals = [float(v) for v in parts]
        except ValueError as e:
            raise FileFormatError(f"{p}: line {lineno}: expected 5 numbers, got {line!r}") from e
        if len(vals) != 5 or not all(math.isfinite(v) for v in vals):
            raise FileFormatError(f"{p}: line {lineno}: expected 5 finite numbers, got {line!r}")
        rows.append(vals)
    if not rows:
        raise FileFormatError(f"{p}: no views listed")
    return torch.tensor(rows, dtype=torch.float64)


def read_r2n2_split(path: PathLike, split: str) -> dict[str, dict[str, list[int] | None]]:
    """Read an R2N2 split file into ``{synset: {model: view ids or None (all views)}}``.

    Accepts ``{synset: {"train": [models], "val": [...], "test": [...]}}`` and PyTorch3D's
    ``{"train": {synset: {model: [views]}}, ...}``.
    """
    check_in(split, "split", _SPLITS)
    data = load_json(path, "R2N2 split file")
    if not isinstance(data, dict):
        raise FileFormatError(f"{path}: expected a JSON object, got {type(data).__name__}")
    out: dict[str, dict[str, list[int] | None]] = {}
    if data and set(data) <= set(_SPLITS):  # PyTorch3D form
        if split not in data:
            raise FileFormatError(f"{path}: missing field '{split}'")
        block = data[split]
        if not isinstance(block, dict):
            raise FileFormatError(f"{path}: field '{split}' must map synsets to models")
        for sid, models in block.items():
            if not isinstance(models, dict):
                raise FileFormatError(
                    f"{path}: field '{split}.{sid}' must map model ids to view lists"
                )
            out[sid] = {}
            for mid, views in models.items():
                if not isinstance(views, list) or not all(isinstance(v, int) for v in views):
                    raise FileFormatError(
                        f"{path}: field '{split}.{sid}.{mid}' must be a list of view ids"
                    )
                out[sid][str(mid)] = list(views)
        return out
    for sid, block in data.items():
        if not isinstance(block, dict):
            raise FileFormatError(
                f"{path}: field '{sid}' must be an object with train/val/test lists"
            )
        models = block.get(split, [])
        if not isinstance(models, list):
            raise FileFormatError(f"{path}: field '{sid}.{split}' must be a list of model ids")
        out[sid] = {str(m): None for m in models}
    return out


def _background(background) -> np.ndarray | None:
    if background is None:
        return None
    if isinstance(background, str):
        check_in(background, "background", ("white", "black"))
        return np.full(3, 1.0 if background == "white" else 0.0)
    arr = np.asarray(background, dtype=np.float64).reshape(-1)
    if arr.shape != (3,) or not np.isfinite(arr).all():
        raise InputError(
            f"background: expected 'white', 'black', None or 3 floats, got {background}"
        )
    return arr


class R2N2(Dataset):
    """R2N2 renderings + voxels (+ ShapeNetCore v1 meshes), one item per model.

    Args:
        root_shapenet: ShapeNetCore v1 folder for the meshes, or ``None`` (no mesh).
        root_renderings: the ``ShapeNetRendering`` folder.
        root_voxels: the ``ShapeNetVox32`` folder, or ``None`` when ``return_voxels=False``.
        split_path: the split JSON (see the module docstring).
        split: ``"train"``, ``"val"`` or ``"test"``.
        views: view ids to return (default: the split's views, else every metadata line).
        return_voxels: load ``model.binvox``.
        voxels_in_camera_frame: also return per-view grids aligned with the image (see below).
        background: ``"white"`` / ``"black"`` / 3 floats in [0, 1] composited under the alpha
            channel, or ``None`` to return the stored RGB as is.
        voxel_alignment: how the 32³ grid is placed in model coordinates: ``"header"`` (binvox
            ``translate`` / ``scale``) or ``"mesh"`` (Mesh R-CNN's choice: the occupied voxels'
            bounding box is fitted to the mesh's, needs ``root_shapenet``). Default: ``"mesh"``
            when ``root_shapenet`` is given, else ``"header"``.
        camera_voxel_size: G, resolution of the camera-frame grids.
        camera_depth_margin: half depth of the camera-frame grids around the model centre
            (ShapeNet v1 models fit in a sphere of radius 0.5).

    Items: ``images (V, 3, S, S)`` in [0, 1], ``masks (V, S, S)`` (alpha), ``views (V,)``,
    ``K (V, 3, 3)``, ``R (V, 3, 3)``, ``t (V, 3)`` (OpenCV, model → camera, see
    :func:`r2n2_camera`), ``intrinsics`` / ``extrinsics`` (the same as objects),
    ``metadata (V, 5)``, ``synset_id``, ``model_id``, ``label``, ``label_index``; with voxels:
    ``voxels (32, 32, 32)`` in {0, 1} indexed ``[z, y, x]`` in model coordinates,
    ``voxel_origin (3,)``, ``voxel_size ()``; with ``voxels_in_camera_frame``:
    ``camera_voxels (V, G, G, G)`` indexed ``[d, h, w]``: voxel ``(d, h, w)`` is centred on
    pixel ``((w + 0.5) S / G - 0.5, (h + 0.5) S / G - 0.5)`` at camera depth
    ``Z = near + (d + 0.5) (far - near) / G`` with ``camera_depth_range (V, 2) = (near, far)``;
    with ``root_shapenet``: ``verts``, ``faces``.
    """

    def __init__(
        self,
        root_shapenet: PathLike | None,
        root_renderings: PathLike,
        root_voxels: PathLike | None,
        split_path: PathLike,
        split: str = "train",
        views: Sequence[int] | None = None,
        return_voxels: bool = True,
        voxels_in_camera_frame: bool = False,
        *,
        background: str | Sequence[float] | None = "white",
        voxel_alignment: str | None = None,
        camera_voxel_size: int = 32,
        camera_depth_margin: float = 0.5,
    ) -> None:
        check_in(split, "split", _SPLITS)
        self.root_shapenet = (
            None if root_shapenet is None else require_dir(root_shapenet, "ShapeNetCore root")
        )
        self.root_renderings = require_dir(root_renderings, "R2N2 renderings root")
        if (return_voxels or voxels_in_camera_frame) and root_voxels is None:
            raise InputError("root_voxels: expected the ShapeNetVox32 folder to return voxels")
        self.root_voxels = (
            None if root_voxels is None else require_dir(root_voxels, "R2N2 voxels root")
        )
        if voxel_alignment is None:
            voxel_alignment = "header" if self.root_shapenet is None else "mesh"
        check_in(voxel_alignment, "voxel_alignment", ("header", "mesh"))
        if voxel_alignment == "mesh" and self.root_shapenet is None:
            raise InputError("voxel_alignment: 'mesh' needs root_shapenet")
        if views is not None:
            views = [check_int(v, "views", min_value=0) for v in views]
            if not views:
                raise InputError("views: expected at least one view id, got []")
        check_int(camera_voxel_size, "camera_voxel_size", min_value=1)
        if not camera_depth_margin > 0:
            raise InputError(f"camera_depth_margin: expected > 0, got {camera_depth_margin}")
        self.split = split
        self.views = None if views is None else list(views)
        self.return_voxels = bool(return_voxels)
        self.voxels_in_camera_frame = bool(voxels_in_camera_frame)
        self.background = _background(background)
        self.voxel_alignment = voxel_alignment
        self.camera_voxel_size = camera_voxel_size
        self.camera_depth_margin = float(camera_depth_margin)

        table = read_r2n2_split(split_path, split)
        self.synset_ids = sorted(s for s in table if table[s])
        self.class_names = [R2N2_SYNSETS.get(s, s) for s in self.synset_ids]
        self._models: list[tuple[str, str, list[int] | None]] = []
        for sid in self.synset_ids:
            for mid in sorted(table[sid]):
                split_views = table[sid][mid]
                if split_views is not None and self.views is not None:
                    chosen = [v for v in self.views if v in split_views]
                    if not chosen:
                        continue
                elif split_views is not None:
                    chosen = sorted(split_views)
                else:
                    chosen = self.views
                self._models.append((sid, mid, chosen))

    def __len__(self) -> int:
        return len(self._models)

    def __repr__(self) -> str:
        return (
            f"R2N2(split={self.split!r}, synsets={len(self.synset_ids)}, models={len(self)}, "
            f"views={self.views})"
        )

    def _load_images(self, rdir: Path, views: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        images, masks = [], []
        for v in views:
            rgba = load_image_rgba(rdir / f"{v:02d}.png", "R2N2 rendering").astype(np.float32)
            rgba /= 255.0
            rgb, alpha = rgba[..., :3], rgba[..., 3:]
            if self.background is not None:
                rgb = rgb * alpha + self.background.astype(np.float32) * (1.0 - alpha)
            images.append(torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1))
            masks.append(torch.from_numpy(np.ascontiguousarray(alpha[..., 0])))
        sizes = {tuple(im.shape) for im in images}
        if len(sizes) != 1:
            raise FileFormatError(f"{rdir}: renderings have different sizes {sorted(sizes)}")
        return torch.stack(images), torch.stack(masks)

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} models")
        index = index % len(self)
        sid, mid, views = self._models[index]
        rdir = self.root_renderings / sid / mid / "rendering"
        if not rdir.is_dir():
            raise MissingFileError(f"R2N2 renderings of {sid}/{mid}: folder not found: {rdir}")
        meta = read_r2n2_metadata(rdir / "rendering_metadata.txt")
        if views is None:
            views = list(range(meta.shape[0]))
        bad = [v for v in views if v >= meta.shape[0]]
        if bad:
            raise FileFormatError(
                f"{rdir / 'rendering_metadata.txt'}: has {meta.shape[0]} views, "
                f"views {bad} requested"
            )
        images, masks = self._load_images(rdir, views)
        size = images.shape[-1]
        if images.shape[-2] != size:
            raise FileFormatError(f"{rdir}: expected square renderings, got {tuple(images.shape)}")
        m = meta[views]
        intr, ext = r2n2_camera(m[:, 0], m[:, 1], m[:, 3], image_size=size)
        item: dict = {
            "images": images,
            "masks": masks,
            "views": torch.tensor(views, dtype=torch.int64),
            "K": intr.K,
            "R": ext.R,
            "t": ext.t,
            "intrinsics": intr,
            "extrinsics": ext,
            "metadata": m.to(torch.float32),
            "synset_id": sid,
            "model_id": mid,
            "label": R2N2_SYNSETS.get(sid, sid),
            "label_index": self.synset_ids.index(sid),
        }
        verts = None
        if self.root_shapenet is not None:
            verts, faces, _ = load_mesh_tensors(
                self.root_shapenet / sid / mid / "model.obj", f"ShapeNetCore model {sid}/{mid}"
            )
            item["verts"], item["faces"] = verts, faces
        if self.return_voxels or self.voxels_in_camera_frame:
            assert self.root_voxels is not None  # checked in __init__
            grid = load_binvox_grid(
                self.root_voxels / sid / mid / "model.binvox", f"R2N2 voxels {sid}/{mid}"
            )
            if self.voxel_alignment == "mesh" and verts is not None:
                grid = align_voxels_to_bbox(grid, verts)
            if self.return_voxels:
                item["voxels"] = grid.grid[0]
                item["voxel_origin"] = grid.origin[0]
                item["voxel_size"] = grid.voxel_size[0]
            if self.voxels_in_camera_frame:
                dist = m[:, 3].to(torch.float32) * R2N2_MAX_CAMERA_DISTANCE
                depth = torch.stack(
                    [dist - self.camera_depth_margin, dist + self.camera_depth_margin], dim=-1
                )
                item["camera_voxels"] = voxels_to_camera_frame(
                    grid, intr, ext, depth, self.camera_voxel_size, size
                )
                item["camera_depth_range"] = depth
        return item


def align_voxels_to_bbox(grid: VoxelGrid, verts: torch.Tensor) -> VoxelGrid:
    """Place a grid (N = 1) so that its occupied voxels' bounding box (outer faces) fits the
    bounding box of ``verts`` (V, 3): cubic voxels sized by the longest axis, centres matched.
    Returns the grid unchanged when it has no occupied voxel or ``verts`` is empty."""
    occ = grid.grid[0] > 0.5
    if not bool(occ.any()) or verts.shape[0] == 0:
        return grid
    idx = occ.nonzero()  # (M, 3) as (z, y, x)
    lo = idx.min(0).values.flip(0).to(verts.dtype)  # (x, y, z)
    hi = idx.max(0).values.flip(0).to(verts.dtype) + 1
    vmin, vmax = verts.min(0).values, verts.max(0).values
    axis = int(torch.argmax(vmax - vmin))
    size = (vmax - vmin)[axis] / (hi - lo)[axis]
    if not float(size) > 0:
        return grid
    origin = (vmin + vmax) / 2 - size * (lo + hi) / 2
    return VoxelGrid(grid.grid, origin=origin, voxel_size=float(size))


def voxels_to_camera_frame(
    grid: VoxelGrid,
    intrinsics: CameraIntrinsics,
    extrinsics: CameraExtrinsics,
    depth_range: torch.Tensor,
    resolution: int,
    image_size: int,
) -> torch.Tensor:
    """Resample a model-frame grid (N = 1) into V image-aligned grids ``(V, G, G, G)``
    ``[d, h, w]`` (nearest voxel; see :class:`R2N2` for the layout)."""
    g = resolution
    n = len(extrinsics)
    dtype = grid.grid.dtype
    c = (torch.arange(g, dtype=dtype) + 0.5) / g
    pix = c * image_size - 0.5  # pixel-centre coordinates of the G columns / rows
    frac = c  # depth fraction of the G slices
    near, far = depth_range[:, 0].to(dtype), depth_range[:, 1].to(dtype)
    z = near[:, None] + frac[None] * (far - near)[:, None]  # (V, G)
    zz = z[:, :, None, None].expand(n, g, g, g)
    vv = pix[None, None, :, None].expand(n, g, g, g)
    uu = pix[None, None, None, :].expand(n, g, g, g)
    fx, fy = intrinsics.fx.to(dtype), intrinsics.fy.to(dtype)
    cx, cy = intrinsics.cx.to(dtype), intrinsics.cy.to(dtype)
    x = (uu - cx[:, None, None, None]) / fx[:, None, None, None] * zz
    y = (vv - cy[:, None, None, None]) / fy[:, None, None, None] * zz
    cam = torch.stack([x, y, zz], dim=-1).reshape(n, -1, 3)
    world = extrinsics.to(dtype=dtype).camera_to_world(cam)  # (V, G³, 3)
    idx = (world - grid.origin[0]) / grid.voxel_size[0] - 0.5  # continuous (x, y, z) index
    d, h, w = grid.grid.shape[1:]
    dims = torch.tensor([w, h, d], dtype=dtype)
    norm = idx / (dims - 1).clamp_min(1) * 2 - 1
    src = grid.grid[0][None, None].expand(n, 1, d, h, w)
    out = torch.nn.functional.grid_sample(
        src, norm.reshape(n, g, g, g, 3), mode="nearest", padding_mode="zeros",
        align_corners=True,
    )
    return out[:, 0]
