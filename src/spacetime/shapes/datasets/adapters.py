"""Adapters that turn the real 3D datasets' items into what the models and their training
steps eat (the keys of :class:`~spacetime.shapes.datasets.SyntheticShapes`).

- :class:`MeshNormalizedDataset`: one mesh per item (ShapeNetCore, R2N2, Pix3D, ModelNet),
  normalised to the synthetic object frame, with the derived voxels / points / occupancy
  samples / image / cameras the lecture's 3D models need.
- :class:`R2N2Views`: one item per *view* of each R2N2 model (Mesh R-CNN's single-object mode:
  image, rescaled ``K``, ``R``, ``t``, mesh, surface samples, camera-frame voxels).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from spacetime.errors import InputError
from spacetime.shapes.datasets.synthetic import occupancy_samples, solid_voxels

__all__ = ["MeshNormalizedDataset", "R2N2Views"]

_CAMERA_FIELDS = ("K", "R", "t")


class MeshNormalizedDataset(Dataset):
    """Adapt a mesh dataset (ShapeNetCore, R2N2, Pix3D, ModelNet items with ``verts``/``faces``)
    to the keys of :class:`~spacetime.shapes.datasets.SyntheticShapes`.

    Each mesh is centred on its bounding box and scaled so that its longest edge is 1 (the
    synthetic object frame, ``[-0.5, 0.5]³``); then ``voxels`` ``(G, G, G)`` (solid),
    ``points`` / ``normals`` ``(P, 3)``, ``occ_points`` / ``occ_labels`` and ``image`` ``(3, S, S)``
    (the item's ``image`` or first of ``images``, resized; datasets without images cannot feed
    image models) are derived, and ``label`` becomes the class index.

    ``K``, ``R``, ``t`` (requested in ``returns``; items with cameras only: R2N2's ``(V, ...)``
    — the camera of ``images[0]`` — or Pix3D's) follow the mesh and the image: with the mesh's
    box centre ``c`` and longest edge ``s``, ``X_cam' = R X' + (R c + t) / s`` for the normalised
    ``X' = (X − c) / s`` (the camera frame is scaled by ``1 / s`` too), and ``K`` is rescaled to
    the ``S × S`` image (pixel centres at integers: ``fx' = fx · S / W``, ``cx' = (cx + ½) · S / W
    − ½``, same for y with ``H``).

    Args:
        base: the dataset; indices: a subset of its items (default all).
        class_names: the class list (``label`` strings are looked up in it).
        returns: which derived fields to produce (names of ``SYNTHETIC_RETURNS``).
    """

    def __init__(self, base: Any, class_names: Sequence[str], returns: Sequence[str], *,
                 indices: Sequence[int] | None = None, image_size: int = 64,
                 voxel_resolution: int = 32, num_points: int = 2048,
                 num_occupancy_samples: int = 2048, seed: int = 0) -> None:
        self.base = base
        self.class_names = list(class_names)
        self.returns = tuple(returns)
        if any(r in _CAMERA_FIELDS for r in self.returns) and "image" not in self.returns:
            raise InputError("returns: cameras ('K', 'R', 't') need 'image' (they are those of "
                             "the returned image)")
        self.indices = list(range(len(base))) if indices is None else list(indices)
        self.image_size, self.voxel_resolution = int(image_size), int(voxel_resolution)
        self.num_points, self.num_occ = int(num_points), int(num_occupancy_samples)
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.indices)

    def _label(self, item: Mapping[str, Any]) -> int:
        # by name first: the label order is the caller's (R2N2 numbers its synsets per split)
        for key in ("label", "class_name"):
            name = item.get(key)
            if isinstance(name, str):
                if name not in self.class_names:
                    raise InputError(f"item: category {name!r} is not one of "
                                     f"{self.class_names}")
                return self.class_names.index(name)
        for key in ("label_index", "label"):
            v = item.get(key)
            if isinstance(v, int) and not isinstance(v, bool):
                return v
            if isinstance(v, torch.Tensor) and v.numel() == 1:
                return int(v)
        raise InputError(f"item: cannot find a class label among {sorted(item)}")

    def __getitem__(self, index: int) -> dict[str, Any]:
        from spacetime.shapes.convert import sample_points_from_meshes
        from spacetime.shapes.structures import Meshes

        item = self.base[self.indices[index]]
        label = self._label(item)
        out: dict[str, Any] = {"label": label, "category": self.class_names[label]}
        r = self.returns
        hw0 = (0, 0)
        if "image" in r:
            img = item.get("image")
            if img is None and item.get("images") is not None:
                img = item["images"][0]
            if img is None:
                raise InputError("data: this dataset has no images; image models need "
                                 "synthetic, r2n2 or pix3d data")
            img = img.float()
            if img.ndim == 3 and img.shape[-1] in (3, 4) and img.shape[0] not in (3, 4):
                img = img.permute(2, 0, 1)
            if img.max() > 1.5:
                img = img / 255.0
            hw0 = (int(img.shape[-2]), int(img.shape[-1]))
            out["image"] = F.interpolate(img[None, :3], size=(self.image_size,) * 2,
                                         mode="bilinear", align_corners=False)[0].clamp(0, 1)
        v, f = item["verts"].double(), item["faces"].long()
        lo, hi = v.amin(0), v.amax(0)
        centre, scale = (lo + hi) / 2, (hi - lo).amax().clamp(min=1e-12)
        v = ((v - centre) / scale).float()
        if any(k in r for k in _CAMERA_FIELDS):
            out.update(self._camera(item, centre, scale, hw0))
        gen = torch.Generator().manual_seed(self.seed * 1000003 + self.indices[index])
        mesh = Meshes([v], [f])
        if "mesh" in r:
            out["verts"], out["faces"] = v, f
        if "points" in r:
            p, nrm = sample_points_from_meshes(mesh, self.num_points, return_normals=True,
                                               generator=gen)
            out["points"], out["normals"] = p[0], nrm[0]
        if "voxels" in r:
            g = self.voxel_resolution
            out["voxels"] = solid_voxels((v.double() + 0.5) * g, f, g)
        if "occupancy" in r:
            out["occ_points"], out["occ_labels"] = occupancy_samples(v, f, self.num_occ, gen)
        return out

    def _camera(self, item: Mapping[str, Any], centre: torch.Tensor, scale: torch.Tensor,
                hw0: tuple[int, int]) -> dict[str, torch.Tensor]:
        cams = [item.get(k) for k in _CAMERA_FIELDS]
        if any(not isinstance(c, torch.Tensor) for c in cams):
            raise InputError("data: this dataset has no cameras (K, R, t) for its images; "
                             "Pixel2Mesh needs synthetic, r2n2 or pix3d data")
        K, R, t = (c.double() for c in cams)
        if K.ndim == 3:  # R2N2: one camera per view; the image is images[0]
            K, R, t = K[0], R[0], t[0]
        h0, w0 = hw0
        S = self.image_size
        K2 = K.clone()
        K2[0, 0], K2[0, 1] = K[0, 0] * S / w0, K[0, 1] * S / w0
        K2[0, 2] = (K[0, 2] + 0.5) * S / w0 - 0.5
        K2[1, 1] = K[1, 1] * S / h0
        K2[1, 2] = (K[1, 2] + 0.5) * S / h0 - 0.5
        return {"K": K2.float(), "R": R.float(), "t": ((R @ centre + t) / scale).float()}


class R2N2Views(Dataset):
    """The views of R2N2 models as single-object items (Mesh R-CNN's ShapeNet protocol).

    Args:
        base: an :class:`~spacetime.shapes.datasets.R2N2` built with ``root_shapenet`` and
            ``voxels_in_camera_frame=True``.
        class_names: the label order (default ``base.class_names``).
        image_size: ``S``; images are resized to ``S × S`` and ``K`` is rescaled with them
            (pixel centres at integers: ``c' = (c + ½) S / S0 − ½``).
        num_points: surface samples per item (seeded by the item index).
        indices: the models of ``base`` to use (default all); item ``i`` is view
            ``i % V`` of model ``indices[i // V]``.

    Items: ``image (3, S, S)``, ``K``, ``R``, ``t``, ``verts``, ``faces``, ``points``,
    ``normals``, ``voxels_cam`` ``(G, G, G)``, ``depth_range`` ``(2,)``, ``label``,
    ``category``.
    """

    def __init__(self, base: Any, image_size: int, num_points: int = 2048, *,
                 class_names: Sequence[str] | None = None,
                 indices: Sequence[int] | None = None) -> None:
        self.base, self.size, self.num_points = base, int(image_size), int(num_points)
        self.indices = list(range(len(base))) if indices is None else list(indices)
        self.class_names = list(base.class_names if class_names is None else class_names)
        self.views = int(base[self.indices[0]]["images"].shape[0]) if self.indices else 0

    def __len__(self) -> int:
        return len(self.indices) * self.views

    def __getitem__(self, index: int) -> dict[str, Any]:
        from spacetime.shapes.convert import sample_points_from_meshes
        from spacetime.shapes.structures import Meshes

        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} views")
        item = self.base[self.indices[index // self.views]]
        v = index % self.views
        img = item["images"][v].float()
        s0 = img.shape[-1]
        img = F.interpolate(img[None], size=(self.size, self.size), mode="bilinear",
                            align_corners=False)[0].clamp(0, 1)
        sc = self.size / s0
        K = item["K"][v].clone().float()
        K[0, 0], K[1, 1] = K[0, 0] * sc, K[1, 1] * sc
        K[0, 2], K[1, 2] = (K[0, 2] + 0.5) * sc - 0.5, (K[1, 2] + 0.5) * sc - 0.5
        m = Meshes([item["verts"].float()], [item["faces"]])
        gen = torch.Generator().manual_seed(index)
        p, n = sample_points_from_meshes(m, self.num_points, return_normals=True, generator=gen)
        label = self.class_names.index(item["label"])
        return {"image": img, "K": K, "R": item["R"][v].float(), "t": item["t"][v].float(),
                "verts": item["verts"].float(), "faces": item["faces"], "points": p[0],
                "normals": n[0], "voxels_cam": item["camera_voxels"][v],
                "depth_range": item["camera_depth_range"][v].float(),
                "label": label, "category": item["label"]}
