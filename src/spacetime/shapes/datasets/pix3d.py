"""Pix3D: real images aligned with IKEA furniture models (Sun et al., "Pix3D: Dataset and Methods
for Single-Image 3D Shape Modeling", CVPR 2018).

On-disk layout (the released archive)::

    <root>/pix3d.json                     # list of records, one per (image, object)
    <root>/img/<category>/<name>.{jpg,png}
    <root>/mask/<category>/<name>.png     # object mask, 0 / 255
    <root>/model/<category>/<model>/model.obj (+ voxel.mat, 3d_keypoints.txt)

A record has the keys ``img``, ``category``, ``img_size`` ``[w, h]``, ``2d_keypoints``, ``mask``,
``img_source``, ``model``, ``model_raw``, ``model_source``, ``3d_keypoints``, ``voxel``,
``rot_mat`` (3×3), ``trans_mat`` (3), ``focal_length`` (mm), ``cam_position``,
``inplane_rotation``, ``truncated``, ``occluded``, ``slightly_occluded``, ``bbox``
``[x0, y0, x1, y1]`` (pixels). Paths are relative to ``<root>``.

Camera conventions. Pix3D's focal length is in millimetres for a 32 mm wide sensor, so
``f = focal_length / 32 × width`` pixels (Mesh R-CNN's convention), with the principal point at
the image centre. Pix3D's ``X_cam = rot_mat X_model + trans_mat`` lives in a camera whose x axis
points left and y axis up (z forward, as in PyTorch3D / Mesh R-CNN, which project with
``u = cx - f X / Z``). spacetime uses OpenCV cameras (x right, y down), so the loader returns
``R = diag(-1, -1, 1) rot_mat`` and ``t = diag(-1, -1, 1) trans_mat``; then
``K (R X + t)`` projects the model onto the image. The raw values stay available as
``rot_mat`` / ``trans_mat``.

Splits: Mesh R-CNN's S1 / S2 files (``pix3d_s1_train.json`` …) are COCO-style JSON whose
``images[*].file_name`` are the ``img`` paths above; pass one as ``split_json`` to keep only its
images.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from spacetime.errors import FileFormatError, InputError
from spacetime.shapes.datasets._common import (
    PathLike,
    float_array,
    get_field,
    load_image_rgb,
    load_json,
    load_mask,
    load_mesh_tensors,
    require_dir,
    select_names,
)
from spacetime.shapes.structures import CameraExtrinsics, CameraIntrinsics

__all__ = ["Pix3D", "PIX3D_SENSOR_WIDTH_MM", "PIX3D_BAD_IMAGES", "pix3d_camera"]

#: Pix3D focal lengths are given for a sensor this wide (millimetres).
PIX3D_SENSOR_WIDTH_MM = 32.0
#: Images whose masks do not match the image (skipped by Mesh R-CNN, excluded by default).
PIX3D_BAD_IMAGES = ("img/table/1749.jpg", "img/table/0045.png")

_REQUIRED = ("img", "category", "img_size", "mask", "model", "rot_mat", "trans_mat",
             "focal_length", "bbox")
_FLIP_XY = torch.diag(torch.tensor([-1.0, -1.0, 1.0]))


def pix3d_camera(
    focal_length_mm: float,
    img_size: Sequence[int],
    rot_mat: torch.Tensor,
    trans_mat: torch.Tensor,
) -> tuple[CameraIntrinsics, CameraExtrinsics]:
    """OpenCV camera (N = 1) of a Pix3D record: intrinsics from the focal length in mm and the
    ``[w, h]`` image size, extrinsics from ``rot_mat`` / ``trans_mat`` with x and y flipped
    (see the module docstring)."""
    w, h = int(img_size[0]), int(img_size[1])
    if w <= 0 or h <= 0:
        raise InputError(f"img_size: expected positive [w, h], got {list(img_size)}")
    if not focal_length_mm > 0:
        raise InputError(f"focal_length_mm: expected > 0, got {focal_length_mm}")
    intr = CameraIntrinsics.from_focal_length_mm(
        float(focal_length_mm), PIX3D_SENSOR_WIDTH_MM, w, h
    )
    R = _FLIP_XY.to(rot_mat.dtype) @ rot_mat
    t = _FLIP_XY.to(trans_mat.dtype) @ trans_mat
    return intr, CameraExtrinsics(R[None], t[None])


class Pix3D(Dataset):
    """Pix3D image–model pairs, one item per ``pix3d.json`` record, sorted by image path.

    Args:
        root: the Pix3D folder (holding ``pix3d.json``).
        split_json: optional Mesh R-CNN S1/S2 COCO-style split file.
        categories: keep only these categories (e.g. ``["chair", "sofa"]``).
        load_mesh: load the aligned model as ``verts`` / ``faces`` (model coordinates; use
            ``R``, ``t`` to bring it to the camera frame).
        cache_meshes: keep loaded models in memory (Pix3D has ~400 models for ~10k images).
        exclude: image paths to drop (default: the two with mismatched masks).

    Items: ``image (3, H, W)`` in [0, 1], ``mask (H, W)`` in [0, 1], ``bbox (4,)``
    ``[x0, y0, x1, y1]``, ``label`` (category), ``label_index`` (into ``class_names``),
    ``K (3, 3)``, ``R (3, 3)``, ``t (3,)`` (OpenCV, model → camera), ``intrinsics``,
    ``extrinsics``, ``rot_mat`` / ``trans_mat`` (raw), ``focal_length`` (mm), ``img_size``
    ``(2,)`` ``[w, h]``, ``truncated`` / ``occluded`` / ``slightly_occluded`` (bool),
    ``img_path``, ``mask_path``, ``model_path``, ``voxel_path`` (absolute paths as strings;
    ``voxel_path`` is ``""`` when absent) and ``verts`` / ``faces`` when ``load_mesh``.

    ``class_names`` are the sorted categories of the whole ``pix3d.json`` (restricted by
    ``categories``), so label indices agree across splits.
    """

    def __init__(
        self,
        root: PathLike,
        split_json: PathLike | None = None,
        categories: Sequence[str] | str | None = None,
        *,
        load_mesh: bool = True,
        cache_meshes: bool = True,
        exclude: Sequence[str] = PIX3D_BAD_IMAGES,
    ) -> None:
        self.root = require_dir(root, "Pix3D root")
        ann_path = self.root / "pix3d.json"
        records = load_json(ann_path, "Pix3D annotations")
        if not isinstance(records, list):
            raise FileFormatError(
                f"{ann_path}: expected a JSON list of records, got {type(records).__name__}"
            )
        for i, rec in enumerate(records):
            self._validate(rec, f"{ann_path}: record {i}")
        all_categories = sorted({rec["category"] for rec in records})
        self.class_names = select_names(categories, all_categories, "categories")
        keep_cats = set(self.class_names)
        keep_imgs = None
        if split_json is not None:
            split = load_json(split_json, "Pix3D split file")
            images = get_field(split, "images", str(split_json), kinds=list)
            keep_imgs = {
                get_field(im, "file_name", f"{split_json}: images[{j}]", kinds=str)
                for j, im in enumerate(images)
            }
        excluded = set(exclude)
        self._records = sorted(
            (
                rec
                for rec in records
                if rec["category"] in keep_cats
                and rec["img"] not in excluded
                and (keep_imgs is None or rec["img"] in keep_imgs)
            ),
            key=lambda r: (r["img"], r["model"]),
        )
        self.load_mesh = bool(load_mesh)
        self.cache_meshes = bool(cache_meshes)
        self._mesh_cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    @staticmethod
    def _validate(rec, where: str) -> None:
        for key in _REQUIRED:
            get_field(rec, key, where)
        for key in ("img", "category", "mask", "model"):
            get_field(rec, key, where, kinds=str)
        float_array(rec["rot_mat"], (3, 3), "rot_mat", where)
        float_array(rec["trans_mat"], (3,), "trans_mat", where)
        float_array(rec["bbox"], (4,), "bbox", where)
        size = float_array(rec["img_size"], (2,), "img_size", where)
        if bool((size <= 0).any()):
            raise FileFormatError(
                f"{where}: field 'img_size' must be positive, got {size.tolist()}"
            )
        f = get_field(rec, "focal_length", where, kinds=(int, float))
        if not f > 0:
            raise FileFormatError(f"{where}: field 'focal_length' must be > 0, got {f}")

    def __len__(self) -> int:
        return len(self._records)

    def __repr__(self) -> str:
        return f"Pix3D(root={str(self.root)!r}, records={len(self)}, classes={self.class_names})"

    def record(self, index: int) -> dict:
        """The raw ``pix3d.json`` record of item ``index``."""
        return self._records[index]

    def _mesh(self, rel: str) -> tuple[torch.Tensor, torch.Tensor]:
        if rel in self._mesh_cache:
            return self._mesh_cache[rel]
        verts, faces, _ = load_mesh_tensors(self.root / rel, "Pix3D model")
        if self.cache_meshes:
            self._mesh_cache[rel] = (verts, faces)
        return verts, faces

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} records")
        rec = self._records[index % len(self)]
        where = f"{self.root / 'pix3d.json'}: record for {rec['img']}"
        image = load_image_rgb(self.root / rec["img"], "Pix3D image")
        mask = load_mask(self.root / rec["mask"], "Pix3D mask")
        h, w = image.shape[-2:]
        if tuple(mask.shape) != (h, w):
            raise FileFormatError(
                f"{self.root / rec['mask']}: mask is {tuple(mask.shape)}, image is {(h, w)}"
            )
        size = float_array(rec["img_size"], (2,), "img_size", where)
        if (int(size[0]), int(size[1])) != (w, h):
            raise FileFormatError(
                f"{where}: field 'img_size' is {size.int().tolist()} but "
                f"{self.root / rec['img']} is {w}x{h}"
            )
        rot = float_array(rec["rot_mat"], (3, 3), "rot_mat", where)
        trans = float_array(rec["trans_mat"], (3,), "trans_mat", where)
        intr, ext = pix3d_camera(float(rec["focal_length"]), (w, h), rot, trans)
        voxel = rec.get("voxel") or ""
        item: dict = {
            "image": image,
            "mask": mask,
            "bbox": float_array(rec["bbox"], (4,), "bbox", where),
            "label": rec["category"],
            "label_index": self.class_names.index(rec["category"]),
            "K": intr.K[0],
            "R": ext.R[0],
            "t": ext.t[0],
            "intrinsics": intr,
            "extrinsics": ext,
            "rot_mat": rot,
            "trans_mat": trans,
            "focal_length": float(rec["focal_length"]),
            "img_size": torch.tensor([w, h], dtype=torch.int64),
            "truncated": bool(rec.get("truncated", False)),
            "occluded": bool(rec.get("occluded", False)),
            "slightly_occluded": bool(rec.get("slightly_occluded", False)),
            "img_path": str(self.root / rec["img"]),
            "mask_path": str(self.root / rec["mask"]),
            "model_path": str(self.root / rec["model"]),
            "voxel_path": str(self.root / voxel) if voxel else "",
        }
        if self.load_mesh:
            item["verts"], item["faces"] = self._mesh(rec["model"])
        return item
